"""Load + validate + plan at 10k, 100k and 1M rows: seconds per step, peak memory, and how cost grows.

For each size the parent writes a legacy CSV consistent with a synthetic portal (the sample portal's
products and plans, ``rows / 100`` developers, and 1% of the keys already migrated, so the planner sees
``skip_existing`` rows too; 0.5% of rows are broken so validation has something to reject). A fresh
child process per size then times ``load_keys``, ``validate_keys`` and ``build_plan`` separately and
reads its peak RSS after each step: each size starts from the same empty interpreter, so memory is not
inherited from the size before. Snapshot building (``PortalSnapshot.from_seed``) is timed apart: it is
the portal side, whose size does not follow the export's.

    python benchmarks/bench_scaling.py                      # 10k, 100k, 1M
    python benchmarks/bench_scaling.py --sizes 10000,50000

Growth is reported as the exponent b in ``cost ~ rows^b`` between consecutive sizes (1.0 = linear), for
CPU time (steadier than wall time on a shared machine) and for memory above the interpreter's own (peak
RSS minus RSS after imports).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import random
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RESULTS, SEED, compile_package, fmt, machine_info, machine_label, md_table, write_json

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
APP_NAMES = ("Checkout", "Mobile", "Back office", "Reporting", "Partner sync", "")
CHILD_TIMEOUT = 600


# ---------------------------------------------------------------- data (parent)


def synthetic_portal(rows: int) -> dict[str, Any]:
    """The sample portal's products and plans with ``rows / 100`` developers (at least 50)."""
    seed = json.loads(SEED.read_text(encoding="utf-8"))
    n_users = max(50, rows // 100)
    users = [u for u in seed["users"] if u["OrganisationID"] == 0]  # the admin
    for i in range(n_users):
        users.append({
            "ID": i + 2, "Email": f"dev{i:06d}@partner{i % 97:02d}.example", "First": f"Dev{i}", "Last": "Scale",
            "Active": True, "OrganisationID": 1 + i % 5, "Role": "consumer-team-member", "Provider": "password",
        })  # fmt: skip
    return {**seed, "users": users, "apps": [], "custom_credentials": []}


def write_rows(rows: int, path: Path, portal: dict[str, Any], random_seed: int = 11) -> dict[str, Any]:
    """Write the legacy CSV; put 1% of its keys into ``portal`` as already migrated. Returns counts."""
    rng = random.Random(random_seed)
    alphabet = string.ascii_letters + string.digits
    devs = [u for u in portal["users"] if u["OrganisationID"]]
    plans, products = portal["plans"], portal["products"]
    combos = []  # a few hundred distinct (plan, products) sets, as real exports have
    for _ in range(200):
        plan = rng.choice(plans)
        prods = rng.sample(products, k=rng.choice([1, 1, 2, 3]))
        combos.append((plan, prods))
    broken = existing = 0
    apps: dict[tuple[int, str], int] = {}
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["key_id", "owner_email", "app_name", "alias", "plan", "products", "expires", "active"])
        for i in range(rows):
            dev = devs[rng.randrange(len(devs))]
            plan, prods = combos[rng.randrange(len(combos))]
            key = f"sk{i:08d}" + "".join(rng.choices(alphabet, k=22))
            email = dev["Email"]
            app = APP_NAMES[i % len(APP_NAMES)]
            if i % 200 == 7:  # 0.5% broken: a key too short or a missing email
                broken += 1
                if i % 400 == 7:
                    key = key[:5]
                else:
                    email = ""
            elif i % 100 == 3:  # 1% already migrated (same owner, plan, products)
                existing += 1
                name = app or "Migrated keys"
                app_id = apps.get((dev["ID"], name))
                if app_id is None:
                    app_id = apps[(dev["ID"], name)] = len(apps) + 1
                    portal["apps"].append({
                        "ID": app_id, "Name": name, "Description": "", "RedirectURLs": "", "UserID": dev["ID"],
                        "Visibility": "organisation", "CreatedAt": "2026-10-01 10:00",
                    })  # fmt: skip
                portal["custom_credentials"].append({
                    "ID": len(portal["custom_credentials"]) + 1, "AppID": app_id, "Alias": f"key {i}",
                    "Type": "CREDENTIAL_TYPE_TYK_MANAGED", "PlanID": str(plan["ID"]),
                    "AuthenticationMethod": "Auth Token", "ProductIDs": [p["ID"] for p in prods],
                    "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM", "KeyID": key,
                    "CreatedAt": "2026-10-01 10:00", "UpdatedAt": "2026-10-01 10:00",
                })  # fmt: skip
            w.writerow([
                key, email, app, f"key {i}", plan["ReferenceID"], ";".join(p["ReferenceID"] for p in prods),
                "0" if i % 7 else "2030-01-01T00:00:00Z", "true",
            ])  # fmt: skip
    return {"rows": rows, "users": len(devs), "broken_rows": broken, "already_migrated": existing}


# ---------------------------------------------------------------- measurement (child)


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _step(out: dict[str, Any], name: str, func: Any) -> Any:
    """Run one step; record its wall seconds (``name_s``) and CPU seconds (``name_cpu_s``)."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = func()
    out[f"{name}_s"] = round(time.perf_counter() - wall, 3)
    out[f"{name}_cpu_s"] = round(time.process_time() - cpu, 3)
    return value


def child(csv_path: str, portal_path: str) -> dict[str, Any]:
    """Runs in a fresh interpreter: time each step, read peak RSS after each."""
    from tyk_migrate.plan import build_plan
    from tyk_migrate.snapshot import PortalSnapshot
    from tyk_migrate.sources import load_keys
    from tyk_migrate.validate import validate_keys

    out: dict[str, Any] = {"rss_after_imports_mb": round(_rss_mb(), 1)}
    snapshot = _step(out, "snapshot", lambda: PortalSnapshot.from_seed(json.loads(Path(portal_path).read_text())))
    legacy = _step(out, "load", lambda: load_keys(csv_path))
    out["rss_after_load_mb"] = round(_rss_mb(), 1)
    valid, _rejects = _step(out, "validate", lambda: validate_keys(legacy))
    out["rss_after_validate_mb"] = round(_rss_mb(), 1)
    plan, _unresolved = _step(out, "plan", lambda: build_plan(valid, snapshot))
    out["peak_rss_mb"] = round(_rss_mb(), 1)
    out["loaded_rows"] = len(legacy)
    out["valid_rows"] = len(valid)
    out["rejected_rows"] = len(legacy) - len(valid)
    out["actions"] = {str(k): int(v) for k, v in plan["action"].value_counts().items()}
    return out


# ---------------------------------------------------------------- driver


def measure(rows: int, work: Path) -> dict[str, Any]:
    csv_path, portal_path = work / f"scaling-{rows}.csv", work / f"scaling-{rows}-portal.json"
    portal = synthetic_portal(rows)
    t = time.perf_counter()
    data = write_rows(rows, csv_path, portal)
    portal_path.write_text(json.dumps(portal), encoding="utf-8")
    data["generate_s"] = round(time.perf_counter() - t, 2)
    data["csv_mb"] = round(csv_path.stat().st_size / 1e6, 1)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(csv_path), str(portal_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False)
    csv_path.unlink(missing_ok=True)
    portal_path.unlink(missing_ok=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {**data, "error": tail[:300]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["total_s"] = round(result["load_s"] + result["validate_s"] + result["plan_s"], 3)
    result["total_cpu_s"] = round(result["load_cpu_s"] + result["validate_cpu_s"] + result["plan_cpu_s"], 3)
    result["rows_per_s"] = round(rows / result["total_s"]) if result["total_s"] else None
    result["data_rss_mb"] = round(result["peak_rss_mb"] - result["rss_after_imports_mb"], 1)
    return {**data, **result}


def growth(results: list[dict[str, Any]], field: str) -> list[float | None]:
    """Exponent b in ``cost ~ rows^b`` from each size to the next (None for the first)."""
    out: list[float | None] = [None]
    for a, b in itertools.pairwise(results):
        if a.get(field) and b.get(field):
            out.append(round(math.log(b[field] / a[field]) / math.log(b["rows"] / a["rows"]), 2))
        else:
            out.append(None)
    return out


def table(results: list[dict[str, Any]]) -> str:
    headers = ["rows", "load s", "validate s", "plan s", "total s", "CPU s", "rows/s", "peak RSS MB",
               "above imports MB", "CPU growth", "memory growth"]  # fmt: skip
    t_growth, m_growth = growth(results, "total_cpu_s"), growth(results, "data_rss_mb")
    out = []
    for r, tg, mg in zip(results, t_growth, m_growth, strict=True):
        if "error" in r:
            out.append([f"{r['rows']:,}", f"failed: {r['error']}", *[""] * 9])
            continue
        out.append([
            f"{r['rows']:,}", fmt(r["load_s"], 2), fmt(r["validate_s"], 2), fmt(r["plan_s"], 2),
            fmt(r["total_s"], 2), fmt(r["total_cpu_s"], 2), f"{r['rows_per_s']:,}", fmt(r["peak_rss_mb"], 0),
            fmt(r["data_rss_mb"], 0), "" if tg is None else f"rows^{tg}", "" if mg is None else f"rows^{mg}",
        ])  # fmt: skip
    return md_table(headers, out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="comma list of row counts")
    p.add_argument("--child", nargs=2, metavar=("CSV", "PORTAL"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return {}
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    compile_package()
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    print(f"scaling: {machine_label(info)}", flush=True)
    results = []
    for rows in sizes:
        print(f"  {rows:,} rows ...", flush=True)
        r = measure(rows, RESULTS)
        if "error" in r:
            print(f"    failed: {r['error']}", flush=True)
        else:
            print(f"    load {r['load_s']} s, validate {r['validate_s']} s, plan {r['plan_s']} s, peak RSS "
                  f"{r['peak_rss_mb']} MB, actions {r['actions']}", flush=True)  # fmt: skip
        results.append(r)
    out = {"benchmark": "scaling", "machine": info, "results": results,
           "time_growth": growth(results, "total_cpu_s"), "memory_growth": growth(results, "data_rss_mb")}  # fmt: skip
    write_json("scaling.json", out)
    print()
    print("Load + validate + plan (one fresh process per size)")
    print(table(results))
    print(f"\nmachine: {machine_label(info)}\nJSON: {RESULTS / 'scaling.json'}")
    return out


if __name__ == "__main__":
    main()
