"""Rollback reads before it deletes (a journalled ID may belong to someone else now), deletes only apps a run
created, and rides out a throttling portal. The everyday rollback cases live in test_run*.py."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from run_helpers import make_plan

from tyk_migrate.config import Settings
from tyk_migrate.journal import Journal
from tyk_migrate.rollback import rollback
from tyk_migrate.run import apply_plan
from tyk_migrate.secrets import fingerprint

CLI = [str(Path(sys.executable).with_name("tyk-migrate"))]


def settings_for(sb: Any) -> Settings:
    return Settings(portal_url=sb.portal_url, token=sb.token)


def portal(sb: Any, method: str, path: str, **kw: Any) -> Any:
    response = httpx.request(method, sb.portal_url + path, headers={"Authorization": sb.token}, **kw)
    response.raise_for_status()
    return response.json() if response.content else None


def add_key(sb: Any, app_id: int, key: str) -> int:
    body = {
        "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
        "PlanID": 7,
        "ProductIDs": [1],
        "KeyID": key,
        "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM",
        "AuthenticationMethod": "Auth Token",
    }
    return int(portal(sb, "POST", f"/apps/{app_id}/custom_credentials", json=body)["ID"])


def objects(sb: Any) -> tuple[dict[int, tuple[int, str]], dict[int, str]]:
    state = sb.snapshot()
    return (
        {a["ID"]: (a["UserID"], a["Name"]) for a in state["apps"]},
        {c["ID"]: c["KeyID"] for c in state["custom_credentials"]},
    )


def mixed_plan(n: int):
    """``n`` keys: two of every three in new apps, every third added to the seed's app 1 (user 19)."""
    plan = make_plan(n, keys_per_app=2)
    for row in range(0, n, 3):
        plan.loc[row, ["user_id", "app_name", "action"]] = [19, "Reporting", "add_credential"]
        plan.loc[row, "app_id"] = 1
    return plan


def test_after_a_portal_reset_rollback_deletes_nothing_that_reused_its_ids_and_says_why(sandbox, tmp_path):
    journal = tmp_path / "run.journal"
    plan = mixed_plan(9)
    apply_plan(plan, settings_for(sandbox), journal)
    assert set(plan["status"]) == {"created"}
    our_apps = sorted({int(a) for a in plan["app_id"] if int(a) != 1})
    app_of = {int(c): int(a) for c, a in zip(plan["credential_id"], plan["app_id"], strict=True)}
    loose = sorted(c for c, a in app_of.items() if a == 1)
    # the staging portal is reset to its seed, and other developers make apps and keys: the IDs come back
    sandbox._admin("POST", "/__sandbox/reset")
    theirs = [portal(sandbox, "POST", "/apps", json={"Name": f"Other app {i}", "UserID": 7})["ID"] for i in our_apps]
    assert theirs == our_apps
    for cred_id in sorted(app_of):  # in the order the run made them, each where ours was
        assert add_key(sandbox, app_of[cred_id], f"someone-elses-key-{cred_id:04d}") == cred_id
    before = objects(sandbox)

    report = rollback(journal, settings_for(sandbox))
    assert objects(sandbox) == before  # not one object deleted
    assert set(report["result"]) == {"kept"}
    apps = report[report["kind"] == "app"].set_index("app_id")["detail"]
    assert sorted(apps.index) == our_apps
    for app_id in our_apps:
        assert apps[app_id].startswith("is now 'Other app") and "of user 7, not ours" in apps[app_id]
    creds = report[report["kind"] == "credential"].set_index("credential_id")["detail"]
    assert sorted(creds.index) == sorted(app_of)
    assert all("now holds another key" in creds[c] and "not ours" in creds[c] for c in loose)
    assert all("no longer ours" in creds[c] for c in app_of if c not in loose)
    assert not any("someone-elses-key" in str(v) for v in report.to_numpy().ravel())  # fingerprints only
    with Journal(journal) as jr:  # the journal still says what the run made: nothing was rolled back
        assert {c.state for c in jr.credentials()} == {"created"}

    done = subprocess.run(
        [*CLI, "rollback", "--journal", str(journal), "--yes"],
        env={**os.environ, "TYK_PORTAL_URL": sandbox.portal_url, "TYK_PORTAL_TOKEN": sandbox.token},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # counted by reason, with an example each, not one line per object
    assert f"{len(our_apps)} app(s): the ID now belongs to another app" in done.stdout
    assert "e.g. app " in done.stdout and "is now 'Other app" in done.stdout and "not ours" in done.stdout
    assert objects(sandbox) == before


def test_an_app_a_run_did_not_create_is_never_deleted(sandbox, tmp_path):
    """Only state 'created' by a run, posted or adopted: an app journalled as reused (or any other way) stays."""
    reused = int(portal(sandbox, "POST", "/apps", json={"Name": "their own app", "UserID": 5})["ID"])
    other = int(portal(sandbox, "POST", "/apps", json={"Name": "their other app", "UserID": 5})["ID"])
    with Journal(tmp_path / "j") as jr:
        jr.bind_portal(sandbox.portal_url)
        run = jr.begin_run()
        jr.app_outcome(5, "their own app", "created", app_id=reused, run_id=run, how="reused")
        jr.app_outcome(5, "their other app", "failed", app_id=other, run_id=run)
    report = rollback(tmp_path / "j", settings_for(sandbox))
    assert report.empty
    assert {reused, other} <= set(objects(sandbox)[0])


def test_a_mismatched_credential_holding_a_key_the_portal_issued_goes_with_our_app(sandbox, tmp_path):
    """A 'mismatch' the runner could not delete may hold the portal's own key: in our app its ID is enough."""
    app = int(portal(sandbox, "POST", "/apps", json={"Name": "mig app", "UserID": 4})["ID"])
    issued = add_key(sandbox, app, "portal-issued-key-0001")
    elsewhere = add_key(sandbox, 1, "portal-issued-key-0002")  # the same, in an app that is not ours
    with Journal(tmp_path / "j") as jr:
        jr.bind_portal(sandbox.portal_url)
        run = jr.begin_run()
        jr.app_outcome(4, "mig app", "created", app_id=app, run_id=run, how="posted")
        for fp, app_id, cred in (
            (fingerprint("our-key-0000001"), app, issued),
            (fingerprint("k2-0000002"), 1, elsewhere),
        ):
            jr.credential_outcome(fp, "mismatch", app_id=app_id, credential_id=cred, run_id=run)
    report = rollback(tmp_path / "j", settings_for(sandbox)).set_index(["kind", "app_id"])
    apps, creds = objects(sandbox)
    assert app not in apps and issued not in creds
    assert report.loc[("app", app), "result"] == "deleted"
    assert elsewhere in creds and report.loc[("credential", 1), "result"] == "kept"


def test_rollback_against_a_portal_capping_requests_in_flight_deletes_everything(sandbox, tmp_path):
    seed_apps, seed_creds = objects(sandbox)
    plan = mixed_plan(300)  # 150 apps holding 200 keys, and 100 keys added to a seed app
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    assert set(plan["status"]) == {"created"}
    sandbox.set_faults("cap=4,429=5%", latency_ms=30)
    report = rollback(tmp_path / "j", settings_for(sandbox))
    assert "failed" not in set(report["result"]), report[report["result"] == "failed"].head()
    assert report["result"].value_counts().to_dict() == {"deleted": 250, "deleted with app": 200}
    apps, creds = objects(sandbox)
    assert set(apps) == set(seed_apps) and set(creds) == set(seed_creds)
    refused = sandbox.snapshot()["requests"]["faults_injected"]
    assert refused.get("cap", 0) < 60  # it found the cap and stayed under it (fixed at 8: well over 100)
    with Journal(tmp_path / "j") as jr:
        assert {c.state for c in jr.credentials()} == {"rolled_back"}


def test_an_open_app_intent_undoes_only_an_app_made_after_it(sandbox, tmp_path):
    """An app POST whose answer was lost: only an app outside the listing taken before the POST can be ours.
    A developer's app of the same owner and name, listed before (or with no listing recorded), stays."""
    theirs = int(portal(sandbox, "POST", "/apps", json={"Name": "shared name", "UserID": 5})["ID"])
    unproven = int(portal(sandbox, "POST", "/apps", json={"Name": "old journal", "UserID": 5})["ID"])
    ours = int(portal(sandbox, "POST", "/apps", json={"Name": "lost answer", "UserID": 5})["ID"])
    with Journal(tmp_path / "j") as jr:
        jr.bind_portal(sandbox.portal_url)
        run = jr.begin_run()
        jr.app_intent(5, "shared name", run_id=run, attempts=1, prior_app_ids=[theirs])
        jr.app_intent(5, "old journal", run_id=run, attempts=1, prior_app_ids=None)
        jr.app_intent(5, "lost answer", run_id=run, attempts=1, prior_app_ids=[])
    report = rollback(tmp_path / "j", settings_for(sandbox))
    apps = set(objects(sandbox)[0])
    assert {theirs, unproven} <= apps and ours not in apps
    kept = report[report["result"] == "kept"]
    assert kept["detail"].str.contains("old journal: cannot prove").any()


# -- own14: since schema 3 an app must carry its marker, an open credential intent a credential made after it ----
def test_after_a_portal_reset_a_recreated_empty_app_of_the_same_name_is_not_ours(sandbox, tmp_path):
    """Same ID, same owner, same name, no credential: only the Description marker tells it is not the run's."""
    plan = make_plan(3)
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    user, name, ours = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"]), int(plan.loc[0, "app_id"])
    sandbox._admin("POST", "/__sandbox/reset")
    again = portal(sandbox, "POST", "/apps", json={"Name": name, "UserID": user, "Description": "a developer's"})
    assert int(again["ID"]) == ours
    report = rollback(tmp_path / "j", settings_for(sandbox))
    assert ours in objects(sandbox)[0], "the re-created app was deleted"
    row = report[report["kind"] == "app"].iloc[0]
    assert (row["result"], row["reason"]) == ("kept", "not_marked")


def test_an_open_credential_intent_never_deletes_a_holder_listed_before_it(sandbox, tmp_path):
    app = int(portal(sandbox, "POST", "/apps", json={"Name": "shared", "UserID": 5})["ID"])
    theirs = add_key(sandbox, app, "shared-key-000000001")
    with Journal(tmp_path / "j") as jr:
        jr.bind_portal(sandbox.portal_url)
        run = jr.begin_run()
        fp = fingerprint("shared-key-000000001")
        jr.credential_intent(fp, app_id=app, run_id=run, attempts=1, prior_credential_ids=[theirs])
    report = rollback(tmp_path / "j", settings_for(sandbox))
    assert theirs in objects(sandbox)[1], "a credential that held the key before the intent was deleted"
    assert report["result"].tolist() == ["not found"]


def test_an_open_credential_intent_with_two_holders_made_after_it_deletes_neither(make_sandbox, tmp_path):
    sb = make_sandbox(behaviour={"duplicate-key": "overwrite"})
    app = int(portal(sb, "POST", "/apps", json={"Name": "shared", "UserID": 5})["ID"])
    with Journal(tmp_path / "j") as jr:
        jr.bind_portal(sb.portal_url)
        jr.credential_intent(
            fingerprint("twice-key-0000000001"), app_id=app, run_id=jr.begin_run(), attempts=1, prior_credential_ids=[]
        )
    both = [add_key(sb, app, "twice-key-0000000001") for _ in range(2)]
    report = rollback(tmp_path / "j", settings_for(sb))
    assert set(both) <= set(objects(sb)[1])
    assert (report["result"].tolist(), report["reason"].tolist()) == (["kept"], ["several_holders"])


# -- break14b B4/B5: a Description says whose an app is, but never shields the credentials the journal made ---
def _version_2_journal_with_an_open_app_intent(path: Path, user: int, name: str) -> None:
    """A journal of schema 2 (no marker, no credential prior list) whose run died after an app intent."""
    with Journal(path) as jr:
        jr.app_intent(user, name, run_id=jr.begin_run(), attempts=1, prior_app_ids=[], marker=None)
    db = sqlite3.connect(path)
    db.executescript(
        "ALTER TABLE apps DROP COLUMN marker; ALTER TABLE credentials DROP COLUMN prior_credential_ids;"
        "UPDATE meta SET value='2' WHERE key='schema_version';"
    )
    db.commit()
    db.close()


def test_a_version_2_intent_never_adopts_nor_deletes_an_app_with_a_description(sandbox, tmp_path):
    """Version-2 tools always sent an empty Description: a developer's app made after the intent, with one of
    its own, is provably not the intent's (neither rollback nor a rerun takes it)."""
    plan = make_plan(3)
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    for journal in ("rollback", "rerun"):
        _version_2_journal_with_an_open_app_intent(tmp_path / journal, user, name)
    body = {"Name": name, "UserID": user, "Description": "Team Alpha production app"}
    dev = int(portal(sandbox, "POST", "/apps", json=body)["ID"])
    report = rollback(tmp_path / "rollback", settings_for(sandbox))
    assert dev in objects(sandbox)[0], f"the developer's app was deleted: {report.to_string()}"
    assert "deleted" not in set(report["result"])
    apply_plan(plan, settings_for(sandbox), tmp_path / "rerun", force_journal=True)
    with Journal(tmp_path / "rerun") as jr:
        rec = jr.app(user, name)
        assert rec is not None and (rec.state, rec.app_id) == ("reused", dev), "the developer's app was adopted"
    rollback(tmp_path / "rerun", settings_for(sandbox))
    assert dev in objects(sandbox)[0]


def test_rollback_deletes_its_credentials_in_an_app_whose_description_was_edited(sandbox, tmp_path):
    plan = make_plan(3)
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    user, name, app_id = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"]), int(plan.loc[0, "app_id"])
    portal(sandbox, "PUT", f"/apps/{app_id}", json={"Name": name, "UserID": user, "Description": "my team's app"})
    report = rollback(tmp_path / "j", settings_for(sandbox))
    apps, creds = objects(sandbox)
    assert app_id in apps  # not provably ours any more: kept
    assert not {fingerprint(k) for k in creds.values()} & set(plan["key_fingerprint"]), "our keys stayed"
    rows = report[report["kind"] == "credential"]
    assert rows["result"].tolist() == ["deleted"] * 3, report.to_string()


def test_a_create_that_left_only_a_gateway_key_is_not_reported_deleted(make_sandbox, tmp_path):
    """partial-create=key-only under duplicate-key=refuse: the gateway keeps each key, the portal lost the record
    and answered 500; the retry is refused "key exists" and the intent stays open. Rollback removes the app but
    must not claim the credential deleted: no portal record ever held the key, and the gateway may still serve
    it (break14b B6)."""
    sb = make_sandbox(behaviour={"partial-create": "key-only:100%"})
    settings = settings_for(sb)
    plan = make_plan(3)
    apply_plan(plan, settings, tmp_path / "j", concurrency=1)
    assert set(plan["status"]) == {"failed"}
    assert all("the gateway holds the key without a portal record" in e for e in plan["error"])  # what to do
    report = rollback(tmp_path / "j", settings)
    creds = report[report["kind"] == "credential"]
    assert len(creds) == 3 and "deleted with app" not in set(creds["result"])
    assert set(creds["result"]) == {"not found"}
    assert all("gateway may still serve" in str(d) for d in creds["detail"])
