"""Two builds of tyk-migrate side by side: ``tyk-migrate apply`` of each, interleaved, on the bench's workload.

A change worth a few percent is smaller than what a shared machine drifts by in a minute, so one ``make
bench`` before and one after cannot show it. This runs the builds in turn (A, B, A, B, ...), each run on a
fresh sandbox (50 ms, cap 32, the same seed and keys as ``bench_compare.py``), and reports each build's
median keys/s of the whole command and of its portal phase as a share of the honest limit (2 requests per
key: 320 keys/s). A build is a directory holding a ``tyk_migrate`` package (a git worktree of an older
commit: ``git worktree add /tmp/old HEAD~1``); it runs from there with ``PYTHONPATH``, through the console
script entry its own ``pyproject.toml`` names, so start-up is measured as a user's ``tyk-migrate`` has it.
The sandbox is always this checkout's.

    python benchmarks/bench_ab.py /tmp/old .                       # 4 runs each, --concurrency 32
    python benchmarks/bench_ab.py /tmp/old . --runs 6 --concurrency adaptive
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_compare import DEFAULT_FAULTS
from benchmarks.common import SANDBOX_TOKEN, sandbox
from benchmarks.workload import make_keys, write_legacy_csv

HONEST_LIMIT = 32 / (2 * 0.050)  # keys/s: cap 32, 2 unavoidable requests per key, 50 ms
PORTAL_LINE = re.compile(r"portal\s+\d+ requests in ([\d.]+)\s*s")


def entry_point(build: Path) -> str:
    """``python -c`` code that runs the build's ``tyk-migrate`` console script entry."""
    scripts = tomllib.loads((build / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    module, func = scripts["tyk-migrate"].split(":")
    return f"import sys; sys.argv[0] = 'tyk-migrate'; from {module} import {func}; {func}()"


def one_run(build: Path, data: Path, tmp: Path, concurrency: str, faults: str = "") -> tuple[float, float]:
    """(whole-command seconds, portal-phase seconds) of one ``apply`` of ``data`` by ``build``."""
    with sandbox(latency_ms=50, faults=",".join(filter(None, [faults, "cap=32"])), random_seed=7) as sb:
        env = {**os.environ, "TYK_PORTAL_URL": sb.url, "TYK_PORTAL_TOKEN": SANDBOX_TOKEN, "PYTHONPATH": str(build)}
        cmd = [sys.executable, "-c", entry_point(build), "apply", str(data), "--journal", str(tmp / "run.journal"),
               "--out", str(tmp / "outcomes.csv"), "--no-progress", "--concurrency", concurrency]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp, timeout=600)
        whole = time.perf_counter() - started
    portal = PORTAL_LINE.search(done.stdout)
    if done.returncode != 0 or portal is None:
        raise SystemExit(f"{build}: apply exited {done.returncode}: {(done.stderr or done.stdout)[-300:]}")
    return whole, float(portal[1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("builds", nargs="+", type=Path, help="directories holding a tyk_migrate package")
    p.add_argument("--runs", type=int, default=4, help="runs of each build")
    p.add_argument("--keys", type=int, default=2000)
    p.add_argument("--concurrency", default="32", help="apply's --concurrency (a number or 'adaptive')")
    p.add_argument("--faults", default="", help="sandbox faults besides the cap ('bench': bench_compare's)")
    args = p.parse_args(argv)
    faults = DEFAULT_FAULTS if args.faults == "bench" else args.faults
    builds = [b.resolve() for b in args.builds]
    for build in builds:
        if not (build / "tyk_migrate").is_dir():
            raise SystemExit(f"{build}: no tyk_migrate package there")
        compileall.compile_dir(str(build / "tyk_migrate"), quiet=1)  # no run compiles its modules while timed
    keys = make_keys(args.keys)
    results: dict[Path, list[tuple[float, float]]] = {b: [] for b in builds}
    for i in range(args.runs):
        for build in builds:
            with tempfile.TemporaryDirectory() as tmp:
                data = write_legacy_csv(keys, Path(tmp) / "legacy.csv")
                whole, portal = one_run(build, data, Path(tmp), args.concurrency, faults)
            results[build].append((whole, portal))
            print(f"run {i + 1} {build}: {args.keys / whole:.1f} keys/s, whole {whole:.2f} s, portal {portal:.2f} s "
                  f"({100 * args.keys / portal / HONEST_LIMIT:.1f}%)", flush=True)  # fmt: skip
    for build, runs in results.items():
        rate = statistics.median(args.keys / whole for whole, _ in runs)
        portal_share = statistics.median(100 * args.keys / portal / HONEST_LIMIT for _, portal in runs)
        print(f"{build}: median {rate:.1f} keys/s ({100 * rate / HONEST_LIMIT:.1f}% of the honest limit), "
              f"portal phase median {portal_share:.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
