"""100,000 keys applied in one process against the sandbox: peak memory and journal size as the run grows.

The sandbox runs in its own process (zero latency, no cap: the portal is as fast as it gets, so the run is
bound by its own CPU and memory). The apply runs in a fresh child process that does what
``tyk-migrate apply`` does (prepare: load, validate, read the portal, plan; then the ``Migration``, then the
outcome CSV) and, at 10%, 50% and 100% of the keys done (10k / 50k / 100k by default), records its peak
RSS, its current RSS and the journal's size on disk (database file, and with its WAL, which SQLite
checkpoints back into the file every ~4 MB). Growth between checkpoints is the
exponent b in ``size ~ keys^b`` (1.0 = linear) of memory above the imports and of the journal.

    python benchmarks/bench_100k.py                 # 100,000 keys (several minutes)
    python benchmarks/bench_100k.py --keys 20000    # a check that it works
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RESULTS, SANDBOX_TOKEN, fmt, machine_info, machine_label, md_table, sandbox, write_json
from benchmarks.workload import make_keys, write_legacy_csv

CHECKPOINTS = (0.1, 0.5, 1.0)
CHILD_TIMEOUT = 3600


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _journal_mb(path: Path) -> float:
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


def child(csv_path: str, journal: str, portal_url: str, out_csv: str) -> dict[str, Any]:
    """Runs in a fresh interpreter: apply the export, recording memory and journal size at checkpoints."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    from tyk_migrate.launch import prepare_process

    prepare_process()  # the console script's process: the collector tuned as `tyk-migrate apply` has it
    from tyk_migrate.aio import run_blocking
    from tyk_migrate.config import Settings
    from tyk_migrate.pipeline import prepare
    from tyk_migrate.report import export_outcomes
    from tyk_migrate.run import Migration

    out: dict[str, Any] = {"rss_after_imports_mb": round(_peak_rss_mb(), 1), "checkpoints": []}
    out["imports_s"] = round(time.perf_counter() - wall0, 2)
    settings = Settings(portal_url=portal_url, token=SANDBOX_TOKEN)
    started, cpu = time.perf_counter(), time.process_time()
    prepared = prepare(csv_path, portal=settings, progress=False)
    out["prepare_s"] = round(time.perf_counter() - started, 2)
    out["prepare_cpu_s"] = round(time.process_time() - cpu, 2)
    out["rss_after_prepare_mb"] = round(_peak_rss_mb(), 1)
    plan = prepared.plan
    total = len(plan)
    marks = sorted({max(1, math.ceil(total * c)) for c in CHECKPOINTS})
    path = Path(journal)

    def on_progress(p: Any) -> None:
        while marks and p.done >= marks[0]:
            out["checkpoints"].append({
                "keys": marks.pop(0), "seconds": round(time.perf_counter() - started, 2),
                "peak_rss_mb": round(_peak_rss_mb(), 1), "rss_mb": round(_rss_mb(), 1),
                "journal_mb": round(_journal_mb(path), 2), "journal_db_mb": round(path.stat().st_size / 1e6, 2),
            })  # fmt: skip

    run_started, cpu = time.perf_counter(), time.process_time()
    migration = Migration(plan, settings, journal, on_progress=on_progress)
    run_blocking(migration.run)
    out["run_s"] = round(time.perf_counter() - run_started, 2)
    out["run_cpu_s"] = round(time.process_time() - cpu, 2)  # the client's own cost of its requests
    export_outcomes(plan, Path(out_csv))
    out["seconds"] = round(time.perf_counter() - started, 2)
    out["statuses"] = {str(k): int(v) for k, v in plan["status"].value_counts().items()}
    out["requests"] = migration.progress.requests
    out["cpu_ms_per_request"] = round(1000 * out["run_cpu_s"] / out["requests"], 3) if out["requests"] else None
    out["process_cpu_s"] = round(time.process_time() - cpu0, 2)
    out["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    out["journal_mb"] = round(_journal_mb(path), 2)
    return out


def growth(points: list[dict[str, Any]], field: str, base: float = 0.0) -> list[float | None]:
    """Exponent b in ``value ~ keys^b`` from each checkpoint to the next (None for the first)."""
    out: list[float | None] = [None]
    for a, b in itertools.pairwise(points):
        va, vb = a[field] - base, b[field] - base
        out.append(round(math.log(vb / va) / math.log(b["keys"] / a["keys"]), 2) if va > 0 and vb > 0 else None)
    return out


def table(result: dict[str, Any]) -> str:
    points = result["checkpoints"]
    base = result["rss_after_imports_mb"]
    m_growth, j_growth = growth(points, "peak_rss_mb", base), growth(points, "journal_db_mb")
    rows = [
        [f"{p['keys']:,}", fmt(p["seconds"]), fmt(p["peak_rss_mb"], 0), fmt(p["rss_mb"], 0),
         fmt(p["peak_rss_mb"] - base, 0), fmt(p["journal_mb"], 1), fmt(p["journal_db_mb"], 1),
         fmt(1000 * p["journal_db_mb"] / p["keys"], 2),
         "" if mg is None else f"keys^{mg}", "" if jg is None else f"keys^{jg}"]
        for p, mg, jg in zip(points, m_growth, j_growth, strict=True)
    ]  # fmt: skip
    headers = ["keys done", "seconds", "peak RSS MB", "RSS now MB", "peak above imports MB", "journal + WAL MB",
               "journal file MB", "journal kB/key", "memory growth", "journal growth"]  # fmt: skip
    return md_table(headers, rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keys", type=int, default=100_000)
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return {}
    info = machine_info()
    print(f"100k: {machine_label(info)}; {args.keys:,} keys", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-100k-") as tmp, sandbox(latency_ms=0) as sb:
        work = Path(tmp)
        data = write_legacy_csv(make_keys(args.keys), work / "legacy.csv")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(data), str(work / "run.journal"),
               sb.url, str(work / "outcomes.csv")]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"apply process failed: {tail[:300]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    out = {"benchmark": "100k", "machine": info, "keys": args.keys, **result}
    write_json("100k.json", out)
    print(
        f"prepare {result['prepare_s']} s, run {result['run_s']} s, statuses {result['statuses']}, "
        f"{result['requests']:,} requests, peak RSS {result['peak_rss_mb']} MB, journal {result['journal_mb']} MB"
    )
    print(table(result))
    print(f"\nmachine: {machine_label(info)}\nJSON: {RESULTS / '100k.json'}")
    return out


if __name__ == "__main__":
    main()
