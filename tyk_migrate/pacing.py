"""``Pacer``: a run's requests go out evenly spread, not in bursts.

A portal whose answers all take about as long turns a burst of requests into a burst of answers. The client
handles a burst one answer at a time, and each answer frees the slot of the next request, so the next burst
leaves as one too: a convoy. Inside it, the last answer waits for the client to handle all the others while
its slot stays taken. At 50 ms and 32 in flight that cost about a tenth of the slots, measured on 2 cores
(``docs/benchmarks.md``, "Even spacing"); a portal's per-second rate limit also sees bursts sooner than an even
stream.

The pacer keeps at least ``latency / limit / (1 + PACE_HEADROOM)`` between two requests of the run. That is
a little faster than the slots allow, so the slots, not the pacer, still decide how many are in flight; what
changes is only that they are refilled one by one. The latency is learnt from the run's own writes (an
average of recent healthy answers that follows a drop at once: ``Migration`` feeds it every answer but to a
GET, as a listing's page can take far longer than a POST); until the first one there is no pacing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: how much faster than ``latency / limit`` the pacer lets requests go (the slots set the pace, not the pacer)
PACE_HEADROOM = 0.2
#: a wait shorter than this is not slept (the event loop's timers have a millisecond's grain)
SHORTEST_WAIT = 0.0005
#: weight of a new answer in the latency average when it is slower than the average (about the last 20 count)
LATENCY_WEIGHT = 0.05
#: ... and when it is faster: pacing too slowly idles slots, too fast only lets bursts back, so a drop is
#: followed at once (a run's first answers are listings of apps, far slower on a big portal than a POST)
LATENCY_WEIGHT_DOWN = 0.5


class Pacer:
    """``await pacer.wait()`` before each request, ``pacer.observe(status, seconds)`` after each answer.

    ``limit`` gives the current number of requests allowed in flight (an adaptive limit moves).
    """

    def __init__(self, limit: Callable[[], int]) -> None:
        self.limit = limit
        self.latency: float | None = None  #: seconds, an average of recent healthy answers
        self._next = 0.0  # the loop time before which the next request does not go out

    def observe(self, status: int | None, seconds: float) -> None:
        """A refusal or a failure answers without doing the work: it says nothing of a request's time."""
        if status is None or status == 429 or status >= 500 or seconds <= 0:
            return
        if self.latency is None:
            self.latency = seconds
        else:
            weight = LATENCY_WEIGHT_DOWN if seconds < self.latency else LATENCY_WEIGHT
            self.latency += weight * (seconds - self.latency)

    @property
    def interval(self) -> float:
        """Seconds kept between two requests (0 until an answer came)."""
        if self.latency is None:
            return 0.0
        return self.latency / max(1, self.limit()) / (1 + PACE_HEADROOM)

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        start = max(now, self._next)
        self._next = start + self.interval
        if start - now >= SHORTEST_WAIT:
            await asyncio.sleep(start - now)
