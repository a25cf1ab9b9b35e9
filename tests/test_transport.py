"""The async clients' transport (``tyk_migrate.transport``) against real local servers: a scripted raw
HTTP/1.1 server (asyncio streams, so each answer can be as odd as a real server's) and the sandbox.

What is pinned here: HTTP edge cases (chunked, 204, read to EOF, a stale keep-alive connection), that a
write is never sent twice by the transport (whether to try again is the portal client's decision), TLS
verification, the connection limit, and that every failure is an httpx error the portal client maps."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tyk_migrate.errors import PortalConnectionError
from tyk_migrate.portal import AsyncPortalClient, PortalClient
from tyk_migrate.retry import RetryPolicy
from tyk_migrate.transport import LeanTransport, lean_transport


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int  # which TCP connection (1, 2 …) carried it


Reply = Callable[[Seen, asyncio.StreamWriter], Awaitable[bool]]  # writes the answer; False closes the connection


@dataclass
class RawServer:
    """A loopback HTTP/1.1 server whose every answer is written by ``reply``; it records what it read."""

    reply: Reply
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    open_peak: int = 0
    port: int = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.open_now += 1
        self.open_peak = max(self.open_peak, self.open_now)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                seen = Seen(method, target, headers, body, number)
                self.seen.append(seen)
                if not await self.reply(seen, writer):
                    return
                await writer.drain()
        finally:
            self.open_now -= 1
            with contextlib.suppress(Exception):
                writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def raw_server(reply: Reply, tls: ssl.SSLContext | None = None) -> AsyncIterator[RawServer]:
    server = RawServer(reply)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=tls)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(listener.wait_closed(), 1)


def answer(status: str = "200 OK", body: bytes = b'{"ok":true}', *extra: str) -> bytes:
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def ok(seen: Seen, writer: asyncio.StreamWriter) -> bool:
    writer.write(answer())
    return True


def client(server: RawServer, **kw: Any) -> httpx.AsyncClient:
    transport = lean_transport(server.url, verify=True, timeout=kw.pop("timeout", 5.0), **kw)
    assert isinstance(transport, LeanTransport)
    return httpx.AsyncClient(base_url=server.url, transport=transport)


def portal(server: RawServer, **kw: Any) -> AsyncPortalClient:
    """The portal client as the runner builds it (its own default transport), retries without waiting."""
    kw.setdefault("retry", RetryPolicy(attempts=3, base=0.0, cap=0.0))
    return AsyncPortalClient(server.url, "admin-token", **kw)


# -- HTTP edge cases ---------------------------------------------------------------------------------


def test_a_chunked_answer_is_read_whole_and_its_connection_reused():
    async def chunked(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b'[{"ID":', b"1},", b'{"ID":2}]'):
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        writer.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        return True

    async def scenario() -> None:
        async with raw_server(chunked) as server, portal(server) as c:
            assert await c.get_app(1) == [{"ID": 1}, {"ID": 2}]
            assert await c.get_app(2) == [{"ID": 1}, {"ID": 2}]
            assert server.connections == 1

    asyncio.run(scenario())


def test_a_streamed_request_body_still_goes_out_whole(sandbox):
    """Our requests carry their body in memory (the fast path); a streamed one takes httpx-aiohttp's way."""

    async def body() -> Any:
        for piece in (b'{"Name":"streamed","UserID":3,', b'"Description":"","RedirectURLs":""}'):
            yield piece

    async def scenario() -> None:
        transport = lean_transport(sandbox.url, verify=True, timeout=5.0)
        headers = {"Authorization": sandbox.token, "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=sandbox.portal_url, transport=transport, headers=headers) as c:
            response = await c.post("/apps", content=body())
            assert response.status_code in (200, 201) and response.json()["Name"] == "streamed"

    asyncio.run(scenario())


def test_204_without_a_body_leaves_the_connection_usable():
    async def no_content(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n" if seen.method == "DELETE" else answer())
        return True

    async def scenario() -> None:
        async with raw_server(no_content) as server, portal(server) as c:
            assert await c.delete_credential(3, 4) is None
            assert await c.get_app(3) == {"ok": True}  # read from the same connection, not out of step
            assert [s.method for s in server.seen] == ["DELETE", "GET"]
            assert server.connections == 1

    asyncio.run(scenario())


def test_an_answer_without_length_is_read_to_eof_and_its_connection_not_reused():
    async def until_close(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
        writer.write(b'{"ID": 7, "Name": "' + b"x" * 100_000 + b'"}')
        return False

    async def scenario() -> None:
        async with raw_server(until_close) as server, portal(server) as c:
            first = await c.get_app(7)
            assert first["ID"] == 7 and len(first["Name"]) == 100_000
            assert (await c.get_app(7))["ID"] == 7
            assert server.connections == 2

    asyncio.run(scenario())


def test_a_keep_alive_connection_the_server_closed_is_not_used_for_the_next_post():
    async def then_close(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer())  # keep-alive by HTTP/1.1 rules, then the server closes it anyway (idle timeout)
        return seen.method != "GET"

    async def scenario() -> None:
        async with raw_server(then_close) as server, portal(server) as c:
            await c.get_app(1)
            await asyncio.sleep(0.1)  # the server's FIN arrives
            assert await c.create_app("a", 5) == {"ok": True}
            assert [(s.method, s.connection) for s in server.seen] == [("GET", 1), ("POST", 2)]

    asyncio.run(scenario())


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_a_write_whose_connection_breaks_is_sent_once(method):
    """The server reads the write and hangs up without answering: it may have applied it. aiohttp would
    resend a PUT or DELETE on its own; the transport must not, so the portal client decides."""

    async def drop_writes(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if seen.method == "GET":
            writer.write(answer())
            return True
        return False

    async def scenario() -> None:
        async with raw_server(drop_writes) as server, client(server) as http:
            await http.get("/apps/1")  # the write goes out on a reused keep-alive connection
            with pytest.raises(httpx.RemoteProtocolError):
                await http.request(method, "/apps/1", json={"Name": "a"})
            assert [s.method for s in server.seen] == ["GET", method]

    asyncio.run(scenario())


def test_the_portal_client_decides_a_read_is_retried_and_a_write_is_not():
    tries: Counter[str] = Counter()

    async def drop_first_of_each(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        tries[seen.method] += 1
        if tries[seen.method] == 1:
            return False  # the first GET and the first POST: read, then no answer
        writer.write(answer())
        return True

    async def scenario() -> None:
        async with raw_server(drop_first_of_each) as server, portal(server) as c:
            assert await c.get_app(1) == {"ok": True}  # retried by the portal client's policy
            with pytest.raises(PortalConnectionError, match=r"no answer \(RemoteProtocolError\)") as lost:
                await c.create_app("a", 5)
            assert lost.value.sent is True  # the server read it: it may have applied it
            assert [s.method for s in server.seen] == ["GET", "GET", "POST"]

    asyncio.run(scenario())


def test_reserved_characters_of_the_url_reach_the_server_escaped():
    async def scenario() -> None:
        async with raw_server(ok) as server, client(server) as http:
            await http.get("/keys/a%2Fb/%C3%A9?q=a%2Bb&s=%20x&amp=%26")
            assert server.seen[0].target == "/keys/a%2Fb/%C3%A9?q=a%2Bb&s=%20x&amp=%26"

    asyncio.run(scenario())


def test_cookies_set_by_the_server_are_not_sent_back_behind_httpx():
    async def sets_cookie(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer("200 OK", b"{}", "Set-Cookie: lb=node-2; Path=/"))
        return True

    async def scenario() -> None:
        async with raw_server(sets_cookie) as server:
            # by name: aiohttp's jar ignores cookies of a bare IP address
            async with AsyncPortalClient(f"http://localhost:{server.port}", "t") as c:
                await c.get_app(1)
                await c.get_app(1)
            assert len(server.seen) == 2
            assert all("cookie" not in s.headers for s in server.seen)

    asyncio.run(scenario())


def test_content_encoding_is_negotiated_by_httpx_alone():
    import gzip

    body = b'{"ID": 1, "Name": "' + b"z" * 5000 + b'"}'

    async def maybe_gzip(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if "gzip" in seen.headers.get("accept-encoding", ""):
            writer.write(answer("200 OK", gzip.compress(body), "Content-Encoding: gzip"))
        else:
            writer.write(answer("200 OK", body))
        return True

    async def scenario() -> None:
        async with raw_server(maybe_gzip) as server, client(server) as http, portal(server) as c:
            assert (await c.get_app(1))["ID"] == 1  # the portal client asks for no encoding
            response = await http.get("/apps/1")  # an httpx client asks for what it can decode
            assert response.json()["ID"] == 1
            portal_seen, httpx_seen = server.seen
            assert "accept-encoding" not in portal_seen.headers and "user-agent" not in portal_seen.headers
            assert httpx_seen.headers["accept-encoding"] == httpx.AsyncClient().headers["accept-encoding"]
            assert response.headers["content-encoding"] == "gzip"

    asyncio.run(scenario())


def test_one_client_serves_a_second_event_loop(sandbox):
    """``fetch_snapshot`` runs each call on a new loop (``run_sync``): a client given twice keeps working,
    and closes from a third."""
    c = AsyncPortalClient(sandbox.url, sandbox.token)
    first = asyncio.run(c.list_users())
    assert first
    assert asyncio.run(c.list_users()) == first
    asyncio.run(c.aclose())


# -- failures: the httpx errors the portal client maps ------------------------------------------------


def test_a_refused_connection_is_a_connect_error():
    async def scenario() -> None:
        async with raw_server(ok) as server:
            url = server.url
        async with httpx.AsyncClient(transport=LeanTransport()) as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(url + "/apps")
        c = AsyncPortalClient(url, "t", retry=RetryPolicy(attempts=1))
        with pytest.raises(PortalConnectionError, match=r"no answer \(ConnectError\)") as refused:
            await c.get_app(1)
        with pytest.raises(PortalConnectionError) as write_refused:
            await c.create_app("a", 5)
        assert refused.value.sent is False and write_refused.value.sent is False  # no connection: nothing sent
        await c.aclose()

    asyncio.run(scenario())


def test_no_answer_in_time_is_a_read_timeout():
    async def never(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    async def scenario() -> None:
        async with raw_server(never) as server:
            async with httpx.AsyncClient(transport=LeanTransport(), timeout=0.2) as http:
                with pytest.raises(httpx.ReadTimeout):
                    await http.get(server.url + "/apps")
            # a request without httpx timeouts gets the transport's own
            transport = LeanTransport(timeout=0.2)
            with pytest.raises(httpx.ReadTimeout):
                await transport.handle_async_request(httpx.Request("GET", server.url + "/apps"))
            await transport.aclose()

    asyncio.run(scenario())


def test_the_portal_client_maps_a_timeout_to_its_connection_error():
    async def never(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    async def scenario() -> None:
        from tyk_migrate.config import Settings

        async with raw_server(never) as server:
            settings = Settings(portal_url=server.url, token="t", timeout=0.2)
            async with AsyncPortalClient(settings=settings, retry=RetryPolicy(attempts=1)) as c:
                with pytest.raises(PortalConnectionError, match=r"no answer \(ReadTimeout\)") as late:
                    await c.get_app(1)
                assert late.value.sent is True  # the request went out; only the answer is missing

    asyncio.run(scenario())


def test_no_free_connection_in_time_is_a_connect_timeout():
    async def never(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    async def scenario() -> None:
        async with raw_server(never) as server:
            timeout = httpx.Timeout(5.0, pool=0.2)  # aiohttp's "connect" covers the wait for a free connection
            async with httpx.AsyncClient(transport=LeanTransport(max_connections=1), timeout=timeout) as http:
                hung = asyncio.create_task(http.get(server.url + "/apps/1"))
                await asyncio.sleep(0.1)
                with pytest.raises(httpx.ConnectTimeout):
                    await http.get(server.url + "/apps/2")
                hung.cancel()
            assert [s.target for s in server.seen] == ["/apps/1"]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("failure", "sent"),
    [
        (httpx.ConnectError, False),  # refused, DNS, TLS handshake (the lean transport's ConnectError)
        (httpx.ConnectTimeout, False),  # no connection in time, or no free one of the pool (lean transport)
        (httpx.PoolTimeout, False),  # httpx's own pool (a proxied portal)
        (httpx.RemoteProtocolError, True),  # hung up after reading the request
        (httpx.ReadError, True),
        (httpx.WriteError, True),  # part of the request may have gone out
        (httpx.ReadTimeout, True),
    ],
)
def test_only_a_failure_before_any_byte_was_sent_says_the_write_was_not_sent(failure, sent):
    """What the exactly-once protocol relies on: ``sent=False`` only when no connection was ever made."""

    def fail(request: httpx.Request) -> httpx.Response:
        raise failure("scripted", request=request)

    async def scenario() -> None:
        async with AsyncPortalClient("http://127.0.0.1:9", "t", transport=httpx.MockTransport(fail)) as c:
            with pytest.raises(PortalConnectionError, match=rf"no answer \({failure.__name__}\)") as caught:
                await c.create_app("a", 5)
            assert caught.value.sent is sent

    asyncio.run(scenario())


@pytest.mark.parametrize("garbage", [b"hello\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"])
def test_a_broken_answer_is_an_httpx_error_not_an_aiohttp_one(garbage):
    async def broken(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(garbage)
        return False

    async def scenario() -> None:
        async with raw_server(broken) as server, client(server) as http:
            with pytest.raises(httpx.TransportError) as caught:
                await http.get("/apps")
            assert caught.value.request.url.path == "/apps"

    asyncio.run(scenario())


def test_a_body_that_cannot_be_decoded_is_a_portal_error_not_a_traceback():
    """A proxy's broken gzip leaves no answer to read: one PortalConnectionError line (it was sent), both clients."""

    async def bad_gzip(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer("200 OK", b"not gzip at all", "Content-Encoding: gzip"))
        return True

    async def scenario() -> None:
        async with raw_server(bad_gzip) as server, portal(server) as c:
            with pytest.raises(PortalConnectionError, match="DecodingError") as caught:
                await c.create_app("a", 5)
            assert caught.value.sent is True
            sync = PortalClient(server.url, "admin-token", retry=RetryPolicy(attempts=1))
            with pytest.raises(PortalConnectionError, match="DecodingError"):
                await asyncio.to_thread(sync.list_plans)
            sync.close()

    asyncio.run(scenario())


# -- connection limit -------------------------------------------------------------------------------


def test_the_portal_clients_connection_limit_is_honoured():
    async def slow(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.05)
        writer.write(answer())
        return True

    async def scenario() -> None:
        async with raw_server(slow) as server, portal(server, max_connections=3) as c:
            await asyncio.gather(*(c.get_app(i) for i in range(12)))
            assert len(server.seen) == 12
            assert server.open_peak == 3

    asyncio.run(scenario())


# -- TLS --------------------------------------------------------------------------------------------


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """A certificate for 127.0.0.1 signed by itself, and a server context that uses it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


def test_tls_is_verified_unless_switched_off(self_signed):
    cert, server_tls = self_signed

    async def scenario() -> None:
        async with raw_server(ok, tls=server_tls) as server:
            url = f"https://127.0.0.1:{server.port}/apps"
            async with httpx.AsyncClient(transport=LeanTransport(verify=True)) as http:
                with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
                    await http.get(url)
            for verify in (False, ssl.create_default_context(cafile=str(cert))):
                async with httpx.AsyncClient(transport=LeanTransport(verify=verify)) as http:
                    assert (await http.get(url)).json() == {"ok": True}
            assert len(server.seen) == 2

    asyncio.run(scenario())


def test_the_portal_client_trusts_its_ca_bundle(self_signed):
    from tyk_migrate.config import Settings

    cert, server_tls = self_signed

    async def scenario() -> None:
        async with raw_server(ok, tls=server_tls) as server:
            url = f"https://127.0.0.1:{server.port}"
            async with AsyncPortalClient(settings=Settings(portal_url=url, token="t", ca_bundle=str(cert))) as c:
                assert await c.get_app(1) == {"ok": True}
            strict = AsyncPortalClient(settings=Settings(portal_url=url, token="t"), retry=RetryPolicy(attempts=1))
            with pytest.raises(PortalConnectionError, match=r"no answer \(ConnectError\)") as untrusted:
                await strict.get_app(1)
            assert untrusted.value.sent is False  # the handshake failed: no byte of the request went out
            await strict.aclose()

    asyncio.run(scenario())
