# ruff: noqa: E501
"""build_plan: every action, every blocking reason, mapping, naming, scoping, stale snapshots.

Pure tests: a small hand-built portal (``PortalSnapshot.from_api``) and hand-built legacy frames.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tyk_migrate.errors import ConfigError, InputError, MissingColumnsError
from tyk_migrate.plan import ACTIONS, PlanSettings, build_plan, load_mapping, summarize
from tyk_migrate.secrets import SecretKey, fingerprint, secret_series
from tyk_migrate.snapshot import PortalSnapshot
from tyk_migrate.sources.limits import LIMIT_COLUMNS

ROOT = Path(__file__).resolve().parents[1]

USERS = [
    {"ID": 1, "Email": "admin@bank.example", "First": "Ada", "Last": "Min", "Active": True, "OrganisationID": 0, "Role": "provider-admin"},
    {"ID": 2, "Email": "Dev.One@Apps.example ", "First": "Dev", "Last": "One", "Active": True, "OrganisationID": 3, "Role": "consumer-admin"},
    {"ID": 3, "Email": "dev.two@apps.example", "First": "Dev", "Last": "Two", "Active": True, "OrganisationID": 3, "Role": "consumer-team-member"},
    {"ID": 4, "Email": "gone@apps.example", "First": "Gone", "Last": "Away", "Active": False, "OrganisationID": 4, "Role": "consumer-team-member"},
    {"ID": 5, "Email": "twin@apps.example", "First": "T", "Last": "A", "Active": True, "OrganisationID": 4, "Role": "consumer-team-member"},
    {"ID": 6, "Email": "TWIN@apps.example", "First": "T", "Last": "B", "Active": True, "OrganisationID": 4, "Role": "consumer-team-member"},
]  # fmt: skip
PRODUCTS = [
    {"ID": 1, "Name": "Payments API", "DisplayName": "Payments", "ReferenceID": "pol-pay", "APIDetails": [{"APIID": "a1", "ListenPath": "/pay/"}]},
    {"ID": 2, "Name": "Accounts API", "DisplayName": "Accounts", "ReferenceID": "pol-acc", "APIDetails": []},
    {"ID": 3, "Name": "Cards API", "DisplayName": "Cards", "ReferenceID": "pol-cards"},
]  # fmt: skip
PLANS = [
    {"ID": 7, "Name": "Free", "DisplayName": "Free plan", "ReferenceID": "pol-free", "RateLimit": 60, "Quota": 1000},
    {"ID": 8, "Name": "Gold", "DisplayName": "Gold plan", "ReferenceID": "pol-gold", "RateLimit": "600 calls / 1 minute(s)", "Quota": -1},
    {"ID": 3, "Name": "Bronze", "DisplayName": "Bronze plan", "ReferenceID": "pol-bronze"},
]  # fmt: skip
APPS = [
    {"ID": 10, "Name": "Checkout", "UserID": 2, "Visibility": "organisation", "CreatedAt": "2026-01-02 10:00"},
    {"ID": 11, "Name": "Twice", "UserID": 3, "Visibility": "personal", "CreatedAt": "2026-01-02 10:00"},
    {"ID": 12, "Name": "Twice", "UserID": 3, "Visibility": "personal", "CreatedAt": "2026-01-03 10:00"},
]
EXISTING_KEY = "existing-key-0000000001"
CREDENTIALS = [
    {"ID": 100, "AppID": 10, "KeyID": EXISTING_KEY, "PlanID": "7", "ProductIDs": [1, 2], "Alias": "a"},
]


@functools.cache
def _default_portal() -> PortalSnapshot:
    return PortalSnapshot.from_api(users=USERS, products=PRODUCTS, plans=PLANS, apps=APPS, credentials=CREDENTIALS)


def portal(**over: Any) -> PortalSnapshot:
    if not over:
        return _default_portal()
    parts = {"users": USERS, "products": PRODUCTS, "plans": PLANS, "apps": APPS, "credentials": CREDENTIALS}
    parts.update(over)
    return PortalSnapshot.from_api(**parts, portal_url="test")


def legacy(*rows: dict[str, Any]) -> pd.DataFrame:
    """A canonical legacy frame (as the loaders build it) from short dicts."""
    records = []
    for n, row in enumerate(rows, start=1):
        key = row.get("key", f"legacy-key-{n:012d}")
        records.append(
            {
                "source_row": row.get("source_row", n),
                "source_id": row.get("source_id"),
                "key_id": key,
                "key_fingerprint": fingerprint(key),
                "owner_email": row.get("owner", "dev.one@apps.example").strip().lower(),
                "app_name": row.get("app"),
                "alias": row.get("alias"),
                "plan": row.get("plan", "pol-free"),
                "products": list(row.get("products", ["pol-pay"])),
                "expires_at": pd.Timestamp(row["expires"], tz="UTC") if row.get("expires") else pd.NaT,
                "active": row.get("active", True),
                **{c: row[c] for c in ("org", *LIMIT_COLUMNS) if c in row},
            }
        )
    columns = ["source_row", "source_id", "key_id", "key_fingerprint", "owner_email", "app_name", "alias", "plan",
               "products", "expires_at", "active"]  # fmt: skip
    extra = [c for c in dict.fromkeys(c for r in records for c in r) if c not in columns]  # optional ones, any row
    frame = pd.DataFrame(records, columns=columns + extra)
    frame["expires_at"] = pd.to_datetime(frame["expires_at"], utc=True).astype("datetime64[ns, UTC]")
    frame["key_id"] = secret_series(frame["key_id"])
    return frame


def one(rows: pd.DataFrame, source_row: int) -> pd.Series:
    return rows.loc[rows["source_row"] == source_row].iloc[0]


def assert_explained(plan: pd.DataFrame) -> None:
    assert plan["action"].isin(ACTIONS).all()
    needs_reason = plan["action"].isin(["blocked", "skip_existing"])
    assert (plan.loc[needs_reason, "reason"].str.len() > 20).all()
    writes = plan["action"].isin(["create_app", "add_credential"])
    assert plan.loc[writes, "app_name"].notna().all()


# -- actions -----------------------------------------------------------------------------------------


def test_new_app_group_creates_once_and_others_add_to_it():
    keys = legacy(
        {"app": "Mobile", "source_row": 5},
        {"app": "Mobile", "source_row": 2},
        {"app": "Mobile ", "source_row": 9},  # trimmed: same app
        {"app": "Mobile", "owner": "dev.two@apps.example"},  # same name, other user: own app
    )
    plan, unresolved = build_plan(keys, portal())
    assert_explained(plan)
    mine = plan[plan["user_id"] == 2].sort_values("source_row")
    assert mine["action"].tolist() == ["create_app", "add_credential", "add_credential"]
    assert mine["app_id"].isna().all()
    assert set(mine["app_name"]) == {"Mobile"}
    other = plan[plan["user_id"] == 3]
    assert other["action"].tolist() == ["create_app"]
    assert unresolved.empty


def test_existing_app_of_that_user_is_reused():
    plan, _ = build_plan(legacy({"app": "Checkout"}, {"app": "Checkout", "owner": "dev.two@apps.example"}), portal())
    assert one(plan, 1)["action"] == "add_credential"
    assert one(plan, 1)["app_id"] == 10
    assert one(plan, 1)["reason"] == ""
    # user 3 has no app called Checkout: the app of user 2 is not theirs to reuse
    assert one(plan, 2)["action"] == "create_app"
    assert pd.isna(one(plan, 2)["app_id"])


def test_several_apps_with_that_name_use_the_oldest_and_say_so():
    plan, _ = build_plan(legacy({"app": "Twice", "owner": "dev.two@apps.example"}), portal())
    row = one(plan, 1)
    assert row["action"] == "add_credential" and row["app_id"] == 11
    assert "2 apps named 'Twice'" in row["reason"]


def test_key_already_there_with_same_owner_plan_products_is_skipped():
    keys = legacy({"key": EXISTING_KEY, "app": "Whatever", "products": ["pol-acc", "pol-pay"]})
    plan, _ = build_plan(keys, portal())
    row = one(plan, 1)
    assert row["action"] == "skip_existing"
    assert row["credential_id"] == 100 and row["app_id"] == 10
    assert row["app_name"] == "Checkout"  # where the key really is
    assert row["legacy_app_name"] == "Whatever"
    assert "credential 100" in row["reason"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"owner": "dev.two@apps.example"}, ["owner", "dev.one@apps.example", "dev.two@apps.example"]),
        ({"plan": "pol-gold"}, ["plan", "'Free'", "'Gold'"]),
        ({"products": ["pol-pay"]}, ["products", "'Accounts API'"]),
    ],
)
def test_key_there_but_different_is_a_conflict_naming_what_differs(change, words):
    row = {"key": EXISTING_KEY, "products": ["pol-pay", "pol-acc"], **change}
    plan, _ = build_plan(legacy(row), portal())
    got = one(plan, 1)
    assert got["action"] == "blocked"
    assert got["reason"].startswith("conflict")
    assert got["credential_id"] == 100
    for word in words:
        assert word in got["reason"]


# -- blocking reasons --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "words"),
    [
        ("stranger@apps.example", ["not a portal user", "owners:"]),
        ("dev.tow@apps.example", ["not a portal user", "did you mean 'dev.two@apps.example'"]),
        ("gone@apps.example", ["inactive", "user 4"]),
        ("admin@bank.example", ["portal admin", "user 1"]),
        ("twin@apps.example", ["2 portal users", "5, 6"]),
    ],
)
def test_owner_problems_block_with_a_reason(owner, words):
    plan, unresolved = build_plan(legacy({"owner": owner}), portal())
    row = one(plan, 1)
    assert row["action"] == "blocked"
    for word in words:
        assert word in row["reason"]
    assert (owner in unresolved["value"].tolist()) == ("not a portal user" in words)


def test_consumer_admin_is_a_developer_not_a_portal_admin():
    snap = portal()
    assert snap.users.set_index("user_id").loc[2, "role"] == "consumer-admin"
    assert not snap.users.set_index("user_id").loc[2, "is_admin"]
    plan, _ = build_plan(legacy({}), snap)
    assert one(plan, 1)["action"] == "create_app"


@pytest.mark.parametrize(
    ("plan_value", "products", "words"),
    [
        ("pol-free", ["pol-pay", "pol-nope"], ["'pol-nope' matches no portal plan or product"]),
        ("Fre", ["pol-pay"], ["'Fre'", "did you mean", "'Free'"]),
        ("pol-pay", ["pol-acc"], ["no portal plan", "'Payments API'"]),
        ("pol-free", ["pol-gold"], ["2 portal plans", "'Free'", "'Gold'"]),
        ("pol-free", [], ["no portal product"]),
        ("", [], ["no plan or policies"]),
    ],
)
def test_policy_problems_block_naming_the_candidates(plan_value, products, words):
    plan, _ = build_plan(legacy({"plan": plan_value, "products": products}), portal())
    row = one(plan, 1)
    assert row["action"] == "blocked"
    for word in words:
        assert word in row["reason"], row["reason"]


def test_unresolved_frame_counts_rows_and_suggests():
    keys = legacy(
        {"plan": "pol-fre"}, {"plan": "pol-fre"}, {"plan": "pol-fre", "products": ["pol-pay", "pol-cardz"]},
        {"owner": "dev.tow@apps.example"},
    )  # fmt: skip
    plan, unresolved = build_plan(keys, portal())
    assert (plan["action"] == "blocked").all()
    table = unresolved.set_index("value")
    assert table.loc["pol-fre", "rows"] == 3 and table.loc["pol-fre", "kind"] == "policy"
    assert "'pol-free' (plan 7)" in table.loc["pol-fre", "suggestions"]
    assert table.loc["pol-cardz", "rows"] == 1
    assert "'pol-cards' (product 3)" in table.loc["pol-cardz", "suggestions"]
    assert table.loc["dev.tow@apps.example", "kind"] == "owner"
    assert unresolved["rows"].iloc[0] == 3  # most rows first


def test_duplicate_key_in_the_export_plans_the_first_row_only():
    plan, _ = build_plan(
        legacy({"key": "same-key-000000001", "source_row": 4}, {"key": "same-key-000000001", "source_row": 2}), portal()
    )
    assert one(plan, 2)["action"] == "create_app"
    assert one(plan, 4)["action"] == "blocked"
    assert "same key as source row 2" in one(plan, 4)["reason"]


def test_blocked_row_whose_key_is_in_the_portal_says_where_it_is():
    plan, _ = build_plan(legacy({"key": EXISTING_KEY, "owner": "nobody@apps.example"}), portal())
    row = one(plan, 1)
    assert row["action"] == "blocked"
    assert "not a portal user" in row["reason"] and "credential 100" in row["reason"]


# -- resolution order and mapping --------------------------------------------------------------------


@pytest.mark.parametrize("value", ["pol-gold", "Gold", "gold plan", " GOLD ", "8"])
def test_plan_resolves_by_reference_name_display_name_or_id(value):
    plan, _ = build_plan(legacy({"plan": value}), portal())
    assert one(plan, 1)["plan_id"] == 8


def test_products_resolve_by_gateway_api_id():
    plan, _ = build_plan(legacy({"products": ["a1"]}), portal())
    assert one(plan, 1)["product_ids"] == [1]


def test_products_resolve_by_each_field_and_are_sorted():
    plan, _ = build_plan(legacy({"products": ["Cards", "pol-pay", "2"]}), portal())
    assert one(plan, 1)["product_ids"] == [1, 2, 3]


def test_numeric_id_shared_by_a_plan_and_a_product_follows_the_column():
    # plan 3 (Bronze) and product 3 (Cards) share an ID: the column says which is meant
    plan, _ = build_plan(legacy({"plan": "3", "products": ["3"]}), portal())
    assert one(plan, 1)["plan_id"] == 3
    # a value in both columns is read as the plan, so there is no product left
    assert one(plan, 1)["action"] == "blocked"
    plan, _ = build_plan(legacy({"plan": "3", "products": ["pol-pay"]}), portal())
    assert (one(plan, 1)["plan_id"], one(plan, 1)["product_ids"]) == (3, [1])


def test_dashboard_style_plan_column_holding_a_product_policy_still_plans():
    # Dashboard dumps: plan = first of apply_policies, which may be a product's policy
    keys = legacy({"plan": "pol-pay", "products": ["pol-pay", "pol-gold", "pol-acc"]})
    plan, _ = build_plan(keys, portal())
    row = one(plan, 1)
    assert (row["action"], row["plan_id"], row["product_ids"]) == ("create_app", 8, [1, 2])


def test_mapping_file_yaml(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text(
        "plans:\n  legacy-gold: Gold\n  internal-policy: null\nproducts:\n  legacy-bundle: [Payments API, 3]\n"
        "owners:\n  Old.Address@apps.example: dev.two@apps.example\n",
        encoding="utf-8",
    )
    keys = legacy(
        {"plan": "legacy-gold", "products": ["legacy-bundle", "internal-policy"], "owner": "old.address@apps.example"}
    )
    plan, unresolved = build_plan(keys, portal(), path)
    row = one(plan, 1)
    assert (row["action"], row["user_id"], row["plan_id"], row["product_ids"]) == ("create_app", 3, 8, [1, 3])
    assert unresolved.empty


def test_mapping_file_json_and_mapping_beats_name_lookup(tmp_path):
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"plans": {"Free": 8}}), encoding="utf-8")
    plan, _ = build_plan(legacy({"plan": "Free"}), portal(), path)
    assert one(plan, 1)["plan_id"] == 8


@pytest.mark.parametrize(
    ("mapping", "words"),
    [
        ({"plans": {"x": "Platinum"}}, ["plans.x", "'Platinum' is not a portal plan"]),
        ({"plans": {"x": "Payments API"}}, ["is not a portal plan"]),
        ({"plan": {"x": "Gold"}}, ["did you mean 'plans'"]),
        ({"products": {"x": {"a": 1}}}, ["products.x"]),
        ({"owners": {"a@b": "nobody"}}, ["owners.a@b"]),
        ({"plans": ["Gold"]}, ["plans"]),
    ],
)
def test_bad_mapping_is_one_clear_input_error(mapping, words):
    with pytest.raises(InputError) as err:
        build_plan(legacy({}), portal(), mapping)
    for word in words:
        assert word in str(err.value)


def test_mapping_sections_for_the_loader_are_ignored():
    mapping = load_mapping({"columns": {"key_id": "Key"}, "plans": {"a": "Gold"}})
    assert mapping.plans == {"a": ("Gold",)}


# -- app naming --------------------------------------------------------------------------------------


def test_naming_rules():
    keys = legacy({"app": "Mobile", "alias": "phone key"}, {"app": None, "alias": None}, {"app": "  ", "alias": "k3"})
    legacy_rule, _ = build_plan(keys, portal())
    assert legacy_rule["app_name"].tolist() == ["Mobile", "Migrated keys", "Migrated keys"]
    assert legacy_rule["legacy_app_name"].tolist()[0] == "Mobile"
    alias_rule, _ = build_plan(keys, portal(), settings=PlanSettings(app_name="alias"))
    assert alias_rule["app_name"].tolist() == ["phone key", "Migrated keys", "k3"]
    fmt, _ = build_plan(keys, portal(), settings=PlanSettings(app_name="{plan} keys of {first}"))
    assert fmt["app_name"].tolist() == ["Free keys of Dev"] * 3
    assert fmt["action"].tolist() == ["create_app", "add_credential", "add_credential"]
    fixed, _ = build_plan(keys, portal(), settings=PlanSettings(app_name="{app_name}", fallback_app_name="Legacy"))
    assert fixed["app_name"].tolist() == ["Mobile", "Legacy", "Legacy"]


@pytest.mark.parametrize("rule", ["{nope} keys", "plain", "{plan"])
def test_bad_naming_rule_is_a_config_error(rule):
    with pytest.raises(ConfigError):
        build_plan(legacy({}), portal(), settings=PlanSettings(app_name=rule))


# -- scoping -----------------------------------------------------------------------------------------


def scoped_keys() -> pd.DataFrame:
    return legacy(
        {"owner": "dev.one@apps.example", "plan": "pol-free", "products": ["pol-pay"], "org": "legacy-org-a"},
        {"owner": "dev.two@apps.example", "plan": "pol-gold", "products": ["pol-acc"], "org": "legacy-org-a"},
        {"owner": "gone@apps.example", "plan": "pol-gold", "products": ["pol-pay", "pol-cards"], "org": "legacy-org-b"},
        {"owner": "dev.two@apps.example", "plan": "pol-fre", "products": ["pol-cards"], "org": "legacy-org-b"},
    )


@pytest.mark.parametrize(
    ("scope", "rows"),
    [
        ({"owners": ["DEV.TWO@apps.example"]}, [2, 4]),
        ({"plans": ["Gold"]}, [2, 3]),
        ({"plans": ["pol-fre"]}, [4]),  # a legacy value that resolves nowhere still selects its rows
        ({"products": ["Cards API"]}, [3, 4]),
        ({"orgs": ["3"]}, [1, 2, 4]),  # portal organisation ID
        ({"orgs": ["legacy-org-b"]}, [3, 4]),  # legacy org column
        ({"plans": ["Gold"], "products": ["pol-pay"]}, [3]),
        ({"owners": []}, [1, 2, 3, 4]),
    ],
)
def test_scope_keeps_matching_rows_and_counts_the_rest(scope, rows):
    plan, _ = build_plan(scoped_keys(), portal(), scope=scope)
    assert sorted(plan["source_row"]) == rows
    assert plan.attrs["out_of_scope"] == 4 - len(rows)
    assert_explained(plan)


def test_scope_errors():
    with pytest.raises(ConfigError, match="unknown scope"):
        build_plan(scoped_keys(), portal(), scope={"apps": ["x"]})
    with pytest.raises(ConfigError, match="did you mean"):
        build_plan(scoped_keys(), portal(), scope={"plans": ["Goldd"]})


# -- snapshots, contracts ----------------------------------------------------------------------------


def test_stale_snapshot_then_refetched():
    key = "made-elsewhere-00000001"
    keys = legacy({"key": key, "app": "Checkout"})
    stale, _ = build_plan(keys, portal())
    assert one(stale, 1)["action"] == "add_credential"  # the runner adopts the key if it meets it
    fresh_creds = [*CREDENTIALS, {"ID": 101, "AppID": 10, "KeyID": key, "PlanID": "7", "ProductIDs": [1]}]
    fresh, _ = build_plan(keys, portal(credentials=fresh_creds))
    assert one(fresh, 1)["action"] == "skip_existing"
    assert one(fresh, 1)["credential_id"] == 101


def test_plan_columns_dtypes_and_secrets():
    keys = legacy({}, {"owner": "nobody@x.example"})
    plan, _ = build_plan(keys, portal())
    assert list(plan.columns[: len(keys.columns)]) == list(keys.columns)
    # issue 17 added client_impact and client_impact_detail (DESIGN.md, "Contract additions") after reason_code
    assert list(plan.columns[len(keys.columns) :]) == [
        "legacy_app_name", "user_id", "plan_id", "product_ids", "app_id", "action", "reason", "reason_code",
        "client_impact", "client_impact_detail", "credential_id",
    ]  # fmt: skip
    for col in ("user_id", "plan_id", "app_id", "credential_id"):
        assert str(plan[col].dtype) == "Int64"
    assert all(isinstance(k, SecretKey) for k in plan["key_id"])
    assert "legacy-key" not in plan.to_string()
    assert keys["app_name"].isna().all()  # the input frame is not modified


def test_empty_input_and_missing_columns():
    plan, unresolved = build_plan(legacy(), portal())
    assert plan.empty and unresolved.empty
    with pytest.raises(MissingColumnsError):
        build_plan(pd.DataFrame({"source_row": [1]}), portal())


def test_summary_counts_and_top_reasons():
    plan, _ = build_plan(
        legacy({}, {}, {"owner": "x@y.example"}, {"owner": "x@y.example"}, {"owner": "gone@apps.example"}), portal()
    )
    summary = summarize(plan)
    assert summary["counts"] == {"create_app": 1, "add_credential": 1, "skip_existing": 0, "blocked": 3}
    assert summary["top_reasons"][0][1] == 2
    # the same cause with different values counts as one kind
    plan, _ = build_plan(legacy({"owner": "a@y.example"}, {"owner": "b@z.example"}), portal())
    assert summarize(plan)["top_reasons"] == [(summarize(plan)["top_reasons"][0][0], 2)]


def test_seed_portal_keys_all_get_an_action():
    seed = json.loads((ROOT / "data-samples" / "sandbox_seed.json").read_text(encoding="utf-8"))
    snap = PortalSnapshot.from_seed(seed)
    plans = {p["ID"]: p["ReferenceID"] for p in seed["plans"]}
    products = {p["ID"]: p["ReferenceID"] for p in seed["products"]}
    owner = dict(zip(snap.apps["app_id"], snap.apps["user_id"], strict=True))
    email = dict(zip(snap.users["user_id"], snap.users["email"], strict=True))
    rows = [
        {"key": c["KeyID"], "owner": email[owner[c["AppID"]]], "plan": plans[int(c["PlanID"])],
         "products": [products[p] for p in c["ProductIDs"]]}
        for c in seed["custom_credentials"]
    ]  # fmt: skip
    plan, _ = build_plan(legacy(*rows), snap)
    assert_explained(plan)
    assert (plan["action"] == "skip_existing").all()


SAMPLE_EXPORTS = [
    ("legacy_keys.csv", {}),
    ("legacy_keys_semicolon.csv", {}),
    ("legacy_keys.xlsx", {}),
    ("legacy_keys.json", {}),
    ("legacy_keys.jsonl", {}),
    ("dashboard_keys.json", {"developers": "classic_developers.json"}),
    ("classic_developers.json", {}),
    ("aws_api_keys.csv", {"mapping": "mapping_aws.yaml"}),
]


@pytest.mark.parametrize(("name", "options"), SAMPLE_EXPORTS)
def test_every_sample_export_plans_with_every_row_explained(name, options):
    from tyk_migrate.sources import load_keys
    from tyk_migrate.validate import validate_keys

    samples = ROOT / "data-samples"
    if not (samples / name).exists():
        pytest.skip(f"data-samples/{name} not generated yet")
    kwargs = {k: samples / v for k, v in options.items()}
    valid, _ = validate_keys(load_keys(samples / name, **kwargs))
    seed = json.loads((samples / "sandbox_seed.json").read_text(encoding="utf-8"))
    plan, _ = build_plan(valid, PortalSnapshot.from_seed(seed))
    assert len(plan) == len(valid) > 0
    assert_explained(plan)
    # the sample roster and the exports share emails and policy IDs: most keys are plannable
    assert (plan["action"] != "blocked").mean() > 0.5


def test_a_key_already_migrated_to_an_inactive_owner_is_skipped_not_blocked():
    """A rerun after the run made the owner's account inactive (issue 19's wart): nothing is left to write for
    that key, so its row is skipped as migrated, the owner's state noted; another difference still blocks."""
    users = [{**u, "Active": False} if u["ID"] == 2 else u for u in USERS]
    keys = legacy(
        {"key": EXISTING_KEY, "app": "Checkout", "products": ["pol-acc", "pol-pay"]},
        {"key": "legacy-key-new-000000001", "app": "Checkout"},  # a key still to write: blocked as before
    )
    plan, _ = build_plan(keys, portal(users=users))
    done, new = one(plan, 1), one(plan, 2)
    assert done["action"] == "skip_existing" and done["reason_code"] == "already_migrated;owner_inactive"
    assert done["credential_id"] == 100 and "inactive" in done["reason"]
    assert new["action"] == "blocked" and new["reason_code"] == "owner_inactive"
    moved = legacy({"key": EXISTING_KEY, "app": "Checkout", "products": ["pol-pay"]})  # products differ
    conflict = one(build_plan(moved, portal(users=users))[0], 1)
    assert conflict["action"] == "blocked" and conflict["reason_code"] == "owner_inactive;key_exists_elsewhere"
    assert "credential 100" in conflict["reason"]
