"""The run's pacer (pacing.py): requests spread out at a little above latency / limit, never held back before
the first answer, refusals and failures not taken for the portal's latency; and a slot taken while pacing is
given back when the wait is cancelled (run/gate.py)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tyk_migrate.concurrency import Limiter
from tyk_migrate.pacing import PACE_HEADROOM, Pacer
from tyk_migrate.run.gate import Gate, Stopped


def test_no_pacing_before_the_first_answer_then_latency_over_limit():
    limit = [4]
    pacer = Pacer(lambda: limit[0])
    assert pacer.interval == 0.0
    pacer.observe(200, 0.2)
    assert pacer.interval == pytest.approx(0.2 / 4 / (1 + PACE_HEADROOM))
    limit[0] = 8  # an adaptive limit that grew: twice as many in flight, half the spacing
    assert pacer.interval == pytest.approx(0.2 / 8 / (1 + PACE_HEADROOM))


def test_refusals_and_failures_are_not_the_portals_latency():
    pacer = Pacer(lambda: 1)
    for status in (None, 429, 500, 503):
        pacer.observe(status, 0.001)
    assert pacer.latency is None
    pacer.observe(201, 0.1)
    pacer.observe(429, 0.001)
    assert pacer.latency == pytest.approx(0.1)
    pacer.observe(201, 0.2)
    assert 0.1 < pacer.latency < 0.2  # an average of recent answers, not the last one


def test_a_slow_first_answer_does_not_hold_the_run_back():
    """A run's first answers are listings of apps, on a big portal far slower than the POSTs after them
    (break18c F2: 1 s listing pages kept 8 slots at 9 requests a second for seconds)."""
    pacer = Pacer(lambda: 8)
    pacer.observe(200, 1.0)  # a page of /apps
    for _ in range(8):
        pacer.observe(201, 0.02)
    assert pacer.latency < 0.03
    for _ in range(3):
        pacer.observe(201, 0.5)  # a few slow answers move it only a little
    assert pacer.latency < 0.1


def test_requests_go_out_evenly_spread():
    pacer = Pacer(lambda: 2)
    pacer.observe(200, 0.12)  # 0.05 s between requests

    async def five() -> list[float]:
        loop, times = asyncio.get_running_loop(), []
        for _ in range(5):
            await pacer.wait()
            times.append(loop.time())
        return times

    times = asyncio.run(five())
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= pacer.interval - 0.002 for gap in gaps), gaps  # timers have a millisecond's grain
    assert times[-1] - times[0] < 4 * pacer.interval + 0.05


def test_a_slot_taken_while_pacing_is_given_back_when_cancelled():
    async def scenario() -> int:
        gate = Gate(Limiter(1))
        gate.open()
        gate.pacer.observe(200, 10.0)  # a long spacing: the second request waits in the pacer
        async with gate.slot(new_write=True):
            pass
        waiting = asyncio.ensure_future(gate.slot(new_write=True).__aenter__())
        await asyncio.sleep(0.05)
        assert gate.limiter.in_use == 1  # it has the slot, and waits for its turn to send
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return gate.limiter.in_use

    assert asyncio.run(scenario()) == 0


def test_a_halt_while_a_follow_up_waits_in_the_pacer_sends_nothing():
    # a failed journal refuses everything at once (run/gate.py), follow-ups included: one that was waiting for
    # its turn to send (a delete of a wrong credential, a lookup) when the journal failed must not go out
    async def scenario() -> tuple[bool, int]:
        gate = Gate(Limiter(1))
        gate.open()
        gate.pacer.observe(200, 1.2)  # one second between two requests
        async with gate.slot(new_write=True):
            pass
        sent = False

        async def follow_up() -> None:
            nonlocal sent
            async with gate.slot(new_write=False):
                sent = True

        waiting = asyncio.ensure_future(follow_up())
        await asyncio.sleep(0.05)
        gate.halt("the journal cannot record")
        with pytest.raises(Stopped):
            await waiting
        return sent, gate.limiter.in_use

    assert asyncio.run(scenario()) == (False, 0)


def test_a_run_paces_by_its_writes_not_by_a_slow_listing(tmp_path):
    """Listing pages can take far longer than a POST on a big portal (break18c F2): the run's pacer learns only
    from answers to its writes."""
    from run_helpers import make_plan

    from tyk_migrate.config import Settings
    from tyk_migrate.run import Migration

    migration = Migration(make_plan(3), Settings(portal_url="http://127.0.0.1:9", token="t"), tmp_path / "j")
    hook = migration._hooked(None)
    hook("GET", "/apps", 200, 1.0)  # a page of the run's listing of apps
    hook("GET", "/apps/{id}/custom_credentials/{id}", 200, 0.9)
    assert migration.gate.pacer.latency is None
    hook("POST", "/apps", 201, 0.02)
    hook("DELETE", "/apps/{id}", 204, 0.03)
    assert migration.gate.pacer.latency == pytest.approx(0.0205)
