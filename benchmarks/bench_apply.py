"""The runner's promises, measured: exactly-once under faults, after a SIGKILL, and speed near the limit.

Each scenario gets a fresh ``tyk-migrate sandbox`` in its own process and a synthetic plan of 2,000 keys
(three keys per new app, 50 owners, 4 plans, 1-3 products each), then audits the sandbox's final state
key by key:

1. reliability: faults on (10% 5xx, 5% 429, 3% applied-but-answer-lost, 1% dropped connections):
   missing keys, duplicated credentials or apps, wrong owner/plan/products, rows whose status disagrees
   with the portal; then a rerun with the same journal, which must send no write.
2. SIGKILL: a child process runs the migration (with lost answers on), is killed with SIGKILL mid-run,
   the migration is rerun with the same journal, audited, and rerun once more (no write allowed).
3. throughput: latency 50 ms and a cap of 32 requests in flight (the 33rd gets 429 + Retry-After: 1).
   The limit such a portal allows is cap / (requests per key x latency); requests per key are counted by
   the sandbox (apps, credentials, read-backs, lookups, refused requests: everything). Target: >= 80%.

    python benchmarks/bench_apply.py            # all scenarios, 2,000 keys (about a minute)
    python benchmarks/bench_apply.py --keys 300 # quicker
    python benchmarks/bench_apply.py --only profiles  # per sandbox profile: benchmarks/bench_profiles.py

Writes ``benchmarks/results/apply.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

from benchmarks.common import RESULTS, fmt, machine_info, machine_label, md_table, portal_requests, sandbox, write_json
from tyk_migrate.aio import run_blocking
from tyk_migrate.config import Settings
from tyk_migrate.run import Migration
from tyk_migrate.run.throughput import limit_keys_per_second, plan_counts, unavoidable_requests_per_key
from tyk_migrate.secrets import fingerprint, reveal, secret_series

RELIABILITY_FAULTS = "500=4%,502=3%,503=3%,429=4%,429-no-retry=1%,lost=2%,lost-drop=1%,drop=1%"
LATENCY_MS = 50
CAP = 32


def make_plan(n: int, seed: int = 11, keys_per_app: int = 3) -> pd.DataFrame:
    rng = random.Random(seed)
    users, plans, products = list(range(2, 52)), [7, 8, 9, 10], [1, 2, 3, 4, 5, 6]
    rows = []
    for i in range(n):
        group = i // keys_per_app
        key = f"bench{seed:02d}{i:06d}" + "".join(rng.choice("abcdefghjkmnpqrstuvwxyz0123456789") for _ in range(22))
        rows.append(
            {
                "source_row": i + 1,
                "key_id": key,
                "key_fingerprint": fingerprint(key),
                "owner_email": f"owner{group % 50}@example.test",
                "app_name": f"bench app {group}",
                "alias": f"bench key {i}",
                "user_id": users[group % len(users)],
                "plan_id": plans[i % 4],
                "product_ids": sorted(rng.sample(products, 1 + i % 3)),
                "app_id": None,
                "action": "create_app" if i % keys_per_app == 0 else "add_credential",
                "reason": None,
                "credential_id": None,
            }
        )
    frame = pd.DataFrame(rows)
    frame["key_id"] = secret_series(frame["key_id"], index=frame.index)
    for col in ("user_id", "plan_id", "app_id", "credential_id"):
        frame[col] = frame[col].astype("Int64")
    return frame


def audit(state: dict[str, Any], plan: pd.DataFrame) -> dict[str, int]:
    """Missing / duplicated / wrong keys, duplicate apps, rows whose status disagrees with the portal."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for cred in state["custom_credentials"]:
        by_key.setdefault(cred["KeyID"], []).append(cred)
    apps = {a["ID"]: a for a in state["apps"]}
    names = Counter((a["UserID"], a["Name"]) for a in state["apps"] if a["Name"].startswith("bench app"))
    missing = duplicates = wrong = mismatch = 0
    for row in plan.itertuples(index=False):
        found = by_key.get(reveal(row.key_id), [])
        if not found:
            missing += 1
        elif len(found) > 1:
            duplicates += 1
        else:
            cred, app = found[0], apps.get(found[0]["AppID"], {})
            if (
                app.get("UserID") != row.user_id
                or app.get("Name") != row.app_name
                or str(cred["PlanID"]) != str(row.plan_id)
                or sorted(cred["ProductIDs"]) != sorted(row.product_ids)
            ):
                wrong += 1
        status = getattr(row, "status", None)
        exists = len(found) == 1
        if status is not None and (
            (status == "created") != exists or (status == "created" and int(row.credential_id) != found[0]["ID"])
        ):
            mismatch += 1
    return {
        "missing": missing,
        "duplicate_credentials": duplicates,
        "wrong": wrong,
        "status_mismatch": mismatch,
        "duplicate_apps": sum(1 for v in names.values() if v > 1),
    }


def sched(pid: int | str = "self") -> tuple[float, float]:
    """(CPU seconds, seconds spent runnable but waiting for a CPU) of a process, all threads (Linux)."""
    cpu = wait = 0.0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            fields = (task / "schedstat").read_text().split()
            cpu += int(fields[0]) / 1e9
            wait += int(fields[1]) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    return cpu, wait


def requests_by_kind(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    kinds: Counter[str] = Counter()
    for route, count in delta.items():
        if count <= 0:
            continue
        method, path, status = route.split(" ", 2)
        kinds[f"{method} {path.removeprefix('/portal-api')}"] += count
        kinds["total"] += count
        if status in ("429",):
            kinds["refused (429)"] += count
    return dict(kinds)


def posts(state: dict[str, Any]) -> int:
    return sum(n for k, n in portal_requests(state).items() if k.startswith("POST "))


async def migrate(plan: pd.DataFrame, settings: Settings, journal: Path, **kw: Any) -> Migration:
    m = Migration(plan, settings, journal, **kw)
    await m.run()
    return m


def run_migration(plan: pd.DataFrame, settings: Settings, journal: Path, **kw: Any) -> tuple[Migration, float]:
    started = time.perf_counter()
    m = run_blocking(lambda: migrate(plan, settings, journal, **kw))
    return m, time.perf_counter() - started


# ---------------------------------------------------------------- scenarios


def reliability(n: int, tmp: Path) -> dict[str, Any]:
    with sandbox(faults=RELIABILITY_FAULTS, latency_ms=2, random_seed=5) as sb:
        settings = Settings(portal_url=sb.url, token=sb.token)
        plan = make_plan(n)
        m, seconds = run_migration(plan, settings, tmp / "reliability.journal")
        state = sb.state()
        result = audit(state, plan)
        statuses = plan["status"].value_counts().to_dict()
        writes = posts(state)
        run_migration(make_plan(n), settings, tmp / "reliability.journal")
        rerun_posts = posts(sb.state()) - writes
        return {
            "keys": n,
            "faults": RELIABILITY_FAULTS,
            "faults_injected": state["requests"]["faults_injected"],
            "seconds": round(seconds, 2),
            "statuses": statuses,
            **result,
            "max_attempts": int(plan["attempts"].max()),
            "rerun_posts": rerun_posts,
            "requests": m.progress.requests,
        }


_CHILD = """
import sys
sys.path.insert(0, {root!r})
from benchmarks.bench_apply import make_plan
from tyk_migrate.config import Settings
from tyk_migrate.run import apply_plan
apply_plan(make_plan({n}), Settings(portal_url={url!r}, token={token!r}), {journal!r})
"""


def journal_rows(path: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT count(*) FROM credentials WHERE state = 'created'").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def kill_when_journalled(child: subprocess.Popen[bytes], journal: Path, rows: int, timeout: float) -> bool:
    """SIGKILL ``child`` once ``rows`` credentials are journalled as created (or it ended, or ``timeout`` s
    passed); whether it was still running, i.e. really killed mid-run."""
    deadline = time.monotonic() + timeout
    while journal_rows(journal) < rows and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    alive = child.poll() is None
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    return alive


def sigkill(n: int, tmp: Path) -> dict[str, Any]:
    journal = tmp / "killed.journal"
    with sandbox(faults="lost=3%,lost-drop=1%,500=3%", latency_ms=20, random_seed=9) as sb:
        code = _CHILD.format(
            root=str(Path(__file__).resolve().parent.parent), n=n, url=sb.url, token=sb.token, journal=str(journal)
        )
        killed_alive = kill_when_journalled(subprocess.Popen([sys.executable, "-c", code]), journal, n // 3, 120)
        at_kill = journal_rows(journal)
        partial = len(sb.state()["custom_credentials"]) - 10
        settings = Settings(portal_url=sb.url, token=sb.token)
        plan = make_plan(n)
        _, seconds = run_migration(plan, settings, journal)
        state = sb.state()
        result = audit(state, plan)
        writes = posts(state)
        run_migration(make_plan(n), settings, journal)
        return {
            "keys": n,
            "killed_mid_run": killed_alive,
            "journal_created_at_kill": at_kill,
            "portal_credentials_at_kill": partial,
            "resume_seconds": round(seconds, 2),
            "statuses": plan["status"].value_counts().to_dict(),
            **result,
            "rerun_posts": posts(sb.state()) - writes,
        }


def throughput(n: int, tmp: Path, concurrency: int | str) -> dict[str, Any]:
    with sandbox(faults=f"cap={CAP}", latency_ms=LATENCY_MS) as sb:
        settings = Settings(portal_url=sb.url, token=sb.token)
        plan = make_plan(n)
        before = portal_requests(sb.state())
        me0, sb0 = sched(), sched(sb.proc.pid)
        m, seconds = run_migration(plan, settings, tmp / f"speed-{concurrency}.journal", concurrency=concurrency)
        me1, sb1 = sched(), sched(sb.proc.pid)
        state = sb.state()
        kinds = requests_by_kind(before, portal_requests(state))
        created = int((plan["status"] == "created").sum())
        per_key = kinds["total"] / n
        limit = limit_keys_per_second(CAP, per_key, LATENCY_MS / 1000) or math.nan
        unavoidable = unavoidable_requests_per_key(*plan_counts(plan["action"])) or math.nan
        honest = limit_keys_per_second(CAP, unavoidable, LATENCY_MS / 1000) or math.nan
        rate = n / seconds
        return {
            "keys": n,
            "concurrency": concurrency,
            "created": created,
            "seconds": round(seconds, 2),
            "keys_per_second": round(rate, 1),
            "requests_per_key": round(per_key, 3),
            "limit_keys_per_second": round(limit, 1),
            "share_of_limit": round(rate / limit, 3),
            "unavoidable_requests_per_key": round(unavoidable, 3),
            "honest_limit_keys_per_second": round(honest, 1),
            "share_of_honest_limit": round(rate / honest, 3),
            "requests": kinds,
            "final_concurrency": m.progress.concurrency,
            "peak_in_flight_at_sandbox": state["requests"]["portal_in_flight_peak"],
            "client_cpu_seconds": round(me1[0] - me0[0], 2),
            "client_waiting_for_cpu_seconds": round(me1[1] - me0[1], 2),
            "sandbox_cpu_seconds": round(sb1[0] - sb0[0], 2),
            "sandbox_waiting_for_cpu_seconds": round(sb1[1] - sb0[1], 2),
            **audit(state, plan),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--only", choices=["reliability", "sigkill", "throughput", "profiles"])
    args = parser.parse_args()
    if args.only == "profiles":  # the per-profile table (strict, realistic, hostile): bench_profiles.py
        from benchmarks.bench_profiles import run

        run(args.keys)
        return
    info = machine_info()
    results: dict[str, Any] = {}
    previous = RESULTS / "apply.json"
    if args.only and previous.exists():  # one scenario again: keep the others' last figures
        results = json.loads(previous.read_text(encoding="utf-8"))
    results.update({"machine": info, "load_average_at_start": round(os.getloadavg()[0], 2)})
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.only in (None, "reliability"):
            results["reliability"] = r = reliability(args.keys, tmp)
            print(f"\nreliability ({r['keys']} keys, faults {r['faults']}), {r['seconds']} s")
            print(
                md_table(
                    ["missing", "dup creds", "dup apps", "wrong", "status != portal", "max attempts", "rerun POSTs"],
                    [
                        [
                            r["missing"],
                            r["duplicate_credentials"],
                            r["duplicate_apps"],
                            r["wrong"],
                            r["status_mismatch"],
                            r["max_attempts"],
                            r["rerun_posts"],
                        ]
                    ],
                )
            )
            print(f"faults injected: {r['faults_injected']}; statuses: {r['statuses']}")
        if args.only in (None, "sigkill"):
            results["sigkill"] = k = sigkill(args.keys, tmp)
            print(
                f"\nSIGKILL mid-run ({k['keys']} keys): killed with {k['journal_created_at_kill']} created in the "
                f"journal, {k['portal_credentials_at_kill']} in the portal; resume took {k['resume_seconds']} s"
            )
            print(
                md_table(
                    ["missing", "dup creds", "dup apps", "wrong", "status != portal", "rerun POSTs"],
                    [
                        [
                            k["missing"],
                            k["duplicate_credentials"],
                            k["duplicate_apps"],
                            k["wrong"],
                            k["status_mismatch"],
                            k["rerun_posts"],
                        ]
                    ],
                )
            )
        if args.only in (None, "throughput"):
            rows = []
            results["throughput"] = []
            for conc in ("adaptive", CAP):
                t = throughput(args.keys, tmp, conc)
                results["throughput"].append(t)
                rows.append(
                    [
                        t["concurrency"],
                        t["keys"],
                        fmt(t["seconds"], 2),
                        fmt(t["keys_per_second"]),
                        t["requests_per_key"],
                        fmt(t["limit_keys_per_second"]),
                        f"{t['share_of_limit']:.0%}",
                        t["unavoidable_requests_per_key"],
                        fmt(t["honest_limit_keys_per_second"]),
                        f"{t['share_of_honest_limit']:.0%}",
                        t["requests"].get("refused (429)", 0),
                        t["peak_in_flight_at_sandbox"],
                        t["missing"] + t["duplicate_credentials"],
                        f"{t['client_cpu_seconds']}/{t['client_waiting_for_cpu_seconds']}",
                        f"{t['sandbox_cpu_seconds']}/{t['sandbox_waiting_for_cpu_seconds']}",
                    ]
                )
            print(
                f"\nthroughput: latency {LATENCY_MS} ms, cap {CAP} in flight; "
                "limit = cap / (requests per key x latency), with own requests (counted) or unavoidable ones "
                "(credentials + apps to create, per key); cpu/wait = CPU used / runnable but waiting for a CPU"
            )
            print(
                md_table(
                    [
                        "concurrency",
                        "keys",
                        "s",
                        "keys/s",
                        "own requests/key",
                        "own limit keys/s",
                        "of own limit",
                        "unavoidable req/key",
                        "honest limit keys/s",
                        "of honest limit",
                        "429s",
                        "peak in flight",
                        "missing+dup",
                        "client cpu/wait s",
                        "sandbox cpu/wait s",
                    ],
                    rows,
                )
            )
    results["machine_label"] = machine_label(info)
    path = write_json("apply.json", results)
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"\n{machine_label(info)}\nwritten to {shown}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
