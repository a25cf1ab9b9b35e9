"""Rollback of the accounts a run created: only those, read first by e-mail, only when they own nothing."""

from __future__ import annotations

import httpx
import pandas as pd
from test_run_users import new_owner_plan, settings_for, users_named

from tyk_migrate.journal import Journal
from tyk_migrate.journal_users import users_of
from tyk_migrate.rollback import rollback
from tyk_migrate.rollback_users import rollback_users, users_to_undo
from tyk_migrate.run import apply_plan
from tyk_migrate.run.user_proof import sent_fields

OWNER0, OWNER1 = "nu.owner0@new.example", "nu.owner1@new.example"


def api(sb):
    return httpx.Client(base_url=sb.portal_url, headers={"Authorization": sb.token}, timeout=10)


def test_created_accounts_go_after_their_apps_used_ones_stay(sandbox, tmp_path):
    with api(sandbox) as c:  # OWNER0 exists before the run: used, never deleted
        theirs = c.post("/users", json={"Email": OWNER0, "Active": True}).json()
    plan = new_owner_plan()
    journal = tmp_path / "j"
    apply_plan(plan, settings_for(sandbox), journal)
    with Journal(journal) as j:
        assert [r.email for r in users_to_undo(j)] == [OWNER1]
        dry = rollback_users(j, settings_for(sandbox), dry_run=True)
        assert dry["result"].tolist() == ["would delete"]
        assert len(users_named(sandbox.snapshot(), OWNER1)) == 1  # a dry run deletes nothing
        rollback(j, settings_for(sandbox))
        report = rollback_users(j, settings_for(sandbox))
        assert report[["email", "result"]].values.tolist() == [[OWNER1, "deleted"]]
        assert users_of(j).get(OWNER1).state == "deleted"
        assert users_to_undo(j) == []
    state = sandbox.snapshot()
    assert users_named(state, OWNER1) == []
    assert [u["ID"] for u in users_named(state, OWNER0)] == [theirs["ID"]]
    with Journal(journal) as j:  # a second rollback has nothing left to do
        assert rollback_users(j, settings_for(sandbox)).empty


def test_an_account_that_owns_something_else_is_kept(sandbox, tmp_path):
    plan = new_owner_plan()
    journal = tmp_path / "j"
    apply_plan(plan, settings_for(sandbox), journal)
    uid = int(plan.loc[plan["user_email"] == OWNER1, "user_id"].iloc[0])
    with api(sandbox) as c:  # the developer made an app of their own meanwhile
        c.post("/apps", json={"Name": "My own", "UserID": uid})
    with Journal(journal) as j:
        rollback(j, settings_for(sandbox))
        report = rollback_users(j, settings_for(sandbox)).set_index("email")
    assert report.loc[OWNER1, "result"] == "kept" and report.loc[OWNER1, "reason"] == "owns_apps"
    assert report.loc[OWNER0, "result"] == "deleted"
    assert len(users_named(sandbox.snapshot(), OWNER1)) == 1


def test_an_email_now_held_by_another_account_is_kept(sandbox, tmp_path):
    plan = new_owner_plan()
    journal = tmp_path / "j"
    apply_plan(plan, settings_for(sandbox), journal)
    with Journal(journal) as j:
        rollback(j, settings_for(sandbox))
    uid = int(plan.loc[plan["user_email"] == OWNER0, "user_id"].iloc[0])
    with api(sandbox) as c:  # the account was removed and someone else signed up with that e-mail
        c.delete(f"/users/{uid}")
        other = c.post("/users", json={"Email": OWNER0}).json()
    with Journal(journal) as j:
        report = rollback_users(j, settings_for(sandbox)).set_index("email")
    assert report.loc[OWNER0, "reason"] == "id_reused"
    assert [u["ID"] for u in users_named(sandbox.snapshot(), OWNER0)] == [other["ID"]]


def test_an_open_intent_deletes_only_the_account_it_provably_sent(sandbox, tmp_path):
    """Rollback applies the run's proof: an account a colleague made after our intent (other fields) stays;
    one with the fields the intent sent, made after it, goes."""
    body = {"Email": OWNER0, "First": "New", "Last": "Owner 0", "Role": "consumer-team-member"}
    with Journal(tmp_path / "j") as j:
        for email in (OWNER0, OWNER1):
            users_of(j).intent(email, run_id=1, attempts=1, listed_before=False, sent=sent_fields(body))
    with api(sandbox) as c:
        theirs = c.post("/users", json={"Email": OWNER0, "First": "Theirs", "Last": "Colleague"}).json()
        c.post("/users", json={**body, "Email": OWNER1})
    with Journal(tmp_path / "j") as j:
        report = rollback_users(j, settings_for(sandbox)).set_index("email")
    assert (report.loc[OWNER0, "result"], report.loc[OWNER0, "reason"]) == ("kept", "unproven")
    assert report.loc[OWNER1, "result"] == "deleted"
    state = sandbox.snapshot()
    assert [u["ID"] for u in users_named(state, OWNER0)] == [theirs["ID"]] and users_named(state, OWNER1) == []


def test_an_account_made_inactive_then_activated_by_a_rerun_is_still_rolled_back(sandbox, tmp_path):
    """Run 1 creates the owner inactive; a rerun (grown input, --activate-users) activates it: the journal keeps
    it as created by the migration, so rollback still removes it."""
    journal = tmp_path / "j"
    plan = new_owner_plan(3, owners=1)
    plan["user_active"] = pd.array([False] * 3, dtype="boolean")
    apply_plan(plan, settings_for(sandbox), journal)
    (made,) = users_named(sandbox.snapshot(), OWNER0)
    assert made["Active"] is False
    again = new_owner_plan(3, owners=1)
    again["user_action"], again["user_id"] = "activate_user", pd.array([made["ID"]] * 3, dtype="Int64")
    apply_plan(again, settings_for(sandbox), journal)
    assert sandbox.state.users[made["ID"]]["Active"] is True
    with Journal(journal) as j:
        assert users_of(j).get(OWNER0).state == "created"
        rollback(j, settings_for(sandbox))
        report = rollback_users(j, settings_for(sandbox))
    assert report[["email", "result"]].values.tolist() == [[OWNER0, "deleted"]]
    assert users_named(sandbox.snapshot(), OWNER0) == []
