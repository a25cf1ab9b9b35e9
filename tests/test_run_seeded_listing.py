"""A snapshot's walk of ``/apps`` as the run's first listing (``Migration(portal_lock=, apps_listed=)``): taken
only when the run's portal lock was held since before the walk began (no other run on this machine can have
written meanwhile), and only for the portal that lock is of; otherwise the run walks ``/apps`` itself, as ever.
``tyk-migrate apply`` takes the lock before it reads the portal, so it walks ``/apps`` once, not twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from click.testing import CliRunner
from run_helpers import make_plan

from tyk_migrate.aio import run_sync
from tyk_migrate.cli import cli
from tyk_migrate.config import Settings
from tyk_migrate.portal import AsyncPortalClient
from tyk_migrate.portal_lock import PortalLock
from tyk_migrate.run import Migration
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


def test_a_walk_begun_under_the_runs_lock_is_its_first_listing(sandbox, tmp_path):
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


def test_apply_walks_the_apps_once(sandbox, tmp_path):
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
