"""``paging.walk_ahead``: a long list is walked with later pages sent before earlier answers are in, and reads
exactly what the page-by-page walk reads, in every paging mode the pager knows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tyk_migrate.calls import Call
from tyk_migrate.paging import Pager, walk_ahead


class FakeList:
    """A list endpoint paging as ``mode`` says (the modes of test_profiles_read.fake_list), answering after
    ``delay`` seconds; records every call sent and the most answered at once."""

    def __init__(self, total: int, mode: str = "honour", cap: int = 10**9, delay: float = 0.0) -> None:
        self.rows = [{"ID": i} for i in range(1, total + 1)]
        self.mode, self.cap, self.delay = mode, cap, delay
        self.sent: list[tuple[int, int]] = []
        self.in_flight = self.peak = 0

    def answer(self, page: int, per_page: int) -> list[dict[str, Any]]:
        size = min(per_page, self.cap)
        if self.mode == "honour":
            return self.rows[(page - 1) * size : page * size]
        if self.mode == "offset-by-asked":
            return self.rows[(page - 1) * per_page :][:size]
        if self.mode == "ignore":
            return self.rows
        if self.mode == "ignore-page":
            return self.rows[:size]
        raise AssertionError(self.mode)

    async def send(self, call: Call) -> Any:
        assert call.params is not None
        page, per_page = call.params["page"], call.params["per_page"]
        self.sent.append((page, per_page))
        assert len(self.sent) < 2000, "endless walk"
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return self.answer(page, per_page)
        finally:
            self.in_flight -= 1


def page_by_page(portal: FakeList, per_page: int = 100) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
    pager = Pager("/apps", per_page)
    while (call := pager.next_call()) is not None:
        pager.feed(asyncio.run(portal.send(call)))
    return pager.items, list(portal.sent)


@pytest.mark.parametrize(
    ("mode", "total", "cap"),
    [
        ("honour", 0, 10**9), ("honour", 7, 10**9), ("honour", 10, 10**9), ("honour", 100, 10**9),
        ("honour", 2500, 10**9), ("honour", 130, 50), ("honour", 1001, 25), ("honour", 137, 20),
        ("offset-by-asked", 430, 50), ("ignore", 60, 10**9), ("ignore", 230, 10**9), ("ignore", 60, 50),
        ("ignore-page", 230, 10**9), ("ignore-page", 100, 10**9),
    ],
)  # fmt: skip
def test_walking_ahead_reads_what_the_page_by_page_walk_reads(mode, total, cap):
    items, calls = page_by_page(FakeList(total, mode, cap))
    portal = FakeList(total, mode, cap)
    ahead = asyncio.run(walk_ahead(Pager("/apps", 100), portal.send, most=8))
    assert ahead == items  # the same rows, in the same order
    assert set(calls) <= set(portal.sent)  # every call the page-by-page walk needed, and a few more at most
    assert len(portal.sent) <= len(calls) + 8


def test_a_list_of_one_page_costs_one_request_and_a_long_one_few_rounds():
    short = FakeList(7, delay=0.01)
    asyncio.run(walk_ahead(Pager("/apps", 100), short.send, most=16))
    assert short.sent == [(1, 100)] and short.peak == 1
    # the sandbox seed's ten apps: page 1 could be a maximum, so page 2 at ten decides, and nothing more goes
    ten = FakeList(10, delay=0.01)
    asyncio.run(walk_ahead(Pager("/apps", 100), ten.send, most=16))
    assert ten.sent == [(1, 100), (2, 10)]
    long = FakeList(5000, delay=0.02)
    started = asyncio.run(_timed(walk_ahead(Pager("/apps", 100), long.send, most=16)))
    assert long.peak == 16 and len(long.sent) <= 51 + 16
    assert long.in_flight == 0  # pages sent past the end were answered (each answer reaches the client's hooks)
    assert started < 15 * 0.02  # 1, 2, 4, 8, then 16 at a time: about 8 rounds, not 51


async def _timed(walk: Any) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await walk
    return loop.time() - started


def test_a_failed_page_fails_the_walk_and_leaves_nothing_in_flight():
    portal = FakeList(3000, delay=0.01)
    original = portal.send

    async def failing(call: Call) -> Any:
        assert call.params is not None
        if call.params["page"] == 5:
            raise RuntimeError("page 5 refused")
        return await original(call)

    async def main() -> None:
        with pytest.raises(RuntimeError, match="page 5"):
            await walk_ahead(Pager("/apps", 100), failing, most=8)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not others and portal.in_flight == 0

    asyncio.run(main())


def test_a_most_below_one_walks_page_by_page():
    """break18d: ``most=0`` (a limit halved to nothing by a caller that did not clamp it) sent no page and
    failed with a KeyError; it walks one page at a time."""
    portal = FakeList(250)
    items = asyncio.run(walk_ahead(Pager("/apps", 100), portal.send, most=0))
    assert items == portal.rows and portal.sent == [(1, 100), (2, 100), (3, 100)]


def test_a_ceiling_that_drops_mid_walk_sends_fewer_ahead():
    """``most`` as a callable is asked before each round: a run whose limit falls (429s) stops a walk in
    progress from taking more than its new share of the slots."""
    portal, ceiling, at_send = FakeList(5000, delay=0.005), [8], []
    original = portal.send

    async def send(call: Call) -> Any:
        at_send.append(portal.in_flight + 1)  # counting this one
        answer = await original(call)
        if len(portal.sent) >= 12:
            ceiling[0] = 1
        return answer

    items = asyncio.run(walk_ahead(Pager("/apps", 100), send, most=lambda: ceiling[0]))
    assert len(items) == 5000 and max(at_send) > 1  # it did walk ahead while the ceiling was 8
    assert all(n == 1 for n in at_send[-30:])  # then one page at a time
