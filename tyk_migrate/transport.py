"""A lean HTTP/1.1 transport for httpx, for the runner's many small concurrent requests.

Why: httpcore's connection pool spends milliseconds of CPU per request once a few dozen requests are in
flight (it rescans every connection for every request: encode/httpx#3215), which caps a migration far
below what the portal allows. This transport keeps a plain LIFO stack of idle keep-alive connections per
origin, writes each request in one ``write`` and parses the answer with ``asyncio`` streams: tens of
microseconds per request. It plugs into ``httpx.AsyncClient(transport=...)``, so every httpx feature above
the transport (base URL, headers, timeouts as set here, JSON) stays as it is.

Scope, on purpose: HTTP/1.1 over TCP or TLS, no proxies (``lean_transport`` returns None when one is
configured, and callers then keep httpx's own transport), no HTTP/2, no request streaming (bodies are
JSON). Failures are raised as httpx transport errors (``ConnectError``, ``ReadError``, ``ReadTimeout`` …)
so callers see exactly what they would see with the default transport.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import httpx

_IDLE_SECONDS = 4.0  # reuse an idle connection only this long (uvicorn closes after 5 s by default)


def lean_transport(url: str, *, verify: ssl.SSLContext | bool, timeout: float) -> LeanTransport | None:
    """A ``LeanTransport`` for ``url``, or None when the environment routes that URL through a proxy
    (``HTTPS_PROXY`` and friends): httpx's own transport honours those, this one does not."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if (proxies.get(parts.scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return LeanTransport(verify=verify, timeout=timeout)


class _Conn:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = 0.0

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken socket must not raise
            self.writer.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncClient(transport=LeanTransport(verify=..., timeout=...))``."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_idle: int = 128,
    ) -> None:
        if verify is True:
            self._ssl: ssl.SSLContext | None = ssl.create_default_context()
        elif verify is False:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self._ssl = ctx
        else:
            self._ssl = verify
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self._idle: dict[tuple[str, str, int], collections.deque[_Conn]] = {}
        self._closed = False

    async def aclose(self) -> None:
        self._closed = True
        for stack in self._idle.values():
            while stack:
                stack.pop().close()
        self._idle.clear()

    # -- connections ------------------------------------------------------------------------------
    def _take(self, origin: tuple[str, str, int]) -> _Conn | None:
        stack = self._idle.get(origin)
        now = time.monotonic()
        while stack:
            conn = stack.pop()
            if now - conn.idle_since < _IDLE_SECONDS and not conn.reader.at_eof():
                return conn
            conn.close()
        return None

    def _give_back(self, origin: tuple[str, str, int], conn: _Conn) -> None:
        stack = self._idle.setdefault(origin, collections.deque())
        if self._closed or len(stack) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        stack.append(conn)

    async def _connect(self, origin: tuple[str, str, int], request: httpx.Request) -> _Conn:
        scheme, host, port = origin
        tls = self._ssl if scheme == "https" else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=tls, server_hostname=host if tls else None, limit=2**20),
                self.connect_timeout,
            )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connect timeout to {host}:{port}", request=request) from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}", request=request) from exc
        return _Conn(reader, writer)

    # -- one exchange -----------------------------------------------------------------------------
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, url.host, port)
        body = await request.aread()
        head = self._head(request, body)
        conn = self._take(origin)
        if conn is None:
            conn = await self._connect(origin, request)
        try:
            conn.writer.write(head + body if body else head)
            status, headers, content, keep = await asyncio.wait_for(self._read(conn.reader, request), self.timeout)
        except TimeoutError as exc:
            conn.close()
            raise httpx.ReadTimeout("no answer in time", request=request) from exc
        except httpx.TransportError:
            conn.close()
            raise
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            conn.close()
            raise httpx.ReadError(f"connection broken: {type(exc).__name__}", request=request) from exc
        except BaseException:
            conn.close()
            raise
        if keep:
            self._give_back(origin, conn)
        else:
            conn.close()
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content), request=request)

    @staticmethod
    def _head(request: httpx.Request, body: bytes) -> bytes:
        url = request.url
        target = url.raw_path.decode("ascii")
        lines = [f"{request.method} {target} HTTP/1.1".encode("ascii")]
        has_length = False
        for name, value in request.headers.raw:
            lower = name.lower()
            if lower == b"accept-encoding":
                continue  # identity: nothing to decode, nothing to guess
            if lower == b"content-length":
                has_length = True
            lines.append(name + b": " + value)
        if body and not has_length:
            lines.append(b"Content-Length: " + str(len(body)).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n"

    @staticmethod
    async def _read(reader: asyncio.StreamReader, request: httpx.Request) -> tuple[int, list[Any], bytes, bool]:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise httpx.RemoteProtocolError("not an HTTP answer", request=request)
        version, status = parts[0], int(parts[1])
        headers: list[tuple[str, str]] = []
        length: int | None = None
        chunked = False
        keep = version == "HTTP/1.1"
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            value = value.strip()
            headers.append((name, value))
            lower = name.lower()
            if lower == "content-length":
                length = int(value)
            elif lower == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif lower == "connection":
                token = value.lower()
                keep = "close" not in token and (keep or "keep-alive" in token)
        if request.method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            content = b""
        elif chunked:
            pieces = []
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                        pass
                    break
                pieces.append(await reader.readexactly(size))
                await reader.readexactly(2)
            content = b"".join(pieces)
            headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        elif length is not None:
            content = await reader.readexactly(length)
        else:
            content = await reader.read()
            keep = False
        return status, headers, content, keep


class BorrowedTransport(httpx.AsyncBaseTransport):
    """Another client's transport lent to an async client: never closed by it (its owner still uses it), and
    run in worker threads when it is sync-only (what a blocking ``PortalClient`` is usually given)."""

    def __init__(self, transport: httpx.BaseTransport | httpx.AsyncBaseTransport) -> None:
        self.transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if isinstance(self.transport, httpx.AsyncBaseTransport):
            return await self.transport.handle_async_request(request)
        sync = self.transport

        def exchange() -> httpx.Response:
            response = sync.handle_request(request)
            try:
                raw = b"".join(response.iter_raw())  # still encoded: the async client decodes it
            finally:
                response.close()
            stream = httpx.ByteStream(raw)
            return httpx.Response(
                response.status_code, headers=response.headers, stream=stream, extensions=response.extensions
            )

        return await asyncio.to_thread(exchange)
