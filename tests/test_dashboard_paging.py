"""Walking a Dashboard listing that misbehaves: a huge page count, a Dashboard ignoring ``p``, bounded reads."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tyk_migrate.aio import run_sync
from tyk_migrate.concurrency import AdaptiveReads
from tyk_migrate.config import Settings
from tyk_migrate.dashboard import KEYS_PATH, MAX_PAGES, AsyncDashboardClient, load_from_dashboard_async, walk_pages
from tyk_migrate.dashboard_link import DashboardLink
from tyk_migrate.errors import DashboardError, UnexpectedAnswer

SETTINGS = Settings(dashboard_url="http://127.0.0.1:9", dashboard_token="t")


def entry(i: int) -> dict[str, Any]:
    return {"key_id": f"pagedkey{i:08d}", "key_hash": "", "data": {"meta_data": {"email": "a@b.example"}}}


class FakeDashboard:
    """Answers ``/api/keys/detailed``: ``pages`` announced, ``honour_p`` or page 1 again; counts what is asked."""

    def __init__(self, keys: int, pages: int | None, honour_p: bool = True, delay: float = 0.002) -> None:
        self.keys, self.pages, self.honour_p, self.delay = keys, pages, honour_p, delay
        self.asked: list[int] = []
        self.in_flight = self.most_in_flight = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/keys/detailed"):
            return httpx.Response(404, json={"Status": "Error", "Message": "no Classic Portal"})
        page = int(request.url.params.get("p", "1"))
        self.asked.append(page)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        at = (page - 1 if self.honour_p else 0) * 10
        body: dict[str, Any] = {"keys": [entry(i) for i in range(at, min(at + 10, self.keys))]}
        if self.pages is not None:
            body["pages"] = self.pages
        return httpx.Response(200, json=body)


def with_fake(fake: FakeDashboard, work: Callable[[AsyncDashboardClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        client = AsyncDashboardClient(SETTINGS, transport=httpx.MockTransport(fake.handle))
        try:
            return await work(client)
        finally:
            await client.aclose()

    return run_sync(main)


def walk(fake: FakeDashboard, concurrency: int = 4, **kw: Any) -> list[dict[str, Any]]:
    async def work(client: AsyncDashboardClient) -> list[dict[str, Any]]:
        async with AdaptiveReads(client, concurrency=concurrency) as reads:
            return await walk_pages(reads, KEYS_PATH, "keys", "pages", lambda e: e["key_id"], **kw)

    return with_fake(fake, work)


def test_an_absurd_page_count_is_one_line_naming_the_host_before_any_other_page() -> None:
    fake = FakeDashboard(keys=1, pages=10**9)
    link = DashboardLink(SETTINGS)
    with pytest.raises(DashboardError) as caught:
        link.guarded(lambda: with_fake(fake, load_from_dashboard_async))
    text = str(caught.value)
    assert text.startswith("Dashboard 127.0.0.1:9: GET /api/keys/detailed") and "\n" not in text
    assert "1000000000" in text and str(MAX_PAGES) in text
    assert fake.asked == [1]


def test_pages_are_read_a_few_at_a_time_in_page_order() -> None:
    fake = FakeDashboard(keys=395, pages=40)
    keys = walk(fake, concurrency=4)
    assert [k["key_id"] for k in keys] == [entry(i)["key_id"] for i in range(395)]
    assert sorted(fake.asked) == list(range(1, 41))
    assert fake.most_in_flight <= 4


def test_a_dashboard_ignoring_p_is_read_a_few_pages_not_all_it_announces() -> None:
    fake = FakeDashboard(keys=10, pages=MAX_PAGES, honour_p=False)
    keys = walk(fake, concurrency=4)
    assert len(keys) == 10
    assert len(fake.asked) <= 1 + 4  # page 1, then each worker's repeat of it at most


def test_a_listing_without_a_count_is_walked_to_its_empty_page_and_no_further_than_the_ceiling() -> None:
    fake = FakeDashboard(keys=25, pages=None)
    assert len(walk(fake)) == 25 and fake.asked == [1, 2, 3, 4]
    endless = FakeDashboard(keys=10**9, pages=None, delay=0)
    with pytest.raises(UnexpectedAnswer, match="more than the 30 pages") as caught:
        walk(endless, max_pages=30)
    assert len(endless.asked) == 30 and "\n" not in str(caught.value)
