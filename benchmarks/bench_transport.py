"""What the HTTP transport costs the client with dozens of portal requests in flight.

Drives N requests (``GET /portal-api/users/{id}``) with C of them outstanding at once against a sandbox in
its own process (latency 50 ms by default, no cap), through ``httpx.AsyncClient`` with each transport:

- ``httpx-default``: httpx's own pool (httpcore), as a client without a transport of its own gets it;
- ``handwritten``: the hand-written ``LeanTransport`` that ``tyk_migrate/transport.py`` held until
  commit ``OLD_REV``, loaded from git history (skipped outside a git checkout);
- ``httpx-aiohttp``: ``httpx_aiohttp.AiohttpTransport`` as the package ships it;
- ``tyk-migrate``: ``tyk_migrate.transport.lean_transport(...)`` under ``httpx.AsyncClient`` (the same,
  with the body read in the transport, errors mapped and aiohttp's resend switched off);
- ``portal-client``: ``AsyncPortalClient.get_user``, the runner's own path: the same transport without
  httpx's request and response models (``LeanTransport.exchange``), the answer read as the runner reads it.

Reported per transport: requests/s against the limit C / latency, and the client's CPU milliseconds per
request (this process only: the sandbox runs in its own), on a uvloop event loop like the runner's.

    python benchmarks/bench_transport.py                       # 3,000 requests, 32 in flight, 50 ms
    python benchmarks/bench_transport.py --requests 1000 --transports handwritten,tyk-migrate

Writes ``benchmarks/results/transport.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import subprocess
import sys
import time
import types
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from benchmarks.common import ROOT, SANDBOX_TOKEN, fmt, machine_info, machine_label, md_table, sandbox, write_json
from tyk_migrate.aio import run_blocking
from tyk_migrate.errors import PortalError
from tyk_migrate.portal import AsyncPortalClient
from tyk_migrate.retry import RetryPolicy
from tyk_migrate.transport import lean_transport

OLD_REV = "dea93710458e03353d7b4c7b09623e8bfc91dfa7"  # the last commit with the hand-written transport
TRANSPORTS = ("httpx-default", "handwritten", "httpx-aiohttp", "tyk-migrate", "portal-client")
WARM_UP = 64  # requests before the clock starts: connections are opened once per run, not per request


def handwritten_module() -> types.ModuleType | None:
    """``tyk_migrate/transport.py`` as of ``OLD_REV``, imported under another name; None without git."""
    try:
        source = subprocess.run(
            ["git", "show", f"{OLD_REV}:tyk_migrate/transport.py"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("handwritten_transport", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{OLD_REV[:7]}:tyk_migrate/transport.py", "exec"), module.__dict__)
    return module


def make_client(name: str, url: str) -> httpx.AsyncClient | None:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)  # AsyncPortalClient's
    transport: httpx.AsyncBaseTransport | None
    if name == "httpx-default":
        transport = None
    elif name == "handwritten":
        module = handwritten_module()
        if module is None:
            return None
        transport = module.LeanTransport(verify=True, timeout=30.0)
    elif name == "httpx-aiohttp":
        from httpx_aiohttp import AiohttpTransport

        transport = AiohttpTransport(limits=limits)
    elif name == "tyk-migrate":
        transport = lean_transport(url, verify=True, timeout=30.0, max_connections=100)
    else:
        raise ValueError(f"unknown transport {name!r}")
    headers = {"Authorization": SANDBOX_TOKEN, "Accept": "application/json"}
    return httpx.AsyncClient(base_url=url, headers=headers, limits=limits, transport=transport, timeout=30.0)


async def drive(get: Callable[[int], Awaitable[bool]], requests: int, in_flight: int) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and failures for ``requests`` GETs, ``in_flight`` at a time (``get(user)``
    sends one and says whether it was answered 200)."""
    failures = 0

    async def worker(count: int) -> None:
        nonlocal failures
        for n in range(count):
            failures += not await get(1 + n % 5)

    def split(total: int) -> list[int]:
        return [total // in_flight + (1 if i < total % in_flight else 0) for i in range(in_flight)]

    await asyncio.gather(*(worker(n) for n in split(WARM_UP)))
    failures = 0
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(n) for n in split(requests)))
    return time.perf_counter() - wall, time.process_time() - cpu, failures


def measure(name: str, url: str, requests: int, in_flight: int, latency_ms: float) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        if name == "portal-client":
            portal = AsyncPortalClient(url + "/portal-api", SANDBOX_TOKEN, retry=RetryPolicy(attempts=1))

            async def get_user(user: int) -> bool:
                try:
                    return bool(await portal.get_user(user))
                except PortalError:
                    return False

            async with portal:
                seconds, cpu, failures = await drive(get_user, requests, in_flight)
        else:
            client = make_client(name, url)
            if client is None:
                return {"transport": name, "skipped": "no git history to load it from"}

            async def get(user: int) -> bool:
                assert client is not None
                return (await client.get(f"/portal-api/users/{user}")).status_code == 200

            async with client:
                seconds, cpu, failures = await drive(get, requests, in_flight)
        limit = in_flight / (latency_ms / 1000) if latency_ms else None
        rate = requests / seconds
        return {
            "transport": name,
            "requests": requests,
            "seconds": round(seconds, 3),
            "requests_per_second": round(rate, 1),
            "limit_requests_per_second": round(limit, 1) if limit else None,
            "ratio_to_limit": round(rate / limit, 3) if limit else None,
            "cpu_ms_per_request": round(1000 * cpu / requests, 3),
            "failures": failures,
        }

    return run_blocking(run)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=3000, help="requests per transport (default 3000)")
    p.add_argument("--in-flight", type=int, default=32, help="requests outstanding at once (default 32)")
    p.add_argument("--latency-ms", type=float, default=50, help="sandbox latency per request (default 50)")
    p.add_argument("--transports", default=",".join(TRANSPORTS), help=f"comma list among {', '.join(TRANSPORTS)}")
    args = p.parse_args(argv)
    names = [t.strip() for t in args.transports.split(",") if t.strip()]
    unknown = set(names) - set(TRANSPORTS)
    if unknown:
        p.error(f"unknown transports: {', '.join(sorted(unknown))}")
    info = machine_info()
    print(f"transport: {machine_label(info)}", flush=True)
    rows = []
    with sandbox(latency_ms=args.latency_ms) as sb:
        for name in names:
            row = measure(name, sb.url, args.requests, args.in_flight, args.latency_ms)
            rows.append(row)
            if "skipped" in row:
                print(f"  {name}: not run: {row['skipped']}", flush=True)
            else:
                print(f"  {name}: {row['requests_per_second']:.0f} req/s, {row['cpu_ms_per_request']:.2f} ms CPU "
                      f"per request, {row['failures']} failures", flush=True)  # fmt: skip
    results = {"benchmark": "transport", "machine": info, "in_flight": args.in_flight,
               "latency_ms": args.latency_ms, "rows": rows}  # fmt: skip
    path = write_json("transport.json", results)
    table = []
    for r in rows:
        if "skipped" in r:
            table.append([r["transport"], "not run", "", "", "", r["skipped"]])
            continue
        share = fmt(100 * r["ratio_to_limit"]) + "%" if r["ratio_to_limit"] else "n/a"
        table.append([r["transport"], f"{r['requests']:,}", fmt(r["requests_per_second"]), share,
                      fmt(r["cpu_ms_per_request"], 2), r["failures"]])  # fmt: skip
    limit = f" (limit {args.in_flight / (args.latency_ms / 1000):,.0f} req/s)" if args.latency_ms else ""
    print(f"\n{args.in_flight} in flight, sandbox latency {args.latency_ms:g} ms{limit}")
    print(md_table(["transport", "requests", "req/s", "% of limit", "CPU ms/request", "failures"], table))
    print(f"\nmachine: {machine_label(info)}\nJSON: {path}")
    return results


if __name__ == "__main__":
    main()
