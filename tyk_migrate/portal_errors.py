"""The messages of a portal refusal, whatever shape its body has.

The file documents ``{"errors": [...]}`` (``OnlyErrors``); some endpoints answer ``{"status": "error",
"errors": [...]}`` (``StatusWithErrors``); portals before 1.17.1 answered some refusals in ``text/plain``
(TYK-FACTS.md, "Revised facts"); a proxy in front answers HTML. ``error_messages`` reads them all, so a
``PortalError`` says what the portal said, and the code that reads ``errors`` (a duplicate key refused,
say) works the same on every portal. Every message is scrubbed of the call's keys before anything keeps it.
A failure without an answer is a ``PortalConnectionError`` that says whether the request can have left.
``read_answer`` turns an answer into its decoded body, or (``error_for``) the ``errors`` tree's error for
its status: the one mapping both clients and the preflight use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import httpx

from .calls import Call
from .errors import (
    AuthError,
    NotFound,
    PortalConnectionError,
    PortalError,
    PortalResponseError,
    PortalServerError,
    RateLimited,
    Rejected,
    UnexpectedAnswer,
)
from .paging import page_items
from .retry import parse_retry_after
from .scrub import clip, scrub_keys
from .secrets import KeyValue
from .transport import AnyAnswer

#: How much of a body that is not JSON (a text refusal, a proxy's error page) a message keeps.
ERROR_BODY_CHARS = 200
#: fields an error object (or one entry of its ``errors``) may carry its sentence in, most specific first
MESSAGE_FIELDS = ("message", "Message", "detail", "error", "title", "msg")  # Message: the Dashboard's ApiResponse
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _entry_text(entry: Any) -> str:
    """One entry of an ``errors`` list: a string, or an object naming its message."""
    if isinstance(entry, dict):
        for name in MESSAGE_FIELDS:
            if isinstance(entry.get(name), str) and entry[name].strip():
                return entry[name]
        return json.dumps(entry, ensure_ascii=False, default=str)
    return str(entry)


def json_messages(body: Any) -> list[str] | None:
    """The messages of a JSON error body, or None when it has none of the known shapes."""
    if isinstance(body, str):
        return [body] if body.strip() else None
    if isinstance(body, list):
        return [_entry_text(e) for e in body] or None
    if not isinstance(body, dict):
        return None
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return [_entry_text(e) for e in errors]
    if isinstance(errors, str | dict) and errors:
        return [_entry_text(errors)]
    for name in MESSAGE_FIELDS:
        value = body.get(name)
        if isinstance(value, str) and value.strip():
            return [value]
    return [] if isinstance(errors, list) else None


def text_messages(text: str, content_type: str = "") -> list[str]:
    """The lines of a text refusal; an HTML page reads as its text without the markup."""
    if "html" in content_type.lower() or text.lstrip()[:9].lower().startswith(("<!doctype", "<html")):
        return [_SPACE.sub(" ", _TAG.sub(" ", text)).strip()] if text.strip() else []
    return [line.strip() for line in text.splitlines() if line.strip()]


def error_messages(response: AnyAnswer, secrets: Iterable[KeyValue] = ()) -> list[str]:
    """The messages of a refusal's body (any shape), each scrubbed of ``secrets`` (base64 echoes too, such as
    the token Tyk stores a key under); [] for an empty body."""
    keys = list(secrets)
    try:
        text = response.text
    except (LookupError, UnicodeError, TypeError, AssertionError):  # httpx on a charset that cannot decode text
        text = response.content.decode("utf-8", errors="replace")
    messages: list[str] | None = None
    try:
        messages = json_messages(json.loads(text)) if text.strip() else []
    except ValueError:
        messages = None
    if messages is not None:
        return [scrub_keys(str(m), keys, encoded=True) for m in messages]
    lines = text_messages(text, response.headers.get("content-type", ""))
    return [clip(line, ERROR_BODY_CHARS, lambda t: scrub_keys(t, keys, encoded=True)) for line in lines if line]


#: Failures before any byte of the request left: no connection was made (refused, DNS, TLS, no free pooled one in
#: time); the lean transport and httpcore raise them only while connecting (``transport._httpx_error``). A reset,
#: a write error or a read timeout on an open connection may have carried the request: "maybe sent".
#: What leaves no answer to read: the exchange failed, or its body cannot be decoded (a proxy's broken gzip).
NO_ANSWER_ERRORS: tuple[type[httpx.HTTPError], ...] = (httpx.TransportError, httpx.DecodingError)
NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def connection_error(call: Call, exc: Exception) -> PortalConnectionError:
    sent = not isinstance(exc, NOT_SENT_ERRORS)
    return PortalConnectionError(f"no answer ({type(exc).__name__})", method=call.method, path=call.path, sent=sent)


def error_for(call: Call, response: AnyAnswer) -> PortalResponseError:
    """The typed error for a non-expected answer, with the portal's messages (any body shape, scrubbed)."""
    errors = error_messages(response, call.secrets)
    status = response.status_code
    kw: dict[str, Any] = {"method": call.method, "path": call.path, "status": status, "errors": errors}
    message = f"{status} {scrub_keys(response.reason_phrase, call.secrets, encoded=True)}".strip()
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimited(message, retry_after=retry_after, **kw)
    cls: type[PortalResponseError] = PortalResponseError
    if status in (401, 403):
        cls = AuthError
    elif status == 404:
        cls = NotFound
    elif status in (400, 409, 422):
        cls = Rejected
    elif status >= 500:
        cls = PortalServerError
    return cls(message, **kw)


def read_answer(call: Call, response: AnyAnswer) -> Any:
    """The decoded body of an expected answer, or the typed error for any other."""
    if response.status_code not in call.expect:
        raise error_for(call, response)
    if not response.content:
        return None
    try:
        body = response.json()
    except ValueError as exc:
        raise UnexpectedAnswer(
            f"{response.status_code} with a body that is not JSON",
            method=call.method,
            path=call.path,
            status=response.status_code,
        ) from exc
    if call.unwrap is not None:
        body = page_items(body, call.path, call.unwrap)
    return body


def is_retryable(exc: PortalError) -> bool:
    return isinstance(exc, PortalConnectionError | RateLimited | PortalServerError)
