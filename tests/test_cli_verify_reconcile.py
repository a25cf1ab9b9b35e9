"""``tyk-migrate verify`` and ``tyk-migrate reconcile`` against the sandbox: exit codes, files, no raw keys."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tyk_migrate.cli import cli
from tyk_migrate.journal import Journal

NEW_KEY = "brand-new-legacy-key-000000000001"


def write_input(path: Path, seed: dict[str, Any], *, extra: bool = False) -> list[str]:
    """A legacy CSV of the keys the sample portal already holds (each exactly as the portal has it)."""
    users = {u["ID"]: u for u in seed["users"]}
    apps = {a["ID"]: a for a in seed["apps"]}
    plans = {str(p["ID"]): p["ReferenceID"] for p in seed["plans"]}
    products = {p["ID"]: p["ReferenceID"] for p in seed["products"]}
    rows, keys = [], []
    for cred in seed["custom_credentials"]:
        app = apps[cred["AppID"]]
        if app["Name"] == "Portal-born app":
            continue
        keys.append(cred["KeyID"])
        rows.append(
            [cred["KeyID"], users[app["UserID"]]["Email"], app["Name"], cred["Alias"], plans[cred["PlanID"]],
             ";".join(products[p] for p in cred["ProductIDs"])]
        )  # fmt: skip
    if extra:
        first = rows[0]
        rows.append([NEW_KEY, first[1], first[2], "new key", first[4], first[5]])
        keys.append(NEW_KEY)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key_id", "owner_email", "app_name", "alias", "plan", "products"])
        writer.writerows(rows)
    return keys


@pytest.fixture
def env(sandbox: Any) -> dict[str, str]:
    return {
        "TYK_PORTAL_URL": sandbox.portal_url,
        "TYK_PORTAL_TOKEN": sandbox.token,
        "TYK_GATEWAY_URL": sandbox.gateway_url,
    }


def test_verify_rebuilds_outcomes_and_calls_the_gateway(
    tmp_path: Path, seed_data: dict[str, Any], env: dict[str, str]
) -> None:
    keys = write_input(tmp_path / "keys.csv", seed_data)
    Journal(tmp_path / "run.journal").close()  # an empty journal: nothing created by us, all pre-existing
    out = tmp_path / "verified.csv"
    result = CliRunner().invoke(
        cli,
        ["verify", str(tmp_path / "keys.csv"), "--journal", str(tmp_path / "run.journal"), "--header", "bearer",
         "--out", str(out)],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "200" in result.output and "key works" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert [r["verify_status"] for r in rows] == ["200"] * len(keys)
    assert {r["status"] for r in rows} == {"skipped"}
    text = out.read_text(encoding="utf-8") + result.output
    assert not [k for k in keys if k in text]


def test_verify_refuses_bad_setups_in_one_line(tmp_path: Path, seed_data: dict[str, Any], env: dict[str, str]) -> None:
    write_input(tmp_path / "keys.csv", seed_data)
    journal = tmp_path / "run.journal"
    with Journal(journal) as ledger:
        ledger.bind("1:another-input")
    runner = CliRunner()
    result = runner.invoke(cli, ["verify", str(tmp_path / "keys.csv"), "--journal", str(journal)], env=env)
    assert result.exit_code == 2 and "another input" in result.output
    assert "Traceback" not in result.output
    no_gateway = {**env, "TYK_GATEWAY_URL": ""}
    Journal(tmp_path / "empty.journal").close()
    args = ["verify", str(tmp_path / "keys.csv"), "--journal", str(tmp_path / "empty.journal")]
    result = runner.invoke(cli, args, env=no_gateway)
    assert result.exit_code == 2 and "no gateway URL" in result.output
    result = runner.invoke(cli, ["verify", str(tmp_path / "keys.csv"), "--journal", str(tmp_path / "nope")], env=env)
    assert result.exit_code == 2


def test_reconcile_all_present_then_one_missing(tmp_path: Path, seed_data: dict[str, Any], env: dict[str, str]) -> None:
    runner = CliRunner()
    keys = write_input(tmp_path / "keys.csv", seed_data)
    result = runner.invoke(cli, ["reconcile", str(tmp_path / "keys.csv")], env=env)
    assert result.exit_code == 0, result.output
    assert f"present  {len(keys)}" in result.output and "unexplained  1" in result.output

    keys = write_input(tmp_path / "more.csv", seed_data, extra=True)
    out, html, strangers = tmp_path / "recon.csv", tmp_path / "recon.html", tmp_path / "unexplained.csv"
    result = runner.invoke(
        cli,
        ["reconcile", str(tmp_path / "more.csv"), "--out", str(out), "--html", str(html), "--unexplained",
         str(strangers)],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "missing  1" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert sorted(r["recon_status"] for r in rows) == ["missing"] + ["present"] * (len(keys) - 1)
    assert len(list(csv.DictReader(strangers.open(encoding="utf-8", newline="")))) == 1
    page = html.read_text(encoding="utf-8")
    assert "<h2>Reconciliation</h2>" in page
    everything = out.read_text(encoding="utf-8") + strangers.read_text(encoding="utf-8") + page + result.output
    tokens = [*keys, *(c["KeyID"] for c in seed_data["custom_credentials"])]
    assert not [k for k in tokens if k in everything]
