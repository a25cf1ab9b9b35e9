"""Exports and the HTML report: stable columns, masked keys, neutralised formulas, one self-contained file."""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from tyk_migrate.report import OUTCOME_COLUMNS, export_frame, export_outcomes, export_reconciliation, write_report
from tyk_migrate.secrets import fingerprint, mask, secret_series

KEYS = ["=HYPERLINK(1)-key-value-0001", "plain-key-value-000000002", "@SUM(A1)-key-value-03", "ordinary-key-04-xyz"]


def outcomes() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "source_row": [1, 2, 3, 4],
            "source_id": ["a", "b", "c", "d"],
            "key_fingerprint": [fingerprint(k) for k in KEYS],
            "owner_email": ["ada@example.com", "bo@example.com", "+cmd@example.com", "dan@example.com"],
            "app_name": ["Checkout", "-2+3", "Mobile", "Zürich café ✓"],
            "alias": ["one", "two", "\tthree", "\rfour"],
            "plan": ["pol-free"] * 4,
            "products": [["pol-pay"], ["pol-pay", "pol-acc"], ["pol-pay"], ["pol-acc"]],
            "user_id": pd.array([2, 3, 4, 5], dtype="Int64"),
            "plan_id": pd.array([7, 7, 7, None], dtype="Int64"),
            "product_ids": [[1], [1, 2], [1], []],
            "action": ["create_app", "add_credential", "skip_existing", "blocked"],
            "reason": [None, None, "already in the portal", "no plan"],
            "status": ["created", "failed", "skipped", "blocked"],
            "app_id": pd.array([11, None, 12, None], dtype="Int64"),
            "credential_id": pd.array([21, None, 22, None], dtype="Int64"),
            "http_status": pd.array([201, 422, None, None], dtype="Int64"),
            "error": [None, f"portal refused key {KEYS[1]}: too weak", None, "no plan"],
            "started_at": pd.to_datetime(["2026-11-28T10:00:00Z"] * 4, utc=True),
            "verify_status": pd.array([200, None, 401, None], dtype="Int64"),
            "zz_extra": [1, 2, 3, 4],
        }
    )
    frame.insert(1, "key_id", secret_series(KEYS))
    return frame


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_outcome_log_columns_are_stable(tmp_path: Path) -> None:
    path = export_outcomes(outcomes(), tmp_path / "out.csv")
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == [*OUTCOME_COLUMNS, "zz_extra"]
    # a frame with fewer columns (a plan, before any run) still gets the same leading header
    small = outcomes()[["source_row", "key_id", "key_fingerprint", "owner_email", "action"]]
    header_small = export_outcomes(small, tmp_path / "plan.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header_small.split(",") == OUTCOME_COLUMNS
    assert "key_id" not in header and "key_masked" in header


def test_outcome_log_masks_keys_and_neutralises_formulas(tmp_path: Path) -> None:
    path = export_outcomes(outcomes(), tmp_path / "out.csv")
    text = path.read_text(encoding="utf-8")
    assert all(k not in text for k in KEYS)  # also the key inside row 2's error message
    rows = read_rows(path)
    assert rows[0]["key_masked"] == "'" + mask(KEYS[0]) and rows[0]["key_fingerprint"] == fingerprint(KEYS[0])
    assert rows[1]["app_name"] == "'-2+3"
    assert rows[2]["owner_email"] == "'+cmd@example.com"
    assert rows[2]["alias"] == "'\tthree" and rows[3]["alias"] == "'\rfour"
    assert rows[3]["app_name"] == "Zürich café ✓"  # UTF-8 round trip
    assert rows[1]["products"] == "pol-pay;pol-acc" and rows[1]["product_ids"] == "1;2"
    assert rows[0]["status"] == "created" and rows[1]["http_status"] == "422" and rows[2]["verify_status"] == "401"
    assert rows[0]["started_at"] == "2026-11-28T10:00:00Z"
    for row in rows:  # no cell a spreadsheet would evaluate
        assert not any(v[:1] in ("=", "+", "-", "@", "\t", "\r") for v in row.values() if v)


def test_outcome_log_hides_a_rows_key_in_every_form_scrub_finds(tmp_path: Path) -> None:
    """Each text cell is scrubbed of its row's key only where it may hold it (``may_hold``): that quick test
    must not let through a key whose first characters are escaped (JSON, HTML, percent-encoding)."""
    frame = outcomes()
    key = KEYS[3]
    percent = "".join(f"%{ord(c):02X}" for c in key)
    frame["error"] = [
        None,
        f"body: \\u{ord(key[0]):04x}{key[1:]}",
        f"url: /keys/{percent}",
        f"html &#{ord(key[0])};{key[1:]}",
    ]
    frame["key_id"] = secret_series([KEYS[0], key, key, key])
    text = export_outcomes(frame, tmp_path / "out.csv").read_text(encoding="utf-8")
    assert key[1:] not in text and percent not in text
    assert "body: " in text and "url: /keys/" in text  # the rest of each message stays


def test_include_secrets_writes_raw_keys_and_warns(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="raw key"):
        path = export_outcomes(outcomes(), tmp_path / "secret.csv", include_secrets=True)
    rows = read_rows(path)
    assert [r["key_id"].removeprefix("'") for r in rows] == KEYS
    assert rows[0]["key_id"] == "'" + KEYS[0]  # a key that looks like a formula is neutralised too
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header.index("key_id") == header.index("key_masked") + 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        export_outcomes(outcomes(), tmp_path / "quiet.csv")  # no warning without secrets


def test_export_frame_and_reconciliation(tmp_path: Path) -> None:
    from tyk_migrate.reconcile import ROW_COLUMNS, Reconciliation

    rejects = pd.DataFrame(
        {
            "source_row": [5],
            "column": ["key_id"],
            "check": ["key_too_short"],
            "severity": ["error"],
            "message": ["=too short"],
            "value": ["ab…cd"],
        }
    )
    rows = read_rows(export_frame(rejects, tmp_path / "rejects.csv", ["source_row", "severity", "message"]))
    assert list(rows[0]) == ["source_row", "severity", "message", "check", "column", "value"]
    assert rows[0]["message"] == "'=too short"
    recon_rows = pd.DataFrame([{c: None for c in ROW_COLUMNS} | {"recon_status": "present", "source_row": 1}])
    recon = Reconciliation(rows=recon_rows[ROW_COLUMNS], unexplained=pd.DataFrame(), summary=pd.DataFrame())
    header = export_reconciliation(recon, tmp_path / "recon.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == ROW_COLUMNS


def _reconciliation() -> object:
    from tyk_migrate.reconcile import reconcile
    from tyk_migrate.snapshot import PortalSnapshot

    seed = {
        "users": [{"ID": 2, "Email": "ada@example.com", "OrganisationID": 1, "Role": "consumer-admin"}],
        "products": [{"ID": 1, "Name": "Payments <API>", "ReferenceID": "pol-pay"}],
        "plans": [{"ID": 7, "Name": "Free", "ReferenceID": "pol-free"}],
        "apps": [{"ID": 11, "Name": "Checkout", "UserID": 2, "Visibility": "organisation"}],
        "custom_credentials": [
            {"ID": 21, "AppID": 11, "KeyID": KEYS[0], "PlanID": "7", "ProductIDs": [1], "Alias": "<b>x</b>"},
            {"ID": 22, "AppID": 11, "KeyID": "portal-born-key-000000", "PlanID": "7", "ProductIDs": [1]},
        ],
    }
    legacy = outcomes()
    return reconcile(legacy, PortalSnapshot.from_seed(seed, portal_url="http://127.0.0.1:1/portal-api"), plan=legacy)


def test_report_is_one_self_contained_safe_file(tmp_path: Path) -> None:
    frame = outcomes()
    rejects = pd.DataFrame(
        [{"source_row": 9, "column": "owner_email", "check": "email_malformed", "severity": "error",
          "message": "<script>alert(1)</script> is not an e-mail", "value": "<script>"}]
    )  # fmt: skip
    path = write_report(
        tmp_path / "report.html",
        outcomes=frame,
        rejects=rejects,
        plan=frame,
        reconciliation=_reconciliation(),  # type: ignore[arg-type]
        inputs={"input file": "keys <1>.csv", "portal token": "s3cr3t-token-value"},
    )
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    for heading in ("Inputs", "Counts", "Failures and reasons", "Gateway verification", "Reconciliation"):
        assert f"<h2>{heading}</h2>" in page
    assert all(k not in page for k in KEYS) and "portal-born-key-000000" not in page
    assert mask(KEYS[0]) in page or mask(KEYS[1]) in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "s3cr3t-token-value" not in page
    assert "keys &lt;1&gt;.csv" in page and "Payments &lt;API&gt;" in page
    assert page.count("<svg") >= 4  # run status + three reconciliation charts, inline
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched from elsewhere
    assert "<link" not in page and "<script" not in page
    assert "too weak" in page and "no plan" in page  # failures with their reasons


def test_report_with_nothing_but_inputs(tmp_path: Path) -> None:
    page = write_report(tmp_path / "r.html", inputs={"note": "empty"}).read_text(encoding="utf-8")
    assert "Not run." in page and "empty" in page
