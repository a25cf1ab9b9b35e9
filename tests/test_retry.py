import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from tyk_migrate.retry import RetryPolicy, parse_retry_after


def test_retry_after_in_seconds_or_http_date():
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now=now) == 7.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=7), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_grows_is_capped_and_jittered():
    policy = RetryPolicy(base=0.5, cap=4.0, rng=random.Random(1))
    delays = [policy.delay(n) for n in range(1, 8)]
    for n, d in enumerate(delays, start=1):
        ceiling = min(4.0, 0.5 * 2 ** (n - 1))
        assert ceiling / 2 <= d <= ceiling
    assert len({round(d, 6) for d in delays}) == len(delays)


def test_server_retry_after_wins_but_is_bounded():
    policy = RetryPolicy(max_retry_after=10)
    assert policy.delay(1, retry_after=2.5) == 2.5
    assert policy.delay(1, retry_after=600) == 10
