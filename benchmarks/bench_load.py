"""Load + validate benchmark: 10k / 100k / 1M generated legacy keys from CSV.

Each size runs in its own subprocess so peak memory (``ru_maxrss``) is that size's alone. The CSV is
written to a temporary directory; roughly 1 row in 1000 is dirty (duplicates, short keys, bad emails,
bad expiries) so the rejects path is exercised too.

    python benchmarks/bench_load.py              # 10k, 100k, 1M
    python benchmarks/bench_load.py 10000 50000  # chosen sizes

Writes benchmarks/results/load.json. Target on the 2-core CI machine: 1M rows under 20 s and 2 GB.
"""

from __future__ import annotations

import json
import platform
import random
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = (10_000, 100_000, 1_000_000)
ALPHABET = string.ascii_letters + string.digits


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    plans = [f"{rnd.getrandbits(96):024x}" for _ in range(4)]
    products = [f"{rnd.getrandbits(96):024x}" for _ in range(6)]
    combos = [";".join(rnd.sample(products, k=n)) for n in (1, 1, 2, 3) for _ in range(5)]
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("key,developer_email,app,alias,policy_id,apis,expires,status\n")
        previous = "x" * 20
        for i in range(rows):
            key = "".join(rnd.choices(ALPHABET, k=rnd.choice((20, 24, 32))))
            email = f"dev{i % 20000}@partner{i % 50}.example"
            expires = "" if i % 5 else f"20{27 + i % 5}-0{1 + i % 9}-1{i % 9}T00:00:00Z"
            status = "inactive" if i % 97 == 0 else "active"
            dirt = i % 1000
            if dirt == 1:
                key = previous  # duplicate of the row before
            elif dirt == 2:
                key = key[:5]  # too short
            elif dirt == 3:
                email = "not-an-email"
            elif dirt == 4:
                expires = "someday"
            previous = key
            f.write(f"{key},{email},App {i % 7},key {i},{rnd.choice(plans)},{rnd.choice(combos)},{expires},{status}\n")


def measure(path: str) -> dict:
    """Runs in the child process: load + validate, timings and peak RSS."""
    import resource

    t0 = time.perf_counter()
    from tyk_migrate.sources import load_keys
    from tyk_migrate.validate import validate_keys

    t1, c1 = time.perf_counter(), time.process_time()
    frame = load_keys(path)
    t2, c2 = time.perf_counter(), time.process_time()
    valid, rejects = validate_keys(frame)
    t3, c3 = time.perf_counter(), time.process_time()
    return {
        "rows": len(frame),
        "valid": len(valid),
        "rejected": len(frame) - len(valid),
        "report_entries": len(rejects),
        "import_s": round(t1 - t0, 2),
        "load_s": round(t2 - t1, 2),
        "validate_s": round(t3 - t2, 2),
        "total_s": round(t3 - t1, 2),
        "load_cpu_s": round(c2 - c1, 2),
        "validate_cpu_s": round(c3 - c2, 2),
        "total_cpu_s": round(c3 - c1, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(sizes: tuple[int, ...]) -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            path = Path(tmp) / f"keys_{rows}.csv"
            generate(path, rows)
            size_mb = path.stat().st_size / 1e6
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path)], capture_output=True, text=True, check=True
            )
            result = {"file_mb": round(size_mb, 1), **json.loads(out.stdout)}
            results.append(result)
            path.unlink()
    print(f"machine load average before the run: {_load()} (other processes share the CPUs: see total cpu s)")
    print(
        f"{'rows':>10} {'file MB':>8} {'load s':>7} {'validate s':>10} {'total s':>8} {'total cpu s':>11} "
        f"{'peak MB':>8} {'rejected':>9}"
    )
    for r in results:
        print(
            f"{r['rows']:>10,} {r['file_mb']:>8} {r['load_s']:>7} {r['validate_s']:>10} {r['total_s']:>8} "
            f"{r['total_cpu_s']:>11} "
            f"{r['peak_rss_mb']:>8} {r['rejected']:>9}"
        )
    target = HERE / "results" / "load.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": _cpus(), "loadavg": _load()}
    target.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(f"written {target.relative_to(HERE.parent)}")


def _load() -> str:
    import os

    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(measure(sys.argv[2])))
    else:
        main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
