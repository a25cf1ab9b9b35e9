"""How does the sandbox hold >= 500 portal requests in flight at 50 ms latency, and when is it the bottleneck?

The sandbox runs as ``tyk-migrate sandbox`` in its own process (so the client's CPU does not distort
it); a client fires N requests with C of them outstanding at once. For each scenario we report
throughput against the ideal C / latency, the client's latency percentiles, the peak number of portal
requests the *sandbox* counted in flight, and the CPU each side used. The last column says which side
limits the run: the sandbox is one Python process, so at about one core busy it is the limit (about
3,500 requests/s on the 2-core machine, a third of the 10,000/s that 500 in flight at 50 ms would
allow); when the client burns its core first (httpx at 500 connections), the client is. A migration at
32 in flight needs at most 640 requests/s, a fifth of the sandbox's ceiling.

    python benchmarks/bench_sandbox.py               # full run (about a minute)
    python benchmarks/bench_sandbox.py --quick       # smaller N, to check it runs

Exit status 0 when the sandbox held every requested in-flight count with only 2xx answers.
Writes ``benchmarks/results/sandbox.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "data-samples" / "sandbox_seed.json"
RESULTS = ROOT / "benchmarks" / "results"
TOKEN = "bench-sandbox-token"
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (Linux); 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


@contextlib.contextmanager
def sandbox_process(latency_ms: float) -> Iterator[tuple[str, int]]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "tyk_migrate.cli",
        "sandbox",
        "--port",
        str(port),
        "--seed",
        str(SEED),
        "--token",
        TOKEN,
        "--latency-ms",
        str(latency_ms),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/__sandbox/faults", headers={"Authorization": TOKEN}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"sandbox did not start: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.05)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


SHARD = 20  # connections per httpx client: one big pool costs O(pool) per request in httpcore


def request_bytes(kind: str, host: str, i: int, tag: str) -> bytes:
    if kind == "read":
        return f"GET /portal-api/plans HTTP/1.1\r\nHost: {host}\r\nAuthorization: {TOKEN}\r\n\r\n".encode()
    body = json.dumps(
        {
            "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
            "PlanID": 8,
            "ProductIDs": [1, 2],
            "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM",
            "KeyID": f"bench-{tag}-{i:07d}",
            "AuthenticationMethod": "Auth Token",
            "Alias": f"bench {i}",
        }
    ).encode()
    head = (
        f"POST /portal-api/apps/1/custom_credentials HTTP/1.1\r\nHost: {host}\r\nAuthorization: {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def fire_raw(url: str, kind: str, total: int, concurrency: int) -> tuple[float, list[float], dict[int, int]]:
    """A minimal keep-alive HTTP/1.1 client: cheap enough per request that the client is not the limit."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(total))
    tag = f"{time.time_ns():x}"

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> int:
        writer.write(data)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        return status

    conns = [await asyncio.open_connection(host, int(port)) for _ in range(concurrency)]

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for i in counter:
            start = time.perf_counter()
            status = await exchange(reader, writer, request_bytes(kind, host, i, tag))
            latencies.append(time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(r, w) for r, w in conns))
    elapsed = time.perf_counter() - start
    for _, w in conns:
        w.close()
    return elapsed, latencies, statuses


async def fire_httpx(url: str, kind: str, total: int, concurrency: int) -> tuple[float, list[float], dict[int, int]]:
    """The same load through httpx (sharded pools): shows what a Python client itself costs."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(total))
    tag = f"{time.time_ns():x}"
    shards = max(1, -(-concurrency // SHARD))
    limits = httpx.Limits(max_connections=SHARD, max_keepalive_connections=SHARD)
    clients = [
        httpx.AsyncClient(base_url=url + "/portal-api", headers={"Authorization": TOKEN}, limits=limits, timeout=60)
        for _ in range(shards)
    ]

    async def worker(client: httpx.AsyncClient) -> None:
        for i in counter:
            start = time.perf_counter()
            if kind == "read":
                r = await client.get("/plans")
            else:
                body = request_bytes(kind, "x", i, tag).split(b"\r\n\r\n", 1)[1]
                r = await client.post("/apps/1/custom_credentials", content=body)
            latencies.append(time.perf_counter() - start)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    try:
        await asyncio.gather(*(clients[w % shards].get("/plans", params={"per_page": 1}) for w in range(concurrency)))
        start = time.perf_counter()
        await asyncio.gather(*(worker(clients[w % shards]) for w in range(concurrency)))
        return time.perf_counter() - start, latencies, statuses
    finally:
        for client in clients:
            await client.aclose()


def scenario(kind: str, latency_ms: float, concurrency: int, total: int, client: str) -> dict[str, Any]:
    with sandbox_process(latency_ms) as (url, pid):
        admin = {"Authorization": TOKEN}
        client_cpu0, sandbox_cpu0 = time.process_time(), cpu_seconds(pid)
        fire = fire_raw if client == "raw" else fire_httpx
        elapsed, latencies, statuses = asyncio.run(fire(url, kind, total, concurrency))
        client_cpu, sandbox_cpu = time.process_time() - client_cpu0, cpu_seconds(pid) - sandbox_cpu0
        stats = httpx.get(url + "/__sandbox/state", headers=admin, timeout=30).json()["requests"]
    latencies.sort()
    ideal = concurrency / (latency_ms / 1000)
    throughput = total / elapsed
    return {
        "client": client,
        "kind": kind,
        "latency_ms": latency_ms,
        "concurrency": concurrency,
        "requests": total,
        "seconds": round(elapsed, 3),
        "throughput_rps": round(throughput, 1),
        "ideal_rps": round(ideal, 1),
        "efficiency": round(throughput / ideal, 3),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
        "sandbox_in_flight_peak": stats["portal_in_flight_peak"],
        "sandbox_cpu_cores": round(sandbox_cpu / elapsed, 2) if sandbox_cpu else None,
        "client_cpu_cores": round(client_cpu / elapsed, 2),
        # CPU per request (warm-up included): the sandbox's capacity is about 1000 / this per core
        "sandbox_cpu_ms_per_request": round(1000 * sandbox_cpu / total, 3) if sandbox_cpu else None,
        "client_cpu_ms_per_request": round(1000 * client_cpu / total, 3),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "limited_by": limited_by(throughput / ideal, sandbox_cpu / elapsed, client_cpu / elapsed),
    }


def limited_by(efficiency: float, sandbox_cores: float, client_cores: float) -> str:
    """Which side held the run below C / latency: the one whose single core was (nearly) full."""
    if efficiency >= 0.9:
        return "latency (neither)"
    return "sandbox CPU" if sandbox_cores >= max(0.85, client_cores) else "client CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N, just to check it runs")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx", "both"],
        default="both",
        help="load generator: a minimal asyncio HTTP client, httpx, or both (default)",
    )
    args = parser.parse_args(argv)
    n = 1200 if args.quick else 3000
    plan = []
    if args.client in ("raw", "both"):
        plan += [("raw", "read", 50, 500, n), ("raw", "read", 50, 600, n), ("raw", "write", 50, 500, n)]
    if args.client in ("httpx", "both"):
        plan += [("httpx", "read", 50, 500, n), ("httpx", "read", 250, 600, n)]
    rows = []
    print(
        f"{'client':6} {'kind':5} {'lat':>4} {'conc':>4} {'N':>5} {'secs':>6} {'req/s':>7} {'ideal':>7} "
        f"{'eff':>5} {'p50':>6} {'p95':>6} {'peak':>5} {'sbCPU':>5} {'clCPU':>5} "
        f"{'sb ms/req':>9} {'cl ms/req':>9} {'limited by':17} statuses"
    )
    for client, kind, latency, conc, total in plan:
        row = scenario(kind, latency, conc, total, client)
        rows.append(row)
        print(
            f"{client:6} {kind:5} {latency:>4} {conc:>4} {total:>5} {row['seconds']:>6} "
            f"{row['throughput_rps']:>7} {row['ideal_rps']:>7} {row['efficiency']:>5} {row['p50_ms']:>6} "
            f"{row['p95_ms']:>6} {row['sandbox_in_flight_peak']:>5} {row['sandbox_cpu_cores']!s:>5} "
            f"{row['client_cpu_cores']:>5} {row['sandbox_cpu_ms_per_request']!s:>9} "
            f"{row['client_cpu_ms_per_request']:>9} {row['limited_by']:17} "
            f"{row['statuses']}",
            flush=True,
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "sandbox.json"
    machine: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "load_avg_at_end": os.getloadavg(),
    }
    try:
        import httptools  # noqa: F401
        import uvloop  # noqa: F401

        machine["server"] = "uvicorn + httptools + uvloop"
    except ImportError:
        machine["server"] = "uvicorn (h11 / asyncio)"
    out.write_text(json.dumps({"machine": machine, "quick": args.quick, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    ok = all(r["sandbox_in_flight_peak"] >= r["concurrency"] for r in rows if r["client"] == "raw")
    ok = ok and all(set(r["statuses"]) <= {"200", "201"} for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
