"""Each fault kind as a client on the real network would see it (real sockets, httpx)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tyk_migrate.errors import ConfigError
from tyk_migrate.sandbox import parse_faults
from tyk_migrate.sandbox.faults import FaultInjector

APP = {"Name": "Faulted", "UserID": 3}


def client(sb: Any) -> httpx.Client:
    return httpx.Client(base_url=sb.portal_url, headers={"Authorization": sb.token}, timeout=10)


def app_names(sb: Any) -> list[str]:
    return [a["Name"] for a in sb.snapshot()["apps"]]


def test_parse_full_spec() -> None:
    spec = parse_faults("429=5%,429-no-retry=2%,500=3%,502=3%,503=4%,lost=3%,lost-drop=1%,drop=1%,cap=32,jitter=20")
    assert spec.rates["429"] == pytest.approx(0.05) and spec.rates["drop"] == pytest.approx(0.01)
    assert spec.cap == 32 and spec.jitter_ms == 20
    assert parse_faults("500=0.25, latency=40, retry-after=3").rates["500"] == 0.25
    assert parse_faults("").active is False


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("teapot=5%", "unknown fault"),
        ("500", "needs a value"),
        ("500=abc", "not a rate"),
        ("500=150%", "between"),
        ("500=60%,503=50%", "more than 100%"),
        ("cap=0", "cap"),
        ("cap=2.5", "cap"),
        ("jitter=-1", "negative"),
    ],
)
def test_parse_refuses(spec: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_faults(spec)


def test_draws_are_deterministic_under_seed() -> None:
    def run(seed: int) -> list[Any]:
        inj = FaultInjector("500=20%,lost=10%,jitter=30", latency_ms=5, random_seed=seed)
        return [inj.draw() for _ in range(200)]

    assert run(7) == run(7)
    assert run(7) != run(8)
    kinds = [k for k, _ in run(7)]
    assert 20 <= kinds.count("500") <= 60 and 5 <= kinds.count("lost") <= 35
    assert all(0.005 <= d <= 0.035 for _, d in run(7))


def test_same_seed_same_faults_over_http(make_sandbox: Any) -> None:
    runs = []
    for _ in range(2):
        sb = make_sandbox(faults="500=30%,503=10%", random_seed=11)
        with client(sb) as c:
            runs.append([c.get("/products").status_code for _ in range(60)])
    assert runs[0] == runs[1]
    assert {200, 500, 503} <= set(runs[0])


def test_429_with_and_without_retry_after(make_sandbox: Any) -> None:
    sb = make_sandbox(faults="429=100%,retry-after=3")
    with client(sb) as c:
        r = c.get("/users")
        assert r.status_code == 429 and r.headers["retry-after"] == "3" and r.json()["errors"]
        sb.set_faults("429-no-retry=100%")
        r = c.get("/users")
        assert r.status_code == 429 and "retry-after" not in r.headers


@pytest.mark.parametrize("code", [500, 502, 503])
def test_server_errors(make_sandbox: Any, code: int) -> None:
    sb = make_sandbox(faults=f"{code}=100%")
    with client(sb) as c:
        r = c.post("/apps", json=APP)
        assert r.status_code == code
        if code == 500:
            assert r.json()["errors"]
        else:  # a proxy's HTML page, as a load balancer in front of the portal would answer
            assert r.headers["content-type"].startswith("text/html")
    assert "Faulted" not in app_names(sb)


def test_lost_answer_504_but_write_applied(make_sandbox: Any) -> None:
    sb = make_sandbox(faults="lost=100%")
    with client(sb) as c:
        r = c.post("/apps", json=APP)
        assert r.status_code == 504
    assert "Faulted" in app_names(sb)


def test_lost_drop_connection_but_write_applied(make_sandbox: Any) -> None:
    sb = make_sandbox(faults="lost-drop=100%")
    with client(sb) as c, pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        c.post("/apps", json=APP)
    assert "Faulted" in app_names(sb)
    assert sb.snapshot()["requests"]["by_route"]["POST /portal-api/apps dropped"] == 1


def test_drop_before_applying(make_sandbox: Any) -> None:
    sb = make_sandbox(faults="drop=100%")
    with client(sb) as c, pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        c.post("/apps", json=APP)
    assert "Faulted" not in app_names(sb)
    sb.set_faults("")
    with client(sb) as c:  # the server is still fine after a drop
        assert c.post("/apps", json=APP).status_code == 200


def test_cap_on_in_flight(make_sandbox: Any) -> None:
    sb = make_sandbox(faults="cap=5", latency_ms=300)

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(headers={"Authorization": sb.token}, limits=limits, timeout=10) as c:
            return await asyncio.gather(*(c.get(sb.portal_url + "/plans") for _ in range(20)))

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) >= 5 and statuses.count(429) >= 10, statuses
    assert all(r.headers.get("retry-after") == "1" for r in responses if r.status_code == 429)
    assert sb.snapshot()["requests"]["faults_injected"]["cap"] == statuses.count(429)


def test_latency_and_jitter_are_applied(make_sandbox: Any) -> None:
    sb = make_sandbox(latency_ms=120)
    with client(sb) as c:
        start = time.perf_counter()
        c.get("/plans")
        assert time.perf_counter() - start >= 0.12
        sb.set_faults("jitter=100", latency_ms=0)
        times = []
        for _ in range(8):
            start = time.perf_counter()
            c.get("/plans")
            times.append(time.perf_counter() - start)
        assert max(times) - min(times) > 0.01


def test_latency_is_async_not_blocking(make_sandbox: Any) -> None:
    sb = make_sandbox(latency_ms=200)

    async def burst() -> float:
        async with httpx.AsyncClient(
            headers={"Authorization": sb.token}, timeout=10, limits=httpx.Limits(max_connections=100)
        ) as c:
            start = time.perf_counter()
            await asyncio.gather(*(c.get(sb.portal_url + "/plans") for _ in range(100)))
            return time.perf_counter() - start

    assert asyncio.run(burst()) < 8  # 100 x 200 ms would be 20 s if latency blocked the loop
    assert sb.snapshot()["requests"]["portal_in_flight_peak"] >= 50


def test_gateway_and_admin_are_not_faulted(make_sandbox: Any, seed_data: dict[str, Any]) -> None:
    sb = make_sandbox(faults="500=100%", latency_ms=5000)
    cred = seed_data["custom_credentials"][0]
    start = time.perf_counter()
    r = httpx.get(sb.gateway_url + "/webhooks/ping", headers={"Authorization": cred["KeyID"]})
    assert r.status_code == 200
    assert sb.snapshot()["faults"]["faults"] == "500=100%"
    assert time.perf_counter() - start < 4  # neither call waited for the 5 s portal latency


def test_admin_refuses_bad_faults(sandbox: Any) -> None:
    r = httpx.put(
        sandbox.url + "/__sandbox/faults", json={"faults": "nope=1%"}, headers={"Authorization": sandbox.token}
    )
    assert r.status_code == 422 and "unknown fault" in r.json()["errors"][0]
    r = httpx.put(sandbox.url + "/__sandbox/faults", content=b"{", headers={"Authorization": sandbox.token})
    assert r.status_code == 400
