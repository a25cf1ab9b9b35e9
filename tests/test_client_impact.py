"""Client impact in the plan: each kind with numbers, unlimited on either side, unknown data, warn or block.

Pure tests over a small hand-built portal (one plan whose limits each test sets), except the last ones,
which run the CLI against the sandbox.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from test_plan import legacy

from tyk_migrate.errors import ConfigError, InputError
from tyk_migrate.plan import PlanSettings, build_plan, impact_line, summarize
from tyk_migrate.secrets import fingerprint
from tyk_migrate.snapshot import PortalSnapshot

FETCHED = datetime(2026, 12, 1, tzinfo=UTC)
USERS = [
    {"ID": 2, "Email": "dev.one@apps.example", "Active": True, "OrganisationID": 3, "Role": "consumer-admin"},
    {"ID": 3, "Email": "dev.two@apps.example", "Active": True, "OrganisationID": 3, "Role": "consumer-admin"},
]
PRODUCTS = [
    {"ID": 1, "Name": "Payments API", "ReferenceID": "pol-pay", "APIDetails": [{"APIID": "a1"}]},
    {"ID": 2, "Name": "Accounts API", "ReferenceID": "pol-acc", "APIDetails": [{"APIID": "a2"}, {"APIID": "a9"}]},
]
#: The target plan of every row unless a test says otherwise: 10 requests per second, 1000 an hour, no expiry.
PLAN = {
    "ID": 7, "Name": "Free", "ReferenceID": "pol-free", "RateLimit": 10, "Per": 1, "UnlimitedRateLimit": False,
    "Quota": 1000, "QuotaRenewalRate": 3600, "UnlimitedQuota": False, "KeyExpiresIn": 0,
}  # fmt: skip


def portal(credentials: list[dict[str, Any]] | None = None, **plan: Any) -> PortalSnapshot:
    fields = {k: v for k, v in {**PLAN, **plan}.items() if v is not ...}  # ... drops a field: not answered
    return PortalSnapshot.from_api(
        users=USERS, products=PRODUCTS, plans=[fields], apps=[{"ID": 10, "Name": "App", "UserID": 2}],
        credentials=credentials or [], fetched_at=FETCHED,
    )  # fmt: skip


def impact(row: dict[str, Any], settings: PlanSettings | None = None, **plan: Any) -> pd.Series:
    """The plan row of one legacy row planned onto ``PLAN`` (changed by ``plan``)."""
    frame, _ = build_plan(
        legacy({"plan": "pol-free", "products": ["pol-pay"], **row}), portal(**plan), settings=settings
    )
    return frame.iloc[0]


def kinds(row: dict[str, Any], **plan: Any) -> tuple[str, str]:
    got = impact(row, **plan)
    return got["client_impact"], got["client_impact_detail"]


# -- rate_tighter ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row,plan,expected",
    [
        ({"rate": 100, "per": 1}, {}, ("rate_tighter", "rate 100/1s -> 10/1s")),
        ({"rate": 600, "per": 60}, {"RateLimit": 5}, ("rate_tighter", "rate 600/60s -> 5/1s (10/s -> 5/s)")),
        ({"rate": 0, "per": 0}, {}, ("rate_tighter", "rate unlimited -> 10/1s")),  # Tyk: rate 0 is no limit
        ({"rate": -1, "per": -1}, {}, ("rate_tighter", "rate unlimited -> 10/1s")),  # "disable rate limiting"
        ({"rate": 600, "per": 60}, {}, ("", "")),  # 10/s either way
        ({"rate": 5, "per": 1}, {}, ("", "")),  # the plan is looser
        ({"rate": 100, "per": 1}, {"UnlimitedRateLimit": True}, ("", "")),
        ({"rate": 100, "per": 1}, {"RateLimit": 0}, ("", "")),  # a plan rate of 0 limits nothing
        ({"rate": 100}, {}, ("", "")),  # no period: not a rate that can be compared
        ({"per": 1}, {}, ("", "")),  # the rate is not known
        ({"rate": 100, "per": 1}, {"Per": ...}, ("", "")),  # the portal did not say the plan's period
        ({"rate": 100, "per": 1}, {"RateLimit": "600 calls / 1 minute(s)"}, ("", "")),  # an older portal's text
    ],
)
def test_rate(row: dict[str, Any], plan: dict[str, Any], expected: tuple[str, str]) -> None:
    assert kinds(row, **plan) == expected


# -- quota_lower --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row,plan,expected",
    [
        ({"quota_max": 5000, "quota_renewal_rate": 3600}, {}, ("quota_lower", "quota 5000/1h -> 1000/1h")),
        ({"quota_max": -1, "quota_renewal_rate": -1}, {}, ("quota_lower", "quota unlimited -> 1000/1h")),
        ({"quota_max": 0}, {}, ("quota_lower", "quota unlimited -> 1000/1h")),  # Tyk: 0 is no quota either
        ({"quota_max": 1000, "quota_renewal_rate": 3600}, {}, ("", "")),
        ({"quota_max": 900, "quota_renewal_rate": 3600}, {}, ("", "")),
        ({"quota_max": 9000, "quota_renewal_rate": 3600}, {"UnlimitedQuota": True}, ("", "")),
        ({"quota_max": 9000, "quota_renewal_rate": 3600}, {"Quota": -1}, ("", "")),
        # different periods: normalised per second, and the detail says so
        (
            {"quota_max": 3000, "quota_renewal_rate": 86400},
            {"QuotaRenewalRate": 2592000},
            ("quota_lower", "quota 3000/1d -> 1000/30d (normalised per second: 0.03472/s -> 0.0003858/s)"),
        ),
        ({"quota_max": 100, "quota_renewal_rate": 86400}, {"Quota": 10000, "QuotaRenewalRate": 2592000}, ("", "")),
        # a quota that never renews
        (
            {"quota_max": 1000, "quota_renewal_rate": 3600},
            {"Quota": 5000, "QuotaRenewalRate": 0},
            ("quota_lower", "quota 1000/1h -> 5000 in total (a lifetime cap replaces a renewing quota)"),
        ),
        ({"quota_max": 5000, "quota_renewal_rate": -1}, {}, ("quota_lower", "quota 5000 in total -> 1000/1h")),
        ({"quota_max": 500, "quota_renewal_rate": 0}, {}, ("", "")),
        # not known on one side: nothing claimed
        ({"quota_max": 5000}, {}, ("", "")),  # a cap without its period
        ({"quota_renewal_rate": 3600}, {}, ("", "")),
        ({"quota_max": 5000, "quota_renewal_rate": 3600}, {"Quota": ...}, ("", "")),
        ({"quota_max": 5000, "quota_renewal_rate": 3600}, {"QuotaRenewalRate": ...}, ("", "")),
    ],
)
def test_quota(row: dict[str, Any], plan: dict[str, Any], expected: tuple[str, str]) -> None:
    assert kinds(row, **plan) == expected


# -- api_lost ----------------------------------------------------------------------------------------


def test_api_lost_blocks_by_default_and_names_the_product_that_has_it() -> None:
    row = impact({"api_ids": ["a1", "a9", "gone"]})
    assert row["client_impact"] == "api_lost"
    assert row["client_impact_detail"] == (
        "APIs a9 (in portal product 'Accounts API' (ID 2)), gone called today are in no target product"
    )
    assert row["action"] == "blocked" and row["reason_code"] == "client_impact_blocked"
    assert row["reason"].startswith("clients would notice (api_lost): APIs a9 (in portal product 'Accounts API'")


@pytest.mark.parametrize("api_ids", [["a1"], [], None])
def test_api_lost_needs_an_api_the_targets_lack(api_ids: list[str] | None) -> None:
    row = impact({"api_ids": api_ids})  # None: the source does not list the APIs
    assert (row["client_impact"], row["action"]) == ("", "create_app")


def test_api_lost_counts_every_target_product() -> None:
    frame, _ = build_plan(
        legacy({"plan": "pol-free", "products": ["pol-pay", "pol-acc"], "api_ids": ["a9", "a1"]}), portal()
    )
    assert frame.iloc[0]["client_impact"] == "" and frame.iloc[0]["product_ids"] == [1, 2]


# -- expiry_changes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row,plan,expected",
    [
        (
            {},
            {"KeyExpiresIn": 86400},
            ("expiry_changes", "expiry never -> 1d after creation (plan KeyExpiresIn 86400s)"),
        ),
        (
            {"expires": "2031-01-01"},
            {"KeyExpiresIn": 86400},
            ("expiry_changes", "expiry 2031-01-01 -> about 2026-12-02 (plan KeyExpiresIn 86400s after creation)"),
        ),
        ({"expires": "2026-12-15"}, {"KeyExpiresIn": 2592000}, ("", "")),  # ends before the plan would end it
        ({}, {"KeyExpiresIn": 0}, ("", "")),  # 0: the plan's keys never expire
        ({}, {"KeyExpiresIn": ...}, ("", "")),  # not answered: nothing claimed
        ({"expires_known": False}, {"KeyExpiresIn": 86400}, ("", "")),  # e.g. a Classic dump: expiry unknown
        # NA: a row of a source that has expiries, concatenated with one that has not
        (
            {"expires_known": pd.NA},
            {"KeyExpiresIn": 86400},
            ("expiry_changes", "expiry never -> 1d after creation (plan KeyExpiresIn 86400s)"),
        ),
    ],
)
def test_expiry(row: dict[str, Any], plan: dict[str, Any], expected: tuple[str, str]) -> None:
    row = dict(row)
    absent = object()
    known = row.pop("expires_known", absent)
    frame = legacy({"plan": "pol-free", "products": ["pol-pay"], **row})
    if known is not absent:
        frame["expires_known"] = pd.Series([known], dtype=object)
    got, _ = build_plan(frame, portal(**plan))
    assert (got.iloc[0]["client_impact"], got.iloc[0]["client_impact_detail"]) == expected
    assert got.iloc[0]["action"] == "create_app"  # warns only


# -- live_key_overwritten: the hook -----------------------------------------------------------------------

KEY = "legacy-key-000000000001"  # test_plan.legacy's key of the first row


@pytest.mark.parametrize(
    "live,settings,expected",
    [
        (None, None, ("", "create_app")),  # no Dashboard check: nothing known
        ({fingerprint(KEY)}, None, ("live_key_overwritten", "create_app")),  # owner not known: warns
        (pd.DataFrame({"key_fingerprint": [fingerprint(KEY)], "owner_email": [" Dev.One@apps.example"]}), None,
         ("live_key_overwritten", "create_app")),  # the same owner: warns
        (pd.DataFrame({"key_fingerprint": [fingerprint(KEY)], "owner_email": ["x@other.example"]}), None,
         ("live_key_overwritten", "blocked")),  # another owner's live key: blocks
        (pd.DataFrame({"key_fingerprint": [fingerprint(KEY)], "owner_email": ["x@other.example"]}),
         {"live_key_overwritten": "warn"}, ("live_key_overwritten", "create_app")),
        ({fingerprint(KEY)}, {"live_key_overwritten": "block"}, ("live_key_overwritten", "blocked")),
        ({fingerprint("another-key-000000001")}, None, ("", "create_app")),
    ],
)  # fmt: skip
def test_live_key_hook(live: Any, settings: dict[str, str] | None, expected: tuple[str, str]) -> None:
    keys = legacy({"plan": "pol-free", "products": ["pol-pay"]})
    plan, _ = build_plan(keys, portal(), settings=PlanSettings(client_impact=settings or {}), live_keys=live)
    assert (plan.iloc[0]["client_impact"], plan.iloc[0]["action"]) == expected
    if expected[0] and isinstance(live, pd.DataFrame) and "other" in live["owner_email"].iloc[0]:
        assert "owned by 'x@other.example'" in plan.iloc[0]["client_impact_detail"]


# -- what blocking does to a plan ---------------------------------------------------------------------


def test_settings_turn_a_warning_into_a_block_and_back() -> None:
    row = {"rate": 100, "per": 1, "api_ids": ["gone"]}
    got = impact(row, settings=PlanSettings(client_impact={"rate_tighter": "block", "api_lost": "warn"}))
    assert got["client_impact"] == "rate_tighter;api_lost" and got["action"] == "blocked"
    assert got["reason"].startswith("clients would notice (rate_tighter): rate 100/1s -> 10/1s: ")
    both = impact(row, settings=PlanSettings(client_impact={"rate_tighter": "block"}))
    assert both["reason_code"] == "client_impact_blocked"  # one finding for both kinds, its parts joined by "and"
    assert both["reason"].startswith(
        "clients would notice (rate_tighter, api_lost): rate 100/1s -> 10/1s and API gone called today is in no "
        "target product: "
    )
    assert got["client_impact_detail"] == "rate 100/1s -> 10/1s; API gone called today is in no target product"


def test_a_mapping_section_sets_them_and_plan_settings_win() -> None:
    keys = legacy({"plan": "pol-free", "products": ["pol-pay"], "api_ids": ["gone"]})
    plan, _ = build_plan(keys, portal(), {"client_impact": {"api_lost": "warn"}})
    assert plan.iloc[0]["action"] == "create_app" and plan.attrs["client_impact"]["api_lost"] == "warn"
    plan, _ = build_plan(
        keys,
        portal(),
        {"client_impact": {"api_lost": "warn"}},
        settings=PlanSettings(client_impact={"api_lost": "block"}),
    )
    assert plan.iloc[0]["action"] == "blocked"


@pytest.mark.parametrize(
    "settings,words",
    [
        ({"api_gone": "warn"}, "unknown kind 'api_gone'"),
        ({"api_lost": "maybe"}, "'maybe' is not a setting; use one of warn, block"),
        ({"rate_tighter": "block_other_owner"}, "use one of warn, block"),
    ],
)
def test_bad_settings_are_one_line(settings: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        build_plan(legacy({}), portal(), settings=PlanSettings(client_impact=settings))
    with pytest.raises(InputError, match="mapping client_impact"):
        build_plan(legacy({}), portal(), {"client_impact": settings})


def test_a_blocked_first_row_of_a_group_leaves_the_app_to_the_next() -> None:
    keys = legacy(
        {"plan": "pol-free", "products": ["pol-pay"], "app": "New", "api_ids": ["gone"]},
        {"plan": "pol-free", "products": ["pol-pay"], "app": "New"},
    )
    plan, _ = build_plan(keys, portal())
    assert plan["action"].tolist() == ["blocked", "create_app"]


def test_rows_blocked_or_skipped_for_other_reasons() -> None:
    held, same = "held-by-portal-key-001", "same-everything-key-01"
    creds = [
        {"ID": 101, "AppID": 10, "KeyID": held, "PlanID": "7", "ProductIDs": [2]},
        {"ID": 102, "AppID": 10, "KeyID": same, "PlanID": "7", "ProductIDs": [1]},
    ]
    keys = legacy(
        {"key": held, "owner": "nobody@apps.example", "plan": "pol-free", "products": ["pol-pay"], "api_ids": ["gone"]},
        {"key": same, "plan": "pol-free", "products": ["pol-pay"], "app": "App", "api_ids": ["gone"]},
        {"plan": "pol-nope", "products": ["pol-pay"], "rate": 100, "per": 1, "api_ids": ["gone"]},
    )
    plan, _ = build_plan(keys, portal(credentials=creds))
    # already blocked: the impact is listed too, before the note that the key is in the portal
    assert plan.iloc[0]["reason_code"] == "owner_unknown;client_impact_blocked;key_in_portal"
    # already migrated: nothing is written, so nothing is blocked; the columns still show the difference
    assert (plan.iloc[1]["action"], plan.iloc[1]["client_impact"]) == ("skip_existing", "api_lost")
    # the plan did not resolve: nothing compared
    assert (plan.iloc[2]["reason_code"], plan.iloc[2]["client_impact"]) == ("policy_unknown", "")


def test_summary_and_cli_line_count_rows_per_kind() -> None:
    keys = legacy(
        {"plan": "pol-free", "products": ["pol-pay"], "rate": 100, "per": 1, "quota_max": -1},
        {"plan": "pol-free", "products": ["pol-pay"], "rate": 50, "per": 1, "api_ids": ["gone"]},
        {"plan": "pol-free", "products": ["pol-pay"]},
    )
    plan, _ = build_plan(keys, portal())
    summary = summarize(plan)
    assert summary["client_impact"] == {"rate_tighter": 2, "quota_lower": 1, "api_lost": 1}
    assert summary["reason_codes"] == {"client_impact_blocked": 1}
    assert impact_line(summary) == "client impact: rate_tighter 2 (warn), quota_lower 1 (warn), api_lost 1 (block)"
    assert impact_line(summarize(plan.iloc[2:])) is None


def test_outcome_log_has_the_columns_after_reason_code(tmp_path) -> None:
    from tyk_migrate.report import export_outcomes

    plan, _ = build_plan(legacy({"plan": "pol-free", "products": ["pol-pay"], "rate": 100, "per": 1}), portal())
    rows = list(csv.DictReader(export_outcomes(plan, tmp_path / "out.csv").open(encoding="utf-8")))
    header = list(rows[0])
    assert header[header.index("reason_code") + 1 : header.index("reason_code") + 3] == [
        "client_impact",
        "client_impact_detail",
    ]
    assert rows[0]["client_impact_detail"] == "rate 100/1s -> 10/1s"


# -- against the sandbox --------------------------------------------------------------------------------


def test_sandbox_serves_the_plan_limits_and_product_apis(sandbox, seed_data) -> None:
    from tyk_migrate.config import Settings
    from tyk_migrate.snapshot import fetch_snapshot

    snap = fetch_snapshot(Settings(portal_url=sandbox.url, token=sandbox.token), progress=False)
    plans = snap.plans.set_index("plan_id")
    for plan in seed_data["plans"]:  # GET /plans lacks these: they come from GET /plans/{id}
        got = plans.loc[plan["ID"]]
        assert (got["per"], got["quota_renewal_rate"], got["key_expires_in"]) == (
            plan["Per"],
            plan["QuotaRenewalRate"],
            plan["KeyExpiresIn"],
        )
        assert (bool(got["unlimited_rate_limit"]), bool(got["unlimited_quota"])) == (
            plan["UnlimitedRateLimit"],
            plan["UnlimitedQuota"],
        )
    apis = dict(zip(snap.products["product_id"], snap.products["api_ids"], strict=True))
    assert all(apis[p["ID"]] == [d["APIID"] for d in p["APIDetails"]] for p in seed_data["products"])


def test_cli_plan_prints_a_count_per_kind(sandbox, seed_data, tmp_path) -> None:
    from tyk_migrate.cli import cli

    dev = next(u["Email"] for u in seed_data["users"] if u["Active"] and u["OrganisationID"] != 0)
    free = next(p for p in seed_data["plans"] if p["Name"] == "Free")  # 60 requests per 60 s
    pay = seed_data["products"][0]
    source = tmp_path / "keys.csv"
    source.write_text(
        "key_id,owner_email,app_name,plan,products,expires,rate,per,api_ids\n"
        f"impact-key-000000001,{dev},A,Free,{pay['Name']},,120,60,{pay['APIDetails'][0]['APIID']}\n"
        f"impact-key-000000002,{dev},A,Free,{pay['Name']},,60,60,retired-api-id\n",
        encoding="utf-8",
    )
    out = tmp_path / "plan.csv"
    env = {"TYK_PORTAL_URL": sandbox.url, "TYK_PORTAL_TOKEN": sandbox.token}
    result = CliRunner().invoke(cli, ["plan", str(source), "--out", str(out)], env=env)
    assert result.exit_code == 1, result.output  # the api_lost row is blocked
    assert "client impact: rate_tighter 1 (warn), api_lost 1 (block)" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["action"], r["client_impact"]) for r in rows] == [
        ("create_app", "rate_tighter"),
        ("blocked", "api_lost"),
    ]
    assert rows[0]["client_impact_detail"] == f"rate 120/60s -> {free['RateLimit']}/{free['Per']}s"
