"""Side by side: ``tyk-migrate apply`` vs the how-to's loop vs Newman, same sandbox settings, same data.

Two runs, each tool on its own fresh sandbox (``tyk-migrate sandbox`` in a subprocess, same seed, same
latency, same cap on portal requests in flight, same fault seed):

1. throughput: no faults besides the cap. Keys per second (wall clock of the tool's whole command,
   start-up and tyk-migrate's portal snapshot included), ratios to the two baselines, and the ratio to the
   limits ``cap / (requests per key x latency)``: the honest one with the requests the job cannot avoid
   (credentials + apps to create, per key; ``tyk_migrate.run.throughput``), and each tool's own one with
   requests per key counted by the sandbox for that tool's run (reads included).
2. faults: 5xx, 429 with and without Retry-After, writes whose answer is lost, dropped connections, on
   the throughput run's workload (2,000 keys, 50 ms, cap 32: the honest limit is the same). Afterwards
   the sandbox state is audited per key: missing, misplaced (wrong app, owner, plan or products),
   duplicate apps, orphan apps.

The one-request-at-a-time baselines need ``2 x latency`` per key at best, so they run on fewer keys
(``--baseline-keys``); keys per second are comparable across N, and N is in the table.

    python benchmarks/bench_compare.py                 # defaults: 2,000 keys, 300 for baselines, 50 ms, cap 32
    python benchmarks/bench_compare.py --keys 500 --baseline-keys 100 --skip-faults
    python benchmarks/bench_compare.py --tools tyk-migrate,tyk-migrate-fixed --skip-throughput --fault-keys 10000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    BENCH_DIR,
    RESULTS,
    SANDBOX_TOKEN,
    SandboxProcess,
    compile_package,
    fmt,
    machine_info,
    machine_label,
    md_table,
    portal_requests,
    sandbox,
    tyk_migrate_command,
    write_json,
)
from benchmarks.workload import Key, audit, make_keys, write_legacy_csv, write_prepared_csv
from tyk_migrate.run.throughput import limit_keys_per_second, unavoidable_requests_per_key

NEWMAN_DIR = BENCH_DIR / "newman"
NEWMAN_BIN = NEWMAN_DIR / "node_modules" / ".bin" / "newman"
TRANSPORT = "aiohttp"  # --transport: which HTTP transport the tyk-migrate runs send through
TOOLS = ("tyk-migrate", "tyk-migrate-fixed", "howto-loop", "newman")
LABELS = {
    "tyk-migrate": "tyk-migrate apply (default: adaptive)",
    "tyk-migrate-fixed": "tyk-migrate apply --concurrency CAP",
    "howto-loop": "how-to loop (httpx, one at a time)",
    "newman": "Newman + CSV (Postman collection)",
}
DEFAULT_FAULTS = "500=3%,502=2%,503=3%,429=4%,429-no-retry=2%,lost=3%,lost-drop=1%,drop=1%"
TOOL_TIMEOUT = 420  # seconds: a tool that hangs must not hang `make bench`


def ensure_newman() -> str | None:
    """Install the pinned Newman when missing; ``None`` when ready, else why it cannot run."""
    if NEWMAN_BIN.exists():
        return None
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        return "node/npm not found"
    print("installing newman (npm install --prefix benchmarks/newman) ...", flush=True)
    r = subprocess.run(
        [npm, "install", "--prefix", str(NEWMAN_DIR), "--no-audit", "--no-fund"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if r.returncode != 0 or not NEWMAN_BIN.exists():
        last = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["unknown error"]
        return f"npm install failed: {last[0][:120]}"
    return None


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        proc = subprocess.CompletedProcess(cmd, -9, out, f"timed out after {TOOL_TIMEOUT} s")
    return time.perf_counter() - started, proc


def outcome_summary(path: Path) -> dict[str, Any]:
    """Status counts and the most frequent errors from ``tyk-migrate apply --out`` (no key values in it)."""
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    statuses = Counter(r.get("status", "") for r in rows)
    errors = Counter((r.get("error") or "")[:160] for r in rows if r.get("error"))
    return {"statuses": dict(statuses), "top_errors": errors.most_common(5)}


def run_tool(tool: str, keys: list[Key], sb: SandboxProcess, work: Path, concurrency: str | None) -> dict[str, Any]:
    """Run one tool to completion against ``sb``; returns its wall time, exit code and own summary."""
    env = {**os.environ, "TYK_PORTAL_URL": sb.url, "TYK_PORTAL_TOKEN": SANDBOX_TOKEN}
    info: dict[str, Any] = {}
    if tool in ("tyk-migrate", "tyk-migrate-fixed"):
        data = write_legacy_csv(keys, work / "legacy.csv")
        outcomes = work / "outcomes.csv"
        command = [sys.executable, str(BENCH_DIR / "handwritten_cli.py")] if TRANSPORT == "handwritten" else None
        cmd = [*(command or tyk_migrate_command()), "apply", str(data), "--journal", str(work / "run.journal.sqlite"),
               "--out", str(outcomes), "--no-progress"]  # fmt: skip
        if concurrency:
            cmd += ["--concurrency", concurrency]
        seconds, proc = _run(cmd, env, work)
        info = outcome_summary(outcomes)
        said = re.search(r"portal\s+(\d+) requests in ([\d.]+)\s*s", proc.stdout)
        if said:  # its own account of the portal phase (no start-up, loading, planning)
            info["portal_phase_requests"], info["portal_phase_seconds"] = int(said[1]), float(said[2])
    elif tool == "howto-loop":
        data = write_prepared_csv(keys, work / "prepared.csv")
        seconds, proc = _run([sys.executable, str(BENCH_DIR / "howto_loop.py"), str(data)], env, work)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode == 0 and lines:
            info = json.loads(lines[-1])
    elif tool == "newman":
        data = write_prepared_csv(keys, work / "prepared.csv")
        report = work / "newman-report.json"
        cmd = [
            str(NEWMAN_BIN),
            "run",
            str(NEWMAN_DIR / "collection.json"),
            "-d",
            str(data),
            "--env-var",
            f"base={sb.portal_url}",
            "--env-var",
            f"token={SANDBOX_TOKEN}",
            "--reporters",
            "json",
            "--reporter-json-export",
            str(report),
            "--timeout-request",
            "30000",
        ]
        seconds, proc = _run(cmd, env, work)
        if report.exists():
            run = json.loads(report.read_text(encoding="utf-8"))["run"]
            info = {"requests": run["stats"]["requests"], "assertions": run["stats"]["assertions"]}
            report.unlink()  # it holds the request bodies, keys included
    else:
        raise ValueError(f"unknown tool {tool!r}")
    return {
        "seconds": round(seconds, 3),
        "exit_code": proc.returncode,
        "stderr_tail": proc.stderr.strip().splitlines()[-3:],
        "tool_summary": info,
    }


def measure(
    tool: str, keys: list[Key], *, latency_ms: float, cap: int, faults: str, random_seed: int
) -> dict[str, Any]:
    spec = ",".join(filter(None, [faults, f"cap={cap}"]))
    concurrency = str(cap) if tool == "tyk-migrate-fixed" else None
    with (
        tempfile.TemporaryDirectory(prefix=f"bench-{tool}-") as tmp,
        sandbox(latency_ms=latency_ms, faults=spec, random_seed=random_seed, log=RESULTS / f"sandbox-{tool}.log") as sb,
    ):
        outcome = run_tool(tool, keys, sb, Path(tmp), concurrency)
        state = sb.state()
    requests = portal_requests(state)
    total_requests = sum(requests.values())
    result = audit(keys, state)
    rpk = total_requests / len(keys) if keys else 0.0
    limit = limit_keys_per_second(cap, rpk, latency_ms / 1000)
    # the honest limit: only the requests this job cannot avoid (one credential per key, one app per new app)
    unavoidable = unavoidable_requests_per_key(len(keys), len({(k.user_id, k.app_name) for k in keys}))
    honest = limit_keys_per_second(cap, unavoidable or 0.0, latency_ms / 1000)
    ideal = cap / (2 * latency_ms / 1000) if latency_ms else None
    kps = result["migrated"] / outcome["seconds"] if outcome["seconds"] else 0.0
    stats = state.get("requests", {})
    phase = outcome["tool_summary"].get("portal_phase_seconds")
    phase_kps = result["migrated"] / phase if phase else None
    return {
        "tool": tool,
        "label": label(tool, cap),
        **outcome,
        **result,
        "keys_per_second": round(kps, 2),
        "portal_requests": total_requests,
        "requests_per_key": round(rpk, 3),
        "requests_by_route": requests,
        "faults_injected": stats.get("faults_injected", {}),
        "portal_in_flight_peak": stats.get("portal_in_flight_peak"),
        "limit_keys_per_second": round(limit, 2) if limit else None,
        "ratio_to_limit": round(kps / limit, 3) if limit else None,
        "portal_phase_keys_per_second": round(phase_kps, 2) if phase_kps else None,
        "portal_phase_ratio_to_limit": round(phase_kps / limit, 3) if phase_kps and limit else None,
        "unavoidable_requests_per_key": round(unavoidable, 3) if unavoidable else None,
        "honest_limit_keys_per_second": round(honest, 2) if honest else None,
        "ratio_to_honest_limit": round(kps / honest, 3) if honest else None,
        "portal_phase_ratio_to_honest_limit": round(phase_kps / honest, 3) if phase_kps and honest else None,
        "ideal_keys_per_second": round(ideal, 2) if ideal else None,
        "ratio_to_ideal": round(kps / ideal, 3) if ideal else None,
    }


def label(tool: str, cap: int) -> str:
    return LABELS[tool].replace("CAP", str(cap))


def run_scenario(
    name: str, tools: list[str], keys_by_tool: dict[str, list[Key]], *, latency_ms: float, cap: int, faults: str,
    random_seed: int, newman_problem: str | None,
) -> dict[str, Any]:  # fmt: skip
    rows: list[dict[str, Any]] = []
    for tool in tools:
        keys = keys_by_tool[tool]
        if tool == "newman" and newman_problem:
            print(f"  {name}: newman not run: {newman_problem}", flush=True)
            rows.append({"tool": tool, "label": label(tool, cap), "keys": len(keys), "skipped": newman_problem})
            continue
        print(f"  {name}: {label(tool, cap)} on {len(keys):,} keys ...", flush=True)
        row = measure(tool, keys, latency_ms=latency_ms, cap=cap, faults=faults, random_seed=random_seed)
        print(f"    {row['seconds']:.1f} s, {row['keys_per_second']:.1f} keys/s, {row['requests_per_key']:.2f} "
              f"requests/key, missing {row['missing']}, misplaced {row['misplaced']}, duplicate apps "
              f"{row['duplicate_apps']}, orphan apps {row['orphan_apps']}, exit {row['exit_code']}",
              flush=True)  # fmt: skip
        if row["exit_code"] not in (0, 1) or row["tool_summary"].get("top_errors"):
            print(f"    {row['stderr_tail']} {row['tool_summary'].get('top_errors', '')}", flush=True)
        rows.append(row)
    by_tool = {r["tool"]: r for r in rows if "skipped" not in r}
    for ours in (by_tool.get("tyk-migrate"), by_tool.get("tyk-migrate-fixed")):
        for base in ("howto-loop", "newman"):
            other = by_tool.get(base)
            if ours and other and other["keys_per_second"]:
                ours[f"ratio_to_{base}"] = round(ours["keys_per_second"] / other["keys_per_second"], 1)
    return {"name": name, "latency_ms": latency_ms, "cap": cap, "faults": faults, "random_seed": random_seed,
            "rows": rows}  # fmt: skip


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}x"


def throughput_table(scn: dict[str, Any]) -> str:
    headers = ["tool", "keys", "seconds", "keys/s", "vs how-to loop", "vs Newman", "unavoidable requests/key",
               "honest limit keys/s", "% of honest limit", "% of honest limit, portal phase", "own requests/key",
               "own limit keys/s", "% of own limit"]  # fmt: skip
    out = []
    for r in scn["rows"]:
        if "skipped" in r:
            out.append([r["label"], f"{r['keys']:,}", f"not run: {r['skipped']}", *[""] * (len(headers) - 3)])
            continue
        out.append([
            r["label"], f"{r['keys']:,}", fmt(r["seconds"]), fmt(r["keys_per_second"]),
            _ratio(r.get("ratio_to_howto-loop")), _ratio(r.get("ratio_to_newman")),
            fmt(r.get("unavoidable_requests_per_key"), 2), fmt(r.get("honest_limit_keys_per_second")),
            _percent(r.get("ratio_to_honest_limit"), "n/a"), _percent(r.get("portal_phase_ratio_to_honest_limit")),
            fmt(r["requests_per_key"], 2), fmt(r["limit_keys_per_second"]), _percent(r["ratio_to_limit"], "n/a"),
        ])  # fmt: skip
    return md_table(headers, out)


def _percent(share: float | None, missing: str = "") -> str:
    return missing if share is None else fmt(100 * share) + "%"


def faults_table(scn: dict[str, Any]) -> str:
    headers = ["tool", "keys", "migrated", "missing", "misplaced", "duplicate apps", "orphan apps", "seconds",
               "keys/s", "% of honest limit", "exit"]  # fmt: skip
    out = []
    for r in scn["rows"]:
        if "skipped" in r:
            out.append([r["label"], f"{r['keys']:,}", f"not run: {r['skipped']}", *[""] * (len(headers) - 3)])
            continue
        out.append([
            r["label"], f"{r['keys']:,}", f"{r['migrated']:,}", r["missing"], r["misplaced"], r["duplicate_apps"],
            r["orphan_apps"], fmt(r["seconds"]), fmt(r["keys_per_second"]),
            _percent(r.get("ratio_to_honest_limit"), "n/a"), r["exit_code"],
        ])  # fmt: skip
    return md_table(headers, out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keys", type=int, default=2000, help="keys for tyk-migrate (default 2000)")
    p.add_argument("--baseline-keys", type=int, default=300, help="keys for the one-at-a-time tools (default 300)")
    p.add_argument("--latency-ms", type=float, default=50, help="sandbox latency per portal request (default 50)")
    p.add_argument("--cap", type=int, default=32, help="sandbox cap on portal requests in flight (default 32)")
    p.add_argument("--faults", default=DEFAULT_FAULTS, help="fault spec for the faults run")
    p.add_argument("--fault-latency-ms", type=float, default=50, help="latency during the faults run (default 50)")
    p.add_argument("--fault-keys", type=int, default=2000, help="keys for tyk-migrate in the faults run (default 2000)")
    p.add_argument("--random-seed", type=int, default=7, help="seed of the sandbox's fault draws")
    p.add_argument("--tools", default=",".join(TOOLS), help=f"comma list among {', '.join(TOOLS)}")
    p.add_argument("--skip-faults", action="store_true", help="only the throughput run")
    p.add_argument("--skip-throughput", action="store_true", help="only the faults run")
    p.add_argument(
        "--transport", choices=("aiohttp", "handwritten"), default="aiohttp",
        help="handwritten: tyk-migrate with the transport it had until bench_transport.OLD_REV (A/B timing)",
    )  # fmt: skip
    args = p.parse_args(argv)
    compile_package()
    global TRANSPORT
    TRANSPORT = args.transport
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        p.error(f"unknown tools: {', '.join(sorted(unknown))}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    newman_problem = ensure_newman() if "newman" in tools else None
    # One key set: the baselines take its first rows, so every tool migrates the same kind of keys.
    all_keys = make_keys(max(args.keys, args.fault_keys, args.baseline_keys))

    def keys_for(n_ours: int) -> dict[str, list[Key]]:
        return {t: all_keys[: n_ours if t.startswith("tyk-migrate") else args.baseline_keys] for t in tools}

    info = machine_info()
    print(f"compare: {machine_label(info)}", flush=True)
    common = {"cap": args.cap, "random_seed": args.random_seed, "newman_problem": newman_problem}
    scenarios = []
    if not args.skip_throughput:
        scenarios.append(
            run_scenario("throughput", tools, keys_for(args.keys), latency_ms=args.latency_ms, faults="", **common)
        )
    if not args.skip_faults:
        scenarios.append(run_scenario(
            "faults", tools, keys_for(args.fault_keys), latency_ms=args.fault_latency_ms, faults=args.faults, **common
        ))  # fmt: skip
    results = {"benchmark": "compare", "transport": TRANSPORT, "machine": info, "scenarios": scenarios}
    name = "compare-faults.json" if args.skip_throughput else "compare.json"  # make bench's summary reads the other
    write_json(name, results)
    for scn in scenarios:
        print()
        if scn["name"] == "throughput":
            print(f"Throughput: sandbox latency {args.latency_ms:g} ms, cap {args.cap} requests in flight, no faults")
            print(throughput_table(scn))
        else:
            print(f"Faults: {args.faults}, cap {args.cap}, latency {args.fault_latency_ms:g} ms")
            print(faults_table(scn))
    print(f"\nmachine: {machine_label(info)}\nJSON: {RESULTS / name}")
    return results


if __name__ == "__main__":
    main()
