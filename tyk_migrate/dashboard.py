"""The optional Tyk Dashboard connection: a source of legacy keys, and each key's live session in the gateway.

``AsyncDashboardClient`` is the portal client's core (``portal.py``: ``Call``, the sender, the error tree,
``RetryPolicy``) pointed at the Dashboard (``TYK_DASHBOARD_URL``, ``Authorization: TYK_DASHBOARD_TOKEN``), and
every read goes through ``AdaptiveReads`` (``concurrency.py``) as the portal's do: fewer in flight on 429/503,
each refused read retried after its ``Retry-After`` or a backoff.

- ``load_from_dashboard(settings)``: ``GET /api/keys/detailed`` page by page (``p`` from 1, ``pages`` in the
  answer) and the Classic Portal's developers (``GET /api/portal/developers``) for owner emails, into the
  legacy frame by the Dashboard-dump loader (``sources.tyk_dashboard``), so a live Dashboard and a file of the
  same answer give the same frame. A Dashboard with key hashing on lists hashes only: those rows are marked
  ``key_hash_only`` and validation rejects each with what to do (``validate_hashed``).
- ``lookup_sessions``: one key's session at a time, concurrently, by value (``GET /api/keys/{key}``: the
  Dashboard hashes it itself) or by hash (``GET /api/keys/{hash}?hashed=true``, the hash computed as Tyk does:
  ``tyk_hash``). Used by ``dashboard_enrich`` and ``dashboard_live``.

A raw key travels in the URL path of a lookup by value, where proxies and access logs may record it: name the
gateway's hash function (``hash_function=``) to send hashes instead. Errors and metrics show the path as
``/api/keys/{key}``, never the key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import quote

import pandas as pd

from .aio import run_sync
from .concurrency import AdaptiveReads
from .config import Settings
from .errors import ConfigError, NotFound, Rejected, UnexpectedAnswer
from .portal import AsyncPortalClient, Call
from .secrets import KeyValue, SecretKey, reveal
from .sources.tyk_dashboard import developer_index, load_dashboard
from .tyk_hash import hash_setting, lookup_hashes

KEYS_PATH = "/api/keys/detailed"
DEVELOPERS_PATH = "/api/portal/developers"
KEY_SLOT = "{key}"
HASH_SLOT = "{hash}"
T = TypeVar("T")


@dataclass(frozen=True)
class KeyCall(Call):
    """A call whose path names a key (or its hash) by a slot; the value goes only into the URL it sends."""

    key: KeyValue | None = field(default=None, repr=False)


class AsyncDashboardClient(AsyncPortalClient):
    """The portal client's core with the Dashboard's address and token. Use the calls of this module with it
    (``reads.send(key_call(k))``); the portal operations it inherits have no meaning on a Dashboard."""

    def __init__(self, settings: Settings | None = None, **kw: Any) -> None:
        super().__init__(settings=settings or Settings.from_env(), **kw)

    def _endpoint(self) -> tuple[str, str]:
        return self.settings.require_dashboard()

    def _target(self, call: Call) -> tuple[str, dict[str, str], bytes | None]:
        if isinstance(call, KeyCall) and call.key is not None:
            value = quote(reveal(call.key), safe="")
            call = replace(call, path=call.path.replace(KEY_SLOT, value).replace(HASH_SLOT, value))
        return super()._target(call)


def key_call(key: KeyValue) -> KeyCall:
    """``GET /api/keys/{key}``: the session of a raw key (the Dashboard hashes it when hashing is on)."""
    return KeyCall("GET", "/api/keys/" + KEY_SLOT, key=key, secrets=(key,))


def hash_call(key_hash: str) -> KeyCall:
    """``GET /api/keys/{hash}?hashed=true``: the session stored under a hash; no raw key on the wire."""
    return KeyCall("GET", "/api/keys/" + HASH_SLOT, params={"hashed": "true"}, key=key_hash)


# ---------------------------------------------------------------------------------------------- listings


def _page_items(body: Any, path: str, items: str, pages: str) -> tuple[list[dict[str, Any]], int | None]:
    if not isinstance(body, dict) or not isinstance(body.get(items) or [], list):
        raise UnexpectedAnswer(f"expected an object with a {items!r} list", method="GET", path=path)
    total = body.get(pages)
    rows = [r for r in body.get(items) or [] if isinstance(r, dict)]
    return rows, total if isinstance(total, int) and not isinstance(total, bool) else None


#: The most pages a Dashboard listing is read to: 200,000 pages are 2 million keys at the Dashboard's default
#: 10 a page. A page count above it is a Dashboard answering nonsense, refused before a page more is asked.
MAX_PAGES = 200_000


def _too_many(path: str, pages: str, said: object, most: int) -> UnexpectedAnswer:
    return UnexpectedAnswer(
        f"the listing says {pages!r}: {said}, more than the {most} pages tyk-migrate reads "
        "(is this a Tyk Dashboard, and is its answer right?)",
        method="GET",
        path=path,
    )


async def walk_pages(
    reads: AdaptiveReads,
    path: str,
    items: str,
    pages: str,
    identity: Callable[[dict[str, Any]], object],
    *,
    max_pages: int = MAX_PAGES,
) -> list[dict[str, Any]]:
    """Every item of a Dashboard listing (``?p=N``, the answer says how many ``pages``), each once, in page order.

    Page 1 tells the page count; the other pages are read by at most the reads' concurrency at a time (one
    coroutine per page in flight, never one per page announced). A page that brings no new item ends the
    walk: an empty page past the end, or a page of items already seen (a Dashboard ignoring ``p``). An answer
    without a page count is walked one page at a time until then. A count above ``max_pages``, or a walk
    without a count that goes past it, is one ``UnexpectedAnswer`` (the caller names the host).
    """
    first, total = _page_items(await reads.send(Call("GET", path, params={"p": 1})), path, items, pages)
    if total is not None and total > max_pages:
        raise _too_many(path, pages, total, max_pages)
    seen = {identity(r) for r in first}
    by_page: dict[int, list[dict[str, Any]]] = {1: first}
    last = max_pages if total is None else total
    state = {"next": 2, "ended": total is None and not first}  # no count and nothing: the list is empty

    async def worker() -> None:
        while not state["ended"] and state["next"] <= last:
            page = state["next"]
            state["next"] = page + 1
            rows = _page_items(await reads.send(Call("GET", path, params={"p": page})), path, items, pages)[0]
            fresh = {identity(r) for r in rows} - seen
            if not fresh:
                state["ended"] = True  # past the end, or p ignored: later pages would say no more
                continue
            seen.update(fresh)
            by_page[page] = rows

    # without a count, reading ahead would only ask for pages past the end
    workers = 1 if total is None else min(reads.controller.maximum, max(total - 1, 0))
    await reads.gather(*(worker() for _ in range(workers)))
    if total is None and not state["ended"]:
        raise _too_many(path, pages, f"none, and page {max_pages} was not the last", max_pages)
    out: dict[object, dict[str, Any]] = {}
    for page in sorted(by_page):
        for row in by_page[page]:
            out.setdefault(identity(row), row)
    return list(out.values())


async def list_keys(reads: AdaptiveReads) -> list[dict[str, Any]]:
    """``GET /api/keys/detailed``, every page: ``[{"key_id", "key_hash", "data", "api_model"}]``."""
    return await walk_pages(reads, KEYS_PATH, "keys", "pages", lambda e: (e.get("key_id"), e.get("key_hash")))


async def list_developers(reads: AdaptiveReads) -> list[dict[str, Any]] | None:
    """The Classic Portal's developers, every page; None when the Dashboard has no Classic Portal (404)."""
    try:
        return await walk_pages(reads, DEVELOPERS_PATH, "Data", "Pages", lambda d: d.get("id"))
    except NotFound:
        return None


def developers_by_id(developers: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
    return None if developers is None else developer_index({"Data": developers}, "Dashboard developers")


async def load_from_dashboard_async(
    client: AsyncDashboardClient, *, concurrency: int = 16, email_field: str = "email", report: list | None = None
) -> pd.DataFrame:
    """The legacy frame of every key the Dashboard lists (see ``load_from_dashboard``)."""
    async with AdaptiveReads(client, concurrency=concurrency) as reads:
        keys, developers = await reads.gather(list_keys(reads), list_developers(reads))
    if report is not None:
        shown = "none (no Classic Portal)" if developers is None else str(len(developers))
        report.append(f"Dashboard {client.base_url}: {len(keys)} key(s), Classic Portal developers: {shown}")
    return load_dashboard(
        {"keys": keys},
        source="Dashboard",
        developers=developers_by_id(developers),
        email_field=email_field,
        report=report,
    )


def with_client(settings: Settings | None, work: Callable[[AsyncDashboardClient], Awaitable[T]]) -> T:
    """Run ``work`` with a Dashboard client of our own, from blocking code (a notebook cell too)."""
    resolved = settings or Settings.from_env()
    resolved.require_dashboard()  # a missing URL or token is one line before any thread or socket

    async def main() -> T:
        client = AsyncDashboardClient(resolved)
        try:
            return await work(client)
        finally:
            await client.aclose()

    return run_sync(main)


def load_from_dashboard(
    settings: Settings | None = None, *, concurrency: int = 16, email_field: str = "email", report: list | None = None
) -> pd.DataFrame:
    """Every key the Dashboard lists as the legacy frame, as ``load_keys`` gives for a file of the same answer.

    Owners' emails come from the session's ``meta_data`` (``email_field`` first) or, through
    ``meta_data.tyk_developer_id``, from the Classic Portal's developers. With key hashing on, the listing holds
    hashes only: such rows are kept, marked ``key_hash_only``, and ``validate_keys`` rejects each one saying
    why it cannot be migrated by value and what to do.
    """
    return with_client(
        settings,
        lambda c: load_from_dashboard_async(c, concurrency=concurrency, email_field=email_field, report=report),
    )


# ---------------------------------------------------------------------------------------------- lookups


@dataclass(frozen=True)
class Lookup:
    """One key's answer: its ``KeyData`` (``{"key_id", "key_hash", "data"}``) when the Dashboard found it."""

    entry: dict[str, Any] | None = None
    via: str = ""  # "key" (by value) or "hash" (by one of its hashes), when found

    @property
    def found(self) -> bool:
        return self.entry is not None


@dataclass(frozen=True)
class KeyLookup:
    """How keys are looked up: by value (default), or by hash when ``hash_function`` names the gateway's
    ``hash_key_function`` (``tyk_hash.HASH_SETTINGS``), which then needs the Dashboard's ``org_id``."""

    hash_function: str | None = None
    org_id: str | None = None

    def __post_init__(self) -> None:
        if self.hash_function is None:
            return
        object.__setattr__(self, "hash_function", hash_setting(self.hash_function))
        if not (self.org_id or "").strip():
            raise ConfigError(
                "a lookup by hash needs the Dashboard's org ID (--dashboard-org): custom keys are hashed with it"
            )

    @property
    def by_hash(self) -> bool:
        return self.hash_function is not None

    async def one(self, reads: AdaptiveReads, key: KeyValue) -> Lookup:
        if not self.by_hash:
            try:
                return Lookup(_entry(await reads.send(key_call(key)), "/api/keys/" + KEY_SLOT), "key")
            except NotFound:
                return Lookup()
        for candidate in lookup_hashes(reveal(key), str(self.org_id).strip(), str(self.hash_function)):
            try:
                return Lookup(_entry(await reads.send(hash_call(candidate)), "/api/keys/" + HASH_SLOT), "hash")
            except NotFound:
                continue
            except Rejected as exc:
                raise ConfigError(
                    f"the Dashboard refused a lookup by hash ({exc}): key hashing may be off there; look keys up "
                    "by value (leave out --dashboard-hash)"
                ) from None
        return Lookup()


def _entry(body: Any, path: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise UnexpectedAnswer('expected a key\'s KeyData {"data": {...}}', method="GET", path=path)
    return body


async def each(items: Sequence[T], work: Callable[[T], Awaitable[Any]], workers: int) -> list[Any]:
    """``work`` over ``items`` by at most ``workers`` coroutines (not one task per item: exports are large)."""
    results: list[Any] = [None] * len(items)
    todo = iter(enumerate(items))

    async def worker() -> None:
        for i, item in todo:
            results[i] = await work(item)

    await AdaptiveReads.gather(*(worker() for _ in range(min(max(1, workers), len(items)))))
    return results


async def lookup_sessions(
    reads: AdaptiveReads, keys: Iterable[KeyValue | None], how: KeyLookup, *, workers: int = 16
) -> list[Lookup]:
    """Per key (in order), its session in the Dashboard; each distinct key is asked once, empty ones never."""
    raws = [reveal(k) if isinstance(k, str | SecretKey) else "" for k in keys]
    distinct: dict[str, KeyValue] = {}
    for raw, key in zip(raws, keys, strict=True):
        if raw and key is not None:
            distinct.setdefault(raw, key)
    order = list(distinct)
    found = await each(order, lambda raw: how.one(reads, distinct[raw]), workers)
    by_raw = dict(zip(order, found, strict=True))
    return [by_raw.get(raw, Lookup()) for raw in raws]
