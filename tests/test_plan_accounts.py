"""Opt-in account steps in the plan: owners without an account (or inactive) planned as usable, counted."""

from __future__ import annotations

import pandas as pd
import pytest
from test_plan import legacy, portal

from tyk_migrate.errors import ConfigError, InputError
from tyk_migrate.plan import PlanSettings, build_plan, summarize
from tyk_migrate.plan.accounts import USER_COLUMNS, AccountSettings, account_counts, account_line

CREATE = PlanSettings(accounts=AccountSettings(create_missing_users=True, users_org=2))
BOTH = PlanSettings(accounts=AccountSettings(create_missing_users=True, activate_users=True, users_org=2))


def keys() -> pd.DataFrame:
    return legacy(
        {"owner": "jane.doe@new.example", "app": "Mobile"},
        {"owner": "jane.doe@new.example", "app": "Mobile"},
        {"owner": "sam@new.example", "app": "Mobile"},  # another new owner, same app name: its own app
        {"owner": "bad@new.example", "app": "Web", "plan": "no-such-plan"},  # another problem: stays blocked
        {"owner": "gone@apps.example", "app": "Old"},  # inactive
        {"owner": "dev.one@apps.example", "app": "Fine"},
    )


def test_off_by_default_the_plan_is_unchanged():
    plan, _ = build_plan(keys(), portal())
    assert not set(USER_COLUMNS) & set(plan.columns)
    assert plan["action"].tolist()[:5] == ["blocked"] * 5
    assert summarize(plan).get("accounts") == {}


def test_missing_owners_get_a_create_user_step_before_their_app():
    plan, unresolved = build_plan(keys(), portal(), settings=CREATE)
    jane, jane2, sam, bad, gone, fine = (plan.iloc[i] for i in range(6))
    assert (jane["action"], jane2["action"], sam["action"]) == ("create_app", "add_credential", "create_app")
    assert jane["user_action"] == sam["user_action"] == "create_user" and pd.isna(jane["user_id"])
    assert (jane["user_email"], jane["user_first"], jane["user_last"]) == ("jane.doe@new.example", "Jane", "Doe")
    assert (sam["user_first"], sam["user_last"]) == ("Sam", "")
    assert jane["reason"] == "" and jane["reason_code"] == ""
    # another problem besides the owner: blocked exactly as without the setting, owner reason first
    off, _ = build_plan(keys(), portal())
    assert bad["action"] == "blocked" and bad["user_action"] == ""
    assert (bad["reason"], bad["reason_code"]) == (off.iloc[3]["reason"], off.iloc[3]["reason_code"])
    assert gone["action"] == "blocked" and gone["reason_code"] == "owner_inactive"  # not asked to activate
    assert fine["user_action"] == "" and fine["action"] == "create_app"
    assert set(unresolved.loc[unresolved["kind"] == "owner", "value"]) >= {"jane.doe@new.example", "sam@new.example"}
    assert account_counts(plan) == {"create": 2, "activate": 0}
    assert summarize(plan)["accounts"] == {"create": 2, "activate": 0}
    assert account_line(account_counts(plan)) == "users to create: 2, users to activate: 0"


def test_inactive_owners_get_an_activate_step():
    plan, _ = build_plan(keys(), portal(), settings=BOTH)
    gone = plan.iloc[4]
    assert (gone["action"], gone["user_action"], gone["user_id"]) == ("create_app", "activate_user", 4)
    assert account_counts(plan) == {"create": 2, "activate": 1}


def test_names_from_the_export_organisation_and_active_from_settings():
    frame = keys()
    frame["first_name"] = ["Janet", "Janet", None, None, None, None]
    frame["last_name"] = ["Doe-Smith", "Doe-Smith", None, None, None, None]
    settings = PlanSettings(accounts=AccountSettings(create_missing_users=True, users_active=False))
    mapping = {"new_users": {"organisation_id": 3, "active": True}}
    plan, _ = build_plan(frame, portal(), mapping, settings=settings)
    jane = plan.iloc[0]
    assert (jane["user_first"], jane["user_last"], jane["user_org_id"]) == ("Janet", "Doe-Smith", 3)
    assert not jane["user_active"]  # the flag wins over the mapping
    plan, _ = build_plan(frame, portal(), mapping, settings=CREATE)
    assert bool(plan.iloc[0]["user_active"]) is True
    assert plan.iloc[0]["user_org_id"] == 2  # --users-org wins over the mapping
    plan, _ = build_plan(frame, portal(), settings=CREATE)
    assert pd.isna(plan.iloc[0]["user_active"])  # the portal's default


@pytest.mark.parametrize(
    "section",
    [{"organisation_id": "three"}, {"organisation_id": 0}, {"active": "yes"}, {"team": 1}, ["organisation_id"]],
)
def test_bad_new_users_section_is_one_line(section):
    with pytest.raises(InputError, match="new_users"):
        build_plan(keys(), portal(), {"new_users": section}, settings=CREATE)


def test_creating_without_an_organisation_is_refused_in_one_line():
    """Organisation 0 is the portal's admin side (the official file): an account made in none would be planned
    as a portal admin on a rerun and its keys blocked, so the plan refuses instead of creating one."""
    no_org = PlanSettings(accounts=AccountSettings(create_missing_users=True))
    with pytest.raises(ConfigError, match=r"new_users: organisation_id.*--users-org"):
        build_plan(keys(), portal(), settings=no_org)
    plan, _ = build_plan(keys(), portal(), {"new_users": {"organisation_id": 4}}, settings=no_org)
    assert set(plan.loc[plan["user_action"] == "create_user", "user_org_id"]) == {4}
    only_known = keys().iloc[[4, 5]]  # no owner to create: nothing needs an organisation
    assert (build_plan(only_known, portal(), settings=no_org)[0]["user_action"] == "").all()
    with pytest.raises(ConfigError, match="--users-org"):
        AccountSettings(create_missing_users=True, users_org=0)
