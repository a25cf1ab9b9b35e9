"""The run's first listing of ``/apps`` (run/app_listing.py): it begins as soon as the triage finds a row that
needs a new app, goes on while the other rows are triaged, serves every app of the run, and is not sent when no
row needs an app (a rerun the journal answers)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from run_helpers import make_plan

from tyk_migrate.calls import Call
from tyk_migrate.config import Settings
from tyk_migrate.portal import APPS_PATH, AsyncPortalClient
from tyk_migrate.run import Migration, apply_plan
from tyk_migrate.run.schedule import Schedule

APPS_LISTED = "GET /portal-api/apps "


def listings(state: dict) -> int:
    return sum(n for route, n in state["requests"]["by_route"].items() if route.startswith(APPS_LISTED))


def test_the_first_listing_begins_while_the_rows_are_still_triaged(sandbox, tmp_path, monkeypatch):
    triage, begun_at = Schedule._triage, []

    def watching(self, row, *args):
        if self.apps is not None and self.apps.listing._refresh is not None and not begun_at:
            begun_at.append(row.number)
        return triage(self, row, *args)

    monkeypatch.setattr(Schedule, "_triage", watching)
    plan = make_plan(60)
    apply_plan(plan, Settings(portal_url=sandbox.portal_url, token=sandbox.token), tmp_path / "j", batch_size=10)
    assert set(plan["status"]) == {"created"}
    assert begun_at and begun_at[0] <= 11  # after the first batch of ten, not after all 60 rows
    # one walk served all 20 new apps: the seed's apps, then the page that shows the list ended (pager rules)
    assert listings(sandbox.snapshot()) == 2


def test_rows_that_all_name_their_app_list_no_apps(sandbox, tmp_path):
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    first = make_plan(30)
    apply_plan(first, settings, tmp_path / "j")
    before = listings(sandbox.snapshot())
    more = make_plan(30, prefix="more")  # other keys, into the apps the first run made
    more["app_id"], more["action"] = first["app_id"], "add_credential"
    apply_plan(more, settings, tmp_path / "j2")
    assert set(more["status"]) == {"created"}
    assert listings(sandbox.snapshot()) == before


class CountsListingPages(AsyncPortalClient):
    """Records how many pages of /apps were in flight at once."""

    in_flight = peak = 0

    async def _send(self, call: Call) -> Any:
        listing = call.method == "GET" and call.path == APPS_PATH
        cls = type(self)
        cls.in_flight += listing
        cls.peak = max(cls.peak, cls.in_flight)
        try:
            return await super()._send(call)
        finally:
            cls.in_flight -= listing


def test_a_long_listing_is_walked_ahead_and_finds_the_app_on_its_last_page(make_sandbox, seed_data, tmp_path):
    """700 apps served 50 a page: the run's walk sends later pages before earlier ones are in, each page in a
    slot of its own, and still sees the developer's app of a planned name on the last page (reused, not
    doubled)."""
    plan = make_plan(6)
    user, name = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"])
    base = {"Description": "", "RedirectURLs": "", "Visibility": "organisation", "CreatedAt": "2026-10-01 14:30"}
    filler = [{**base, "ID": 1000 + i, "Name": f"filler {i}", "UserID": 40} for i in range(700)]
    seed_data["apps"] += [*filler, {**base, "ID": 5000, "Name": name, "UserID": user}]
    sb = make_sandbox(seed=seed_data, latency_ms=5, behaviour=["paging=max:50"])
    CountsListingPages.in_flight = CountsListingPages.peak = 0

    async def go() -> None:
        async with CountsListingPages(sb.portal_url, sb.token) as client:
            await Migration(plan, client, tmp_path / "j", concurrency=16).run()

    asyncio.run(go())
    assert set(plan["status"]) == {"created"}, plan["error"].tolist()
    assert set(plan.loc[:2, "app_id"]) == {5000}  # the developer's app, found on the last page
    named = [a["ID"] for a in sb.snapshot()["apps"] if (a["UserID"], a["Name"]) == (user, name)]
    assert named == [5000]
    assert CountsListingPages.peak >= 4  # pages in flight together (page by page it was 1)
    assert listings(sb.snapshot()) <= 15 + 8 + 1  # 15 pages of 50, a few sent past the end, and page 1 of 100


def test_the_next_listing_begins_before_the_index_expires_so_rows_do_not_wait(sandbox, tmp_path, monkeypatch):
    """A listing near its maximum age is walked again in the background: rows go on deciding their apps from
    the old index meanwhile (still within its age), and none waits for the walk, however long it takes."""
    from tyk_migrate.run import app_listing

    monkeypatch.setattr(app_listing, "APP_LISTING_MAX_AGE", 0.8)
    monkeypatch.setattr(app_listing, "APP_LISTING_LEAD", 0.4)
    refresh, waits = app_listing.AppListing._refresh_index, []

    async def timed(self, since):
        begun = time.perf_counter()
        await refresh(self, since)
        if self._index_started > self.ctx.started + 0.1:  # after the run's first listing
            waits.append(time.perf_counter() - begun)

    monkeypatch.setattr(app_listing.AppListing, "_refresh_index", timed)
    sandbox.set_faults("", latency_ms=30)
    plan = make_plan(240, keys_per_app=1)
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    apply_plan(plan, settings, tmp_path / "j", concurrency=4, max_concurrency=4, batch_size=10)  # a window of 20 rows
    assert set(plan["status"]) == {"created"}
    assert listings(sandbox.snapshot()) >= 4  # walked again during the run (2 requests a walk at least)
    assert waits and max(waits) < 0.005  # served from the index at hand: no row waited for a walk


def test_a_walk_longer_than_the_listing_age_stretches_the_age_so_rows_do_not_wait_for_walks(
    make_sandbox, seed_data, tmp_path, monkeypatch
):
    """A portal of so many apps that one walk outlasts the listing's maximum age: with a fixed age, a row
    would wait for a walk begun after it asked, every time. The age stretches to twice the walk, so the walks
    go on in the background and rows are decided from the latest."""
    from tyk_migrate.run import app_listing

    monkeypatch.setattr(app_listing, "APP_LISTING_MAX_AGE", 0.2)
    monkeypatch.setattr(app_listing, "APP_LISTING_LEAD", 0.05)
    refresh, waits = app_listing.AppListing._refresh_index, []

    async def timed(self, since):
        begun, listed = time.perf_counter(), self._walk_seconds > 0  # asked once the run's first walk was done
        await refresh(self, since)
        if listed:
            waits.append(time.perf_counter() - begun)

    monkeypatch.setattr(app_listing.AppListing, "_refresh_index", timed)
    base = {"Description": "", "RedirectURLs": "", "Visibility": "organisation", "CreatedAt": "2026-10-01 14:30"}
    seed_data["apps"] += [{**base, "ID": 1000 + i, "Name": f"filler {i}", "UserID": 40} for i in range(300)]
    sb = make_sandbox(seed=seed_data, latency_ms=25, behaviour=["paging=max:10"])  # 31 pages, 2 at a time
    plan = make_plan(60, keys_per_app=1)
    settings = Settings(portal_url=sb.portal_url, token=sb.token)
    apply_plan(plan, settings, tmp_path / "j", concurrency=4, max_concurrency=4, batch_size=10)
    assert set(plan["status"]) == {"created"}, plan["error"].tolist()
    assert waits and max(waits) < 0.005


def _listing_of(sandbox: Any, client: AsyncPortalClient) -> Any:
    """An ``AppListing`` over a run context of its own (the gate opened, reads only: no journal needed)."""
    from tyk_migrate.concurrency import Limiter
    from tyk_migrate.retry import RetryPolicy
    from tyk_migrate.run.app_listing import AppListing
    from tyk_migrate.run.context import RunContext
    from tyk_migrate.run.gate import Gate
    from tyk_migrate.run.protocol import ExactlyOnce

    gate = Gate(Limiter(4))
    gate.open()
    writer = ExactlyOnce(gate, RetryPolicy(), None)  # type: ignore[arg-type]  # reads never touch the journal
    ctx = RunContext(None, client, 1, writer, gate, None, time.perf_counter())  # type: ignore[arg-type]
    return AppListing(ctx)


@pytest.mark.parametrize("stopping", [False, True], ids=["running", "stopping"])
def test_a_stopping_run_begins_no_listing_in_the_background(sandbox, monkeypatch, stopping):
    """break18d: a row deciding its app while the run stops found the index near its age and began the next walk
    of every app in the background: requests a stopping run sends for nothing (no app is decided after it)."""
    from tyk_migrate.run import app_listing

    monkeypatch.setattr(app_listing, "APP_LISTING_MAX_AGE", 5.0)
    monkeypatch.setattr(app_listing, "APP_LISTING_LEAD", 4.9)  # any index 0.1 s old is near its age

    async def go() -> bool:
        async with AsyncPortalClient(sandbox.portal_url, sandbox.token) as client:
            listing = _listing_of(sandbox, client)
            await listing.app_ids(2, "nothing", listing.ctx.started)  # the run's first walk
            first = listing._refresh
            await asyncio.sleep(0.15)
            if stopping:
                listing.ctx.gate.stop()
            await listing.app_ids(2, "nothing", listing.ctx.started)  # the index is still within its age
            begun = listing._refresh is not first
            await listing.finish()
            return begun

    assert asyncio.run(go()) is not stopping
