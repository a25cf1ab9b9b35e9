"""What a run reports: a ``Progress`` snapshot, and the tally of row statuses and finishing rate behind it."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass

from ..concurrency import Limiter
from ..meter import Meter
from ..vocabulary import BLOCKED, CREATED, DRY_RUN, FAILED, OUTCOME_STATUSES, PENDING, SKIPPED

#: the finishing rate (and so the ETA) is measured over the rows finished in the last this many seconds
RATE_WINDOW_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of a run, cheap to make; the UI decides how often to draw it."""

    total: int = 0
    done: int = 0
    created: int = 0
    skipped: int = 0
    failed: int = 0
    blocked: int = 0
    dry_run: int = 0
    in_flight: int = 0
    concurrency: int = 0
    requests: int = 0
    requests_per_second: float = 0.0
    recent_error_rate: float = 0.0
    eta_seconds: float | None = None
    elapsed_seconds: float = 0.0
    state: str = "idle"
    batch: int = 0
    batches: int = 0

    @property
    def pending(self) -> int:
        return self.total - self.done


class Pace:
    """Rows finished per second since sending began (``pending`` rows then): the rows settled without a
    request before it (a resumed run's, often thousands at once) are no pace, and none is known before a
    second has passed, as a first round of answers comes back together."""

    def __init__(self, now: float, pending: int) -> None:
        self.began, self.pending = now, pending

    def rows_per_second(self, now: float, pending: int) -> float:
        span = now - self.began
        return (self.pending - pending) / span if span >= 1.0 else 0.0


class Tally:
    """Rows by status, the batch under way, and when rows finished (for the rate and the ETA)."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.total = 0
        self.batch = 0
        self.batches = 0
        self.started = 0.0
        self._done_times: collections.deque[float] = collections.deque(maxlen=400)

    def reset(self, total: int, batches: int) -> None:
        self.total, self.batches = total, batches
        self.counts = collections.Counter({PENDING: total})

    def finished(self, old: str, new: str) -> None:
        """A row went from status ``old`` to its final status ``new``."""
        self.counts[old] -= 1
        self.counts[new] += 1
        self._done_times.append(time.perf_counter())

    def rows_per_second(self, now: float) -> float:
        times = self._done_times
        while times and now - times[0] > RATE_WINDOW_SECONDS:
            times.popleft()
        if len(times) < 2:
            return 0.0
        return len(times) / max(now - times[0], 1e-3)

    def snapshot(self, state: str, limiter: Limiter, meter: Meter) -> Progress:
        now = time.perf_counter()
        c = self.counts
        done = sum(c[s] for s in OUTCOME_STATUSES if s != PENDING)
        rate = self.rows_per_second(now)
        remaining = self.total - done
        eta = remaining / rate if rate > 0 else None
        return Progress(
            total=self.total,
            done=done,
            created=c[CREATED],
            skipped=c[SKIPPED],
            failed=c[FAILED],
            blocked=c[BLOCKED],
            dry_run=c[DRY_RUN],
            in_flight=limiter.in_use,
            concurrency=limiter.limit,
            requests=meter.total,
            requests_per_second=meter.rate(now),
            recent_error_rate=meter.error_rate,
            eta_seconds=eta if state in ("running", "paused") else (0.0 if remaining == 0 else None),
            elapsed_seconds=(now - self.started) if self.started else 0.0,
            state=state,
            batch=self.batch,
            batches=self.batches,
        )
