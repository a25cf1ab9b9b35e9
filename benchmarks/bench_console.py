"""What the migration console costs a run: 2,000 keys, headless runner vs the console, fresh sandboxes.

    python benchmarks/bench_console.py [--keys 2000] [--latency-ms 5] [--repeats 3] [--concurrency adaptive]

Both sides make the same ``Migration`` (the console builds it when its Start button is clicked) against
their own fresh ``tyk-migrate sandbox`` in a separate process, runs alternating so a drifting machine
hurts both alike. The console side redraws every widget on its throttled timer (4/s), and every widget
message is JSON-serialised as a kernel would before sending it to the frontend (there is no frontend
here, so this is the kernel-side cost, which is the part that can slow a run).

Two figures:

* wall-clock overhead: median console run time over median headless run time, minus one;
* UI time share: time spent inside the console's redraws (and widget message serialisation) over the
  run's wall time, a noise-free upper bound of what the console takes from the event loop.

Writes ``benchmarks/results/console.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import SEED, fmt, machine_info, machine_label, md_table, sandbox, write_json
from benchmarks.workload import make_keys
from tyk_migrate.config import Settings
from tyk_migrate.plan import build_plan
from tyk_migrate.run import Migration
from tyk_migrate.secrets import fingerprint, secret_series
from tyk_migrate.snapshot import PortalSnapshot

KINDS = ("headless", "headless+ticks", "console")


class _Meter:
    """Time spent in the console's own code on the loop, and widget messages 'sent'."""

    seconds = 0.0
    messages = 0
    bytes = 0


def _install_serialising_comm() -> None:
    """Widgets outside a kernel talk to a no-op comm; make each message cost its JSON encoding instead."""
    import comm
    from comm.base_comm import BaseComm

    class SerialisingComm(BaseComm):
        def publish_msg(
            self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any
        ) -> None:
            started = time.perf_counter()
            payload = json.dumps({"msg_type": msg_type, "data": data, "metadata": metadata}, default=str)
            _Meter.messages += 1
            _Meter.bytes += len(payload)
            _Meter.seconds += time.perf_counter() - started

    comm.create_comm = SerialisingComm


def make_plan(n: int) -> pd.DataFrame:
    seed = json.loads(SEED.read_text(encoding="utf-8"))
    keys = make_keys(n, prefix="console")
    legacy = pd.DataFrame(
        {
            "source_row": range(1, n + 1),
            "source_id": [None] * n,
            "key_id": [k.key_id for k in keys],
            "key_fingerprint": [fingerprint(k.key_id) for k in keys],
            "owner_email": [k.owner_email for k in keys],
            "app_name": [k.app_name for k in keys],
            "alias": [k.alias for k in keys],
            "plan": [k.plan_ref for k in keys],
            "products": [list(k.product_refs) for k in keys],
            "expires_at": [pd.NaT] * n,
            "active": [True] * n,
        }
    )
    legacy["key_id"] = secret_series(legacy["key_id"], index=legacy.index)
    plan, _ = build_plan(legacy, PortalSnapshot.from_seed(seed))
    return plan


async def _headless(
    plan: pd.DataFrame, settings: Settings, journal: Path, concurrency: Any, *, ticks: bool = False
) -> dict[str, Any]:
    """The runner alone; with ``ticks`` also an empty 4/s loop timer (the console's wake-ups, no drawing)."""
    migration = Migration(plan, settings, journal, concurrency=concurrency)
    loop = asyncio.get_running_loop()
    handle: asyncio.TimerHandle | None = None

    def tick() -> None:
        nonlocal handle
        handle = loop.call_later(0.25, tick)

    if ticks:
        tick()
    started, cpu = time.perf_counter(), time.process_time()
    try:
        await migration.run()
    finally:
        if handle is not None:
            handle.cancel()
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "progress": migration.progress,
    }


async def _console(plan: pd.DataFrame, settings: Settings, journal: Path, concurrency: Any) -> dict[str, Any]:
    from tyk_migrate.ui import MigrationConsole

    console = MigrationConsole(plan, settings, journal, widgets=True, concurrency=concurrency)
    refresh = console._refresh

    def timed_refresh() -> None:
        started = time.perf_counter()
        try:
            refresh()
        finally:
            _Meter.seconds += time.perf_counter() - started

    console._refresh = timed_refresh  # type: ignore[method-assign]
    _Meter.seconds, _Meter.messages, _Meter.bytes = 0.0, 0, 0
    started, cpu = time.perf_counter(), time.process_time()
    console.start_button.click()
    await console.wait()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert not console.errors, console.errors
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "progress": console.progress,
        "ui_seconds": _Meter.seconds,
        "refreshes": console.refreshes,
        "messages": _Meter.messages,
        "message_bytes": _Meter.bytes,
    }


def one(kind: str, n: int, latency_ms: float, concurrency: Any, workdir: Path, i: int) -> dict[str, Any]:
    plan = make_plan(n)
    journal = workdir / f"{kind}-{i}.journal"
    with sandbox(latency_ms=latency_ms) as sb:
        settings = Settings(portal_url=sb.portal_url, token=sb.token)
        if kind == "console":
            result = asyncio.run(_console(plan, settings, journal, concurrency))
        else:
            result = asyncio.run(_headless(plan, settings, journal, concurrency, ticks=kind == "headless+ticks"))
        state = sb.state()
    created = int((plan["status"] == "created").sum())
    in_portal = sum(1 for c in state["custom_credentials"] if c["KeyID"].startswith("console"))
    if created != n or in_portal != n:
        raise RuntimeError(f"{kind} run {i}: {created} created, {in_portal} in the portal, expected {n}")
    p = result.pop("progress")
    return {"kind": kind, "repeat": i, "keys": n, "created": created, "requests": p.requests, **result}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", default="adaptive", help="'adaptive' or a whole number")
    args = parser.parse_args(argv)
    concurrency: Any = args.concurrency if args.concurrency == "adaptive" else int(args.concurrency)
    _install_serialising_comm()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            kinds = list(KINDS)
            order = kinds[i % 3 :] + kinds[: i % 3]  # rotate, so no arm always runs first
            for kind in order:
                runs.append(one(kind, args.keys, args.latency_ms, concurrency, Path(tmp), i))
                r = runs[-1]
                print(f"  {kind:8} #{i + 1}: {r['seconds']:.2f} s", file=sys.stderr, flush=True)

    def med(kind: str, key: str) -> float:
        return statistics.median(float(r[key]) for r in runs if r["kind"] == kind)

    console = [r for r in runs if r["kind"] == "console"]
    overhead = med("console", "seconds") / med("headless", "seconds") - 1
    overhead_ticks = med("console", "seconds") / med("headless+ticks", "seconds") - 1
    cpu_overhead = med("console", "cpu_seconds") / med("headless", "cpu_seconds") - 1
    ui_share = statistics.median(r["ui_seconds"] / r["seconds"] for r in console)
    rows = []
    for kind, label in zip(
        KINDS, ("headless runner", "headless + empty 4/s loop timer", "console (4 redraws/s)"), strict=True
    ):
        mine = [r for r in runs if r["kind"] == kind]
        rows.append(
            [
                label,
                args.keys,
                fmt(med(kind, "seconds"), 2),
                fmt(min(r["seconds"] for r in mine), 2),
                fmt(med(kind, "cpu_seconds"), 2),
                fmt(med(kind, "refreshes"), 0) if kind == "console" else "–",
                fmt(med(kind, "messages"), 0) if kind == "console" else "–",
                f"{ui_share:.2%}" if kind == "console" else "–",
            ]
        )
    headers = ["run", "keys", "median wall s", "best wall s", "median CPU s", "redraws", "widget msgs", "UI share"]
    print(md_table(headers, rows))
    print(
        f"\nconsole vs headless: wall {overhead:+.1%}, client CPU {cpu_overhead:+.1%}; "
        f"vs headless with the same loop wake-ups: wall {overhead_ticks:+.1%}; "
        f"time inside the console's redraws: {ui_share:.2%} of the run (target < 5%)"
    )
    print(f"machine: {machine_label()}")
    data = {
        "benchmark": "console overhead vs headless runner",
        "keys": args.keys,
        "latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
        "repeats": args.repeats,
        "overhead_wall": overhead,
        "overhead_wall_vs_ticks": overhead_ticks,
        "overhead_cpu": cpu_overhead,
        "ui_time_share": ui_share,
        "target": 0.05,
        "runs": runs,
        "machine": machine_info(),
        "command": "python benchmarks/bench_console.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    path = write_json("console.json", data)
    print(f"wrote {path}")
    return data


if __name__ == "__main__":
    main()
