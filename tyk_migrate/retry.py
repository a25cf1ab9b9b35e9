"""When and how long to wait before trying a call again: capped exponential backoff with full jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date. None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class RetryPolicy:
    """``attempts`` counts the first try. Delays grow ``base * 2**n`` up to ``cap``, jittered between half
    and all of it; a server's ``Retry-After`` wins when it is given (bounded by ``max_retry_after``).

    ``rate_limited_attempts`` bounds tries of a call the portal keeps answering 429 (used where a caller
    counts 429s apart from failures, as ``AdaptiveReads`` does): a 429 is the portal asking to slow down,
    not failing, so it gets a budget of its own (60, as the runner's ``max_rate_limited``)."""

    attempts: int = 6
    base: float = 0.2
    cap: float = 8.0
    max_retry_after: float = 60.0
    rate_limited_attempts: int = 60
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number ``retry`` (1 for the first retry)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.cap, self.base * (2 ** (retry - 1)))
        return self.rng.uniform(ceiling / 2, ceiling)
