"""The runner never adopts, changes or deletes an app it cannot prove it made, and a failing journal ends the
run at once with one line. Every test runs against the real sandbox server; "developers" act on it through
its HTTP API while the plan is stale or the run is going."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from run_helpers import make_plan, portal_audit

from tyk_migrate.config import Settings
from tyk_migrate.errors import JournalError, PortalConnectionError
from tyk_migrate.journal import SCHEMA_VERSION, Journal, input_identity
from tyk_migrate.portal import AsyncPortalClient, PortalClient
from tyk_migrate.rollback import rollback
from tyk_migrate.run import Migration, apply_plan
from tyk_migrate.secrets import reveal

CLEAN = {"missing": [], "duplicate_credentials": [], "wrong": [], "status_mismatch": [], "duplicate_apps": []}
BAD_PLAN = 999  # no such plan in the sample portal: every credential create is refused (422)


def settings_for(sb: Any) -> Settings:
    return Settings(portal_url=sb.portal_url, token=sb.token)


def portal(sb: Any, method: str, path: str, **kw: Any) -> Any:
    response = httpx.request(method, sb.portal_url + path, headers={"Authorization": sb.token}, **kw)
    response.raise_for_status()
    return response.json()


def developer_app(sb: Any, user_id: int, name: str, key: str) -> tuple[int, int]:
    """A developer's own app with one credential of their own: (app ID, credential ID)."""
    app = int(portal(sb, "POST", "/apps", json={"Name": name, "UserID": user_id})["ID"])
    with PortalClient(settings=settings_for(sb)) as client:
        cred = int(client.create_credential(app, key_id=key, plan_id=7, product_ids=[1])["ID"])
    return app, cred


def apps_named(sb: Any, user_id: int, name: str) -> list[int]:
    return sorted(a["ID"] for a in sb.snapshot()["apps"] if (a["UserID"], a["Name"]) == (user_id, name))


class LostAppAnswer(AsyncPortalClient):
    """The first ``POST /apps`` reaches the portal and is applied, but its answer is lost."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.app_posts = 0

    async def create_app(self, name: str, user_id: int, **kw: Any) -> Any:
        self.app_posts += 1
        answer = await super().create_app(name, user_id, **kw)
        if self.app_posts == 1:
            raise PortalConnectionError("connection reset", method="POST", path="/apps")
        return answer


def run_with(client_factory: Any, plan: pd.DataFrame, path: Path, **kw: Any) -> Any:
    async def go() -> Any:
        async with client_factory() as client:
            await Migration(plan, client, path, concurrency=2, **kw).run()
            return client

    return asyncio.run(go())


# -- 1. a lost POST /apps adopts nothing that existed before it ---------------------------------------------
def test_stale_plan_and_a_lost_app_answer_keep_the_developers_app_and_its_key(sandbox, tmp_path):
    plan = make_plan(3)  # planned while (user, name) had no app: every row wants the new app
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    dev_app, dev_cred = developer_app(sandbox, user, name, "developer-own-key-0001")
    plan["plan_id"] = pd.array([BAD_PLAN] * 3, dtype="Int64")  # every credential fails: compensation's turn
    run_with(lambda: LostAppAnswer(settings=settings_for(sandbox)), plan, tmp_path / "j")
    assert set(plan["status"]) == {"failed"}
    state = sandbox.snapshot()
    assert dev_app in {a["ID"] for a in state["apps"]}, "the developer's app was deleted"
    assert dev_cred in {c["ID"] for c in state["custom_credentials"]}, "the developer's key was deleted"
    assert apps_named(sandbox, user, name) == [dev_app]  # and no duplicate app was made
    with Journal(tmp_path / "j") as journal:
        rec = journal.app(user, name)
        assert rec is not None and (rec.state, rec.how, rec.app_id) == ("reused", "reused", dev_app)
    rollback(tmp_path / "j", settings_for(sandbox))  # rollback leaves a reused app alone
    assert dev_app in {a["ID"] for a in sandbox.snapshot()["apps"]}


def test_a_stale_plan_adds_its_keys_to_the_app_that_now_exists(sandbox, tmp_path):
    plan = make_plan(6)
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    dev_app, dev_cred = developer_app(sandbox, user, name, "developer-own-key-0002")
    client = run_with(lambda: LostAppAnswer(settings=settings_for(sandbox)), plan, tmp_path / "j")
    assert set(plan["status"]) == {"created"}, plan["error"].tolist()
    assert portal_audit(sandbox.snapshot(), plan) == CLEAN
    assert set(plan.loc[:2, "app_id"]) == {dev_app} and apps_named(sandbox, user, name) == [dev_app]
    assert client.app_posts == 1  # the other group only; its lost answer was settled by lookup
    other = plan.loc[3, "app_id"]
    with Journal(tmp_path / "j") as journal:
        assert journal.app(user, name).state == "reused"
        rec = journal.app(int(plan.loc[3, "user_id"]), str(plan.loc[3, "app_name"]))
        assert rec is not None and (rec.state, rec.how, rec.app_id) == ("created", "adopted", other)
    rollback(tmp_path / "j", settings_for(sandbox))
    state = sandbox.snapshot()
    assert dev_app in {a["ID"] for a in state["apps"]} and other not in {a["ID"] for a in state["apps"]}
    keys = {c["KeyID"] for c in state["custom_credentials"]}
    assert "developer-own-key-0002" in keys and not keys & {reveal(k) for k in plan["key_id"]}
    assert dev_cred in {c["ID"] for c in state["custom_credentials"]}


def test_an_open_intent_adopts_only_an_app_the_portal_did_not_list_before_it(sandbox, tmp_path):
    plan = make_plan(3)
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    dev_app, _ = developer_app(sandbox, user, name, "developer-own-key-0003")
    with Journal(tmp_path / "j") as journal:  # a run that saw the developer's app, posted, and was killed
        journal.bind(input_identity(plan["key_fingerprint"]))
        journal.bind_portal(sandbox.portal_url)
        journal.app_intent(user, name, run_id=journal.begin_run(), attempts=1, prior_app_ids=[dev_app])
    ours = int(portal(sandbox, "POST", "/apps", json={"Name": name, "UserID": user})["ID"])
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    assert set(plan["status"]) == {"created"} and set(plan["app_id"]) == {ours}
    with Journal(tmp_path / "j") as journal:
        rec = journal.app(user, name)
        assert rec is not None and (rec.state, rec.app_id, rec.prior_app_ids) == ("created", ours, (dev_app,))


def test_the_plan_naming_a_pre_existing_app_does_not_settle_an_open_intent_on_it(sandbox, tmp_path):
    plan = make_plan(3)
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    dev_app, dev_cred = developer_app(sandbox, user, name, "developer-own-key-0004")
    with Journal(tmp_path / "j") as journal:
        journal.bind(input_identity(plan["key_fingerprint"]))
        journal.bind_portal(sandbox.portal_url)
        journal.app_intent(user, name, run_id=journal.begin_run(), attempts=1, prior_app_ids=[dev_app])
    plan["action"], plan["app_id"] = "add_credential", pd.array([dev_app] * 3, dtype="Int64")
    plan["plan_id"] = pd.array([BAD_PLAN] * 3, dtype="Int64")
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    with Journal(tmp_path / "j") as journal:
        assert journal.app(user, name).state != "created"
    rollback(tmp_path / "j", settings_for(sandbox))
    state = sandbox.snapshot()
    assert dev_app in {a["ID"] for a in state["apps"]} and dev_cred in {c["ID"] for c in state["custom_credentials"]}


def _version_1_journal(path: Path, plan: pd.DataFrame, portal_url: str) -> None:
    """A journal file as the previous release wrote it: schema 1, an app intent without a watermark."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL,
            finished_at TEXT, state TEXT NOT NULL, dry_run INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE apps (user_id INTEGER NOT NULL, app_name TEXT NOT NULL, app_id INTEGER, state TEXT NOT NULL,
            run_id INTEGER, how TEXT, http_status INTEGER, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,
            intent_at TEXT, outcome_at TEXT, PRIMARY KEY (user_id, app_name));
        CREATE TABLE credentials (fingerprint TEXT PRIMARY KEY, source_row INTEGER, user_id INTEGER,
            app_name TEXT, app_id INTEGER, credential_id INTEGER, state TEXT NOT NULL, run_id INTEGER, how TEXT,
            http_status INTEGER, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, batch INTEGER, intent_at TEXT,
            outcome_at TEXT);
        INSERT INTO runs (started_at, state) VALUES ('2024-01-01T00:00:00+00:00', 'running');
        """
    )
    meta = {"schema_version": "1", "input_id": input_identity(plan["key_fingerprint"]), "portal_url": portal_url}
    conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
    conn.execute(
        "INSERT INTO apps (user_id, app_name, state, run_id, attempts, intent_at) VALUES (?, ?, 'intent', 1, 1, ?)",
        (int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"]), "2024-01-01T00:00:01+00:00"),
    )
    conn.commit()
    conn.close()


def test_a_version_1_journal_opens_and_its_unprovable_intent_adopts_nothing(sandbox, tmp_path):
    plan = make_plan(3)
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    _version_1_journal(tmp_path / "old.journal", plan, sandbox.portal_url)
    with Journal(tmp_path / "old.journal") as journal:  # migrated in place
        rec = journal.app(user, name)
        assert rec is not None and rec.state == "intent" and rec.prior_app_ids is None
    conn = sqlite3.connect(tmp_path / "old.journal")
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == SCHEMA_VERSION
    assert "prior_app_ids" in [row[1] for row in conn.execute("PRAGMA table_info(apps)")]
    conn.close()
    # whose app is this: the old run's lost POST, or a developer's? The journal cannot tell, so it is not ours
    dev_app, dev_cred = developer_app(sandbox, user, name, "developer-own-key-0005")
    apply_plan(plan, settings_for(sandbox), tmp_path / "old.journal")
    assert set(plan["status"]) == {"created"} and set(plan["app_id"]) == {dev_app}
    with Journal(tmp_path / "old.journal") as journal:
        assert journal.app(user, name).state == "reused"
    rollback(tmp_path / "old.journal", settings_for(sandbox))
    state = sandbox.snapshot()
    assert dev_app in {a["ID"] for a in state["apps"]} and dev_cred in {c["ID"] for c in state["custom_credentials"]}
    assert not {c["KeyID"] for c in state["custom_credentials"]} & {reveal(k) for k in plan["key_id"]}


def test_a_journal_of_a_newer_schema_is_still_refused(tmp_path):
    with Journal(tmp_path / "j"):
        pass
    conn = sqlite3.connect(tmp_path / "j")
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="schema version 99"):
        Journal(tmp_path / "j")


# -- compensation deletes an app only when it holds nothing but the migration's own credentials ---------------
class DeveloperAddsAKey(AsyncPortalClient):
    """While the run adds its first credential to its new app, a developer adds one of their own to it."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.foreign: int | None = None

    async def create_credential(self, app_id: int, **kw: Any) -> Any:
        if self.foreign is None:
            body = await super().create_credential(app_id, key_id="developer-own-key-0006", plan_id=7, product_ids=[1])
            self.foreign = int(body["ID"])
        return await super().create_credential(app_id, **kw)


def test_compensation_keeps_an_app_holding_a_credential_the_migration_did_not_create(sandbox, tmp_path):
    plan = make_plan(3)
    plan["plan_id"] = pd.array([BAD_PLAN] * 3, dtype="Int64")
    client = run_with(lambda: DeveloperAddsAKey(settings=settings_for(sandbox)), plan, tmp_path / "j")
    assert set(plan["status"]) == {"failed"}
    state = sandbox.snapshot()
    assert client.foreign in {c["ID"] for c in state["custom_credentials"]}
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    assert len(apps_named(sandbox, user, name)) == 1
    assert all("kept" in e and "did not create" in e for e in plan["error"]), plan["error"].tolist()


def test_compensation_still_deletes_an_app_holding_only_its_failed_rows(sandbox, tmp_path):
    plan = make_plan(3)
    plan["plan_id"] = pd.array([BAD_PLAN] * 3, dtype="Int64")
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    assert apps_named(sandbox, user, name) == []
    assert all("deleted again" in e for e in plan["error"])


# -- 2. no duplicate app, whatever the plan or the journal believes --------------------------------------------
def test_a_second_journal_against_the_same_portal_makes_no_duplicate_apps(sandbox, tmp_path):
    first = make_plan(12)
    apply_plan(first, settings_for(sandbox), tmp_path / "one.journal")
    second = make_plan(12, seed=2)  # other keys for the same apps, planned before the first run
    second["app_name"] = first["app_name"]
    apply_plan(second, settings_for(sandbox), tmp_path / "two.journal")
    assert set(second["status"]) == {"created"}, second["error"].tolist()
    assert portal_audit(sandbox.snapshot(), second) == CLEAN  # duplicate_apps among them
    assert list(second["app_id"]) == list(first["app_id"])
    with Journal(tmp_path / "two.journal") as journal:
        assert {a.state for a in journal.apps()} == {"reused"}
    rollback(tmp_path / "two.journal", settings_for(sandbox))  # removes the second input's keys, not the apps
    state = sandbox.snapshot()
    assert set(first["app_id"]) <= {a["ID"] for a in state["apps"]}
    assert portal_audit(state, first) == CLEAN


def app_listing_requests(sb: Any) -> int:
    return sum(
        n for route, n in sb.snapshot()["requests"]["by_route"].items() if route.startswith("GET /portal-api/apps ")
    )


def test_the_app_listing_is_one_walk_per_run_not_one_per_app(sandbox, tmp_path):
    with PortalClient(settings=settings_for(sandbox)) as client:
        client.list_apps()
    one_walk = app_listing_requests(sandbox)  # the pages of one walk of /apps
    plan = make_plan(30)  # ten new apps
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    assert set(plan["status"]) == {"created"}
    assert app_listing_requests(sandbox) == 2 * one_walk


# -- 3. a journal that cannot be written ends the run at once -------------------------------------------------
class _FailingConnection:
    """A writer connection whose writes fail once ``budget`` records went through (a disk filling up)."""

    def __init__(self, conn: sqlite3.Connection, budget: list[int]) -> None:
        self._conn, self._budget = conn, budget

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.startswith(("INSERT", "UPDATE")):
            self._budget[0] -= 1
            if self._budget[0] < 0:
                raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def fill_the_disk_after(monkeypatch: Any, records: int) -> None:
    """The group-commit writer's connection fails after ``records`` record writes."""
    real, budget = sqlite3.connect, [records]

    def connect(*a: Any, **kw: Any) -> Any:
        conn = real(*a, **kw)
        if threading.current_thread().name == "tyk-migrate journal":
            return _FailingConnection(conn, budget)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)


def test_a_journal_write_failing_mid_run_stops_the_run_in_seconds_with_one_line(sandbox, tmp_path, monkeypatch):
    fill_the_disk_after(monkeypatch, 160)  # the apps, then some credentials
    plan = make_plan(150)
    outcome: dict[str, Any] = {}

    def go() -> None:
        try:
            apply_plan(plan, settings_for(sandbox), tmp_path / "j")
        except BaseException as exc:
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=go, daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "apply hangs after a failed journal write"
    assert time.monotonic() - started < 10
    error = outcome.get("error")
    assert isinstance(error, JournalError), repr(error)
    text = str(error)
    assert "database or disk is full" in text and "\n" not in text
    assert "never sent" in text and "--journal" in text
    assert set(plan["status"]) <= {"created", "pending"}, plan["status"].value_counts()  # nothing failed for it
    assert "pending" in set(plan["status"])
    monkeypatch.undo()
    # nothing is lost: every key the portal holds has its intent in the journal on disk
    sent = {reveal(k) for k in plan["key_id"]} & {c["KeyID"] for c in sandbox.snapshot()["custom_credentials"]}
    assert sent, "the failure came before any write: the test proves nothing"
    with Journal(tmp_path / "j") as journal:
        known = {r.fingerprint for r in journal.credentials()}
    by_key = dict(zip((reveal(k) for k in plan["key_id"]), plan["key_fingerprint"], strict=True))
    assert {by_key[k] for k in sent} <= known
    # and the journal, moved elsewhere, resumes the run to every key once
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for part in tmp_path.glob("j*"):
        shutil.copy(part, moved / part.name)
    again = make_plan(150)
    apply_plan(again, settings_for(sandbox), moved / "j")
    assert set(again["status"]) == {"created"}, again["error"].dropna().head().tolist()
    assert portal_audit(sandbox.snapshot(), again) == CLEAN


_CLI_CHILD = """
import sqlite3, sys, threading
sys.path.insert(0, {tests!r})
from test_run_ownership import _FailingConnection
real, budget = sqlite3.connect, [600]
def connect(*a, **kw):
    conn = real(*a, **kw)
    return _FailingConnection(conn, budget) if threading.current_thread().name == "tyk-migrate journal" else conn
sqlite3.connect = connect
from tyk_migrate.cli import main
sys.argv = ["tyk-migrate", *sys.argv[1:]]
main()
"""


def test_cli_apply_exits_2_when_the_journal_cannot_be_written(sandbox, tmp_path):
    import os
    import subprocess
    import sys

    sample = Path(__file__).resolve().parent.parent / "data-samples" / "legacy_keys.csv"
    child = _CLI_CHILD.format(tests=str(Path(__file__).parent))
    args = ["apply", str(sample), "--journal", str(tmp_path / "run.journal"), "--no-progress"]
    env = {**os.environ, "TYK_PORTAL_URL": sandbox.portal_url, "TYK_PORTAL_TOKEN": sandbox.token}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", child, *args, "--out", str(tmp_path / "o.csv")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert time.monotonic() - started < 30
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "database or disk is full" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


class _GatedConnection(_FailingConnection):
    """Every write fails; the first transaction waits at ``gate`` (so the test can queue more meanwhile)."""

    gate = threading.Event()

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "BEGIN":
            self.gate.wait(10)
        return super().execute(sql, *args)


def test_the_group_commit_writer_still_stops_after_a_failed_batch(tmp_path, monkeypatch):
    real = sqlite3.connect
    gate = _GatedConnection.gate = threading.Event()

    def connect(*a: Any, **kw: Any) -> Any:
        conn = real(*a, **kw)
        return _GatedConnection(conn, [0]) if threading.current_thread().name == "tyk-migrate journal" else conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    journal = Journal(tmp_path / "j")
    journal.start_group_commit()
    journal.credential_intent("fp0", app_id=1, run_id=1, attempts=1)
    first = journal.durable()
    stopped: list[BaseException | None] = []

    def stop() -> None:
        try:
            journal.stop_group_commit()
            stopped.append(None)
        except BaseException as exc:
            stopped.append(exc)

    deadline = time.monotonic() + 5
    while journal._queue.qsize() and time.monotonic() < deadline:  # the writer holds fp0, waiting at the gate
        time.sleep(0.005)
    for i in range(1, 5):
        journal.credential_intent(f"fp{i}", app_id=1, run_id=1, attempts=1)
    stopper = threading.Thread(target=stop, daemon=True)
    stopper.start()
    while journal._queue.qsize() < 5 and time.monotonic() < deadline:  # four records and the stop request
        time.sleep(0.005)
    gate.set()  # batch one fails; the next batch holds the stop request and fails too
    stopper.join(5)
    assert not stopper.is_alive(), "stop_group_commit waits forever for a writer that lost its stop sentinel"
    with pytest.raises(JournalError, match="disk is full"):
        first.result(timeout=1)
    assert isinstance(stopped[0], JournalError) and "disk is full" in str(stopped[0])
    journal.close()


# -- 4. (issue 14, own14) a lost POST /apps adopts only an app carrying its intent's marker --------------------
class DeveloperRacesTheAppPost(AsyncPortalClient):
    """Between the run's listing and its first ``POST /apps``, a developer makes an empty app of that owner and
    name; then the run's POST is lost: applied (``lands``) or dropped before the portal."""

    def __init__(self, *a: Any, sb: Any, lands: bool, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.sb, self.lands, self.app_posts = sb, lands, 0
        self.dev: int | None = None

    async def create_app(self, name: str, user_id: int, **kw: Any) -> Any:
        self.app_posts += 1
        if self.app_posts == 1:
            made = await asyncio.to_thread(portal, self.sb, "POST", "/apps", json={"Name": name, "UserID": user_id})
            self.dev = int(made["ID"])
            if self.lands:
                await super().create_app(name, user_id, **kw)
            raise PortalConnectionError("connection reset", method="POST", path="/apps")
        return await super().create_app(name, user_id, **kw)


@pytest.mark.parametrize("lands", [True, False], ids=["our-post-landed", "our-post-lost"])
def test_a_developers_app_made_between_listing_and_a_lost_post_is_never_adopted(sandbox, tmp_path, lands):
    plan = make_plan(3)
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    plan["plan_id"] = pd.array([BAD_PLAN] * 3, dtype="Int64")  # every credential fails: compensation's turn
    client = run_with(
        lambda: DeveloperRacesTheAppPost(settings=settings_for(sandbox), sb=sandbox, lands=lands), plan, tmp_path / "j"
    )
    assert client.dev is not None
    dev_app = client.dev
    assert dev_app in {a["ID"] for a in sandbox.snapshot()["apps"]}, "the developer's app was adopted and deleted"
    with Journal(tmp_path / "j") as journal:
        rec = journal.app(user, name)
        assert (rec is not None and rec.app_id != dev_app) or rec.state == "reused", rec
        assert rec.marker is not None and len(rec.marker) == 16
    if lands:  # ours was found by its marker, adopted, and compensated (no credential succeeded)
        assert apps_named(sandbox, user, name) == [dev_app]
        assert rec.state == "deleted" and rec.how == "adopted"
    else:  # ours never landed: the developer's app is reused (no second app of the name), never deleted
        assert client.app_posts == 1 and apps_named(sandbox, user, name) == [dev_app]
        assert (rec.state, rec.how, rec.app_id) == ("reused", "reused", dev_app)
    rollback(tmp_path / "j", settings_for(sandbox))
    assert dev_app in {a["ID"] for a in sandbox.snapshot()["apps"]}


class ListsLess(LostAppAnswer):
    """A portal whose /apps listing leaves out Description: the runner reads the few candidates by ID."""

    gets = 0

    async def list_apps(self) -> Any:
        return [{k: v for k, v in app.items() if k != "Description"} for app in await super().list_apps()]

    async def get_app(self, app_id: int) -> Any:
        type(self).gets += 1
        return await super().get_app(app_id)


def test_an_app_listed_without_description_is_read_by_id_before_it_is_adopted(sandbox, tmp_path):
    plan = make_plan(3)
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    ListsLess.gets = 0
    run_with(lambda: ListsLess(settings=settings_for(sandbox)), plan, tmp_path / "j")
    assert set(plan["status"]) == {"created"}, plan["error"].tolist()
    assert ListsLess.gets >= 1
    ours = apps_named(sandbox, user, name)
    assert len(ours) == 1 and set(plan["app_id"]) == set(ours)
    app = portal(sandbox, "GET", f"/apps/{ours[0]}")
    with Journal(tmp_path / "j") as journal:
        rec = journal.app(user, name)
        assert (rec.state, rec.how) == ("created", "adopted")
        assert app["Description"] == f"Imported by tyk-migrate (ref {rec.marker})"


def test_compensation_keeps_an_app_that_does_not_carry_its_marker(sandbox, tmp_path):
    """The journal says created, but the app under that ID carries another Description (not the one made)."""

    class Repainted(AsyncPortalClient):
        async def create_credential(self, app_id: int, **kw: Any) -> Any:
            await asyncio.to_thread(portal, sandbox, "PUT", f"/apps/{app_id}", json={"Description": "mine now"})
            return await super().create_credential(app_id, **kw)

    plan = make_plan(3)
    plan["plan_id"] = pd.array([BAD_PLAN] * 3, dtype="Int64")
    run_with(lambda: Repainted(settings=settings_for(sandbox)), plan, tmp_path / "j")
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    assert len(apps_named(sandbox, user, name)) == 1
    assert all("does not carry the marker" in e for e in plan["error"]), plan["error"].tolist()


# -- 5. (issue 14, own14) a lost credential answer adopts only a credential made after its intent -------------
class LostCredentialAnswer(AsyncPortalClient):
    """The first credential POST is lost: ``lands`` says whether the portal applied it first."""

    def __init__(self, *a: Any, lands: bool, before: Any = None, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.lands, self.before, self.posts = lands, before, 0

    async def create_credential(self, app_id: int, **kw: Any) -> Any:
        self.posts += 1
        if self.posts == 1:
            if self.before is not None:
                await asyncio.to_thread(self.before, app_id)
            if self.lands:
                await super().create_credential(app_id, **kw)
            raise PortalConnectionError("connection reset", method="POST", path="/custom_credentials")
        return await super().create_credential(app_id, **kw)


def test_a_key_another_journal_put_in_the_app_is_not_adopted_nor_rolled_back(sandbox, tmp_path):
    plan = make_plan(1)
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    dev_app = int(portal(sandbox, "POST", "/apps", json={"Name": name, "UserID": user})["ID"])
    with PortalClient(settings=settings_for(sandbox)) as client:  # a second journal's run put the key there
        theirs = int(
            client.create_credential(dev_app, key_id=reveal(plan.loc[0, "key_id"]), plan_id=7, product_ids=[1])["ID"]
        )
    plan["action"], plan["app_id"] = "add_credential", pd.array([dev_app], dtype="Int64")  # a stale plan
    run_with(lambda: LostCredentialAnswer(settings=settings_for(sandbox), lands=False), plan, tmp_path / "j")
    # the app holds the key already (their credential, with the row's plan and products): nothing is sent
    assert plan["status"].tolist() == ["skipped"], plan["error"].tolist()
    assert f"as credential {theirs}, not made by this run" in plan.loc[0, "error"]
    with Journal(tmp_path / "j") as journal:
        assert journal.credential(plan.loc[0, "key_fingerprint"]) is None  # no intent, nothing created
    report = rollback(tmp_path / "j", settings_for(sandbox))
    assert theirs in {c["ID"] for c in sandbox.snapshot()["custom_credentials"]}, "their credential was deleted"
    assert "deleted" not in set(report["result"])


def test_two_credentials_made_after_the_intent_are_never_adopted(make_sandbox, tmp_path):
    sb = make_sandbox(behaviour={"duplicate-key": "overwrite"})
    plan = make_plan(1)
    key = reveal(plan.loc[0, "key_id"])

    def another_process(app_id: int) -> None:
        with PortalClient(settings=settings_for(sb)) as client:
            client.create_credential(app_id, key_id=key, plan_id=7, product_ids=[1])

    run_with(
        lambda: LostCredentialAnswer(settings=settings_for(sb), lands=True, before=another_process),
        plan,
        tmp_path / "j",
    )
    assert plan["status"].tolist() == ["failed"], plan["error"].tolist()
    assert "several credentials hold this key; cannot tell which is ours" in plan.loc[0, "error"]
    with Journal(tmp_path / "j") as journal:
        rec = journal.credential(plan.loc[0, "key_fingerprint"])
        assert rec is not None and rec.state == "intent" and rec.prior_credential_ids == ()
    assert [c["KeyID"] for c in sb.snapshot()["custom_credentials"]].count(key) == 2  # no third one sent


# -- 6. (issue 14/16, own14) listing lag: a lookup lists again before it says "not there" ---------------------
def test_a_lagging_listing_after_a_lost_answer_makes_no_second_credential_under_overwrite(make_sandbox, tmp_path):
    sb = make_sandbox(behaviour={"duplicate-key": "overwrite", "listing-lag-ms": "600"})
    plan = make_plan(3)
    run_with(lambda: LostCredentialAnswer(settings=settings_for(sb), lands=True), plan, tmp_path / "j")
    assert set(plan["status"]) == {"created"}, plan["error"].tolist()
    keys = [c["KeyID"] for c in sb.snapshot()["custom_credentials"]]
    assert all(keys.count(reveal(k)) == 1 for k in plan["key_id"]), "a lag-blind lookup made a second credential"
    assert portal_audit(sb.snapshot(), plan) == CLEAN
    with Journal(tmp_path / "j") as journal:
        assert journal.credential(plan.loc[0, "key_fingerprint"]).how == "adopted"


def test_a_lagging_app_listing_after_a_lost_answer_makes_no_second_app(make_sandbox, tmp_path):
    sb = make_sandbox(behaviour={"listing-lag-ms": "600"})
    plan = make_plan(3)
    client = run_with(lambda: LostAppAnswer(settings=settings_for(sb)), plan, tmp_path / "j")
    assert set(plan["status"]) == {"created"}, plan["error"].tolist()
    assert client.app_posts == 1 and portal_audit(sb.snapshot(), plan) == CLEAN


# -- 7. (issue 14, own14) a portal that issues its own key stops the run at once ------------------------------
def test_a_fallback_portal_stops_the_run_at_the_first_generated_key(make_sandbox, tmp_path):
    sb = make_sandbox(behaviour={"auth-token-type": "fallback"})
    wrong = replace(settings_for(sb), auth_token_type="AUTH_TOKEN_CUSTOM")  # not the spelling it honours
    plan = make_plan(12)
    seeded = len(sb.snapshot()["custom_credentials"])

    async def go() -> Migration:
        async with AsyncPortalClient(settings=wrong) as client:
            m = Migration(plan, client, tmp_path / "j", concurrency=1)
            await m.run()
            return m

    m = asyncio.run(go())
    counts = plan["status"].value_counts().to_dict()
    assert counts == {"failed": 1, "pending": 11}, counts
    assert m.fatal_error is not None and "\n" not in m.fatal_error
    assert "TYK_AUTH_TOKEN_TYPE" in m.fatal_error and "tyk-migrate preflight" in m.fatal_error
    assert "deleted again" in m.fatal_error and "rerun" in m.fatal_error
    assert "the credential was deleted" in plan.loc[0, "error"]
    state = sb.snapshot()
    assert len(state["custom_credentials"]) == seeded, "the credential with the portal's own key was left behind"
    credential_posts = sum(
        n for route, n in state["requests"]["by_route"].items() if route.startswith("POST") and "credentials" in route
    )
    assert credential_posts == 1, state["requests"]["by_route"]  # no write after the first generated key
    fixed = replace(wrong, auth_token_type="AUTH_TOKEN_TYPE_CUSTOM")
    apply_plan(plan, fixed, tmp_path / "j")  # the rerun resumes every row
    assert set(plan["status"]) == {"created"}, plan["error"].tolist()
    assert portal_audit(sb.snapshot(), plan) == CLEAN


def test_a_rerun_at_once_after_a_kill_finds_its_apps_through_the_listing_lag(make_sandbox, tmp_path):
    """A killed run's apps, made a moment ago, are not in the rerun's first listing (listing lag): the rerun reads
    its journalled app by ID instead of making a second one (the per-profile benchmark found 43 doubled apps)."""
    sb = make_sandbox(behaviour={"listing-lag-ms": "1500"})
    settings, journal = settings_for(sb), tmp_path / "run.journal"
    plan = make_plan(6)
    first = plan.iloc[[0, 3]].copy()  # what the killed run got done: the first key of each app
    apply_plan(first, settings, journal)
    assert set(first["status"]) == {"created"}
    apply_plan(plan, settings, journal, force_journal=True)  # at once: both apps are still unlisted
    audit = portal_audit(sb.snapshot(), plan)
    assert audit["duplicate_apps"] == [] and audit["duplicate_credentials"] == [] and audit["missing"] == []
    assert set(plan["status"]) == {"created"}


# -- 8. (break14b B2) a key the target app holds already is never POSTed again --------------------------------
def test_a_stale_plan_run_by_a_second_journal_makes_no_second_credential_under_overwrite(make_sandbox, tmp_path):
    """Journal A migrated the plan; journal B runs the same (stale) plan. The portal accepts a duplicate key, so
    B must see the key held in the app it reuses and send nothing: ``skipped`` when the holder matches the row,
    ``failed`` (never a second credential) when it has another plan; B journals nothing as created."""
    sb = make_sandbox(behaviour={"duplicate-key": "overwrite"})
    first, second = make_plan(4), make_plan(4)
    run_with(lambda: AsyncPortalClient(settings=settings_for(sb)), first, tmp_path / "A")
    assert set(first["status"]) == {"created"}
    second.loc[3, "plan_id"] = BAD_PLAN  # held with plan 7: another plan than this row asks for
    run_with(lambda: AsyncPortalClient(settings=settings_for(sb)), second, tmp_path / "B")
    keys = [c["KeyID"] for c in sb.snapshot()["custom_credentials"]]
    assert [keys.count(reveal(k)) for k in first["key_id"]] == [1, 1, 1, 1], "a second credential of a key"
    assert second["status"].tolist() == ["skipped", "skipped", "skipped", "failed"], second["error"].tolist()
    assert "not made by this run" in second.loc[0, "error"]
    assert second.loc[0, "credential_id"] == first.loc[0, "credential_id"]
    assert "another plan" in second.loc[3, "error"] and "never made" in second.loc[3, "error"]
    with Journal(tmp_path / "B") as journal:
        assert all(r.state != "created" for r in journal.credentials())
    rollback(tmp_path / "B", settings_for(sb))
    assert [c["KeyID"] for c in sb.snapshot()["custom_credentials"]].count(reveal(first.loc[0, "key_id"])) == 1


# -- 9. (break14b B1) a listing lag beyond lookup_patience: two apps carry the marker, both are ours ------------
def test_a_lag_beyond_patience_leaves_two_marked_apps_and_rollback_deletes_both(make_sandbox, tmp_path):
    """The lost POST's app is not listed within ``lookup_patience``: the reopened intent (same marker) posts
    again. The journal names the second; rollback deletes both; a later run whose journalled app is gone adopts
    the other marked one instead of reusing it (or making a third)."""
    sb = make_sandbox(behaviour={"listing-lag-ms": "1500"})
    settings = replace(settings_for(sb), lookup_patience=0.3)
    plan = make_plan(3)
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    client = run_with(lambda: LostAppAnswer(settings=settings), plan, tmp_path / "j")
    first, second = apps_named(sb, user, name)
    assert client.app_posts == 2 and set(plan["app_id"]) == {second}, "the scenario needs the doubled app"
    portal(sb, "DELETE", f"/apps/{second}")  # the journalled app is gone; the first, with our marker, is not
    time.sleep(1.6)  # past the listing lag
    more = make_plan(4, keys_per_app=4).iloc[[3]].copy()  # a further key of the same owner and app name
    more["action"] = "create_app"
    client = run_with(lambda: LostAppAnswer(settings=settings), more, tmp_path / "j", force_journal=True)
    assert client.app_posts == 0 and more["status"].tolist() == ["created"], more["error"].tolist()
    assert more["app_id"].tolist() == [first] and apps_named(sb, user, name) == [first]
    with Journal(tmp_path / "j") as journal:
        rec = journal.app(user, name)
        assert (rec.state, rec.app_id) == ("created", first), "the marked app was reused, not adopted"


def test_rollback_deletes_every_app_carrying_the_journalled_marker(make_sandbox, tmp_path):
    sb = make_sandbox(behaviour={"listing-lag-ms": "1500"})
    plan = make_plan(3)
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    settings = replace(settings_for(sb), lookup_patience=0.3)
    run_with(lambda: LostAppAnswer(settings=settings), plan, tmp_path / "j")
    assert len(apps_named(sb, user, name)) == 2, "the scenario needs the doubled app"
    developer = int(portal(sb, "POST", "/apps", json={"Name": name, "UserID": user, "Description": "ours!"})["ID"])
    time.sleep(1.6)
    report = rollback(tmp_path / "j", settings_for(sb))
    assert apps_named(sb, user, name) == [developer], report.to_string()
    assert set(report.loc[report["kind"] == "app", "result"]) == {"deleted"}
