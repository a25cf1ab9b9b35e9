"""Owners' accounts created (or activated) by a run, exactly once, against the real sandbox."""

from __future__ import annotations

from typing import Any

import pandas as pd
from run_helpers import make_plan

from tyk_migrate.config import Settings
from tyk_migrate.errors import PortalServerError
from tyk_migrate.journal import Journal
from tyk_migrate.journal_users import users_of
from tyk_migrate.portal import AsyncPortalClient
from tyk_migrate.run import apply_plan
from tyk_migrate.run import users as run_users
from tyk_migrate.run.user_proof import sent_fields


def new_owner_plan(n: int = 6, owners: int = 2, prefix: str = "nu") -> pd.DataFrame:
    """``n`` rows whose owners (``owners`` new e-mails) have no portal account: the plan asks to create them."""
    plan = make_plan(n, keys_per_app=n // owners, prefix=prefix)
    emails = [f"{prefix}.owner{i // (n // owners)}@new.example" for i in range(n)]
    plan["owner_email"] = emails
    plan["user_id"] = pd.array([None] * n, dtype="Int64")
    plan["user_action"] = "create_user"
    plan["user_email"] = emails
    plan["user_first"] = "New"
    plan["user_last"] = [f"Owner {i // (n // owners)}" for i in range(n)]
    plan["user_org_id"] = pd.array([1] * n, dtype="Int64")  # as the planner sets it: an account in no org is an admin
    plan["user_active"] = pd.array([True] * n, dtype="boolean")
    return plan


def settings_for(sb: Any) -> Settings:
    return Settings(portal_url=sb.portal_url, token=sb.token)


def users_named(state: dict[str, Any], email: str) -> list[dict[str, Any]]:
    return [u for u in state["users"] if str(u["Email"]).lower() == email]


def test_missing_owners_are_created_once_before_their_apps(sandbox, tmp_path):
    plan = new_owner_plan()
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    state = sandbox.snapshot()
    assert set(plan["status"]) == {"created"}, plan["error"].tolist()
    for email in ("nu.owner0@new.example", "nu.owner1@new.example"):
        (user,) = users_named(state, email)
        assert user["Active"] is True and user["First"] == "New"
        apps = [a for a in state["apps"] if a["UserID"] == user["ID"]]
        assert len(apps) == 1  # the rows' app went to the new account
    assert plan["user_id"].notna().all()  # the frame names the accounts now
    with Journal(tmp_path / "j") as j:
        recs = {r.email: r for r in users_of(j).all()}
        assert {r.state for r in recs.values()} == {"created"} and all(r.run_id == 1 for r in recs.values())
    # a rerun creates nothing more
    users_before = len(state["users"])
    again = new_owner_plan()
    apply_plan(again, settings_for(sandbox), tmp_path / "j")
    assert len(sandbox.snapshot()["users"]) == users_before
    assert set(again["status"]) == {"created"}


def test_a_lost_answer_is_looked_up_by_email_not_sent_again(sandbox, tmp_path, monkeypatch):
    """The POST lands but its answer is lost: the run lists the users, finds the e-mail and adopts it."""
    real = run_users.create_user
    lost: list[str] = []

    async def lose_first(client: AsyncPortalClient, body: dict[str, Any]) -> dict[str, Any]:
        answer = await real(client, body)
        if body["Email"] not in lost:
            lost.append(body["Email"])
            raise PortalServerError("504 gateway timeout (answer lost)", status=504)
        return answer

    monkeypatch.setattr(run_users, "create_user", lose_first)
    plan = new_owner_plan()
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    state = sandbox.snapshot()
    assert len(lost) == 2 and set(plan["status"]) == {"created"}, plan["error"].tolist()
    for email in lost:
        assert len(users_named(state, email)) == 1
    with Journal(tmp_path / "j") as j:
        recs = users_of(j).all()
        assert {(r.state, r.how, r.attempts) for r in recs} == {("created", "adopted", 1)}


def test_faults_still_make_each_account_exactly_once(make_sandbox, tmp_path):
    sb = make_sandbox(faults="lost=25%,500=10%,retry-after=0", random_seed=11)
    plan = new_owner_plan(24, owners=8, prefix="fx")
    apply_plan(plan, settings_for(sb), tmp_path / "j")
    state = sb.snapshot()
    assert state["requests"]["faults_injected"].get("lost", 0) >= 1
    for i in range(8):
        assert len(users_named(state, f"fx.owner{i}@new.example")) == 1
    assert set(plan["status"]) == {"created"}, plan["error"].tolist()


def test_an_account_someone_made_meanwhile_is_used_not_adopted(sandbox, tmp_path):
    """The plan is stale: the e-mail exists by the time the run looks. Used, journalled existing, no POST."""
    import httpx

    with httpx.Client(base_url=sandbox.portal_url, headers={"Authorization": sandbox.token}) as c:
        made = c.post("/users", json={"Email": "nu.owner0@new.example", "First": "Theirs", "Active": True}).json()
    plan = new_owner_plan()
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    state = sandbox.snapshot()
    assert len(users_named(state, "nu.owner0@new.example")) == 1
    assert set(plan["status"]) == {"created"}
    assert (plan.loc[plan["user_email"] == "nu.owner0@new.example", "user_id"] == made["ID"]).all()
    with Journal(tmp_path / "j") as j:
        rec = users_of(j).get("nu.owner0@new.example")
        assert rec is not None and rec.state == "existing" and not rec.ours


def test_a_refused_account_fails_its_rows_with_the_reason(sandbox, tmp_path):
    plan = new_owner_plan()
    plan.loc[plan["user_email"] == "nu.owner1@new.example", "user_email"] = "not-an-email"
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    bad = plan[plan["user_email"] == "not-an-email"]
    assert set(bad["status"]) == {"failed"}
    assert bad["error"].str.contains("owner account 'not-an-email' not created").all()
    assert set(plan.loc[plan["user_email"] != "not-an-email", "status"]) == {"created"}


def test_inactive_owner_is_activated(sandbox, tmp_path):
    state = sandbox.snapshot()
    uid = 5
    sandbox.state.users[uid]["Active"] = False
    plan = make_plan(3, keys_per_app=3, prefix="ac")
    plan["user_id"] = pd.array([uid] * 3, dtype="Int64")
    email = str(state["users"][[u["ID"] for u in state["users"]].index(uid)]["Email"]).lower()
    plan["user_action"] = "activate_user"
    plan["user_email"] = email
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    assert set(plan["status"]) == {"created"}, plan["error"].tolist()
    assert sandbox.state.users[uid]["Active"] is True
    with Journal(tmp_path / "j") as j:
        rec = users_of(j).get(email)
        assert rec is not None and rec.state == "activated" and rec.user_id == uid


def test_dry_run_sends_no_account(sandbox, tmp_path):
    plan = new_owner_plan()
    before = len(sandbox.snapshot()["users"])
    apply_plan(plan, settings_for(sandbox), tmp_path / "j", dry_run=True)
    assert set(plan["status"]) == {"dry_run"}
    assert len(sandbox.snapshot()["users"]) == before


def test_an_open_intent_from_a_killed_run_is_adopted_by_the_next(sandbox, tmp_path):
    """Killed after the POST landed, before its outcome: the rerun finds the e-mail, absent before the intent."""
    import httpx

    plan = new_owner_plan()
    body = run_users.user_steps(plan, list(range(len(plan))))["nu.owner0@new.example"].body
    with Journal(tmp_path / "j") as j:  # what the killed run left: its intent, on disk
        users_of(j).intent("nu.owner0@new.example", run_id=1, attempts=1, listed_before=False, sent=sent_fields(body))
    with httpx.Client(base_url=sandbox.portal_url, headers={"Authorization": sandbox.token}) as c:
        landed = c.post("/users", json=body).json()  # the killed run's POST, as it sent it
    posts_before = sandbox.snapshot()["requests"]["by_route"].get("POST /portal-api/users 200", 0)
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    state = sandbox.snapshot()
    assert len(users_named(state, "nu.owner0@new.example")) == 1
    assert state["requests"]["by_route"].get("POST /portal-api/users 200", 0) == posts_before + 1  # owner1 only
    with Journal(tmp_path / "j") as j:
        rec = users_of(j).get("nu.owner0@new.example")
        assert rec is not None and (rec.state, rec.how, rec.user_id, rec.run_id) == (
            "created",
            "adopted",
            landed["ID"],
            1,
        )
        assert rec.ours


def test_a_colleagues_account_after_a_failed_post_is_used_not_adopted(sandbox, tmp_path, monkeypatch):
    """The first POST answers 500 having made nothing; a colleague makes the e-mail by hand; the retry is
    refused as taken. Their account is used (``existing``), never journalled as ours, so rollback keeps it."""
    import httpx

    real, calls = run_users.create_user, []

    async def fail_first(client: AsyncPortalClient, body: dict[str, Any]) -> dict[str, Any]:
        calls.append(body["Email"])
        if len(calls) == 1:
            with httpx.Client(base_url=sandbox.portal_url, headers={"Authorization": sandbox.token}) as c:
                c.post("/users", json={"Email": body["Email"], "First": "Theirs", "Last": "Colleague", "Active": True})
            raise PortalServerError("500 internal server error", status=500)
        return await real(client, body)

    monkeypatch.setattr(run_users, "create_user", fail_first)
    plan = new_owner_plan(2, owners=1, prefix="cf")
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    (theirs,) = users_named(sandbox.snapshot(), "cf.owner0@new.example")
    assert set(plan["status"]) == {"created"}, plan["error"].tolist()
    assert (plan["user_id"] == theirs["ID"]).all()
    with Journal(tmp_path / "j") as j:
        rec = users_of(j).get("cf.owner0@new.example")
        assert rec is not None and (rec.state, rec.user_id) == ("existing", theirs["ID"]) and not rec.ours


def test_an_open_intent_is_not_proof_of_a_hand_made_account(sandbox, tmp_path):
    """Killed between the intent and the POST; a colleague makes the e-mail: the rerun uses it as existing."""
    import httpx

    plan = new_owner_plan()
    body = run_users.user_steps(plan, list(range(len(plan))))["nu.owner0@new.example"].body
    with Journal(tmp_path / "j") as j:
        users_of(j).intent("nu.owner0@new.example", run_id=1, attempts=1, listed_before=False, sent=sent_fields(body))
    with httpx.Client(base_url=sandbox.portal_url, headers={"Authorization": sandbox.token}) as c:
        theirs = c.post("/users", json={"Email": "nu.owner0@new.example", "First": "Jo", "Active": True}).json()
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    assert set(plan["status"]) == {"created"}, plan["error"].tolist()
    with Journal(tmp_path / "j") as j:
        rec = users_of(j).get("nu.owner0@new.example")
        assert rec is not None and (rec.state, rec.user_id) == ("existing", theirs["ID"]) and not rec.ours


def test_taken_on_a_first_send_lists_again_and_uses_the_account(sandbox, tmp_path, monkeypatch):
    """Another process (its own journal) made the e-mail between this run's listing and its POST."""
    import httpx

    real, made = run_users.create_user, []

    async def beaten(client: AsyncPortalClient, body: dict[str, Any]) -> dict[str, Any]:
        if not made:  # the other process's POST lands first, with the very same body
            with httpx.Client(base_url=sandbox.portal_url, headers={"Authorization": sandbox.token}) as c:
                made.append(c.post("/users", json=body).json())
        return await real(client, body)

    monkeypatch.setattr(run_users, "create_user", beaten)
    plan = new_owner_plan(2, owners=1, prefix="tw")
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    assert set(plan["status"]) == {"created"}, plan["error"].tolist()
    assert (plan["user_id"] == made[0]["ID"]).all()
    with Journal(tmp_path / "j") as j:
        rec = users_of(j).get("tw.owner0@new.example")
        assert rec is not None and rec.state == "existing" and not rec.ours


def test_the_proof_needs_the_sent_fields_and_a_creation_after_the_intent():
    from tyk_migrate.run.user_proof import proven_ours

    sent = sent_fields({"First": "New", "Last": "Owner", "Role": "consumer-team-member", "OrganisationID": 3})
    shown = {"First": "New", "Last": "Owner", "Role": "consumer-team-member", "OrganisationID": 3}
    intent = "2026-06-01T10:00:58.500+00:00"
    assert proven_ours({**shown, "CreatedAt": "2026-06-01 10:00"}, sent, intent)  # same (truncated) minute
    assert proven_ours({**shown, "CreatedAt": "2026-06-01 10:01"}, sent, intent)
    assert proven_ours({**shown, "CreatedAt": "2026-06-01 09:59"}, sent, "2026-06-01T10:00:03+00:00")  # skew
    assert not proven_ours({**shown, "CreatedAt": "2026-06-01 09:58"}, sent, intent)  # made before the intent
    assert not proven_ours({**shown, "First": "Theirs", "CreatedAt": "2026-06-01 10:01"}, sent, intent)
    assert not proven_ours({**shown, "OrganisationID": 0, "CreatedAt": "2026-06-01 10:01"}, sent, intent)
    assert not proven_ours(shown, sent, intent)  # no CreatedAt: nothing proves it
    assert not proven_ours({**shown, "CreatedAt": "2026-06-01 10:01"}, None, intent)  # an old journal's intent


def test_a_hand_made_plan_creating_an_owner_in_no_organisation_sends_nothing(sandbox, tmp_path):
    """The planner never plans an account without an organisation (it would be a portal admin); a plan edited
    by hand can: its rows are blocked with the reason, and no user, app or credential is made (issue 19)."""
    plan = new_owner_plan(4, owners=1)
    plan["user_org_id"] = pd.array([None] * 4, dtype="Int64")
    before = len(sandbox.snapshot()["users"])
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    assert set(plan["status"]) == {"blocked"}
    assert plan["error"].str.contains("no organisation").all() and plan["error"].str.contains("--users-org").all()
    state = sandbox.snapshot()
    assert len(state["users"]) == before and not users_named(state, plan["user_email"].iat[0])
