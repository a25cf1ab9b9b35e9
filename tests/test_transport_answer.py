"""The portal client's own answers (``transport.Answer``, since 25b7a5e) read as httpx would read them.

helper-47's attacks on 25b7a5e, which skipped httpx's models: each failed there and passes since the fix.
What each pins: a reason phrase with bytes beyond ASCII (a run must still end and record its rows), the
charset parameter parsed as httpx parses it (a key echoed in a UTF-16 refusal is still scrubbed), every
Content-Encoding header honoured. Also: that the answers are read without httpx's models at all (the CPU
that path saves), and that neither a reason phrase nor a failed key lookup's exception chain carries a raw key.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from run_helpers import make_plan
from test_transport import Seen, ok, portal, raw_server

from tyk_migrate.config import Settings
from tyk_migrate.errors import PortalConnectionError, PortalResponseError, RateLimited, Rejected
from tyk_migrate.retry import RetryPolicy
from tyk_migrate.run import apply_plan
from tyk_migrate.secrets import SecretKey


def _head(status: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers, f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _refusal(data: bytes, call: Callable[[Any], Any], expected: type[Exception] = PortalResponseError) -> Any:
    """The error the portal client raises for one scripted answer."""

    async def reply(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(data)
        return True

    async def scenario() -> Any:
        async with raw_server(reply) as server, portal(server, retry=RetryPolicy(attempts=1)) as c:
            with pytest.raises(expected) as caught:
                await call(c)
            return caught.value

    return asyncio.run(scenario())


# -- 1. a reason phrase that is not UTF-8 -----------------------------------------------------------------


def _proxy(upstream: str, rewrite: Callable[[Seen], bytes | None]) -> tuple[dict[str, Any], threading.Thread]:
    """A scripted HTTP/1.1 proxy in front of ``upstream`` (the sandbox), in a thread: ``rewrite`` may answer a
    request itself (raw bytes), else the request is forwarded and its answer passed on."""
    ready, box = threading.Event(), {}

    async def main() -> None:
        stop = asyncio.Event()
        async with httpx.AsyncClient(base_url=upstream) as up:

            async def reply(seen: Seen, writer: asyncio.StreamWriter) -> bool:
                fake = rewrite(seen)
                if fake is None:
                    headers = {k: v for k, v in seen.headers.items() if k not in ("host", "content-length")}
                    r = await up.request(seen.method, seen.target, headers=headers, content=seen.body)
                    ct = r.headers.get("content-type", "application/json")
                    fake = _head(f"{r.status_code} {r.reason_phrase}", f"Content-Type: {ct}", body=r.content)
                writer.write(fake)
                return True

            async with raw_server(reply) as server:
                box.update(url=server.url, loop=asyncio.get_running_loop(), stop=stop)
                ready.set()
                await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(5)
    return box, thread


LATIN1_422 = (
    b"HTTP/1.1 422 Donn\xe9es refus\xe9es\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n"
    b'{"errors":["nope!"]}'
)


def test_a_refusal_whose_reason_phrase_is_latin1_fails_its_rows_and_the_run_ends(sandbox, tmp_path):
    """RFC 9110 allows obs-text (bytes 0x80-0xFF) in a reason phrase, and aiohttp decodes it with
    surrogateescape. In 25b7a5e that string reached the row's error text and the run's last frame copy
    (pyarrow) raised UnicodeEncodeError out of ``apply_plan``: no outcome, and the journal stayed locked in
    the process. The rows must end ``failed`` and a rerun create every key once."""
    rewriting = {"on": True}

    def rewrite(seen: Seen) -> bytes | None:
        if rewriting["on"] and seen.method == "POST" and seen.target.endswith("/custom_credentials"):
            return LATIN1_422
        return None

    box, thread = _proxy(sandbox.url, rewrite)
    try:
        settings = Settings(portal_url=box["url"] + sandbox.portal_url[len(sandbox.url) :], token=sandbox.token)
        plan = make_plan(3)
        apply_plan(plan, settings, tmp_path / "j")  # 25b7a5e: UnicodeEncodeError (surrogates not allowed)
        assert set(plan["status"]) == {"failed"}
        rewriting["on"] = False
        again = make_plan(3)
        apply_plan(again, settings, tmp_path / "j")
        assert set(again["status"]) == {"created"}
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(5)


def test_a_latin1_reason_phrase_gives_an_error_text_that_can_be_written():
    """The client-level view of the test above: the reason keeps its ASCII, as httpx keeps it (before 25b7a5e
    the client raised a bare UnicodeEncodeError here; 25b7a5e gave a message holding lone surrogates)."""
    error = _refusal(LATIN1_422, lambda c: c.get_app(1))
    assert str(error) == "GET /apps/1 -> 422 Donnes refuses: nope!"


# -- 2. the charset of a refusal, read otherwise than httpx reads it ---------------------------------------

LATIN1 = "Accès refusé".encode("latin-1")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain; Charset=ISO-8859-1",  # parameter names are case-insensitive (RFC 9110 5.6.6)
        "text/plain; CHARSET=iso-8859-1",
        "text/plain; charset = iso-8859-1",  # httpx (email.message) accepts it
    ],
)
def test_the_charset_parameter_is_read_as_httpx_reads_it(content_type):
    """Parameter names are case-insensitive and may have spaces round ``=``: httpx's parser, not a search for
    ``charset=`` (25b7a5e gave ['Acc\\ufffds refus\\ufffd'])."""
    error = _refusal(
        _head("400 Bad Request", f"Content-Type: {content_type}", body=LATIN1), lambda c: c.get_app(1), Rejected
    )
    assert error.errors == ["Accès refusé"]


def test_a_charset_word_inside_another_parameter_is_not_the_charset():
    """``xcharset=`` is not ``charset=`` (25b7a5e decoded this as Latin-1: ['Ã©'])."""
    body = "é".encode()
    error = _refusal(
        _head("400 Bad Request", "Content-Type: text/plain; xcharset=latin-1", body=body), lambda c: c.get_app(1)
    )
    assert error.errors == ["é"]


KEY = "qb_live_0123456789abcdefSECRET"


def test_a_key_echoed_in_a_utf16_refusal_is_scrubbed():
    """Secrets: a misread charset defeats the scrubber. A UTF-16 refusal declared with ``Charset=`` and read
    as UTF-8 (25b7a5e) gave the key NUL-interleaved, which ``scrub_keys`` does not recognise."""
    body = f'{{"errors":["key {KEY} is taken"]}}'.encode("utf-16")
    data = _head("409 Conflict", "Content-Type: application/json; Charset=UTF-16", body=body)

    def create(c: Any) -> Any:
        return c.create_credential(1, key_id=SecretKey(KEY), plan_id=1, product_ids=[1])

    error = _refusal(data, create, Rejected)
    for text in (str(error), *error.errors):
        assert KEY not in text.replace("\x00", "")
    assert error.errors == ["key qb_…RET is taken"]


# -- 3. Content-Encoding read from its first header only -----------------------------------------------------


@pytest.mark.parametrize(
    "encodings", [("Content-Encoding: gzip",), ("Content-Encoding: identity", "Content-Encoding: gzip")]
)
def test_a_gzipped_answer_is_decoded_whatever_was_asked_and_however_many_headers_say_so(encodings):
    """A proxy may compress what was not asked for: such an answer goes to httpx, which decodes it; every
    Content-Encoding header counts (25b7a5e looked at the first only and raised UnexpectedAnswer)."""
    packed = gzip.compress(b'{"ID": 7}')

    async def reply(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(_head("200 OK", *encodings, body=packed))
        return True

    async def scenario() -> None:
        async with raw_server(reply) as server, portal(server) as c:
            assert await c.get_app(7) == {"ID": 7}

    asyncio.run(scenario())


def test_a_refusal_is_read_as_httpx_would_read_it_charset_reason_and_retry_after():
    """The lean path's own answer (no httpx models) gives the same error: the charset the answer names, the
    standard reason when the server sends none, and ``Retry-After`` whatever its case."""
    body = "Accès refusé".encode("latin-1")

    async def refuse(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        head = ["HTTP/1.1 429 ", "Content-Type: text/plain; charset=iso-8859-1", f"Content-Length: {len(body)}"]
        writer.write(("\r\n".join([*head, "retry-after: 7"]) + "\r\n\r\n").encode() + body)
        return True

    async def scenario() -> None:
        async with raw_server(refuse) as server, portal(server, retry=RetryPolicy(attempts=1)) as c:
            with pytest.raises(RateLimited) as caught:
                await c.create_app("a", 5)
        assert caught.value.retry_after == 7.0
        assert caught.value.errors == ["Accès refusé"]
        assert str(caught.value) == "POST /apps -> 429 Too Many Requests: Accès refusé"

    asyncio.run(scenario())


def test_the_portal_clients_answers_are_read_without_httpx_models(monkeypatch):
    """The hot path of a run: a request and its answer cost no ``httpx.Request`` or ``httpx.Response`` (their
    URL parsing and header models were a sixth of the client's CPU on a run of thousands of requests)."""
    built: Counter[str] = Counter()
    for name in ("Request", "Response"):
        original = getattr(httpx, name)

        class Counted(original):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, _name: str = name, _base: Any = original, **kw: Any) -> None:
                built[_name] += 1
                _base.__init__(self, *args, **kw)

        monkeypatch.setattr(httpx, name, Counted)

    async def scenario() -> None:
        async with raw_server(ok) as server, portal(server) as c:
            for _ in range(3):
                assert await c.create_app("a", 5) == {"ok": True}

    asyncio.run(scenario())
    assert built == Counter()


# -- 4. no raw key in a refusal's reason phrase, nor anywhere in a failed key call's exception chain ---------


def test_a_key_in_a_reason_phrase_is_scrubbed():
    """The body of a refusal was always scrubbed of the call's keys; its reason phrase is part of the message too."""

    def create(c: Any) -> Any:
        return c.create_credential(1, key_id=SecretKey(KEY), plan_id=1, product_ids=[1])

    error = _refusal(_head(f"409 key {KEY} is taken", "Content-Type: text/plain"), create, Rejected)
    assert KEY not in str(error) and "qb_…RET" in str(error)


def _chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


@pytest.mark.parametrize("garbage", [b"NOT HTTP AT ALL\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{"])
def test_a_failed_dashboard_key_lookup_carries_no_raw_key_in_its_exception_chain(garbage):
    """A Dashboard lookup puts the raw key in its URL, and aiohttp's errors quote the URL: a notebook's
    traceback shows the whole chain, so the chain of a call with secrets ends at the portal client's error."""
    from tyk_migrate.dashboard import AsyncDashboardClient, key_call

    async def reply(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(garbage)
        return False

    async def scenario() -> BaseException:
        async with raw_server(reply) as server:
            settings = Settings(dashboard_url=server.url, dashboard_token="dash-token", allow_insecure_http=True)
            async with AsyncDashboardClient(settings, retry=RetryPolicy(attempts=1)) as c:
                with pytest.raises(PortalConnectionError) as caught:
                    await c._send(key_call(SecretKey(KEY)))
                return caught.value

    error = asyncio.run(scenario())
    for exc in _chain(error):
        assert KEY not in str(exc) and KEY not in repr(exc)


@pytest.mark.parametrize("charset", ["undefined", "base64", "rot13"])
def test_a_refusal_in_a_charset_that_cannot_decode_text_is_still_one_error(charset):
    """A compressed answer goes through ``httpx.Response``, whose ``text`` raises on such a charset (a bare
    UnicodeError, TypeError or AssertionError before this was caught): the body is read as UTF-8 instead."""
    body = gzip.compress(b"nope, refused")
    data = _head("400 Bad Request", f"Content-Type: text/plain; charset={charset}", "Content-Encoding: gzip", body=body)
    error = _refusal(data, lambda c: c.get_app(1), Rejected)
    assert error.errors == ["nope, refused"]
