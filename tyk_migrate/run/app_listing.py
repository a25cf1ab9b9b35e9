"""The run's listings of ``/apps``, by owner and name, for the app workflow (``apps``): coalesced, so one walk
serves every app decided while it runs, and the first begun early, so it overlaps the run's set-up."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import TYPE_CHECKING, Any

from ..calls import Call
from ..errors import PortalError
from ..ownership import app_descriptions
from ..paging import pages_sent_by
from ..portal_lock import portal_identity
from .context import RunContext
from .groups import apps_by_owner_name
from .protocol import Unresolved, error_text

if TYPE_CHECKING:
    from ..portal_lock import PortalLock
    from ..snapshot import AppsWalk

# Before an app is created, the apps of its owner and name are looked up in a listing at most this old (one
# walk of /apps serves every app decided in that time): an app someone made meanwhile is reused, not doubled.
# A walk that takes longer than half of it (a portal of very many apps) stretches it to twice the walk: a
# listing is as old as its walk anyway, and one older than its age when it ends would never be used.
APP_LISTING_MAX_AGE = 60.0
#: the next listing begins, in the background, this long (or twice the last walk, if longer) before the index
#: grows too old, so that rows go on being decided from the old one meanwhile instead of waiting for the walk
APP_LISTING_LEAD = 5.0
#: a walk of /apps made before the run (the snapshot's, under the run's portal lock) is its first listing only
#: if begun at most this long before the run: someone else's app made meanwhile would go unseen by the first
#: rows, so that window stays about as short as the run's own first walk (0.1 s at 50 ms) would leave it
FIRST_LISTING_LEAD = 1.0


def first_listing(walk: AppsWalk, lock: PortalLock, run_started: float) -> bool:
    """Whether a walk of /apps can be a run's first listing: of the lock's portal, begun while the lock was
    held (no other run on this machine can have written since) and at most ``FIRST_LISTING_LEAD`` before the
    run began."""
    return (
        lock.acquired_at <= walk.started
        and run_started - walk.started <= FIRST_LISTING_LEAD
        and portal_identity(walk.portal_url) == lock.portal
    )


#: walks of /apps tried (each with the reads' own retries) before an app's existence counts as unknown
LISTING_TRIES = 4


class AppListing:
    """The apps of the portal as this run last listed them."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.index: dict[tuple[int, str], list[int]] = {}
        self.descriptions: dict[int, object] = {}  # from the same listing; apps listed without one are absent
        self._refresh: asyncio.Task[None] | None = None
        self._refresh_started = -math.inf
        self._index_started = -math.inf  # when the walk whose apps ``index`` holds began
        self._walk_seconds = 0.0  # how long the last walk took
        self._background_failed = False  # a background walk failed: the next waits for the index to expire

    async def app_ids(self, user_id: int, name: str, since: float) -> list[int]:
        """IDs of the apps with this owner and name, from an index of all apps listed after ``since``."""
        return (await self.app_ids_as_of(user_id, name, since))[0]

    async def app_ids_as_of(self, user_id: int, name: str, since: float) -> tuple[list[int], float]:
        """``app_ids``, and when the walk they come from began (``time.perf_counter()``, at least ``since``)."""
        tries = 0
        while True:
            tries += 1
            try:
                await self._refresh_index(since)
                self._list_ahead()
                break
            except PortalError as exc:
                if tries >= LISTING_TRIES:
                    raise Unresolved(error_text(exc)) from exc
                await self.ctx.gate.sleep(self.ctx.writer.policy.delay(tries), abortable=False)
        return self.index.get((user_id, name), []), self._index_started

    async def _refresh_index(self, since: float) -> None:
        """List every app once for all rows waiting on a lookup (coalesced: one walk serves many)."""
        while self._index_started < since:
            task = self._refresh
            failed = task is not None and task.done() and (task.cancelled() or task.exception() is not None)
            if task is None or failed or (task.done() and self._refresh_started < since):
                self._start()
                continue
            if self._refresh_started >= since:
                await asyncio.shield(task)
                return
            with contextlib.suppress(Exception):
                await asyncio.shield(task)  # a listing begun before our write: wait, then list again

    def seed(self, started: float, listing: list[dict[str, Any]]) -> None:
        """Take a walk of /apps begun at ``started``, before the run, as its first listing: the snapshot's,
        begun after the run took the portal's lock and at most ``FIRST_LISTING_LEAD`` before the run
        (``Migration`` checks both), so rows are decided at once instead of after a second walk. Its duration
        is not taken for the walk's (the snapshot's shared its slots with every app's credentials)."""
        if started > self._index_started:
            self.index, self.descriptions = apps_by_owner_name(listing), app_descriptions(listing)
            self._index_started = started

    def begin(self) -> None:
        """Begin the run's first listing of the apps now, so that it overlaps the run's set-up (not when
        a walk made after the run took the portal's lock was seeded: ``_list_ahead`` renews that one)."""
        if self._refresh is None and self._index_started == -math.inf:
            self._start().add_done_callback(lambda t: t.cancelled() or t.exception())  # a waiter sees a failure

    @property
    def _walking(self) -> bool:
        return self._refresh is not None and not self._refresh.done()

    @property
    def max_age(self) -> float:
        """How old a listing may be to decide a new app: ``APP_LISTING_MAX_AGE``, or twice the last walk (or
        the one under way, so far), whichever is longest."""
        so_far = time.perf_counter() - self._refresh_started if self._walking else 0.0
        return max(APP_LISTING_MAX_AGE, 2 * self._walk_seconds, 2 * so_far)

    def _list_ahead(self) -> None:
        """Begin the next walk in the background when the index is near its maximum age: with thousands of
        apps (this run makes them) a walk takes seconds, and rows deciding apps would wait for it."""
        lead = max(APP_LISTING_LEAD, 2 * self._walk_seconds)
        if self._walking or self._background_failed or time.perf_counter() - self._index_started < self.max_age - lead:
            return
        if self.ctx.gate.stopping or self.ctx.gate.halted:  # no app is decided after a stop: the walk would be waste
            return

        def ended(task: asyncio.Task[None]) -> None:
            self._background_failed = task.cancelled() or task.exception() is not None

        self._start().add_done_callback(ended)

    def _start(self) -> asyncio.Task[None]:
        started = time.perf_counter()
        self._refresh_started, self._refresh = started, asyncio.create_task(self._list_apps(started))
        return self._refresh

    async def finish(self) -> None:
        """A listing nobody waited for (every row was settled without a request) ends with the run."""
        if self._refresh is not None and not self._refresh.done():
            self._refresh.cancel()
            await asyncio.gather(self._refresh, return_exceptions=True)

    async def _list_apps(self, started: float) -> None:
        """One walk of /apps, each page a read of its own (its own slot and retries), later pages sent ahead
        once the list shows itself long: the apps this run makes lengthen it, and every row needing an app
        waits for the walk (a page at a time, 17,000 apps took 9.1 s at 50 ms; docs/benchmarks.md)."""
        client, writer = self.ctx.client, self.ctx.writer

        async def page(call: Call) -> Any:
            return await writer.read(lambda: client._send(call))

        limiter = self.ctx.gate.limiter
        with pages_sent_by(page, most=lambda: max(1, limiter.limit // 2)):  # half the slots, as the limit moves
            listing = await client.list_apps()
        self._walk_seconds = time.perf_counter() - started
        if started > self._index_started:  # a walk begun earlier that ended later must not undo a newer one
            self.index, self.descriptions = apps_by_owner_name(listing), app_descriptions(listing)
            self._index_started, self._background_failed = started, False
