"""The adaptive concurrency controller on its own: how fast it settles under a portal's concurrency cap."""

from __future__ import annotations

from itertools import pairwise

from tyk_migrate.concurrency import AdaptiveConcurrency, Limiter


def settle(cap: int, answers: int = 3000) -> list[int]:
    """The limit after each answer from a portal that refuses (429) more than ``cap`` requests in flight."""
    limiter = Limiter(1)
    ctl = AdaptiveConcurrency(limiter, initial=8, maximum=64)
    limits = []
    for _ in range(answers):
        limiter._used = ctl.limit
        ctl.observe(429 if ctl.limit > cap else 200, 0.05)
        limits.append(ctl.limit)
    return limits


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
