"""Recovery when the journal and the portal disagree: a journal claim is checked against the portal, an
open app intent is settled on the next run, a "key exists" answer after a lost answer is adopted, and
rollback finds apps it only has an intent for. Every outcome must match the portal."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import Any

import httpx
import pandas as pd
from run_helpers import make_plan, portal_audit, post_count

from tyk_migrate.config import Settings
from tyk_migrate.errors import PortalConnectionError, PortalServerError
from tyk_migrate.journal import Journal, input_identity
from tyk_migrate.plan import oldest_app
from tyk_migrate.portal import AsyncPortalClient
from tyk_migrate.rollback import rollback
from tyk_migrate.run import Migration, apply_plan
from tyk_migrate.secrets import reveal

CLEAN = {"missing": [], "duplicate_credentials": [], "wrong": [], "status_mismatch": [], "duplicate_apps": []}


def settings_for(sb: Any) -> Settings:
    return Settings(portal_url=sb.portal_url, token=sb.token)


def portal(sb: Any, method: str, path: str, **kw: Any) -> Any:
    response = httpx.request(method, sb.portal_url + path, headers={"Authorization": sb.token}, **kw)
    response.raise_for_status()
    return response.json()


def new_app(sb: Any, user_id: int, name: str) -> int:
    return int(portal(sb, "POST", "/apps", json={"Name": name, "UserID": user_id})["ID"])


def seeded(sb: Any) -> tuple[set[int], set[str]]:
    state = sb.snapshot()
    return {a["ID"] for a in state["apps"]}, {c["KeyID"] for c in state["custom_credentials"]}


def crashed_after_app_post(sb: Any, path: Any, plan: pd.DataFrame) -> int:
    """The journal as a run killed after ``POST /apps`` left it: an open intent, the app in the portal."""
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    with Journal(path) as journal:
        journal.bind(input_identity(plan["key_fingerprint"]))
        journal.bind_portal(sb.portal_url)
        run = journal.begin_run()
        journal.app_intent(user, name, run_id=run, attempts=1, prior_app_ids=())  # the runner saw no such app
    return new_app(sb, user, name)


# -- a journal claim of "created" is checked when the plan still asks for the write ------------------------
def test_a_credential_deleted_since_the_journal_said_created_is_sent_again(sandbox, tmp_path):
    plan = make_plan(6)
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    gone = int(plan.loc[1, "credential_id"])
    portal(sandbox, "DELETE", f"/apps/{int(plan.loc[1, 'app_id'])}/custom_credentials/{gone}")
    posts = post_count(sandbox.snapshot())
    again = make_plan(6)  # the fresh plan still says add_credential for that key
    apply_plan(again, settings_for(sandbox), tmp_path / "j")
    assert set(again["status"]) == {"created"}
    assert portal_audit(sandbox.snapshot(), again) == CLEAN  # status and IDs match the portal
    assert post_count(sandbox.snapshot()) == posts + 1  # that key only; the others were found and kept
    assert int(again.loc[1, "credential_id"]) != gone
    with Journal(tmp_path / "j") as journal:
        rec = journal.credential(again.loc[1, "key_fingerprint"])
        assert rec is not None and rec.state == "created" and rec.credential_id == int(again.loc[1, "credential_id"])


def test_an_app_deleted_since_the_journal_said_created_is_made_again(sandbox, tmp_path):
    plan = make_plan(6)
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    portal(sandbox, "DELETE", f"/apps/{int(plan.loc[0, 'app_id'])}")  # takes keys 0-2 with it
    again = make_plan(6)
    apply_plan(again, settings_for(sandbox), tmp_path / "j")
    assert set(again["status"]) == {"created"}, again["error"].tolist()
    assert portal_audit(sandbox.snapshot(), again) == CLEAN
    assert again.loc[0, "app_id"] != plan.loc[0, "app_id"] and again.loc[3, "app_id"] == plan.loc[3, "app_id"]


# -- an app whose create outcome was never journalled -------------------------------------------------------
def test_an_open_app_intent_is_settled_when_the_plan_names_the_app_and_rollback_removes_it(sandbox, tmp_path):
    apps_before, keys_before = seeded(sandbox)
    plan = make_plan(3)
    app_id = crashed_after_app_post(sandbox, tmp_path / "j", plan)
    # the fresh plan of the rerun sees the app: every row adds a credential to it
    plan["action"], plan["app_id"] = "add_credential", pd.array([app_id] * 3, dtype="Int64")
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    assert set(plan["status"]) == {"created"}
    with Journal(tmp_path / "j") as journal:
        rec = journal.app(int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"]))
        assert rec is not None and (rec.state, rec.app_id, rec.how) == ("created", app_id, "adopted")
    rollback(tmp_path / "j", settings_for(sandbox))
    assert seeded(sandbox) == (apps_before, keys_before)


def test_rollback_looks_up_an_app_it_only_has_an_intent_for(sandbox, tmp_path):
    apps_before, _ = seeded(sandbox)
    plan = make_plan(3)
    crashed_after_app_post(sandbox, tmp_path / "j", plan)
    report = rollback(tmp_path / "j", settings_for(sandbox))
    assert seeded(sandbox)[0] == apps_before
    assert report.loc[report["kind"] == "app", "result"].tolist() == ["deleted"]
    with Journal(tmp_path / "j") as journal:
        assert [a.state for a in journal.apps()] == ["rolled_back"]
    # an intent whose POST never landed: nothing to delete, and the journal says so
    with Journal(tmp_path / "k") as journal:
        journal.app_intent(2, "never landed", run_id=journal.begin_run(), attempts=1)
    report = rollback(tmp_path / "k", settings_for(sandbox))
    assert report["result"].tolist() == ["not found"] and seeded(sandbox)[0] == apps_before


# -- one rule for several apps of one name ------------------------------------------------------------------
def test_oldest_app_is_the_lowest_id():
    assert oldest_app([12, 5, 9]) == 5 and oldest_app([]) is None


def test_an_unknown_app_outcome_adopts_the_oldest_of_several(sandbox, tmp_path):
    plan = make_plan(3)
    first = crashed_after_app_post(sandbox, tmp_path / "j", plan)
    second = new_app(sandbox, int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"]))
    assert first < second
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    assert set(plan["status"]) == {"created"} and set(plan["app_id"]) == {first}


# -- "the key exists" after a write whose answer was lost -------------------------------------------------
class LaggingPortal(AsyncPortalClient):
    """The first credential POST lands but its answer is lost, and the first listing does not show it yet
    (a portal whose reads lag its writes). ``send_first=False``: the first POST is lost before it lands."""

    def __init__(self, *a: Any, send_first: bool = True, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.send_first, self.posts, self.lists = send_first, 0, 0

    async def create_credential(self, app_id: int, **kw: Any) -> Any:
        self.posts += 1
        if self.posts == 1:
            if self.send_first:
                await super().create_credential(app_id, **kw)
            raise PortalConnectionError("connection reset", method="POST", path="/custom_credentials")
        return await super().create_credential(app_id, **kw)

    async def list_credentials(self, app_id: int) -> Any:
        self.lists += 1
        return [] if self.lists == 1 else await super().list_credentials(app_id)


def run_with(client_factory: Any, plan: pd.DataFrame, path: Any) -> None:
    async def go() -> None:
        async with client_factory() as client:
            await Migration(plan, client, path, concurrency=1).run()

    asyncio.run(go())


def test_key_exists_after_a_lost_answer_is_looked_up_and_adopted(sandbox, tmp_path):
    plan = make_plan(1)
    run_with(lambda: LaggingPortal(settings=settings_for(sandbox)), plan, tmp_path / "j")
    assert plan["status"].tolist() == ["created"], plan["error"].tolist()
    assert portal_audit(sandbox.snapshot(), plan) == CLEAN
    with Journal(tmp_path / "j") as journal:
        rec = journal.credential(plan.loc[0, "key_fingerprint"])
        assert rec is not None and (rec.state, rec.how) == ("created", "adopted")


def test_key_exists_in_another_app_is_a_conflict_with_its_reason(sandbox, tmp_path):
    plan = make_plan(1)
    elsewhere = new_app(sandbox, 3, "someone else's app")
    key = plan.loc[0, "key_id"]
    from tyk_migrate.portal import PortalClient

    with PortalClient(settings=settings_for(sandbox)) as client:
        client.create_credential(elsewhere, key_id=key, plan_id=7, product_ids=[1])
    run_with(lambda: LaggingPortal(settings=settings_for(sandbox), send_first=False), plan, tmp_path / "j")
    assert plan["status"].tolist() == ["failed"]
    error = plan.loc[0, "error"]
    assert "the portal says the key exists" in error and "does not list it" in error and "rerun" in error
    with Journal(tmp_path / "j") as journal:  # left open: a rerun's fresh plan says whose key it is
        rec = journal.credential(plan.loc[0, "key_fingerprint"])
        assert rec is not None and rec.state == "intent"


def test_key_exists_but_the_listing_still_lags_leaves_the_outcome_open_for_rollback(sandbox, tmp_path):
    """Our lost write landed, the listing lags past the 409: not a 'failed' that rollback would skip."""

    class SlowerListing(LaggingPortal):
        async def list_credentials(self, app_id: int) -> Any:
            self.lists += 1
            return [] if self.lists <= 2 else await AsyncPortalClient.list_credentials(self, app_id)

    plan = make_plan(1)
    impatient = replace(settings_for(sandbox), lookup_patience=0)  # the lag outlasts the lookup's patience
    run_with(lambda: SlowerListing(settings=impatient), plan, tmp_path / "j")
    assert plan["status"].tolist() == ["failed"] and "rerun to resolve it" in plan.loc[0, "error"]
    fp = plan.loc[0, "key_fingerprint"]
    with Journal(tmp_path / "j") as journal:
        rec = journal.credential(fp)
        assert rec is not None and rec.state == "intent"
    keys = [c["KeyID"] for c in sandbox.snapshot()["custom_credentials"]]
    assert reveal(plan.loc[0, "key_id"]) in keys  # it did land
    rollback(tmp_path / "j", settings_for(sandbox))
    assert reveal(plan.loc[0, "key_id"]) not in [c["KeyID"] for c in sandbox.snapshot()["custom_credentials"]]


def test_a_cancelled_run_leaves_no_row_running_and_a_rerun_settles_it(make_sandbox, tmp_path):
    """Cancelling ``Migration.run()`` itself (a second Ctrl-C, a notebook's interrupt) ends its rows with it:
    none runs on against the closed journal and client. The rerun of the same journal settles every row."""
    sb = make_sandbox(latency_ms=20)
    plan = make_plan(120, keys_per_app=1)
    journal = tmp_path / "j"

    async def cancel_mid_run() -> list[asyncio.Task[Any]]:
        async with AsyncPortalClient(settings=settings_for(sb)) as client:
            run = Migration(plan, client, journal, concurrency=8, max_concurrency=8, batch_size=10)  # 32 rows at once
            task = asyncio.create_task(run.run())
            while run.progress.created < 10:
                await asyncio.sleep(0.01)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.2)  # a row task left running would still be going
            return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(cancel_mid_run()) == []
    rerun = make_plan(120, keys_per_app=1)
    apply_plan(rerun, settings_for(sb), journal)
    assert set(rerun["status"]) <= {"created", "skipped"}
    assert portal_audit(sb.snapshot(), rerun) == CLEAN


# -- a lookup after an unanswered write lists at once and once its patience is up, nothing in between ------
class FailingFirstPost(AsyncPortalClient):
    """The first credential POST gets a 500 and does not land (most 5xx are such); lists are timed."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.posts: list[float] = []
        self.lists: list[float] = []

    async def create_credential(self, app_id: int, **kw: Any) -> Any:
        self.posts.append(time.perf_counter())
        if len(self.posts) == 1:
            raise PortalServerError("500 Internal Server Error", method="POST", path="/custom_credentials", status=500)
        return await super().create_credential(app_id, **kw)

    async def list_credentials(self, app_id: int) -> Any:
        self.lists.append(time.perf_counter())
        return await super().list_credentials(app_id)


def test_a_lookup_lists_less_often_as_it_waits_and_decides_after_the_patience(sandbox, tmp_path):
    """Listed every quarter second until the patience was up, a write that had not landed cost nine listings
    at the default patience of 2 s: a fifth of all requests under the benchmark's faults. The waits now
    double; the listing that says "not there" still begins once the patience is up."""
    plan = make_plan(1)
    patience = 2.0
    settings = replace(settings_for(sandbox), lookup_patience=patience)
    clients: list[FailingFirstPost] = []

    def factory() -> FailingFirstPost:
        clients.append(FailingFirstPost(settings=settings))
        return clients[-1]

    run_with(factory, plan, tmp_path / "j")
    client = clients[0]
    assert plan["status"].tolist() == ["created"], plan["error"].tolist()
    assert portal_audit(sandbox.snapshot(), plan) == CLEAN
    first_post, second_post = client.posts
    after = [t - first_post for t in client.lists if first_post < t < second_post]
    assert 2 <= len(after) <= 5, [round(t, 2) for t in after]
    assert after[-1] >= patience  # "not there" is decided from a listing begun after the patience
