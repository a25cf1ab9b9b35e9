"""A snapshot's walk of ``/apps`` as the run's first listing (``Migration(portal_lock=, apps_listed=)``): taken
only when the run's portal lock was held since before the walk began (no other run on this machine can have
written meanwhile), for the portal that lock is of, and begun at most ``FIRST_LISTING_LEAD`` before the run;
otherwise the run walks ``/apps`` itself, as ever. ``tyk-migrate apply`` takes the lock before it reads the
portal, so it walks ``/apps`` once, not twice. A lock handed in is claimed by one run at a time and left alone
by a dry run; an open intent of a killed run is decided only from a walk begun once its listing lag is over."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from run_helpers import make_plan

from tyk_migrate.aio import run_sync
from tyk_migrate.cli import cli
from tyk_migrate.config import Settings
from tyk_migrate.errors import PortalLocked
from tyk_migrate.journal import Journal, input_identity
from tyk_migrate.ownership import app_description, new_marker
from tyk_migrate.portal import AsyncPortalClient
from tyk_migrate.portal_lock import PortalLock
from tyk_migrate.run import Migration
from tyk_migrate.run.app_listing import FIRST_LISTING_LEAD
from tyk_migrate.snapshot import AppsWalk, fetch_snapshot_async

SAMPLE = Path(__file__).resolve().parent.parent / "data-samples" / "legacy_keys.csv"
APPS_LISTED = "GET /portal-api/apps "


def listings(sandbox) -> int:
    return sum(n for route, n in sandbox.snapshot()["requests"]["by_route"].items() if route.startswith(APPS_LISTED))


def walk_of(settings: Settings) -> AppsWalk:
    async def fetch() -> AppsWalk:
        async with AsyncPortalClient(settings=settings) as client:
            walk = (await fetch_snapshot_async(client)).apps_walk
        assert walk is not None
        return walk

    return run_sync(fetch)


def run(plan, settings: Settings, journal: Path, **options) -> Migration:
    async def go() -> Migration:
        async with AsyncPortalClient(settings=settings) as client:
            migration = Migration(plan, client, journal, **options)
            await migration.run()
            return migration

    return run_sync(go)


def new_app_names(sandbox, before: set[int]) -> Counter:
    return Counter((a["UserID"], a["Name"]) for a in sandbox.snapshot()["apps"] if a["ID"] not in before)


@pytest.fixture
def long_lead(monkeypatch):
    """A walk counts as begun shortly before the run however slow this machine is (timing is not tested)."""
    monkeypatch.setattr("tyk_migrate.run.app_listing.FIRST_LISTING_LEAD", 60.0)


def test_a_walk_begun_under_the_runs_lock_is_its_first_listing(sandbox, tmp_path, long_lead):
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    seed_apps = {a["ID"] for a in sandbox.snapshot()["apps"]}
    lock = PortalLock(sandbox.portal_url, tmp_path / "j")
    lock.acquire()
    walk = walk_of(settings)
    walked = listings(sandbox)
    plan = make_plan(30)
    migration = run(plan, settings, tmp_path / "j", portal_lock=lock, apps_listed=walk)
    assert set(plan["status"]) == {"created"}
    assert listings(sandbox) == walked  # the run decided every app from the snapshot's walk
    names = new_app_names(sandbox, seed_apps)
    assert len(names) == 10 and max(names.values()) == 1  # each new app made once
    assert not lock.held and migration.state == "finished"  # the run's end gives the portal back


def test_a_walk_begun_before_the_lock_is_not_trusted(sandbox, tmp_path):
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    walk = walk_of(settings)  # another run on this machine could have written after it
    lock = PortalLock(sandbox.portal_url, tmp_path / "j")
    lock.acquire()
    walked = listings(sandbox)
    plan = make_plan(30)
    run(plan, settings, tmp_path / "j", portal_lock=lock, apps_listed=walk)
    assert set(plan["status"]) == {"created"}
    assert listings(sandbox) > walked  # the run walked /apps itself


def test_a_lock_of_another_portal_is_neither_kept_nor_trusted(make_sandbox, tmp_path):
    one, other = make_sandbox(), make_sandbox()
    settings = Settings(portal_url=one.portal_url, token=one.token)
    wrong = PortalLock(other.portal_url, tmp_path / "j")
    wrong.acquire()
    walk = walk_of(settings)
    walked = listings(one)
    plan = make_plan(30)
    seen: list[bool] = []

    class Watching(Migration):
        def _wire(self, journal, schedule):  # once the run has its own lock
            seen.append(self._portal_lock is not wrong and self._portal_lock is not None and self._portal_lock.held)
            super()._wire(journal, schedule)

    async def go() -> None:
        async with AsyncPortalClient(settings=settings) as client:
            await Watching(plan, client, tmp_path / "j", portal_lock=wrong, apps_listed=walk).run()

    run_sync(go)
    assert seen == [True]  # the run took the lock of its own portal
    assert set(plan["status"]) == {"created"} and listings(one) > walked
    wrong.release()


def test_apply_walks_the_apps_once(sandbox, tmp_path, long_lead):
    env = {"TYK_PORTAL_URL": sandbox.portal_url, "TYK_PORTAL_TOKEN": sandbox.token}
    seed_apps = {a["ID"] for a in sandbox.snapshot()["apps"]}
    walk_of(Settings(portal_url=sandbox.portal_url, token=sandbox.token))
    one_walk = listings(sandbox)  # the pages of one walk of the portal as apply finds it (a GET changes nothing)
    args = ["apply", str(SAMPLE), "--journal", str(tmp_path / "j"), "--out", str(tmp_path / "o.csv"), "--no-progress"]
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert result.exit_code == 1, result.output  # the sample has rejected and blocked rows on purpose
    names = new_app_names(sandbox, seed_apps)
    assert names and max(names.values()) == 1
    assert listings(sandbox) == 2 * one_walk  # the snapshot's walk, and no second one by the run


def test_a_walk_begun_long_before_the_run_is_walked_again_and_a_developers_app_reused(sandbox, tmp_path):
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    lock = PortalLock(sandbox.portal_url, tmp_path / "j")
    lock.acquire()
    walk = walk_of(settings)
    plan = make_plan(3)
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    theirs = httpx.post(  # a developer makes the plan's app while a large input is still being planned
        sandbox.portal_url + "/apps", headers={"Authorization": sandbox.token}, json={"Name": name, "UserID": user}
    ).json()["ID"]
    time.sleep(FIRST_LISTING_LEAD + 0.1)
    run(plan, settings, tmp_path / "j", portal_lock=lock, apps_listed=walk)
    assert [a["ID"] for a in sandbox.snapshot()["apps"] if (a["UserID"], a["Name"]) == (user, name)] == [theirs]
    assert set(plan["status"]) == {"created"} and set(plan["app_id"]) == {theirs}  # reused, never doubled


def test_a_killed_runs_landed_post_is_found_though_the_seeded_walk_predates_its_listing(
    make_sandbox, tmp_path, long_lead
):
    # the listing lag (1.5 s) is shorter than the lookup patience (2 s), so the app must be found: the walk
    # the run is seeded with began while the lag still hid it (with a second to spare on a loaded machine),
    # and the run begins once the patience is over
    sb = make_sandbox(behaviour={"listing-lag-ms": "1500"})
    settings = Settings(portal_url=sb.portal_url, token=sb.token, lookup_patience=2.0)
    plan = make_plan(3)
    user, name, marker = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"]), new_marker()
    with Journal(tmp_path / "j") as journal:  # the killed run: an open intent with its marker, its POST landed
        journal.bind(input_identity(plan["key_fingerprint"]))
        journal.bind_portal(sb.portal_url)
        journal.app_intent(user, name, run_id=journal.begin_run(), attempts=1, prior_app_ids=(), marker=marker)
    landed = httpx.post(
        sb.portal_url + "/apps",
        headers={"Authorization": sb.token},
        json={"Name": name, "UserID": user, "Description": app_description(marker)},
    ).json()["ID"]
    time.sleep(0.3)
    lock = PortalLock(sb.portal_url, tmp_path / "j")
    lock.acquire()
    walk = walk_of(settings)
    assert landed not in {a["ID"] for a in walk.apps}  # still hidden by the lag
    time.sleep(1.8)  # the patience since the intent is used up before the run begins, within the lead
    run(plan, settings, tmp_path / "j", portal_lock=lock, apps_listed=walk)
    assert [a["ID"] for a in sb.snapshot()["apps"] if (a["UserID"], a["Name"]) == (user, name)] == [landed]
    assert set(plan.loc[plan["app_name"] == name, "app_id"]) == {landed}


def test_a_lock_handed_to_two_runs_lets_only_one_write(sandbox, tmp_path):
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    seed_apps = {a["ID"] for a in sandbox.snapshot()["apps"]}
    lock = PortalLock(sandbox.portal_url, tmp_path / "a")
    lock.acquire()
    walk = walk_of(settings)

    async def go() -> list[object]:
        async with AsyncPortalClient(settings=settings) as one, AsyncPortalClient(settings=settings) as two:
            a = Migration(make_plan(30), one, tmp_path / "a", portal_lock=lock, apps_listed=walk)
            b = Migration(make_plan(30), two, tmp_path / "b", portal_lock=lock, apps_listed=walk)
            return await asyncio.gather(a.run(), b.run(), return_exceptions=True)

    outcomes = run_sync(go)
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], PortalLocked), outcomes
    assert "another run of this process" in str(refused[0])
    names = new_app_names(sandbox, seed_apps)
    assert len(names) == 10 and max(names.values()) == 1


def test_a_lock_of_another_journal_is_not_claimed_and_says_so(sandbox, tmp_path):
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    lock = PortalLock(sandbox.portal_url, tmp_path / "other")
    lock.acquire()
    with pytest.raises(PortalLocked, match=r"handed to this run was taken for journal .*other"):
        run(make_plan(3), settings, tmp_path / "j", portal_lock=lock)
    assert lock.held and not any(a["Name"].startswith("mig app") for a in sandbox.snapshot()["apps"])
    lock.release()


def test_a_journal_spelled_otherwise_is_the_same_journal(sandbox, tmp_path, monkeypatch):
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    (tmp_path / "sub").mkdir()
    Journal(tmp_path / "sub" / "run.journal").close()
    (tmp_path / "link.journal").hardlink_to(tmp_path / "sub" / "run.journal")  # one file, two names
    monkeypatch.chdir(tmp_path / "sub")
    lock = PortalLock(sandbox.portal_url, "run.journal")
    lock.acquire()
    plan = make_plan(3)
    run(plan, settings, tmp_path / "link.journal", portal_lock=lock)
    assert set(plan["status"]) == {"created"} and not lock.held  # claimed, and given back at the end


def test_the_callers_release_waits_for_the_run_that_claimed_the_lock(make_sandbox, tmp_path):
    sb = make_sandbox(latency_ms=30)
    settings = Settings(portal_url=sb.portal_url, token=sb.token)
    seen: dict[str, object] = {}

    async def go() -> None:
        async with AsyncPortalClient(settings=settings) as client:
            with PortalLock(sb.portal_url, tmp_path / "j") as lock:  # a notebook cell that starts a run
                migration = Migration(make_plan(60), client, tmp_path / "j", portal_lock=lock, concurrency=2)
                task = migration.start()
                while migration.context is None:
                    await asyncio.sleep(0.01)
            seen["running"], seen["held"] = migration.state == "running", lock.held
            with pytest.raises(PortalLocked):  # no second run gets the portal while the first writes
                PortalLock(sb.portal_url, tmp_path / "someone-else").acquire()
            await task
            seen["after"] = lock.held

    run_sync(go)
    assert seen == {"running": True, "held": True, "after": False}


def test_a_dry_run_leaves_the_callers_lock_held(sandbox, tmp_path):
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    lock = PortalLock(sandbox.portal_url, tmp_path / "j")
    lock.acquire()
    run(make_plan(3), settings, tmp_path / "j", portal_lock=lock, dry_run=True)
    assert lock.held
    lock.release()
