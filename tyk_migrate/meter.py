"""``Meter``: a run's answers counted for its progress reports (requests per second, recent error rate, the
mean latency of the answers that did the work)."""

from __future__ import annotations

import collections


class Meter:
    """Counts answers for the progress snapshot: total, per second (last seconds), recent error rate."""

    def __init__(self, window_seconds: float = 5.0, recent: int = 200) -> None:
        self.window_seconds = window_seconds
        self.total = 0
        self.by_status: collections.Counter[int | None] = collections.Counter()
        self._times: collections.deque[float] = collections.deque()
        self._recent: collections.deque[bool] = collections.deque(maxlen=recent)
        self._recent_errors = 0
        self._latency_sum, self._latency_count = 0.0, 0

    def observe(self, status: int | None, now: float, seconds: float | None = None) -> None:
        self.total += 1
        # a refusal (429/503) or a fault answers without doing the work: it says nothing of a request's cost
        if seconds is not None and status is not None and status < 500 and status != 429:
            self._latency_sum += seconds
            self._latency_count += 1
        self.by_status[status] += 1
        self._times.append(now)
        error = status is None or status >= 400
        if len(self._recent) == self._recent.maxlen and self._recent[0]:
            self._recent_errors -= 1
        self._recent.append(error)
        self._recent_errors += error

    def rate(self, now: float) -> float:
        cutoff = now - self.window_seconds
        while self._times and self._times[0] < cutoff:
            self._times.popleft()
        if not self._times:
            return 0.0
        span = max(now - self._times[0], 1e-3)
        return len(self._times) / span if len(self._times) > 1 else 0.0

    @property
    def error_rate(self) -> float:
        return self._recent_errors / len(self._recent) if self._recent else 0.0

    @property
    def mean_latency(self) -> float | None:
        """Mean seconds of the answers that did the work (not 429/5xx/no answer); None before the first."""
        return self._latency_sum / self._latency_count if self._latency_count else None
