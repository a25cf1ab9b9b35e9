"""Portal errors as a line that says what to do: which host, the likely cause, which setting to look at.

The library's errors say what failed (``GET /users -> no answer (ConnectError)``); a person at a terminal
also needs to know why it probably failed. The cause is read from the exception chain (the OS error under
httpx's), with the texts of the usual transports as a fallback, so a transport that words it differently
still gets a hint.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

from ..errors import AuthError, MigrateError, NotFound, PortalConnectionError

TOKEN_HINT = "the portal refused the token: set TYK_PORTAL_TOKEN (or --token) to an admin API token of this portal"
FORBIDDEN_HINT = (
    "the token is not allowed to do this: TYK_PORTAL_TOKEN (or --token) must be the token of a portal admin"
)

#: (cause, words that name it in an error text), in the order they are looked for.
_CAUSE_WORDS = (
    # not a bare "ssl": aiohttp writes "ssl:default" into every connection error
    ("tls", ("certificate", "[ssl", "sslerror", "ssl error", "tls", "handshake", "wrong version number")),
    ("name", ("name or service not known", "nodename nor servname", "name resolution", "getaddrinfo", "no address")),
    ("refused", ("connection refused", "errno 111", "connect call failed", "actively refused")),
    ("timeout", ("timed out", "timeout")),
    ("dropped", ("reset by peer", "disconnected", "connection closed", "broken pipe", "eof")),
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def connection_cause(exc: BaseException) -> str | None:
    """``tls``, ``name``, ``refused``, ``timeout``, ``dropped`` or None: why no answer came."""
    chain = list(_chain(exc))
    for link in chain:
        if isinstance(link, ssl.SSLError):
            return "tls"
        if isinstance(link, socket.gaierror):
            return "name"
        if isinstance(link, ConnectionRefusedError):
            return "refused"
        if isinstance(link, TimeoutError):
            return "timeout"
    text = " ".join(f"{type(link).__name__} {link}" for link in chain).lower()
    for cause, words in _CAUSE_WORDS:
        if any(word in text for word in words):
            return cause
    return None


def _where(base_url: str | None) -> tuple[str, str]:
    """``(host, host:port)`` of the portal, as far as it is known."""
    if not base_url:
        return "the portal", "the portal"
    parts = urlsplit(base_url)
    host = parts.hostname or base_url
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return host, f"{host}:{port}"


def connection_hint(exc: PortalConnectionError, base_url: str | None) -> str:
    host, address = _where(base_url)
    cause = connection_cause(exc)
    if cause == "refused":
        return f"cannot reach {address}: connection refused (is the portal running there, and is the port right?)"
    if cause == "name":
        return f"cannot reach {address}: the name {host!r} is not found (check the host in TYK_PORTAL_URL)"
    if cause == "tls":
        return (
            f"TLS with {address} failed: for a private CA set TYK_CA_BUNDLE=ca.pem; an http:// portal given as "
            "https:// fails this way too"
        )
    if cause == "timeout":
        return f"{address} did not answer in time (a firewall, a wrong port, or a portal under load; TYK_TIMEOUT)"
    if cause == "dropped":
        return f"{address} closed the connection without an answer (a proxy or load balancer in the way?)"
    return f"no answer from {address}"


def _is_listing(path: str) -> bool:
    """A list endpoint every portal has (``/users``, ``/plans``…), not an object that may be gone."""
    return bool(path) and not any(part.isdigit() for part in path.split("?")[0].split("/"))


def not_found_hint(base_url: str | None) -> str:
    where = f"no portal API at {base_url}" if base_url else "no portal API at that URL"
    return (
        f"{where}: give the portal's own address (e.g. https://portal.example.com:3001; /portal-api is added), "
        "not the gateway's or the dashboard's, with any path prefix a proxy needs"
    )


def explain(exc: MigrateError, base_url: str | None = None) -> str:
    """``str(exc)`` with a hint for the portal errors a person can fix: no connection, 404 on a list
    endpoint (the first calls every command makes), 401/403."""
    text = str(exc)
    if isinstance(exc, PortalConnectionError):
        return f"{text}: {connection_hint(exc, base_url)}"
    if isinstance(exc, AuthError) and exc.status == 403:
        return f"{text}; {FORBIDDEN_HINT}"
    if isinstance(exc, AuthError):
        return f"{text}; {TOKEN_HINT}"
    if isinstance(exc, NotFound) and _is_listing(exc.path):
        return f"{text}; {not_found_hint(base_url)}"
    return text
