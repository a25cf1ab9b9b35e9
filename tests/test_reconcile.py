"""reconcile: every status, unexplained credentials, summaries and charts, without leaking keys."""

from __future__ import annotations

import pandas as pd
import pytest

from tyk_migrate.errors import MissingColumnsError
from tyk_migrate.reconcile import RECON_STATUSES, reconcile
from tyk_migrate.secrets import fingerprint, mask, secret_series
from tyk_migrate.snapshot import PortalSnapshot

K = {n: f"legacy-key-{n}-0123456789abcdef" for n in range(1, 8)}

SEED = {
    "users": [
        {"ID": 1, "Email": "ada@example.com", "OrganisationID": 1, "Role": "consumer-admin", "Active": True},
        {"ID": 2, "Email": "bo@example.com", "OrganisationID": 1, "Role": "consumer-admin", "Active": True},
    ],
    "products": [
        {
            "ID": 1,
            "Name": "Payments API",
            "ReferenceID": "pol-pay",
            "APIDetails": [{"APIID": "a1", "ListenPath": "/pay/"}],
        },
        {
            "ID": 2,
            "Name": "Accounts API",
            "ReferenceID": "pol-acc",
            "APIDetails": [{"APIID": "a2", "ListenPath": "/acc/"}],
        },
    ],
    "plans": [
        {"ID": 7, "Name": "Free", "ReferenceID": "pol-free", "RateLimit": 60, "Quota": 100},
        {"ID": 8, "Name": "Gold", "ReferenceID": "pol-gold", "RateLimit": 600, "Quota": -1},
    ],
    "apps": [
        {"ID": 1, "Name": "Checkout", "UserID": 1, "Visibility": "organisation", "CreatedAt": "2026-10-01 10:00"},
        {"ID": 2, "Name": "Mobile", "UserID": 2, "Visibility": "organisation", "CreatedAt": "2026-10-01 10:00"},
    ],
    "custom_credentials": [
        {"ID": 1, "AppID": 1, "KeyID": K[1], "PlanID": "7", "ProductIDs": [1], "Alias": "one"},
        {"ID": 2, "AppID": 2, "KeyID": K[2], "PlanID": "7", "ProductIDs": [1], "Alias": "two"},  # bo's app
        {"ID": 3, "AppID": 1, "KeyID": K[3], "PlanID": "8", "ProductIDs": [1], "Alias": "three"},  # Gold
        {"ID": 4, "AppID": 1, "KeyID": K[4], "PlanID": "7", "ProductIDs": [1, 2], "Alias": "four"},
        {"ID": 5, "AppID": 1, "KeyID": K[5], "PlanID": "7", "ProductIDs": [1], "Alias": "five a"},
        {"ID": 6, "AppID": 2, "KeyID": K[5], "PlanID": "7", "ProductIDs": [1], "Alias": "five b"},
        {"ID": 7, "AppID": 2, "KeyID": K[7], "PlanID": "8", "ProductIDs": [2], "Alias": "portal-born"},
    ],
}
EXPECTED = {1: "present", 2: "wrong_owner", 3: "wrong_plan", 4: "wrong_products", 5: "duplicated", 6: "missing"}


@pytest.fixture
def snapshot() -> PortalSnapshot:
    return PortalSnapshot.from_seed(SEED, portal_url="http://127.0.0.1:1/portal-api")


def legacy_frame(keys: list[int] | None = None) -> pd.DataFrame:
    keys = keys or list(EXPECTED)
    frame = pd.DataFrame(
        {
            "source_row": keys,
            "key_fingerprint": [fingerprint(K[n]) for n in keys],
            "owner_email": ["ada@example.com"] * len(keys),
            "app_name": ["Checkout"] * len(keys),
            "alias": [f"key {n}" for n in keys],
            "plan": ["pol-free"] * len(keys),
            "products": [["pol-pay"] for _ in keys],
            "active": [True] * len(keys),
        }
    )
    frame.insert(1, "key_id", secret_series([K[n] for n in keys]))
    return frame


def plan_frame(legacy: pd.DataFrame) -> pd.DataFrame:
    plan = legacy.copy()
    plan["user_id"] = 1
    plan["plan_id"] = 7
    plan["product_ids"] = [[1] for _ in range(len(plan))]
    plan["status"] = "created"
    return plan


def test_every_status(snapshot: PortalSnapshot) -> None:
    legacy = legacy_frame()
    recon = reconcile(legacy, snapshot, plan=plan_frame(legacy))
    got = dict(zip(recon.rows["source_row"], recon.rows["recon_status"], strict=True))
    assert got == EXPECTED
    rows = recon.rows.set_index("source_row")
    assert "bo@example.com" in rows.loc[2, "recon_detail"]
    assert "Gold" in rows.loc[3, "recon_detail"] and "Free" in rows.loc[3, "recon_detail"]
    assert "Accounts API" in rows.loc[4, "recon_detail"]
    assert rows.loc[5, "portal_count"] == 2
    assert rows.loc[6, "portal_count"] == 0 and pd.isna(rows.loc[6, "credential_id"])
    assert rows.loc[1, "portal_plan"] == "Free" and rows.loc[1, "portal_products"] == ["Payments API"]
    assert rows.loc[1, "migration_status"] == "created"
    assert not recon.all_present()
    assert recon.all_present([fingerprint(K[1])])
    assert not recon.all_present([fingerprint(K[1]), fingerprint("never-seen-key-000")])


def test_expectations_come_from_the_planner(snapshot: PortalSnapshot, tmp_path) -> None:
    legacy = legacy_frame()
    recon = reconcile(legacy, snapshot)  # no plan frame: build_plan resolves pol-free / pol-pay / ada
    got = dict(zip(recon.rows["source_row"], recon.rows["recon_status"], strict=True))
    assert got == EXPECTED
    assert recon.rows["expected_plan"].tolist() == ["Free"] * len(legacy)
    # a mapping file (with a loader section the planner must ignore) changes what is expected
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("columns: {key: token}\nplans: {pol-free: Gold}\n", encoding="utf-8")
    recon = reconcile(legacy, snapshot, mapping)
    got = dict(zip(recon.rows["source_row"], recon.rows["recon_status"], strict=True))
    assert got[1] == "wrong_plan" and got[3] == "present"


def test_unexplained_credentials(snapshot: PortalSnapshot) -> None:
    legacy = legacy_frame()
    recon = reconcile(legacy, snapshot, plan=plan_frame(legacy))
    assert recon.unexplained["credential_id"].tolist() == [7]
    stranger = recon.unexplained.iloc[0]
    assert stranger["portal_owner_email"] == "bo@example.com"
    assert stranger["key_masked"] == mask(K[7])
    assert recon.counts["unexplained"] == 1
    # leaving a legacy key out of the input makes its credential unexplained too
    fewer = legacy_frame([1, 2, 3])
    recon = reconcile(fewer, snapshot, plan=plan_frame(fewer))
    assert recon.unexplained["credential_id"].tolist() == [4, 5, 6, 7]


def test_multiple_mismatches_are_all_described(snapshot: PortalSnapshot) -> None:
    legacy = legacy_frame([2])
    plan = plan_frame(legacy)
    plan["plan_id"] = 8
    recon = reconcile(legacy, snapshot, plan=plan)
    row = recon.rows.iloc[0]
    assert row["recon_status"] == "wrong_owner"  # the first that applies
    assert "owner" in row["recon_detail"] and "plan" in row["recon_detail"]


def test_unresolved_expectations_are_not_guessed(snapshot: PortalSnapshot) -> None:
    legacy = legacy_frame([1])
    plan = plan_frame(legacy)
    plan["plan_id"] = None
    recon = reconcile(legacy, snapshot, plan=plan)
    assert recon.rows.iloc[0]["recon_status"] == "present"
    assert "plan not checked" in recon.rows.iloc[0]["recon_detail"]
    assert recon.summary.query("group == 'plan'")["name"].tolist() == ["pol-free (unresolved)"]


def test_summary_counts_add_up(snapshot: PortalSnapshot) -> None:
    legacy = legacy_frame()
    recon = reconcile(legacy, snapshot, plan=plan_frame(legacy))
    summary = recon.summary
    overall = summary[summary["group"] == "all"].iloc[0]
    assert overall["total"] == len(legacy)
    assert {s: int(overall[s]) for s in RECON_STATUSES} == {s: list(EXPECTED.values()).count(s) for s in RECON_STATUSES}
    assert summary.loc[summary["group"] == "plan", "name"].tolist() == ["Free"]
    assert summary.loc[summary["group"] == "product", "total"].sum() == len(legacy)
    assert (summary[list(RECON_STATUSES)].sum(axis=1) == summary["total"]).all()
    assert recon.counts.drop("unexplained").sum() == len(legacy)


def test_charts_render_inline_svg(snapshot: PortalSnapshot) -> None:
    legacy = legacy_frame()
    recon = reconcile(legacy, snapshot, plan=plan_frame(legacy))
    charts = recon.charts()
    assert set(charts) == {"status", "plan", "product"}
    html = charts._repr_html_()
    assert html.count("<svg") == 3
    assert 'href="http' not in html and "url(http" not in html  # self-contained
    assert all(K[n] not in html for n in K)


def test_no_raw_key_in_results(snapshot: PortalSnapshot) -> None:
    legacy = legacy_frame()
    recon = reconcile(legacy, snapshot, plan=plan_frame(legacy))
    text = "".join(f.to_csv() + f.to_string() for f in (recon.rows, recon.unexplained, recon.summary)) + repr(recon)
    assert all(K[n] not in text for n in K)
    assert "key_id" not in recon.rows.columns


def test_bad_input(snapshot: PortalSnapshot) -> None:
    with pytest.raises(MissingColumnsError, match="owner_email"):
        reconcile(legacy_frame().drop(columns="owner_email"), snapshot, plan=plan_frame(legacy_frame()))
