"""``make bench`` = ``python -m benchmarks``: the side-by-side comparison, then the scaling benchmark.

Writes ``benchmarks/results/compare.json``, ``scaling.json``, ``summary.json`` and ``summary.md`` (the
README table: ratios first, absolute numbers labelled with the machine they came from).

    python -m benchmarks                 # the whole suite (about 5 minutes on 2 cores)
    python -m benchmarks --quick         # small sizes, to check that everything runs
    python -m benchmarks --focused       # then also each part's own benchmark (bench_*.py), one by one
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import Any

from benchmarks import bench_compare, bench_scaling
from benchmarks.common import BENCH_DIR, RESULTS, fmt, machine_info, machine_label, md_table, write_json


def _row(scenario: dict[str, Any], tool: str) -> dict[str, Any] | None:
    for r in scenario["rows"]:
        if r["tool"] == tool and "skipped" not in r:
            return r
    return None


def summary_markdown(compare: dict[str, Any], scaling: dict[str, Any] | None, info: dict[str, Any]) -> str:
    thr = compare["scenarios"][0]
    flt = compare["scenarios"][1] if len(compare["scenarios"]) > 1 else None
    lines = [f"Measured on {machine_label(info)} (`make bench`; ratios travel, seconds are this machine's)."]
    lines.append("")
    # 1. ratios first
    ratio_rows = []
    for tool in ("tyk-migrate", "tyk-migrate-fixed"):
        ours = _row(thr, tool)
        if not ours:
            continue
        for base in ("howto-loop", "newman"):
            r = ours.get(f"ratio_to_{base}")
            if r is not None:
                ratio_rows.append([f"{ours['label']} vs {bench_compare.LABELS[base]}", f"{r:,.1f}x"])
        if ours.get("ratio_to_honest_limit") is not None:
            ratio_rows.append([
                f"{ours['label']} vs honest limit: cap {thr['cap']} / ({ours['unavoidable_requests_per_key']:.2f} "
                f"unavoidable requests/key x {thr['latency_ms']:g} ms)",
                f"{100 * ours['ratio_to_honest_limit']:.0f}% of {ours['honest_limit_keys_per_second']:,.0f} keys/s",
            ])  # fmt: skip
        if ours.get("ratio_to_limit") is not None:
            ratio_rows.append([
                f"{ours['label']} vs its own limit: cap {thr['cap']} / ({ours['requests_per_key']:.2f} "
                f"own requests/key x {thr['latency_ms']:g} ms)",
                f"{100 * ours['ratio_to_limit']:.0f}% of {ours['limit_keys_per_second']:,.0f} keys/s",
            ])  # fmt: skip
    if ratio_rows:
        lines += [md_table(["ratio (keys per second)", "value"], ratio_rows), ""]
    # 2. throughput
    lines.append(f"Throughput: sandbox latency {thr['latency_ms']:g} ms per request, at most {thr['cap']} requests "
                 "in flight, no faults; each tool on a fresh sandbox, same seed, same kind of keys.")  # fmt: skip
    lines += ["", bench_compare.throughput_table(thr), ""]
    # 3. faults
    if flt:
        lines.append(f"Under faults (`{flt['faults']}`, cap {flt['cap']}, latency {flt['latency_ms']:g} ms), audited "
                     "key by key in the sandbox afterwards:")  # fmt: skip
        lines += ["", bench_compare.faults_table(flt), ""]
    # 4. scaling
    if scaling and scaling.get("results"):
        lines.append("Load + validate + plan (no network), one fresh process per size:")
        lines += ["", bench_scaling.table(scaling["results"]), ""]
    return "\n".join(lines).rstrip() + "\n"


def key_numbers(compare: dict[str, Any], scaling: dict[str, Any] | None) -> dict[str, Any]:
    """The few numbers the README quotes, flat, for anyone diffing runs."""
    out: dict[str, Any] = {}
    for scn in compare["scenarios"]:
        for r in scn["rows"]:
            if "skipped" in r:
                out[f"{scn['name']}.{r['tool']}.skipped"] = r["skipped"]
                continue
            prefix = f"{scn['name']}.{r['tool']}"
            for k in ("keys", "keys_per_second", "requests_per_key", "ratio_to_limit", "unavoidable_requests_per_key",
                      "ratio_to_honest_limit", "portal_phase_ratio_to_honest_limit", "missing", "misplaced",
                      "duplicate_apps", "orphan_apps", "ratio_to_howto-loop", "ratio_to_newman"):  # fmt: skip
                if k in r:
                    out[f"{prefix}.{k}"] = r[k]
    for r in (scaling or {}).get("results", []):
        for k in ("total_s", "peak_rss_mb"):
            if k in r:
                out[f"scaling.{r['rows']}.{k}"] = r[k]
    return out


#: Each part's own benchmark (written with that part), run by ``--focused`` after the suite.
FOCUSED = ("bench_sandbox.py", "bench_load.py", "bench_plan.py", "bench_apply.py", "bench_console.py")


def run_focused() -> dict[str, Any]:
    """Run every focused benchmark as its own script; their tables go to the console, JSON to results/."""
    out: dict[str, Any] = {}
    for name in FOCUSED:
        path = BENCH_DIR / name
        if not path.exists():
            continue
        print(f"\n{'=' * 100}\n{name}\n", flush=True)
        started = time.perf_counter()
        code = subprocess.run([sys.executable, str(path)], check=False).returncode
        out[name] = {"exit_code": code, "seconds": round(time.perf_counter() - started, 1)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes: checks that everything runs")
    p.add_argument("--skip-scaling", action="store_true")
    p.add_argument("--skip-compare", action="store_true")
    p.add_argument("--focused", action="store_true", help="also run each part's own bench_*.py afterwards")
    args = p.parse_args(argv)
    started = time.perf_counter()
    info = machine_info()
    compare_args = ["--keys", "200", "--baseline-keys", "30", "--fault-keys", "100"] if args.quick else []
    sizes = ["--sizes", "2000,20000"] if args.quick else []
    compare = bench_compare.main(compare_args) if not args.skip_compare else {"scenarios": []}
    print()
    scaling = bench_scaling.main(sizes) if not args.skip_scaling else None
    focused = run_focused() if args.focused else None
    seconds = round(time.perf_counter() - started, 1)
    md = summary_markdown(compare, scaling, info) if compare["scenarios"] else ""
    if scaling and not compare["scenarios"]:
        md = f"Measured on {machine_label(info)}.\n\n" + bench_scaling.table(scaling["results"]) + "\n"
    write_json("summary.json", {
        "machine": info, "suite_seconds": seconds, "quick": args.quick, "key_numbers": key_numbers(compare, scaling),
        "compare": compare, "scaling": scaling, "focused": focused,
    })  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.md").write_text(md, encoding="utf-8")
    print("\n" + "=" * 100 + "\nSUMMARY (benchmarks/results/summary.md, ready for the README)\n")
    print(md)
    print(f"whole suite: {fmt(seconds)} s; JSON: {RESULTS / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
