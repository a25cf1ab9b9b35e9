"""PortalClient / AsyncPortalClient against the sandbox: over a real socket and in-process (ASGITransport).

Paging, retries under the sandbox's faults (reads only), typed errors, and the token never shown.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tyk_migrate.config import Settings
from tyk_migrate.errors import (
    AuthError,
    ConfigError,
    NotFound,
    PortalConnectionError,
    PortalServerError,
    RateLimited,
    Rejected,
)
from tyk_migrate.portal import AsyncPortalClient, PortalClient
from tyk_migrate.retry import RetryPolicy
from tyk_migrate.sandbox import SandboxConfig
from tyk_migrate.sandbox.app import create_app

TOKEN = "sandbox-admin-token"


class RecordingRetry(RetryPolicy):
    """No real waiting in tests; remembers what the client asked for."""

    def __init__(self, attempts: int = 8) -> None:
        super().__init__(attempts=attempts)
        self.asked: list[tuple[int, float | None]] = []

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        self.asked.append((retry, retry_after))
        return 0.0


class Recorder(httpx.HTTPTransport):
    """A real-socket transport that keeps every request's method and URL."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)


def with_users(seed: dict[str, Any], total: int) -> dict[str, Any]:
    seed = copy.deepcopy(seed)
    next_id = max(u["ID"] for u in seed["users"]) + 1
    while len(seed["users"]) < total:
        seed["users"].append(
            {"ID": next_id, "Email": f"extra{next_id}@example.test", "First": "E", "Last": str(next_id),
             "Active": True, "OrganisationID": 1, "Role": "consumer-team-member", "Provider": "password"}
        )  # fmt: skip
        next_id += 1
    return seed


def sync_client(sb: Any, **kw: Any) -> PortalClient:
    return PortalClient(sb.url, sb.token, **kw)


# -- paging ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("total", [51, 56])  # 56 = 8 full pages of 7: the walk ends on an empty page
def test_paging_walks_every_page_and_never_sends_limit(make_sandbox, seed_data, total):
    sb = make_sandbox(seed=with_users(seed_data, total))
    recorder = Recorder()
    with PortalClient(sb.url, sb.token, per_page=7, transport=recorder) as client:
        users = client.list_users()
    assert len(users) == total
    assert len({u["ID"] for u in users}) == total
    queries = [parse_qs(urlsplit(str(r.url)).query) for r in recorder.requests]
    assert all("limit" not in q for q in queries)
    assert [int(q["page"][0]) for q in queries] == list(range(1, total // 7 + 2))
    assert {q["per_page"][0] for q in queries} == {"7"}


def test_plans_are_unwrapped_and_plan_id_is_a_string_in_answers(sandbox):
    with sync_client(sandbox, per_page=3) as client:
        plans = client.list_plans()
        assert sorted(p["ID"] for p in plans) == [7, 8, 9, 10]
        creds = client.list_credentials(1)
    assert isinstance(creds[0]["PlanID"], str)


def test_full_base_url_or_host_both_work(sandbox):
    with PortalClient(sandbox.portal_url, sandbox.token) as a, PortalClient(sandbox.url + "/", sandbox.token) as b:
        assert a.base_url == b.base_url == sandbox.portal_url
        assert a.get_user(1)["Email"] == b.get_user(1)["Email"]


def test_a_closed_async_client_refuses_to_send(sandbox):
    """It sends to its transport directly: that must not reopen a session behind a closed client's back."""

    async def go() -> None:
        async with AsyncPortalClient(sandbox.portal_url, sandbox.token) as client:
            assert (await client.get_user(1))["ID"] == 1
        with pytest.raises(RuntimeError, match="closed"):
            await client.list_plans()

    asyncio.run(go())


# -- writes ------------------------------------------------------------------------------------------


def test_create_read_delete_roundtrip_over_a_socket(sandbox):
    key = "roundtrip-key-000000000001"
    with sync_client(sandbox) as client:
        app = client.create_app("Roundtrip", 3)
        cred = client.create_credential(app["ID"], key_id=key, plan_id=8, product_ids=[1, 2], alias="rt")
        assert cred["KeyID"] == key and cred["PlanID"] == "8"
        assert client.get_credential(app["ID"], cred["ID"])["ProductIDs"] == [1, 2]
        assert [c["ID"] for c in client.list_credentials(app["ID"])] == [cred["ID"]]
        client.delete_credential(app["ID"], cred["ID"])
        assert client.list_credentials(app["ID"]) == []
        client.delete_app(app["ID"])
        with pytest.raises(NotFound):
            client.get_app(app["ID"])


def test_writes_are_never_retried(sandbox):
    retry = RecordingRetry()
    with sync_client(sandbox, retry=retry) as client:
        sandbox.set_faults("lost=100%")  # applied, then 504
        with pytest.raises(PortalServerError) as err:
            client.create_app("Lost answer", 3)
        sandbox.set_faults("")
        assert err.value.status == 504 and err.value.method == "POST"
        named = [a for a in client.list_apps() if a["Name"] == "Lost answer"]
    assert len(named) == 1  # applied exactly once: the caller must look it up, the client must not retry
    assert retry.asked == []
    stats = sandbox.snapshot()["requests"]["by_route"]
    assert sum(v for k, v in stats.items() if k.startswith("POST /portal-api/apps")) == 1


def test_dropped_write_is_a_connection_error_not_a_retry(sandbox):
    retry = RecordingRetry()
    with sync_client(sandbox, retry=retry) as client:
        sandbox.set_faults("drop=100%")
        with pytest.raises(PortalConnectionError) as err:
            client.create_app("Dropped", 3)
        sandbox.set_faults("")
    assert retry.asked == [] and err.value.path == "/apps"


# -- retries for reads -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kinds"),
    [
        ("500=40%", {500}),
        ("502=20%,503=20%", {502, 503}),
        ("429-no-retry=40%", {429}),
        ("drop=30%", {None}),
    ],
)
def test_reads_retry_through_faults(make_sandbox, seed_data, spec, kinds):
    sb = make_sandbox(seed=with_users(seed_data, 60), random_seed=3)
    seen: list[int | None] = []
    retry = RecordingRetry(attempts=12)
    with PortalClient(sb.url, sb.token, per_page=5, retry=retry, on_response=lambda m, p, s, t: seen.append(s)) as c:
        sb.set_faults(spec)
        users = c.list_users()
        sb.set_faults("")
    assert len(users) == 60 and len({u["ID"] for u in users}) == 60
    failures = {s for s in seen if s != 200}
    assert failures and failures <= kinds  # faults really happened, and only these
    assert len(retry.asked) == sum(1 for s in seen if s != 200)
    if kinds == {429}:
        assert {after for _, after in retry.asked} == {None}  # no Retry-After: own backoff


def test_retry_after_from_the_portal_is_honoured(sandbox):
    retry = RecordingRetry()
    with sync_client(sandbox, retry=retry) as client:
        sandbox.set_faults("429=100%,retry-after=7")
        with pytest.raises(RateLimited) as err:
            client.get_user(2)
        sandbox.set_faults("")
    assert err.value.retry_after == 7
    assert retry.asked == [(n, 7.0) for n in range(1, 8)]  # attempts=8: 7 waits, then the error


def test_default_backoff_is_capped_and_jittered():
    policy = RetryPolicy(base=0.2, cap=1.0)
    delays = [policy.delay(n) for n in range(1, 10)]
    assert all(0 < d <= 1.0 for d in delays)
    assert policy.delay(3, retry_after=2.5) == 2.5


# -- typed errors and secrets ------------------------------------------------------------------------


def test_typed_errors_carry_method_path_status_and_errors(sandbox):
    key = "duplicate-key-000000001"
    with sync_client(sandbox) as client:
        with pytest.raises(NotFound) as missing:
            client.get_user(99999)
        assert (missing.value.method, missing.value.path, missing.value.status) == ("GET", "/users/99999", 404)
        with pytest.raises(Rejected) as bad_plan:
            client.create_credential(1, key_id=key + "x", plan_id=424242, product_ids=[1])
        assert bad_plan.value.status == 422 and bad_plan.value.errors
        client.create_credential(1, key_id=key, plan_id=7, product_ids=[1])
        with pytest.raises(Rejected) as dup:
            client.create_credential(1, key_id=key, plan_id=7, product_ids=[1])
    text = f"{dup.value} {dup.value!r} {dup.value.errors} {dup.value.args}"
    assert key not in text
    assert "KeyID" in text and dup.value.path == "/apps/1/custom_credentials"


def test_wrong_token_is_an_auth_error_without_the_token(sandbox):
    secret = "not-the-right-token-0123456789"
    with PortalClient(sandbox.url, secret) as client:
        with pytest.raises(AuthError) as err:
            client.list_users()
        shown = f"{client!r} {client} {client.settings!r}"
    assert err.value.status == 401
    for text in (str(err.value), repr(err.value), shown):
        assert secret not in text


def test_token_and_keys_never_in_reprs(sandbox):
    with sync_client(sandbox) as client:
        assert sandbox.token not in repr(client) + str(client) + repr(client.settings)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://portal.example.com:3001", False),
        ("http://10.0.0.5:3001", False),
        ("http://localhost:3001", True),
        ("http://127.0.0.1:3001", True),
        ("https://portal.example.com:3001", True),
    ],
)
def test_plain_http_to_a_remote_host_is_refused(url, allowed):
    if allowed:
        PortalClient(url, "t").close()
    else:
        with pytest.raises(ConfigError, match="plain http"):
            PortalClient(url, "t")
        PortalClient(settings=Settings(portal_url=url, token="t", allow_insecure_http=True)).close()


def test_missing_token_is_a_config_error(monkeypatch):
    monkeypatch.delenv("TYK_PORTAL_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="token"):
        PortalClient("https://portal.example.com")


# -- in-process, async -------------------------------------------------------------------------------


def asgi_client(seed: dict[str, Any], faults: str = "", **kw: Any) -> tuple[AsyncPortalClient, Any]:
    app = create_app(SandboxConfig(seed=seed, faults=faults, token=TOKEN))
    transport = httpx.ASGITransport(app=app)
    return AsyncPortalClient("http://127.0.0.1:3001", TOKEN, transport=transport, **kw), app.state.sandbox


def test_async_client_in_process_paging_and_writes(seed_data):
    client, state = asgi_client(with_users(seed_data, 65), per_page=4)

    async def scenario() -> None:
        async with client:
            users, apps = await asyncio.gather(client.list_users(), client.list_apps())
            assert len(users) == 65 and len(apps) == len(seed_data["apps"])
            app = await client.create_app("Async app", 2)
            created = await asyncio.gather(
                *(client.create_credential(app["ID"], key_id=f"async-key-{n:012d}", plan_id=9, product_ids=[3])
                  for n in range(9))
            )  # fmt: skip
            assert len({c["ID"] for c in created}) == 9
            listed = await client.list_credentials(app["ID"])
            assert sorted(c["KeyID"] for c in listed) == sorted(c["KeyID"] for c in created)

    asyncio.run(scenario())
    assert state.stats.by_route  # the requests went through the sandbox app


def test_async_client_retries_reads_in_process(seed_data):
    retry = RecordingRetry(attempts=12)
    client, _ = asgi_client(with_users(seed_data, 70), faults="500=30%,429=20%,retry-after=0", per_page=4, retry=retry)

    async def scenario() -> list[dict[str, Any]]:
        async with client:
            users: list[dict[str, Any]] = await client.list_users()
            with pytest.raises(PortalServerError):
                for n in range(40):  # some write meets a 500 and is not retried
                    await client.create_app(f"w{n}", 2)
            return users

    users = asyncio.run(scenario())
    assert len(users) == 70
    assert retry.asked  # faults were met and retried
    assert {after for _, after in retry.asked} <= {None, 0.0}


def capped_portal(total: int, cap: int, seen: list[dict[str, str]]) -> httpx.MockTransport:
    """A portal that serves at most ``cap`` rows a page, whatever ``per_page`` asks (offset at the cap)."""
    rows = [{"ID": i, "Email": f"u{i}@example.test"} for i in range(1, total + 1)]

    def handler(request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        seen.append(query)
        size = min(int(query.get("per_page", 20)), cap)
        start = (int(query.get("page", 1)) - 1) * size
        return httpx.Response(200, json=rows[start : start + size])

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(("total", "cap"), [(45, 20), (100, 50), (20, 20)])
def test_paging_survives_a_portal_that_caps_per_page(total, cap):
    seen: list[dict[str, str]] = []
    with PortalClient("http://127.0.0.1:1", "t", transport=capped_portal(total, cap, seen)) as client:
        users = client.list_users()
    assert [u["ID"] for u in users] == list(range(1, total + 1))
    assert all("limit" not in q for q in seen)


def test_short_page_of_odd_size_ends_the_walk_without_a_probe():
    seen: list[dict[str, str]] = []
    with PortalClient("http://127.0.0.1:1", "t", transport=capped_portal(7, 100, seen)) as client:
        assert len(client.list_users()) == 7
    assert len(seen) == 1


def test_a_configured_proxy_keeps_httpx_transport(monkeypatch):
    from tyk_migrate.portal import AsyncPortalClient
    from tyk_migrate.transport import LeanTransport, lean_transport

    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.test:3128")
    assert lean_transport("https://portal.example.com", verify=True, timeout=5) is None
    assert isinstance(lean_transport("http://portal.example.com", verify=True, timeout=5), LeanTransport)
    client = AsyncPortalClient("https://portal.example.com", "t")
    assert not isinstance(client._http._transport, LeanTransport)
    monkeypatch.delenv("HTTPS_PROXY")
    assert isinstance(AsyncPortalClient("https://portal.example.com", "t")._http._transport, LeanTransport)


def test_the_blocking_client_makes_one_httpx_client_whichever_threads_send_first() -> None:
    """httpx's client is made at the first request (apply's blocking client never sends one): threads that
    send their first requests together share one, and ``close`` closes it (review break-59)."""
    import threading

    client = PortalClient("https://portal.example.com", "t")
    barrier, got = threading.Barrier(4), []

    def first_use() -> None:
        barrier.wait()
        got.append(client._http)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    assert len({id(h) for h in got}) == 1 and got[0].is_closed
    unused = PortalClient("https://portal.example.com", "t")
    unused.close()
    with pytest.raises(RuntimeError, match="closed"):  # closed before its first request: still refuses one
        unused.list_users()


def test_a_portal_client_is_not_pickled_with_its_token() -> None:
    import pickle

    with pytest.raises(TypeError, match="token"):
        pickle.dumps(PortalClient("https://portal.example.com", "SECRET-TOKEN-123"))
