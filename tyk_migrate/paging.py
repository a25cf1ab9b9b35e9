"""``Pager``: walks a portal list endpoint to its end, whatever the portal does with ``page`` and ``per_page``.

Tyk documents ``page`` (from 1) and ``per_page`` (default 20) and says to walk until a short or empty
page, but also that "a few endpoints ignore these parameters", and documents no ``per_page`` maximum
(TYK-FACTS.md, "Revised facts"). So the pager trusts none of it blindly:

- **Ignored paging.** An endpoint that ignores ``page`` answers the same rows again. Every row is known
  by its ``ID``; rows seen before are never added twice, and a page that brings no new row ends the walk.
  That is also how "ignored paging" is told from "exactly ``per_page`` rows": on an endpoint that honours
  paging the list ends on an empty page 2, on one that ignores it page 2 repeats page 1. A repeated page
  that was *full* may still be the first rows of more (an endpoint that honours ``per_page`` but not
  ``page``), so the pager asks once more, for page 1 twice as large: nothing new ends the walk, new rows
  continue it. An endpoint that ignores ``page`` and serves at most N rows cannot be walked past N by
  any client; the pager then keeps those N.
- **A silent maximum.** A first page shorter than asked is either the whole list or the portal's own
  page size. When its length could be a configured maximum (5, or 10 and more), the walk goes on at that
  size: page 2 with ``per_page`` set to the length just served, so the offset is right
  whether the portal reckons it from the size asked or the size served. An empty or repeated answer then
  says the list was complete; a full one that it was not. Later pages end the walk when they come back
  shorter than that size. A short first page of 1-9 rows other than 5 ends the walk at once, so small
  lists, such as an app's few credentials, cost one request (a portal capping pages at 7 rows would
  not be walked past them: no such portal is known).
- **Envelopes.** A page is a bare JSON array or an object wrapping it (``{"data": [...]}``; ``/plans``
  answers either, depending on the portal version): both are read on every list.

The pager is pure: it builds the calls (``next_call``) and reads their answers (``feed``); the sync, async
and adaptive senders share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Any

from .calls import Call
from .errors import UnexpectedAnswer

#: the key of the wrapper object a list may come in (``GET /plans`` in the 1.13+ spec)
ENVELOPE = "data"
#: a short first page of at least this many rows, or of a multiple of ``ROUND_PAGE_SIZE``, may be the
#: portal's maximum rather than the end of the list
SMALLEST_ODD_MAXIMUM = 10
ROUND_PAGE_SIZE = 5


def page_items(body: Any, path: str, unwrap: str | None = None) -> list[dict[str, Any]]:
    """The rows of one list answer: a bare array or an object with a ``data`` (or ``unwrap``) array."""
    rows = body
    if isinstance(body, dict):
        for key in dict.fromkeys((unwrap or ENVELOPE, ENVELOPE)):
            if isinstance(body.get(key), list):
                rows = body[key]
                break
    if not isinstance(rows, list):
        raise UnexpectedAnswer(
            f"expected a JSON array or an object with a {(unwrap or ENVELOPE)!r} array", method="GET", path=path
        )
    if not all(isinstance(row, dict) for row in rows):
        raise UnexpectedAnswer("expected a JSON array of objects", method="GET", path=path)
    return rows


def row_identity(row: dict[str, Any]) -> Hashable:
    """What tells two list rows apart: the ``ID``, or the whole row for an object without one."""
    if "ID" in row and isinstance(row["ID"], str | int):
        return ("ID", row["ID"])
    return ("row", json.dumps(row, sort_keys=True, default=str))


def could_be_a_maximum(length: int) -> bool:
    """True when a short first page of ``length`` rows may be the portal's page size rather than the end.

    Any length from 10 up, and 5: a portal that served pages of 3 or 7 rows would be odd, while a list of
    3 or 7 rows (an app's credentials) is common, and each probe costs a request.
    """
    return length >= SMALLEST_ODD_MAXIMUM or (length > 0 and length % ROUND_PAGE_SIZE == 0)


class Pager:
    """One walk over a list endpoint. ``items`` holds every row once, in the order first served."""

    def __init__(self, path: str, per_page: int, unwrap: str | None = None) -> None:
        self.path, self.unwrap = path, unwrap
        self.per_page = per_page  # what the next request asks for: the portal's own size once known
        self.items: list[dict[str, Any]] = []
        self._seen: set[Hashable] = set()
        self._page = 1
        self._done = False
        self._full = 0

    def next_call(self) -> Call | None:
        """The next request, or None when the walk is over."""
        return self._call(0)

    def ahead(self, pages: int) -> list[Call]:
        """The next ``pages`` requests, if every page until then comes back full of new rows: what a walk may
        send before the earlier answers are in (``walk_ahead``). Only ``next_call`` is ever fed."""
        calls = [self._call(i) for i in range(max(0, pages))]
        return [c for c in calls if c is not None]

    def _call(self, later: int) -> Call | None:
        if self._done:
            return None
        return Call("GET", self.path, params={"page": self._page + later, "per_page": self.per_page})

    @property
    def full_pages(self) -> int:
        """Pages in a row that came back full of new rows at the size asked now: a long list shows itself so."""
        return self._full

    @property
    def page(self) -> int:
        """The page ``next_call`` asks for."""
        return self._page

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, body: Any) -> None:
        """Read the answer to the last ``next_call``."""
        rows = page_items(body, self.path, self.unwrap)
        added = 0
        for row in rows:
            identity = row_identity(row)
            if identity not in self._seen:
                self._seen.add(identity)
                self.items.append(row)
                added += 1
        full = len(rows) >= self.per_page
        if not added:  # nothing new: the list ended, or the endpoint ignores page and served the same rows
            if rows and full and self._page > 1:
                # A full page served again may be all there is or the first rows of more (an endpoint that
                # honours per_page but not page): one request for a page twice as large tells them apart.
                self.per_page, self._page, self._full = self.per_page * 2, 1, 0
            else:
                self._done = True
            return
        if not full:
            if self._page == 1 and could_be_a_maximum(len(rows)):
                self.per_page = len(rows)  # maybe the portal's maximum: walk on at the size it serves
            else:
                self._done = True
                return
        self._full = self._full + 1 if full else 0
        self._page += 1


Send = Callable[[Call], Awaitable[Any]]
#: at most how many pages in flight: a number, or asked again before each round (a limit that moves)
Most = int | Callable[[], int]
#: how the async client's walks in this task send their pages (``pages_sent_by``); unset: one by one, its own way
_PAGES_SENT_BY: contextvars.ContextVar[tuple[Send, Most] | None] = contextvars.ContextVar("pages_sent_by", default=None)


@contextlib.contextmanager
def pages_sent_by(send: Send, *, most: Most) -> Iterator[None]:
    """Within the block, the async client's walks started by this task send each page through ``send`` (a run
    gives each page its own slot and retries) and walk ahead, at most ``most`` pages at once."""
    token = _PAGES_SENT_BY.set((send, most))
    try:
        yield
    finally:
        _PAGES_SENT_BY.reset(token)


async def walk_pages(pager: Pager, send: Send) -> list[dict[str, Any]]:
    """The async client's walk: page by page through ``send``, or as ``pages_sent_by`` says."""
    via = _PAGES_SENT_BY.get()
    if via is not None:
        return await walk_ahead(pager, via[0], most=via[1])
    while (call := pager.next_call()) is not None:
        pager.feed(await send(call))
    return pager.items


async def walk_ahead(
    pager: Pager, send: Send, *, most: Most, on_page: Callable[[list[dict[str, Any]]], None] | None = None
) -> list[dict[str, Any]]:
    """Walk ``pager`` to its end with up to ``most`` pages in flight once the list shows itself long.

    After each full page the walk asks for twice as many pages at once (1, 2, 4 … ``most``), each the call
    the pager would make next if the pages before it come back full. An answer is only ever fed to the call
    the pager then asks for, so the walk reads what a page-by-page walk would (sent a little earlier); calls
    it turns out not to need (past the end of the list, or after a short page changed the size asked) are
    answered and dropped (cancelled only when the walk fails). A list of one page costs one request, as
    before; a 5,000-app portal about 8 rounds instead of 51.
    ``on_page`` gets each page's new rows, in order, as soon as they are fed. ``most`` may be a callable,
    asked before each round: a walk under a limit that drops (429s) then sends fewer ahead.
    """
    sent: dict[tuple[Any, ...], asyncio.Task[Any]] = {}
    spare: list[asyncio.Task[Any]] = []  # sent ahead and not needed: their answers are read, then dropped
    try:
        while (call := pager.next_call()) is not None:
            ceiling = most() if callable(most) else most
            window = max(1, min(ceiling, 2 ** min(pager.full_pages, 16)))  # the call asked for always goes out
            for later in pager.ahead(window):
                if _key(later) not in sent:
                    sent[_key(later)] = asyncio.ensure_future(send(later))
            answer = await sent.pop(_key(call))
            seen = len(pager.items)
            pager.feed(answer)
            if on_page is not None and len(pager.items) > seen:
                on_page(pager.items[seen:])
            spare += [sent.pop(k) for k in [k for k in sent if not _still_wanted(k, pager)]]
    except BaseException:
        for task in [*sent.values(), *spare]:
            task.cancel()  # the walk failed or was cancelled: nothing more of it is waited for
        raise
    finally:
        # a page sent ahead is answered like any other (each answer reaches the client's hooks and meters)
        await asyncio.gather(*sent.values(), *spare, return_exceptions=True)
    return pager.items


def _key(call: Call) -> tuple[Any, ...]:
    return (call.method, call.path, tuple(sorted((call.params or {}).items())))


def _still_wanted(key: tuple[Any, ...], pager: Pager) -> bool:
    """A call sent ahead is still one the pager may ask for: a later page at the size it asks now."""
    params = dict(key[2])
    return not pager.done and params.get("per_page") == pager.per_page and params.get("page", 0) >= pager.page
