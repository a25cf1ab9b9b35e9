"""How many requests the runner keeps in flight: a resizable limiter and the controller that sizes it.

``AdaptiveConcurrency`` watches every answer (status and latency) and sets the ``Limiter``'s size:
slow start, then additive increase and multiplicative decrease on 429/503 or latency climbing well above
the floor, remembering the level where congestion began so a run sits near the best safe speed.
``AdaptiveReads`` puts portal reads (snapshot, verify, reconcile) under that same controller and retry policy.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from .errors import PortalConnectionError, PortalServerError, RateLimited
from .paging import walk_ahead
from .portal import AsyncPortalClient, Call, Pager, _Operations

#: Until this many answers are in, the background rate is taken over this many (so one refusal early on is
#: congestion, as it was before the background rate was learnt)
BACKGROUND_PRIOR_ANSWERS = 100
#: The background rate is the refusal rate of the lowest levels the run was at, pooled up to this many answers
BACKGROUND_SAMPLE = 200
#: Refusals in a window beyond the background's expected count by this many standard deviations are congestion
BACKGROUND_MARGIN_SIGMAS = 3.0

#: Reads start with this many in flight (or the caller's concurrency, if lower) and adapt from there: the
#: default ceiling, as GETs are light and a refusal only waits; at 8 the snapshot took a round trip more
READ_INITIAL_CONCURRENCY = 16

#: A run whose rows left need less than this many seconds at its pace probes no more above its ceiling: a
#: refused probe waits out its Retry-After (commonly 1 s) and would end the run late, for a level the last
#: rows cannot use. And in the last few rounds (fewer rows left than ``HOLD_ROUNDS`` times the limit) it
#: grows no more at all.
PROBE_HORIZON_SECONDS = 2.0
HOLD_ROUNDS = 4


class Limiter:
    """A FIFO semaphore whose size can change while tasks wait (no semaphore swapping).

    Waiters marked ``urgent`` are served before the others: the runner uses it for follow-ups of rows
    already started (read-backs, lookups, their app), so rows finish as they go instead of all at the end.
    """

    def __init__(self, limit: int) -> None:
        self._limit = max(1, int(limit))
        self._used = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._urgent: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_use(self) -> int:
        return self._used

    @property
    def waiting(self) -> int:
        return len(self._waiters) + len(self._urgent)

    def set_limit(self, limit: int) -> None:
        self._limit = max(1, int(limit))
        self._wake()

    async def acquire(self, urgent: bool = False) -> None:
        if self._used < self._limit and not self._urgent and (urgent or not self._waiters):
            self._used += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._waiters
        queue.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(fut)
            raise

    def release(self) -> None:
        self._used -= 1
        self._wake()

    def _wake(self) -> None:
        while self._used < self._limit and (self._urgent or self._waiters):
            fut = (self._urgent or self._waiters).popleft()
            if not fut.done():
                self._used += 1
                fut.set_result(None)


class AdaptiveConcurrency:
    """Sets a ``Limiter``'s size from the answers: slow start, then AIMD with a remembered ceiling.

    * Slow start: the limit grows by half every window (a window = as many healthy answers as the limit)
      until the first congestion signal, which halves it.
    * Congestion (more 429/503 in a window than the portal's background refusals explain, or a window whose
      mean latency is well above the lowest seen): the limit is multiplied by ``backoff``, at most once per
      window, and the level where it happened is remembered.
    * Background: a portal that refuses a share of requests whatever the load (a flaky backend's 503s, a
      gateway's random 429s) is not congested. The background is the refusal rate at the lowest levels the run
      was at (a cap refuses more as the level rises, so the run's own overshoot is not learnt as background),
      and a window counts as congested only when its refusals exceed that rate's expected count by
      ``BACKGROUND_MARGIN_SIGMAS`` (a portal that never refused: the first refusal). Without this, 3%
      of random refusals held a 64-wide run near 9 and 9% near 4 (``tests/test_concurrency.py``).
    * Recovery: +1 per window up to just below that ceiling, then a probe one above it every
      ``probe_windows`` windows; each refused probe doubles that interval (up to 64 windows), a probe that
      holds raises the ceiling. A step of +1 refused right after the level below held a whole window is
      taken for a refused probe too (the portal's cap is found: back one, not by a quarter). So the run
      sits near the best safe level instead of sawing between it and half of it.
    """

    def __init__(
        self,
        limiter: Limiter,
        *,
        initial: int = 8,
        minimum: int = 1,
        maximum: int = 64,
        backoff: float = 0.75,
        latency_factor: float = 2.0,
        latency_margin: float = 0.02,
        probe_windows: int = 4,
    ) -> None:
        self.limiter = limiter
        self.minimum, self.maximum = max(1, minimum), max(1, maximum)
        self.backoff, self.latency_factor, self.latency_margin = backoff, latency_factor, latency_margin
        self.probe_windows = probe_windows
        self.slow_start = True
        self.hold = False  # the last rounds of a run: no growth at all (``rows_left``)
        self.near_end = False  # the last seconds of a run: no probe above the ceiling (``rows_left``)
        self.ceiling: float = math.inf
        self.floor_latency: float = math.inf
        self.decreases = 0
        self._window = 0
        self._window_latency = 0.0
        self._since_decrease = math.inf  # no decrease yet, so no stale answers to discount
        self._windows_at_ceiling = 0
        self._probe_every = probe_windows
        self._held = max(self.minimum, math.floor(min(self.maximum, initial) * self.backoff))
        self._stepped_from: int | None = None  # the level that held a whole window before the last +1 step
        self._refusals = 0  # refusals (429/503) in the current window
        self._by_level: dict[int, list[int]] = {}  # limit -> [answers, refusals]: the background's evidence
        self._counted = 0
        limiter.set_limit(min(self.maximum, max(self.minimum, initial)))

    @property
    def limit(self) -> int:
        return self.limiter.limit

    def observe(self, status: int | None, seconds: float) -> None:
        self._since_decrease += 1
        if status in (429, 503):
            if self._since_decrease < self.limit:
                return  # an answer to a send before the last decrease: that congestion is dealt with
            over = self._refusals + 1 > self.refusals_allowed()  # this one included
            self._refusals += 1
            self._count(refused=True)
            if over:
                self._congested(float(self.limiter.in_use))
            return
        if status is None or status >= 500:
            return  # a random fault or a dropped connection says nothing about load
        self._count(refused=False)
        self._window += 1
        self._window_latency += seconds
        if self._window < self.limit:
            return
        mean = self._window_latency / self._window
        self._window, self._window_latency, self._refusals = 0, 0.0, 0
        if mean < self.floor_latency:
            self.floor_latency = mean
        else:
            self.floor_latency *= 1.02  # let the floor follow a portal that became slower for good
        if mean > self.floor_latency * self.latency_factor and mean > self.floor_latency + self.latency_margin:
            self._congested(float(self.limit))
            return
        self._grow()

    def rows_left(self, pending: int, rows_per_second: float) -> None:
        """What the runner says as rows finish: ``pending`` rows to go at ``rows_per_second`` (0: not known
        yet). Near the end growing gains nothing, and a refused probe would only delay the last rows."""
        if not self.near_end and rows_per_second > 0:
            self.near_end = pending < rows_per_second * PROBE_HORIZON_SECONDS
        if not self.hold:
            self.hold = pending < HOLD_ROUNDS * self.limit

    @property
    def background_rate(self) -> float:
        """The share of answers the portal refuses whatever the load, as learnt so far: the refusal rate at the
        run's lowest levels (pooled up to ``BACKGROUND_SAMPLE`` answers). A cap or a rate limit refuses more as
        the level rises; a flaky backend refuses as much at every level. 0 for a portal that never refused."""
        answers = refused = 0
        for level in sorted(self._by_level):
            seen, no = self._by_level[level]
            answers, refused = answers + seen, refused + no
            if answers >= BACKGROUND_SAMPLE:
                break
        return refused / max(answers, BACKGROUND_PRIOR_ANSWERS)

    def refusals_allowed(self) -> float:
        """Refusals a window of the current limit may hold before they mean congestion."""
        expected = self.background_rate * self.limit
        return expected + BACKGROUND_MARGIN_SIGMAS * math.sqrt(expected)

    def _count(self, *, refused: bool) -> None:
        counts = self._by_level.setdefault(self.limit, [0, 0])
        counts[0] += 1
        counts[1] += refused
        self._counted += 1
        if self._counted >= 50 * BACKGROUND_SAMPLE:  # follow a portal whose background changes
            self._counted //= 2
            self._by_level = {k: [a // 2, r // 2] for k, (a, r) in self._by_level.items() if a > 1}

    def _grow(self) -> None:
        limit = self.limit
        self._stepped_from = None  # a whole window held at this level: a refusal now is no refused step
        if self.hold:
            return
        if self.slow_start:
            self._held = limit  # held a whole window: where leaving slow start goes back to
            new = math.ceil(limit * 1.5)
        elif limit + 1 < self.ceiling:
            new, self._stepped_from = limit + 1, limit
        elif self.near_end:
            return
        elif limit >= self.ceiling:  # a probe above the old ceiling held for a whole window: raise it
            self.ceiling = limit + 1
            self._probe_every = self.probe_windows
            new = limit + 1
        else:  # at the known-good level: probe one above now and then
            self._windows_at_ceiling += 1
            if self._windows_at_ceiling < self._probe_every:
                return
            self._windows_at_ceiling = 0
            new = limit + 1
        self.limiter.set_limit(min(self.maximum, max(self.minimum, new)))

    def _congested(self, level: float) -> None:
        if self._since_decrease < self.limit:  # one decrease per window: answers to older sends lag
            return
        limit = self.limit
        self.decreases += 1
        self._since_decrease = 0
        self._window, self._window_latency, self._windows_at_ceiling, self._refusals = 0, 0.0, 0, 0
        stepped, self._stepped_from = self._stepped_from, None
        refused_step = stepped == limit - 1 and level >= limit - 1  # refused with the new level in flight
        if not self.slow_start and (limit >= self.ceiling or refused_step):
            # a probe above the known-good level failed, or a step up from a level that held a whole window:
            # step back to the level below, remember this one as the ceiling, and probe half as often (a fixed
            # limit such as a concurrency cap refuses every probe; a quarter less would idle a quarter of it)
            self.ceiling = min(self.ceiling, float(limit))
            self.limiter.set_limit(max(self.minimum, int(self.ceiling) - 1))
            self._probe_every = min(self._probe_every * 2, 64)
            return
        self._probe_every = self.probe_windows
        self.ceiling = max(float(self.minimum) + 1, min(level, float(limit)))
        if self.slow_start:
            # the last step grew the limit by half past the right level: go back to the level that held a whole
            # window (TCP halves because its slow start doubles; halving here would undershoot by a third)
            self.slow_start = False
            self.limiter.set_limit(max(self.minimum, min(self._held, int(limit * self.backoff), int(level))))
            return
        self.limiter.set_limit(max(self.minimum, int(limit * self.backoff)))


class AdaptiveReads:
    """Portal reads under an adaptive limit, each call retried without holding a slot.

    ``async with AdaptiveReads(client, concurrency=16) as reads: apps = await reads.portal.list_apps()``

    ``reads.portal`` has the client's operations; every HTTP call they make (each page of a list) waits
    for a slot of a ``Limiter`` sized by an ``AdaptiveConcurrency`` fed with every answer, as the runner
    does: on 429/503 the limit drops and settles near what the portal allows, between 1 and
    ``concurrency``. While open it owns the client's retries (switched off in the client, restored on
    exit), so a read waiting out a ``Retry-After`` or a backoff gives its slot back instead of holding it
    while the others pile onto a throttling portal. Reads (GET) follow the client's ``RetryPolicy``:
    connection errors and 5xx up to ``attempts`` tries, 429s (the portal asking to slow down, not
    failing) up to ``rate_limited_attempts``, each after the answer's ``Retry-After`` or the policy's
    backoff. Writes are sent once, as the client sends them.

    It swaps the client's response hook (chaining the one there) and policy: one per client at a time.
    """

    def __init__(
        self, client: AsyncPortalClient, *, concurrency: int = 16, initial: int = READ_INITIAL_CONCURRENCY
    ) -> None:
        self.client = client
        self.policy = client.retry
        self.limiter = Limiter(1)
        most = max(1, int(concurrency))
        self.controller = AdaptiveConcurrency(self.limiter, initial=min(initial, most), maximum=most)
        self.portal = _GatedOperations(self)
        self.rate_limited = 0  # 429 answers to these calls (for reports and tests)
        self._saved: tuple[Any, Any] | None = None

    async def __aenter__(self) -> AdaptiveReads:
        client, controller = self.client, self.controller
        previous = client.on_response
        self._saved = (previous, client.retry)

        def hook(method: str, path: str, status: int | None, seconds: float) -> None:
            controller.observe(status, seconds)
            if previous is not None:
                previous(method, path, status, seconds)

        client.on_response = hook
        client.retry = replace(self.policy, attempts=1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._saved is not None:
            self.client.on_response, self.client.retry = self._saved
            self._saved = None

    async def send(self, call: Call) -> Any:
        """The call's answer, sent in a slot and retried as the class says; the last error is raised."""
        failures = limited = 0
        while True:
            await self.limiter.acquire()
            try:
                return await self.client._send(call)
            except RateLimited as exc:
                self.rate_limited += 1
                limited += 1
                if not call.retryable or limited >= self.policy.rate_limited_attempts:
                    raise
                wait = self.policy.delay(limited, exc.retry_after)
            except (PortalConnectionError, PortalServerError):
                failures += 1
                if not call.retryable or failures >= self.policy.attempts:
                    raise
                wait = self.policy.delay(failures)
            finally:
                self.limiter.release()
            await asyncio.sleep(wait)

    @staticmethod
    async def gather(*aws: Awaitable[Any]) -> list[Any]:
        """``asyncio.gather``, except that the first failure cancels the rest: with budgets this long, reads
        left running would go on retrying against a portal the caller has given up on."""
        tasks = [asyncio.ensure_future(a) for a in aws]
        try:
            return await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def walk(
        self, path: str, unwrap: str | None = None, *, on_page: Callable[[list[dict[str, Any]]], None] | None = None
    ) -> list[dict[str, Any]]:
        """A list endpoint's items, each page sent by ``send``: a refused page is retried alone. ``on_page``
        gets each page's new items as soon as it is in (work that needs only them need not wait for the end)."""
        most = max(1, self.controller.maximum // 2)  # a long list's later pages go ahead (paging.walk_ahead)
        return await walk_ahead(Pager(path, self.client.per_page, unwrap), self.send, most=most, on_page=on_page)


class _GatedOperations(_Operations):
    """The client's operations (written once in ``portal._Operations``), every call sent by ``AdaptiveReads``."""

    def __init__(self, reads: AdaptiveReads) -> None:
        self._reads = reads
        self.per_page = reads.client.per_page

    def _send(self, call: Call) -> Any:
        return self._reads.send(call)

    def _walk(self, path: str, unwrap: str | None = None) -> Any:
        return self._reads.walk(path, unwrap)


# ------------------------------------------------------------------------------------------------
# internal row state
# ------------------------------------------------------------------------------------------------
