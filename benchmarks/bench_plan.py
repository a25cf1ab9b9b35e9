# ruff: noqa: E501
"""Planning and portal-fetch speed: the two figures issue 4 asks for.

1. ``build_plan``: 100,000 legacy rows against a synthetic portal of 10,000 users (pure, no network).
   The rows mix every case: new apps, existing apps, keys already migrated, conflicts, unknown owners,
   inactive users, unknown policies.
2. ``fetch_snapshot``: a sandbox portal of 10,000 apps (a credential on every third) served by
   ``tyk-migrate sandbox`` in its own process, read with the default concurrency (16) and page size.

    python benchmarks/bench_plan.py [--rows 100000] [--users 10000] [--apps 10000] [--repeat 3]

Prints a table and writes benchmarks/results/plan.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine_info, machine_label, md_table, sandbox, write_json
from tyk_migrate.config import Settings
from tyk_migrate.plan import build_plan, summarize
from tyk_migrate.secrets import fingerprints, secret_series
from tyk_migrate.snapshot import PortalSnapshot, fetch_snapshot


def synthetic_portal(users: int, apps: int, creds_every: int = 3, rng_seed: int = 4) -> dict[str, list[dict[str, Any]]]:
    """A portal shaped like the sample seed, scaled: users, 20 products, 6 plans, apps, credentials."""
    rng = random.Random(rng_seed)
    seed: dict[str, list[dict[str, Any]]] = {
        "users": [],
        "products": [],
        "plans": [],
        "apps": [],
        "custom_credentials": [],
    }
    seed["users"].append({"ID": 1, "Email": "admin@bank.example", "First": "A", "Last": "Dmin", "Active": True,
                          "OrganisationID": 0, "Role": "provider-admin", "Provider": "password"})  # fmt: skip
    for uid in range(2, users + 1):
        seed["users"].append({"ID": uid, "Email": f"dev{uid}@org{uid % 50}.example", "First": "Dev", "Last": str(uid),
                              "Active": uid % 97 != 0, "OrganisationID": 1 + uid % 50,
                              "Role": "consumer-team-member", "Provider": "password"})  # fmt: skip
    for pid in range(1, 21):
        seed["products"].append({"ID": pid, "Name": f"API {pid}", "DisplayName": f"Api {pid}", "Path": f"api{pid}",
                                 "ReferenceID": f"prodpolicy{pid:014d}", "AuthType": "authToken",
                                 "APIDetails": [{"APIID": f"api{pid:029d}", "Name": f"API {pid}", "Status": True,
                                                 "ListenPath": f"/api{pid}/"}]})  # fmt: skip
    for plid in range(21, 27):
        seed["plans"].append({"ID": plid, "Name": f"Plan {plid}", "DisplayName": f"Plan {plid} plan",
                              "ReferenceID": f"planpolicy{plid:014d}", "RateLimit": 100, "Per": 60, "Quota": -1})  # fmt: skip
    cred_id = 1
    for app_id in range(1, apps + 1):
        owner = 2 + rng.randrange(users - 1)
        seed["apps"].append({"ID": app_id, "Name": f"App {app_id % 7}", "Description": "", "RedirectURLs": "",
                             "UserID": owner, "Visibility": "organisation", "CreatedAt": "2026-10-01 10:00"})  # fmt: skip
        if app_id % creds_every == 0:
            seed["custom_credentials"].append(
                {"ID": cred_id, "AppID": app_id, "Alias": f"k{cred_id}", "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
                 "PlanID": str(21 + cred_id % 6), "AuthenticationMethod": "Auth Token",
                 "ProductIDs": [1 + cred_id % 20], "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM",
                 "KeyID": f"migrated-key-{cred_id:012d}"}
            )  # fmt: skip
            cred_id += 1
    return seed


def legacy_rows(seed: dict[str, list[dict[str, Any]]], rows: int, rng_seed: int = 9) -> pd.DataFrame:
    """``rows`` canonical legacy rows against ``seed``: mostly migratable, every blocking case present."""
    rng = random.Random(rng_seed)
    users = [u["Email"] for u in seed["users"][1:]]
    plans = [p["ReferenceID"] for p in seed["plans"]]
    products = [p["ReferenceID"] for p in seed["products"]]
    apps = {a["ID"]: a for a in seed["apps"]}
    email = {u["ID"]: u["Email"] for u in seed["users"]}
    creds = seed["custom_credentials"]
    records = []
    for n in range(rows):
        roll = rng.random()
        if roll < 0.05 and creds:  # already migrated (some with another plan: conflicts)
            c = creds[n % len(creds)]
            plan = f"planpolicy{int(c['PlanID']) + (1 if roll < 0.005 else 0):014d}"
            records.append((c["KeyID"], email[apps[c["AppID"]]["UserID"]], apps[c["AppID"]]["Name"], plan,
                            [f"prodpolicy{p:014d}" for p in c["ProductIDs"]]))  # fmt: skip
            continue
        owner = rng.choice(users) if roll > 0.06 else f"ghost{n % 300}@nowhere.example"
        plan = rng.choice(plans) if roll < 0.99 else "retired-policy"
        records.append((f"legacy-{n:010d}-{rng.getrandbits(32):08x}", owner, f"App {n % 7}" if n % 5 else None,
                        plan, rng.sample(products, k=rng.choice((1, 1, 2, 3)))))  # fmt: skip
    frame = pd.DataFrame(records, columns=["key_id", "owner_email", "app_name", "plan", "products"])
    frame.insert(0, "source_row", range(1, rows + 1))
    frame.insert(1, "source_id", None)
    keys = frame.pop("key_id").tolist()
    frame.insert(2, "key_id", secret_series(keys))
    frame.insert(3, "key_fingerprint", fingerprints(keys))
    frame.insert(6, "alias", None)
    frame["expires_at"] = pd.NaT
    frame["active"] = True
    return frame


def bench_plan(rows: int, users: int, repeat: int) -> dict[str, Any]:
    seed = synthetic_portal(users, apps=users // 2)
    snap = PortalSnapshot.from_seed(seed)
    legacy = legacy_rows(seed, rows)
    times, cpu = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        plan, unresolved = build_plan(legacy, snap)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    summary = summarize(plan)
    return {"rows": rows, "users": users, "apps": len(seed["apps"]), "credentials": len(seed["custom_credentials"]),
            "seconds": min(times), "all_seconds": times, "cpu_seconds": min(cpu), "counts": summary["counts"],
            "unresolved_values": len(unresolved)}  # fmt: skip


def bench_fetch(apps: int, users: int) -> dict[str, Any]:
    seed = synthetic_portal(users, apps=apps)
    with tempfile.TemporaryDirectory() as tmp:
        seed_file = Path(tmp) / "seed.json"
        seed_file.write_text(json.dumps(seed), encoding="utf-8")
        with sandbox(seed=seed_file) as sb:
            started, cpu_started = time.perf_counter(), time.process_time()
            snap = fetch_snapshot(Settings(portal_url=sb.url, token=sb.token), progress=False)
            seconds, client_cpu = time.perf_counter() - started, time.process_time() - cpu_started
            requests = sum(sb.state()["requests"]["by_route"].values())
    assert len(snap.apps) == apps and len(snap.credentials) == len(seed["custom_credentials"])
    return {"apps": apps, "users": users, "credentials": len(snap.credentials), "seconds": seconds,
            "client_cpu_seconds": client_cpu,
            "requests": requests, "concurrency": 16}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--apps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    plan = bench_plan(args.rows, args.users, args.repeat)
    fetch = bench_fetch(args.apps, args.users)
    print(machine_label())
    print(md_table(
        ["measure", "size", "seconds", "CPU s (this process)", "target"],
        [["build_plan (pure)", f"{plan['rows']:,} rows vs {plan['users']:,} users", f"{plan['seconds']:.2f}",
          f"{plan['cpu_seconds']:.2f}", "< 10"],
         ["fetch_snapshot (sandbox subprocess)", f"{fetch['apps']:,} apps, {fetch['credentials']:,} credentials, "
          f"{fetch['requests']:,} requests", f"{fetch['seconds']:.2f}", f"{fetch['client_cpu_seconds']:.2f}",
          "seconds, not minutes"]],
    ))  # fmt: skip
    print("plan actions:", plan["counts"])
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work slows wall times)")
    path = write_json("plan.json", {"machine": machine_info(), "build_plan": plan, "fetch_snapshot": fetch})
    print(f"written {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
