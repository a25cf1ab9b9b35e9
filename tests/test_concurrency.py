"""The adaptive concurrency controller on its own: how fast it settles under a portal's concurrency cap."""

from __future__ import annotations

import math
import random
from itertools import pairwise

import pytest

from tyk_migrate.concurrency import AdaptiveConcurrency, Limiter


def settle(
    cap: float, answers: int = 3000, *, random_refusals: float = 0.0, seed: int = 1, overshoot_only: bool = False
) -> list[int]:
    """The limit after each answer from a portal that refuses (429) more than ``cap`` requests in flight (every
    answer above the cap, or with ``overshoot_only`` only the share above it), and besides that a share
    ``random_refusals`` of all requests whatever the load (429 or 503, as a flaky backend or gateway does)."""
    rng = random.Random(seed)
    limiter = Limiter(1)
    ctl = AdaptiveConcurrency(limiter, initial=8, maximum=64)
    limits = []
    for _ in range(answers):
        limiter._used = limit = ctl.limit
        if limit > cap and (not overshoot_only or rng.random() < (limit - cap) / limit):
            status = 429
        elif rng.random() < random_refusals:
            status = rng.choice((429, 503))
        else:
            status = 200
        ctl.observe(status, 0.05)
        limits.append(ctl.limit)
    return limits


def mean(values: list[int]) -> float:
    return sum(values) / len(values)


def test_leaving_slow_start_goes_back_to_the_level_that_held_not_to_half() -> None:
    limits = settle(32)
    first_drop = next(i for i, (a, b) in enumerate(pairwise(limits)) if b < a)
    assert limits[first_drop + 1] >= 24  # halving the overshoot (41) gave 20: a third below the cap
    reached = next(i for i in range(first_drop, len(limits)) if limits[i] >= 31)
    assert reached - first_drop < 150  # 276 answers (half a second of a 32-wide run) when it halved
    assert 28 <= limits[-1] <= 33


def test_a_small_cap_is_still_found() -> None:
    assert 3 <= settle(5)[-1] <= 6
    assert 16 <= settle(20)[-1] <= 21


def test_a_step_refused_right_above_a_level_that_held_goes_back_one_not_a_quarter() -> None:
    limits = settle(32)
    first_drop = next(i for i, (a, b) in enumerate(pairwise(limits)) if b < a)
    settled = next(i for i in range(first_drop + 1, len(limits)) if limits[i] >= 32)
    # after the slow start's overshoot, the climb to the cap is the last time the limit is below 31: a refused
    # step to 33 (the cap is 32) goes back to 32 (it gave 24 before, and 220 answers to climb back)
    assert min(limits[settled:]) >= 31
    assert sum(1 for a, b in pairwise(limits[settled:]) if b < a) >= 2  # it still probes now and then


def test_a_refusal_after_a_whole_window_at_the_new_level_is_congestion_not_a_refused_step() -> None:
    """A level that held a whole window was no refused step: a 429 there later means the portal took less
    (a cap that dropped, a rate limit that tightened), and the limit comes down by a quarter (break18c F4)."""
    limiter = Limiter(1)
    ctl = AdaptiveConcurrency(limiter, initial=30, maximum=64)
    ctl.slow_start, ctl.ceiling = False, 33.0  # left slow start earlier; 33 was refused then

    def window() -> None:
        for _ in range(ctl.limit):
            limiter._used = ctl.limit
            ctl.observe(201, 0.05)

    window()
    window()
    assert ctl.limit == 32  # 30 -> 31 -> 32, just under the ceiling
    window()  # a whole window at 32, and no probe yet
    limiter._used = 32
    ctl.observe(429, 0.001)
    assert ctl.limit == 24


def test_refusals_that_come_whatever_the_load_do_not_hold_the_limit_down() -> None:
    """Before the background rate was learnt, 9% of random refusals held a 64-wide run near 4 and 3% near 9:
    a run under the benchmark's faults took 144 s instead of 25 (``docs/benchmarks.md``, "Under faults")."""
    for share in (0.03, 0.09):
        for seed in (1, 2, 3):
            limits = settle(float("inf"), 5000, random_refusals=share, seed=seed)
            assert mean(limits[2500:]) >= 45, (share, seed)


def test_a_cap_is_still_found_through_random_refusals() -> None:
    for seed in (1, 2, 3):
        limits = settle(32, 5000, random_refusals=0.09, seed=seed)
        assert 28 <= mean(limits[2500:]) <= 34, seed
        assert max(limits[2500:]) <= 36, seed  # an overshoot of the cap is noticed, random refusals or not
    assert 16 <= mean(settle(20, 5000, random_refusals=0.05)[2500:]) <= 21


def test_the_background_rate_is_learnt_from_the_answers() -> None:
    limiter = Limiter(1)
    ctl = AdaptiveConcurrency(limiter, initial=8, maximum=64)
    assert ctl.background_rate == 0.0
    assert ctl.refusals_allowed() == 0.0  # a portal that never refused: the first refusal is congestion
    rng = random.Random(5)
    for _ in range(4000):
        limiter._used = ctl.limit
        ctl.observe(429 if rng.random() < 0.1 else 200, 0.05)
    assert 0.07 <= ctl.background_rate <= 0.11
    assert ctl.refusals_allowed() > 0.1 * ctl.limit  # more than the expected count: a margin for chance


def test_the_runs_own_overshoot_is_not_learnt_as_background() -> None:
    """A cap refuses only the requests above it: at 6 in flight a cap of 5 refuses one answer in six. Learnt
    as background, those refusals let a run sit at 7-8 against a cap of 5 (the first version of the
    background did); the background is the refusal rate of the lowest levels, where a cap refuses nothing."""
    for cap, low, high in ((3, 2.5, 3.5), (5, 4.5, 5.5), (12, 11, 13), (32, 29, 33)):
        for seed in (1, 2):
            limits = settle(cap, 8000, seed=seed, overshoot_only=True)
            assert low <= mean(limits[4000:]) <= high, (cap, seed)
            assert 4 <= mean(settle(5, 8000, seed=seed, overshoot_only=True, random_refusals=0.09)[4000:]) <= 6.5


# -- known limits of the background (a review of 0fedae3): each passes once the limit is lifted ---------------
BURST_LEARNT = pytest.mark.xfail(strict=True, reason="known: a burst of refusals is learnt as background")


def phases(*spans: tuple[int, float, float], seed: int = 1) -> list[tuple[float, float]]:
    """Per span (answers, cap, random share): the mean limit over its second half and its refused share. The
    portal refuses (429) the share of requests above ``cap`` in flight, as the sandbox's ``cap`` does, and a
    ``random share`` of all requests whatever the load (429 or 503), as ``tests/test_concurrency.settle``."""
    rng = random.Random(seed)
    limiter = Limiter(1)
    ctl = AdaptiveConcurrency(limiter, initial=8, maximum=64)
    out = []
    for answers, cap, share in spans:
        limits, refused = [], 0
        for _ in range(answers):
            limiter._used = limit = ctl.limit
            if limit > cap and rng.random() < (limit - cap) / limit:
                status = 429
            elif rng.random() < share:
                status = rng.choice((429, 503))
            else:
                status = 200
            refused += status != 200
            ctl.observe(status, 0.05)
            limits.append(ctl.limit)
        half = limits[len(limits) // 2 :]
        out.append((sum(half) / len(half), refused / answers))
    return out


@BURST_LEARNT
def test_a_burst_of_refusals_at_the_start_does_not_let_the_run_overrun_a_cap_afterwards() -> None:
    """MEDIUM. 150 answers of a flapping portal (half refused) at the start drive the limit to 1-5, so those
    lowest levels hold the background evidence: ~45% refused, and halving (``_count``) keeps the ratio. Against
    a cap of 16 afterwards the run sits at ~23 with 26-28% of all requests refused (each refused write waits
    its Retry-After); before 0fedae3 it sat at 15.9 with 0.5% refused."""
    for seed in (1, 2, 3):
        _, (level, refused) = phases((150, 16, 0.5), (4000, 16, 0.0), seed=seed)
        assert level <= 18 and refused <= 0.05, (seed, round(level, 1), round(refused, 3))


@BURST_LEARNT
def test_a_refusal_burst_mid_run_does_not_raise_the_background_for_the_rest_of_the_run() -> None:
    """MEDIUM. A run settled at a cap of 32, then 200 answers of a 60% refusal burst (a backend restarting:
    503s), then healthy again: the burst took the limit to 1-4, the run's new lowest levels, and their 30% is
    the background for the next ~10,000 answers (a 2,000-key run's whole rest): the run sits at 41-43 against
    the cap of 32 with 23% refused, where it went back to 31.8 with 0.2% refused before 0fedae3."""
    for seed in (1, 2, 3):
        _, _, (level, refused) = phases((4000, 32, 0.0), (200, 32, 0.6), (8000, 32, 0.0), seed=seed)
        assert level <= 34 and refused <= 0.05, (seed, round(level, 1), round(refused, 3))


@BURST_LEARNT
def test_a_flaky_start_then_a_healthy_portal_with_a_cap_is_not_overrun() -> None:
    """MEDIUM. 2,000 answers with 30% random refusals, then the portal is healthy but for a cap of 20: the run
    goes on at ~25 with 22-23% refused for 20,000 answers (before 0fedae3: 19.8, 0.4-0.7% refused)."""
    for seed in (1, 2):
        _, (level, refused) = phases((2000, 20, 0.3), (20000, 20, 0.0), seed=seed)
        assert level <= 22 and refused <= 0.05, (seed, round(level, 1), round(refused, 3))


@pytest.mark.xfail(strict=True, reason="known: at 20% random refusals the background is underestimated")
def test_a_fifth_of_random_refusals_does_not_hold_an_uncapped_run_at_half() -> None:
    """LOW (an improvement on before, 2 in flight, but the fix stops short). With 20% random refusals and no
    cap the run averages 24-54 of 64 by seed (15%: 28-64): the learnt background is low (0.15-0.18 for 0.20:
    stale refusals are skipped, their successes counted) and a window counts only healthy answers, so it holds
    ~b/(1-b)*limit refusals, not the b*limit the threshold expects."""
    for seed in (1, 2, 3):
        ((level, _),) = phases((8000, math.inf, 0.2), seed=seed)
        assert level >= 45, (seed, round(level, 1))


def _at_the_ceiling() -> tuple[Limiter, AdaptiveConcurrency]:
    """A controller past slow start, one below a ceiling that was refused (a portal's cap of 32)."""
    limiter = Limiter(1)
    ctl = AdaptiveConcurrency(limiter, initial=32, maximum=64, probe_windows=1)
    ctl.slow_start, ctl.ceiling = False, 33.0
    return limiter, ctl


def _healthy_window(limiter: Limiter, ctl: AdaptiveConcurrency) -> None:
    for _ in range(ctl.limit):
        limiter._used = ctl.limit
        ctl.observe(201, 0.05)


def test_a_run_probes_above_its_ceiling_until_its_last_seconds() -> None:
    """A refused probe waits out its Retry-After (1 s at the sandbox's cap): in a run's last seconds it could
    only end the run late. With 2 s of rows left at the run's pace it probes no more; before, it does."""
    limiter, ctl = _at_the_ceiling()
    ctl.rows_left(pending=1000, rows_per_second=300.0)  # 3.3 s to go
    _healthy_window(limiter, ctl)
    assert ctl.limit == 33  # probed
    limiter, ctl = _at_the_ceiling()
    ctl.rows_left(pending=500, rows_per_second=300.0)  # 1.7 s to go
    for _ in range(4):
        _healthy_window(limiter, ctl)
    assert ctl.limit == 32 and ctl.near_end and not ctl.hold


def test_a_run_in_its_last_seconds_still_climbs_to_its_known_good_level() -> None:
    """Only probes above the ceiling stop near the end: the +1 steps below it (back after a decrease) go on."""
    limiter, ctl = _at_the_ceiling()
    limiter.set_limit(28)
    ctl.rows_left(pending=500, rows_per_second=300.0)
    _healthy_window(limiter, ctl)
    assert ctl.limit == 29


def test_an_unknown_pace_does_not_end_probing_and_the_last_rounds_hold_every_level() -> None:
    limiter, ctl = _at_the_ceiling()
    ctl.rows_left(pending=200, rows_per_second=0.0)  # no pace yet: 200 rows are more than 4 rounds of 32
    assert not ctl.near_end and not ctl.hold
    ctl.rows_left(pending=100, rows_per_second=0.0)  # fewer than 4 rounds: no growth at all
    assert ctl.hold
    limiter.set_limit(28)
    _healthy_window(limiter, ctl)
    assert ctl.limit == 28


def test_a_pace_counts_the_rows_sent_since_sending_began_and_is_unknown_for_a_second() -> None:
    """A resumed run settles thousands of rows without a request before it sends one: they are no pace (at
    400,000 rows a second they would end the probing of a run with minutes to go). Nor is a first second's
    round of answers; and a fast run's pace is known however fast it is."""
    from tyk_migrate.run.progress import Pace

    pace = Pace(now=100.0, pending=500)  # 9,500 of 10,000 rows were settled before
    assert pace.rows_per_second(100.9, pending=400) == 0.0  # under a second: unknown
    assert pace.rows_per_second(102.0, pending=400) == 50.0
    fast = Pace(now=0.0, pending=10_000)
    assert fast.rows_per_second(3.0, pending=7_000) == 1000.0
