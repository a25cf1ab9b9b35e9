"""``/api`` routes: the part of the Tyk Dashboard API a key migration reads (``dashboard-api.openapi.yml``).

- ``GET /api/keys/detailed?p=N[&q=text]``: every key of the gateway's table (legacy sessions and the keys of
  Tyk-managed credentials), ``{"keys": [KeyData], "pages": N}``, ``PAGE_SIZE`` a page; ``p`` from 1 (absent:
  1), a negative ``p`` answers every key on one page, as the file says of its other listings.
- ``GET /api/keys/{key}``: a key's ``KeyData`` by value; with ``hashed`` (any non-empty value) the path holds
  the hash instead, which answers 400 while hashing is off (as the gateway's ``handleGetDetail``).
- ``GET /api/portal/developers?p=N``: the Classic Portal's developers, ``{"Data": [...], "Pages": N}``.

Auth is the Dashboard's own token (``Authorization: <token>``, ``SandboxConfig.dashboard_token``), not the
portal's. Refusals answer the file's ``ApiResponse`` (``{"Status": "Error", "Message": ..., "Meta": null}``).
Hashing follows the ``key-hashing`` knob: off lists raw keys; otherwise ``key_id`` is the hash Tyk would store
the key under (``tyk_hash``), so no raw key leaves, and a lookup by value still works (the Dashboard hashes it).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import legacy
from .state import Obj, SandboxState
from .world import LiveBehaviour

PAGE_SIZE = 10  # the Dashboard's default page_size


def api_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"Status": "Error", "Message": message, "Meta": None}, status_code=status)


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message
        super().__init__(message)


def _page(request: Request, items: list[Any]) -> tuple[list[Any], int]:
    """One page of ``items`` and the page count, by ``p``."""
    text = request.query_params.get("p", "").strip()
    try:
        page = int(text) if text else 1
    except ValueError:
        raise _Refused(400, "p must be an integer") from None
    pages = max(1, -(-len(items) // PAGE_SIZE))
    if page < 0:
        return items, 1
    start = (max(page, 1) - 1) * PAGE_SIZE
    return items[start : start + PAGE_SIZE], pages


class DashboardAPI:
    def __init__(self, state: SandboxState, token: str, behaviour: LiveBehaviour) -> None:
        self.state = state
        self.token = token
        self.behaviour = behaviour
        self._hashes: tuple[str, dict[str, str]] = ("", {})  # (hashing, {hash: KeyID}), rebuilt on a miss

    def routes(self) -> list[Route]:
        h = self._handler
        return [
            Route("/keys/detailed", h(self.list_keys), methods=["GET"]),
            Route("/keys/{key}", h(self.get_key), methods=["GET"]),
            Route("/portal/developers", h(self.list_developers), methods=["GET"]),
        ]

    def _handler(self, func: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        token = self.token.encode()

        async def endpoint(request: Request) -> Response:
            given = request.headers.get("authorization", "").encode()
            if not given or not hmac.compare_digest(given, token):
                return api_error(401, "Not authorised")
            try:
                return await func(request)
            except _Refused as exc:
                return api_error(exc.status, exc.message)

        endpoint.__name__ = func.__name__
        return endpoint

    @property
    def hashing(self) -> str:
        return self.behaviour.current.key_hashing

    def key_data(self, row: Obj) -> Obj:
        return legacy.key_data(self.state, row, self.hashing)

    async def list_keys(self, request: Request) -> Response:
        rows = list(self.state.gateway.values())
        text = request.query_params.get("q", "")
        if text:  # the listed key_id contains the text (the hash, with hashing on)
            entries = [e for e in (self.key_data(row) for row in rows) if text in e["key_id"]]
            page, pages = _page(request, entries)
        else:  # hashes computed for one page only
            shown, pages = _page(request, rows)
            page = [self.key_data(row) for row in shown]
        return JSONResponse({"keys": page, "pages": pages})

    def _by_hash(self, key_hash: str) -> Obj | None:
        hashing, index = self._hashes
        key = index.get(key_hash) if hashing == self.hashing else None
        row = self.state.gateway.get(key) if key is not None else None
        if row is None or legacy.key_hash(self.state, row, self.hashing) != key_hash:
            index = {legacy.key_hash(self.state, r, self.hashing): k for k, r in self.state.gateway.items()}
            self._hashes = (self.hashing, index)
            key = index.get(key_hash)
            row = self.state.gateway.get(key) if key is not None else None
        return row

    async def get_key(self, request: Request) -> Response:
        given = request.path_params["key"]
        if request.query_params.get("hashed", ""):
            if self.hashing == "off":
                raise _Refused(400, "Key requested by hash but key hashing is not enabled")
            row = self._by_hash(given)
        else:
            row = self.state.gateway.get(given)
        if row is None:
            raise _Refused(404, "Could not retrieve key detail.")
        return JSONResponse(self.key_data(row))

    async def list_developers(self, request: Request) -> Response:
        page, pages = _page(request, self.state.developers)
        return JSONResponse({"Data": page, "Pages": pages})
