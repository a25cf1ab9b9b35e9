"""A key the portal already holds is never written again: blocked when held anywhere but where the row would
put it, skipped when it is there already, under every sandbox world (issue 16: "never a key taken over from
another app: a key held anywhere else in the portal is blocked at plan time").

Ground truth is the sandbox's own state, not the snapshot: a snapshot that missed a credential (an endpoint
ignoring ``page``, a silent ``per_page`` maximum) would plan an ``add_credential`` that a portal accepting
duplicate ``KeyID`` s turns into a takeover. The world of test_profiles_read (131 users, 136 apps, an app with
61 credentials) gets more held keys: in another owner's app, in the row's own app on another plan, twice
(an overwriting portal keeps both records), and exactly as the row says. A key already with the row's owner,
plan and products in another app of that owner (an app renamed since, another naming rule) is where the
migration would have put it for that developer: skipped, the plan naming the app it is in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from test_profiles_read import fetch, legacy_valid, sandbox_app, world_seed

from tyk_migrate.cli import cli
from tyk_migrate.config import Settings
from tyk_migrate.plan import build_plan
from tyk_migrate.portal import PortalClient
from tyk_migrate.secrets import fingerprint, reveal

WRITES = ("create_app", "add_credential")


def held_world() -> tuple[dict[str, Any], dict[str, str]]:
    """The world seed with four more legacy keys held; returns it and source_row -> how each is held."""
    seed = world_seed()
    plan, _ = build_plan(legacy_valid(), fetch(sandbox_app(seed)))
    new = plan[plan["action"].isin(WRITES)].iloc[2:]  # the first two are test_profiles_read's planted keys
    apps = {a["ID"]: a for a in seed["apps"]}
    other_owner = next(u["ID"] for u in seed["users"] if u["OrganisationID"] and u["ID"] not in set(plan["user_id"]))
    next_id = max(c["ID"] for c in seed["custom_credentials"]) + 1
    next_app = max(apps) + 1
    how: dict[str, str] = {}

    def hold(row: pd.Series, app_id: int, same: bool, label: str) -> None:
        nonlocal next_id
        plan_id = (
            int(row["plan_id"]) if same else next(int(p["ID"]) for p in seed["plans"] if p["ID"] != row["plan_id"])
        )
        seed["custom_credentials"].append(
            {"ID": next_id, "AppID": app_id, "Alias": f"held-{int(row['source_row'])}",
             "Type": "CREDENTIAL_TYPE_TYK_MANAGED", "PlanID": str(plan_id), "AuthenticationMethod": "Auth Token",
             "ProductIDs": list(row["product_ids"]),
             "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM", "KeyID": reveal(row["key_id"])}
        )  # fmt: skip
        next_id += 1
        how[str(int(row["source_row"]))] = label

    def app_of(owner: int, name: str) -> int:
        nonlocal next_app
        seed["apps"].append({"ID": next_app, "Name": name, "UserID": owner, "Visibility": "organisation",
                             "CreatedAt": "2026-11-02 10:00"})  # fmt: skip
        next_app += 1
        return next_app - 1

    rows = [r for _, r in new.iterrows()]
    hold(rows[0], app_of(other_owner, "Somebody else's"), True, "other owner")
    own = app_of(int(rows[1]["user_id"]), str(rows[1]["app_name"]))
    hold(rows[1], own, False, "own app, other plan")
    hold(rows[2], app_of(int(rows[2]["user_id"]), str(rows[2]["app_name"])), True, "as the row says")
    hold(rows[3], app_of(int(rows[3]["user_id"]), str(rows[3]["app_name"])), True, "twice")
    hold(rows[4], app_of(int(rows[4]["user_id"]), "Renamed since"), True, "own other app")
    app_of(other_owner, "Overwritten elsewhere")  # held_twice() imports the key again here, in a running sandbox
    return seed, how


def held_twice(sb: Any, seed: dict[str, Any], how: dict[str, str]) -> None:
    """A running, overwriting sandbox: the "twice" key imported again into another owner's app (the older
    record still lists it; a seed cannot hold a KeyID twice)."""
    row = next(r for r, label in how.items() if label == "twice")
    first = next(c for c in seed["custom_credentials"] if c["Alias"] == f"held-{row}")
    other_app = next(a["ID"] for a in seed["apps"] if a["Name"] == "Overwritten elsewhere")
    settings = Settings(portal_url=sb.portal_url, token=sb.token)
    with PortalClient(settings=settings) as client:
        client.create_credential(
            other_app, key_id=first["KeyID"], plan_id=int(first["PlanID"]), product_ids=first["ProductIDs"]
        )
        deadline = time.monotonic() + 10  # listed only after the profile's listing lag: the plan must see it
        while not client.list_credentials(other_app) and time.monotonic() < deadline:
            time.sleep(0.05)


def holders(seed: dict[str, Any]) -> dict[str, list[tuple[int, int, int, list[int]]]]:
    """Fingerprint -> (credential, owner, plan, products) of every credential holding it: the portal's truth."""
    owner = {a["ID"]: a["UserID"] for a in seed["apps"]}
    out: dict[str, list[tuple[int, int, int, list[int]]]] = {}
    for c in seed["custom_credentials"]:
        out.setdefault(fingerprint(c["KeyID"]), []).append(
            (c["ID"], owner[c["AppID"]], int(c["PlanID"]), sorted(c["ProductIDs"]))
        )
    return out


def assert_no_held_key_is_written(plan: pd.DataFrame, seed: dict[str, Any]) -> None:
    truth = holders(seed)
    for row in plan.itertuples():
        held = truth.get(row.key_fingerprint)
        if not held:
            continue
        assert row.action in ("blocked", "skip_existing"), (row.source_row, row.action)
        if row.action == "skip_existing":  # every holder is the row's owner, with its plan and products
            assert all((u, p, pr) == (row.user_id, row.plan_id, sorted(row.product_ids)) for _, u, p, pr in held)
            assert int(row.credential_id) == max(c for c, *_ in held)  # the newest: the one the gateway serves


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("profile", "per_page"), [("strict", 100), ("realistic", 100), ("realistic", 500),
                                                   ("hostile", 100)])  # fmt: skip
def test_a_key_held_anywhere_else_is_blocked_and_one_in_place_skipped(profile: str, per_page: int) -> None:
    seed, how = held_world()
    plan, _ = build_plan(legacy_valid(), fetch(sandbox_app(json.loads(json.dumps(seed)), profile), per_page))
    assert_no_held_key_is_written(plan, seed)
    got = plan.set_index(plan["source_row"].astype(str))
    expected = {"other owner": "blocked", "own app, other plan": "blocked", "as the row says": "skip_existing",
                "twice": "skip_existing", "own other app": "skip_existing"}  # fmt: skip
    assert {row: got.loc[row, "action"] for row in how} == {row: expected[label] for row, label in how.items()}
    codes = {label: got.loc[row, "reason_code"] for row, label in how.items()}
    assert codes == {"other owner": "key_exists_elsewhere", "own app, other plan": "key_exists_elsewhere",
                     "as the row says": "already_migrated", "twice": "already_migrated",
                     "own other app": "already_migrated"}  # fmt: skip
    assert "with a different owner" in got.loc[next(r for r, lb in how.items() if lb == "other owner"), "reason"]
    assert "with a different plan" in got.loc[next(r for r, lb in how.items() if lb == "own app, other plan"), "reason"]


def test_every_held_key_of_the_seed_is_blocked_or_skipped_under_hostile() -> None:
    """Each credential of the world, offered as a legacy row of a different owner: all blocked."""
    seed, _ = held_world()
    valid = legacy_valid()
    plan, _ = build_plan(valid, fetch(sandbox_app(json.loads(json.dumps(seed)), "hostile"), 100))
    assert_no_held_key_is_written(plan, seed)
    held = plan["key_fingerprint"].isin(holders(seed).keys())
    assert held.sum() >= 6 and not plan.loc[held, "action"].isin(WRITES).any()


@pytest.mark.timeout(120)
def test_apply_under_realistic_takes_over_no_key(make_sandbox: Callable[..., Any], tmp_path: Path) -> None:
    """End to end on a portal that accepts duplicate KeyIDs: the held keys' credentials are the only ones."""
    seed, how = held_world()
    sb = make_sandbox(seed=json.loads(json.dumps(seed)), profile="realistic")
    held_twice(sb, seed, how)
    seed = {"apps": sb.snapshot()["apps"], "custom_credentials": sb.snapshot()["custom_credentials"]}
    export = tmp_path / "keys.csv"
    export.write_text((Path(__file__).parents[1] / "data-samples" / "legacy_keys.csv").read_text(), encoding="utf-8")
    env = {"TYK_PORTAL_URL": sb.portal_url, "TYK_PORTAL_TOKEN": sb.token, "TYK_GATEWAY_URL": ""}
    res = CliRunner().invoke(
        cli, ["apply", str(export), "--journal", str(tmp_path / "j"), "--out", str(tmp_path / "o.csv"),
              "--no-progress"], env=env, catch_exceptions=False,
    )  # fmt: skip
    assert res.exit_code in (1, 4), res.output  # 1: the sample's rejected rows; 4 if a lost answer was unsettled
    before = holders(seed)
    after = holders({"apps": sb.snapshot()["apps"], "custom_credentials": sb.snapshot()["custom_credentials"]})
    for fp, held in before.items():
        assert after[fp] == held, "a key the portal held before the run was written again"
    outcomes = pd.read_csv(tmp_path / "o.csv", dtype=str)
    for row, label in how.items():
        status = outcomes.loc[outcomes["source_row"] == row, "status"].item()
        assert status == ("skipped" if label in ("as the row says", "own other app") else "blocked"), (label, status)
    twice = outcomes.loc[outcomes["source_row"] == next(r for r, lb in how.items() if lb == "twice")]
    assert "with a different owner" in twice["error"].item()
