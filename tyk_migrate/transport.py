"""The HTTP transport of the async clients: httpx on aiohttp's connection pool (the ``httpx-aiohttp`` package).

Why: httpcore's pool spends milliseconds of CPU per request once a few dozen requests are in flight (it
rescans every connection for every request: encode/httpx#3215), which caps a migration far below what the
portal allows. aiohttp's pool costs well under a millisecond (figures in docs/benchmarks.md, "Transport").
It plugs into ``httpx.AsyncClient(transport=...)``, so everything above the transport (base URL, headers,
timeouts, JSON, the portal client's error mapping) stays httpx's; HTTP/1.1 parsing, keep-alive, TLS and the
connection limit are aiohttp's, a maintained client, instead of a hand-written one.

What this module adds on top of ``httpx_aiohttp.AiohttpTransport``, each for a reason:

- aiohttp resends an "idempotent" request (PUT, DELETE …) once when its connection breaks. A broken
  connection says nothing about whether the portal applied the write, and whether to try again is the
  portal client's decision (reads retried with backoff; writes sent once, the runner looks the object up
  first), so that resend is switched off: every request goes out at most once here.
- Failures are raised as the httpx error that names them (``ConnectError`` for a refused connection, not
  httpx-aiohttp's ``ConnectTimeout``; ``RemoteProtocolError`` for a server that hung up; ``ReadTimeout``),
  with the request attached, and bad HTTP from the server is one too instead of a raw aiohttp error, so
  the portal client's ``except httpx.TransportError`` catches every failure.
- The body is read here, under the same error mapping, and the connection goes back to the pool at once;
  a request whose body is in memory (every portal request) is sent to aiohttp directly, without
  httpx-aiohttp's stream wrapper and second response object (0.41 against 0.47-0.50 ms of CPU a request).
- The portal client's own requests skip httpx's models altogether (``exchange``): a URL string, headers and
  body in, an ``Answer`` (status, reason, headers, body) out. Building an ``httpx.Request`` and an
  ``httpx.Response`` for each was a sixth of the client's CPU on a 2,000-key run. An answer with a
  ``Content-Encoding`` still goes through ``httpx.Response``, which decodes it.
- aiohttp's own cookie jar and default headers are off: httpx owns cookies and content negotiation (it
  decodes the body, so aiohttp must not offer an encoding httpx cannot read).
- A session belongs to one event loop; a client used again from a new loop (``fetch_snapshot`` twice with
  one ``AsyncPortalClient``) gets a new session instead of a RuntimeError.

Proxies: ``lean_transport`` returns None when the environment routes the URL through one, and callers keep
httpx's own transport, so proxy rules (``NO_PROXY``, SOCKS) stay the same as the blocking client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import json
import ssl
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from multidict import CIMultiDictProxy

# Reuse an idle connection only this long: uvicorn closes one after 5 s, and reusing it just as the server
# closes it turns a request into a failed one.
_KEEPALIVE_SECONDS = 4.0
_DEFAULT_CONNECTIONS = 100


def lean_transport(
    url: str,
    *,
    verify: ssl.SSLContext | bool,
    timeout: float,
    max_connections: int = _DEFAULT_CONNECTIONS,
) -> LeanTransport | None:
    """A ``LeanTransport`` for ``url``, or None when the environment routes that URL through a proxy
    (``HTTPS_PROXY`` and friends): httpx's own transport honours those as the blocking client does."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if (proxies.get(parts.scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return LeanTransport(verify=verify, timeout=timeout, max_connections=max_connections)


class LeanTransport(AiohttpTransport):
    """``httpx.AsyncClient(transport=LeanTransport(verify=..., timeout=...))``.

    ``verify`` is httpx's: True (certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``), False, or an
    ``ssl.SSLContext``. ``timeout`` and ``connect_timeout`` apply to requests that carry no httpx timeout
    (an ``httpx.AsyncClient`` always sets one). At most ``max_connections`` are open at once; more requests
    wait for one to come free."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_connections: int = _DEFAULT_CONNECTIONS,
    ) -> None:
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=_KEEPALIVE_SECONDS,
        )
        super().__init__(verify=verify, limits=limits)
        self._default_timeout = httpx.Timeout(timeout, connect=min(connect_timeout, timeout)).as_dict()
        self._loop: asyncio.AbstractEventLoop | None = None

    def get_client(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.limits.max_connections or 0,
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            # httpx decodes the body, so only what httpx asked for may be accepted (aiohttp would offer zstd
            # from a library httpx cannot decode with); and no User-Agent of aiohttp's either
            skip_auto_headers=("Accept-Encoding", "User-Agent"),
        )
        # Private, but the switch aiohttp's own test client uses; tests/test_transport.py fails if it stops
        # working. Without it a PUT or DELETE whose connection breaks is sent a second time.
        session._retry_connection = False
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.extensions.get("timeout"):
            request.extensions["timeout"] = self._default_timeout
        try:
            body = request.content
        except httpx.RequestNotRead:  # a streamed body: httpx-aiohttp's own way
            self._same_loop()
            return await self._streamed(request)
        try:
            answer, content = await self._fetch(
                request.method,
                str(request.url),
                request.headers,
                body,
                request.extensions["timeout"],
                request.extensions.get("sni_hostname"),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _httpx_error(exc, request) from exc
        return _response(answer, content, request)

    async def exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: dict[str, Any]
    ) -> Answer | httpx.Response:
        """Send one request whose body is in memory and read its answer whole, without httpx's models.

        The portal client's hot path: building an ``httpx.Request`` (its URL parsing above all) and an
        ``httpx.Response`` cost about a sixth of the client's CPU on a run of thousands of small requests.
        An answer with a ``Content-Encoding`` (a proxy's gzip) still becomes an ``httpx.Response``, which
        decodes it; failures are raised as the same httpx errors as ``handle_async_request`` raises."""
        try:
            answer, content = await self._fetch(method, url, headers, body, timeout, None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _httpx_error(exc, httpx.Request(method, url)) from exc
        if _encoded(answer.headers):
            response = _response(answer, content, httpx.Request(method, url))
            await response.aread()  # decodes: a broken body raises httpx.DecodingError, as on httpx's own path
            return response
        status = answer.status
        return Answer(status, _reason(answer.reason) or httpx.codes.get_reason_phrase(status), answer.headers, content)

    async def _fetch(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: dict[str, Any],
        server_hostname: str | None,
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        """What AiohttpTransport sends, with the body read in one call instead of through a stream wrapper
        and a second Response (a twentieth of a millisecond per request, on every portal request)."""
        self._same_loop()
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        async with self.client.request(
            method,
            url,
            headers=headers,
            data=body or None,
            allow_redirects=False,
            auto_decompress=False,  # httpx decodes
            compress=False,
            timeout=aiohttp.ClientTimeout(
                sock_connect=timeout.get("connect"), sock_read=timeout.get("read"), connect=timeout.get("pool")
            ),
            server_hostname=server_hostname,
        ) as answer:
            content = await answer.read()
        return answer, content

    async def _streamed(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
            stream = response.stream
            assert isinstance(stream, httpx.AsyncByteStream)
            try:
                content = b"".join([chunk async for chunk in stream])
            finally:
                await stream.aclose()  # the connection goes back to the pool
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            raise _httpx_error(exc, request) from exc
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(content),
            request=request,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            self._forget_session()  # made on a loop that has ended (run_sync): it cannot be awaited here
            return
        await super().aclose()
        self.client = None  # a request after this opens a new session instead of failing on a closed one

    def _same_loop(self) -> None:
        """Forget a session made on another event loop (its connections cannot be used from this one)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._forget_session()
            self._loop = loop

    def _forget_session(self) -> None:
        old, self.client = self.client, None
        if isinstance(old, aiohttp.ClientSession):
            connector = old.connector
            old.detach()
            if connector is not None:
                with contextlib.suppress(Exception):  # its loop may be closed: drop its sockets as best we can
                    connector._close()


def _httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx error for an aiohttp failure, ``exc`` itself or the cause of httpx-aiohttp's mapping."""
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) and exc.__cause__ is not None else exc
    message = str(cause) or type(cause).__name__
    kind: type[httpx.TransportError]
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout  # also a wait for a free connection that ran out
    elif isinstance(cause, aiohttp.ServerTimeoutError | TimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(cause, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError  # refused, DNS, TLS handshake or certificate
    elif isinstance(cause, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        kind = httpx.RemoteProtocolError  # hung up without an answer, or answered something not HTTP
    elif isinstance(cause, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError):
        kind = httpx.ReadError  # the connection broke while the request or its answer was on the wire
    elif isinstance(exc, httpx.TransportError):
        kind = type(exc)  # httpx-aiohttp's own mapping (unsupported URL, proxy)
    else:
        kind = httpx.ReadError
    return kind(message, request=request)


class Answer:
    """A portal answer read whole: the part of ``httpx.Response`` the portal client reads (status, reason,
    case-insensitive headers, body, ``text``, ``json()``), made from aiohttp's answer by ``exchange``."""

    __slots__ = ("content", "headers", "reason_phrase", "status_code")

    def __init__(self, status_code: int, reason_phrase: str, headers: CIMultiDictProxy[str], content: bytes) -> None:
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.headers = headers
        self.content = content

    def __repr__(self) -> str:
        return f"<Answer [{self.status_code} {self.reason_phrase}]>"

    @property
    def text(self) -> str:
        """The body decoded as httpx decodes it: the charset the answer names (its parameter parsed as httpx
        parses it), else UTF-8, errors replaced."""
        charset = _charset(self.headers.get("Content-Type", ""))
        try:
            return self.content.decode(charset or "utf-8", errors="replace")
        except (LookupError, UnicodeError):  # a charset Python does not know, or one that cannot decode at all
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


#: What the portal client reads an answer from: the lean transport's own, or httpx's (any other transport).
AnyAnswer = Answer | httpx.Response


def _charset(content_type: str) -> str | None:
    """The ``charset`` parameter of a Content-Type, as httpx reads it (``email.message``'s parser)."""
    if not content_type:
        return None
    message = email.message.Message()
    message["content-type"] = content_type
    return message.get_content_charset(failobj=None)


def _encoded(headers: CIMultiDictProxy[str]) -> bool:
    """Whether any Content-Encoding header (there may be several, each a list) names a coding to undo."""
    codings = (c.strip().lower() for h in headers.getall("Content-Encoding", ()) for c in h.split(","))
    return any(c not in ("", "identity") for c in codings)


def _reason(reason: str | None) -> str:
    """The reason phrase as httpx keeps it: ASCII only. aiohttp hands bytes 0x80-0xFF (allowed there) over as
    lone surrogates, which no file or frame can hold."""
    return (reason or "").encode("utf-8", "surrogateescape").decode("ascii", "ignore")


def _response(answer: aiohttp.ClientResponse, content: bytes, request: httpx.Request) -> httpx.Response:
    extensions = {"http_version": b"HTTP/1.1"}
    if reason := _reason(answer.reason):
        extensions["reason_phrase"] = reason.encode()
    stream = httpx.ByteStream(content)
    return httpx.Response(
        answer.status, headers=answer.raw_headers, stream=stream, request=request, extensions=extensions
    )


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
