"""The outermost ASGI layer: request counters, latency and network faults for ``/portal-api`` and ``/api``.

It sits outside Starlette so it sees uvicorn's own ``send`` and can drop a connection for real:
uvicorn answers 500 when an app fails before responding, which is not what a lost connection looks
like, so a drop aborts the TCP transport instead and returns once uvicorn has noticed the disconnect.
Gateway and ``/__sandbox`` requests are counted but never delayed or faulted. The Dashboard part (``/api``)
gets the portal's latency and faults, except the ``cap``, which counts portal requests in flight.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .faults import FaultInjector
from .state import RequestStats

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PORTAL_PREFIX = "/portal-api"
DASHBOARD_PREFIX = "/api"
#: ``/api/keys/<key>`` -> ``/api/keys/{key}``: counters (and the admin surface) must never hold a key
_DASHBOARD_KEY = re.compile(r"^/api/keys/(?!detailed$).+", re.S)  # all of it: a key may hold an encoded /
RAW_SEND = "tyk_migrate.sandbox.raw_send"  # scope key: the server's send, set by SandboxApp
_ID_SEGMENT = re.compile(r"/[^/]*\d[^/]*(?=/|$)")

_PROXY_HTML = {
    502: b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    b"</center><hr><center>nginx</center></body></html>\n",
    503: b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 "
    b"Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>\n",
    504: b"<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out"
    b"</h1></center><hr><center>nginx</center></body></html>\n",
}


class ConnectionDropped(Exception):
    """Raised where no real socket exists (in-process ASGI tests) to stand for a dropped connection."""


def route_label(path: str) -> str:
    """Collapse IDs so counters stay bounded: ``/portal-api/apps/12`` -> ``/portal-api/apps/{id}``."""
    if path.startswith(PORTAL_PREFIX) or path.startswith("/__sandbox"):
        return _ID_SEGMENT.sub("/{id}", path.rstrip("/") or "/")
    if path.startswith("/gateway/"):
        return "/gateway/*"
    if path == DASHBOARD_PREFIX or path.startswith(DASHBOARD_PREFIX + "/"):
        return _DASHBOARD_KEY.sub("/api/keys/{key}", path.rstrip("/") or "/")
    return "other"


async def _send_simple(
    send: Send, status: int, body: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_errors(send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"errors": [message]}).encode()
    await _send_simple(send, status, body, b"application/json", extra)


async def drop_connection(send: Send) -> None:
    """Close the client's TCP connection without any answer (uvicorn: abort its transport)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionDropped("sandbox fault: connection dropped")
    transport.abort()
    for _ in range(50):  # let uvicorn see connection_lost so it does not try to answer 500
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0)


class SandboxMiddleware:
    def __init__(self, app: ASGIApp, injector: FaultInjector, stats: RequestStats) -> None:
        self.app = app
        self.injector = injector
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stats = self.stats
        path: str = scope["path"]
        portal = path == PORTAL_PREFIX or path.startswith(PORTAL_PREFIX + "/")
        dashboard = path == DASHBOARD_PREFIX or path.startswith(DASHBOARD_PREFIX + "/")
        status_box = [0]

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            await send(message)

        stats.total += 1
        stats.in_flight += 1
        stats.in_flight_peak = max(stats.in_flight_peak, stats.in_flight)
        if portal:
            stats.portal_in_flight += 1
            stats.portal_in_flight_peak = max(stats.portal_in_flight_peak, stats.portal_in_flight)
        try:
            if portal or dashboard:
                await self._portal(scope, receive, scope.get(RAW_SEND, send), counting_send, cap=portal)
            else:
                await self.app(scope, receive, counting_send)
        finally:
            stats.in_flight -= 1
            if portal:
                stats.portal_in_flight -= 1
            status = status_box[0] or "dropped"
            stats.by_route[f"{scope['method']} {route_label(path)} {status}"] += 1

    async def _portal(self, scope: Scope, receive: Receive, raw_send: Send, send: Send, cap: bool = True) -> None:
        injector, stats = self.injector, self.stats
        spec = injector.spec
        if cap and spec.cap is not None and stats.portal_in_flight > spec.cap:
            stats.faults["cap"] += 1
            await _send_errors(
                send, 429, f"too many requests in flight (sandbox cap {spec.cap})", [(b"retry-after", b"1")]
            )
            return
        kind, delay = injector.draw()
        if delay > 0:
            await asyncio.sleep(delay)
        if kind is None:
            await self.app(scope, receive, send)
            return
        stats.faults[kind] += 1
        if kind == "429":
            retry = str(spec.retry_after).encode()
            await _send_errors(send, 429, "rate limit exceeded", [(b"retry-after", retry)])
        elif kind == "429-no-retry":
            await _send_errors(send, 429, "rate limit exceeded")
        elif kind == "500":
            await _send_errors(send, 500, "internal server error (sandbox fault)")
        elif kind in ("502", "503"):
            await _send_simple(send, int(kind), _PROXY_HTML[int(kind)], b"text/html")
        elif kind == "drop":
            await drop_connection(raw_send)
        elif kind in ("lost", "lost-drop"):

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)  # the write commits; its answer goes nowhere
            if kind == "lost":
                await _send_simple(send, 504, _PROXY_HTML[504], b"text/html")
            else:
                await drop_connection(raw_send)
