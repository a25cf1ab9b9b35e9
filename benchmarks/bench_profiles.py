"""Exactly once in every world: the per-profile reliability table (issue 16).

For each sandbox profile (``strict``, ``realistic``, ``hostile``: tyk_migrate/sandbox/behaviour.py) a fresh
``tyk-migrate sandbox`` in its own process, then:

1. ``tyk-migrate preflight``'s checks against it (before any fault is switched on), and its findings used as
   ``apply`` uses them (``preflight.use.apply_result``: the AuthTokenType that keeps the key, the adaptive
   start, the lookup patience where the runner has one);
2. faults on (lost answers, 5xx, 429, dropped connections);
3. a child process migrates N keys (``bench_apply.make_plan``: three keys per new app) and is killed with
   SIGKILL partway (a third of the keys journalled as created); the migration is rerun with the same journal,
   then once more, which must send no write;
4. an audit of the sandbox's own state: **missing** (a key with no credential), **duplicate** (a key in more
   than one credential), **wrong** (a key in the wrong owner's app, plan or products, or a credential of the
   run's apps holding a key the portal generated), **orphan apps** (a run's app with no credential),
   **duplicate apps**; and, for the record, keys whose gateway key is missing (``partial-create``,
   ``accept-then-403``: verify reports them, the run does not claim them).

    python benchmarks/bench_profiles.py --keys 2000      # the issue's figure (a few minutes)
    python benchmarks/bench_profiles.py --keys 200       # a quick look
    python benchmarks/bench_apply.py --only profiles     # the same, from the apply benchmark

Writes ``benchmarks/results/profiles.json``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import pandas as pd

from benchmarks.bench_apply import audit, journal_rows, kill_when_journalled, make_plan, posts, run_migration
from benchmarks.common import ROOT, SandboxProcess, machine_info, machine_label, md_table, sandbox, write_json
from tyk_migrate.config import Settings
from tyk_migrate.preflight import Waits, run_preflight
from tyk_migrate.preflight.use import apply_result
from tyk_migrate.secrets import reveal

PROFILES = ("strict", "realistic", "hostile")
FAULTS = "lost=3%,lost-drop=1%,500=3%,502=1%,503=1%,429=3%,drop=1%"
APP_PREFIX = "bench app"

_CHILD = """
import sys
sys.path.insert(0, {root!r})
from benchmarks.bench_apply import make_plan
from tyk_migrate.config import Settings
from tyk_migrate.run import apply_plan
settings = Settings(portal_url={url!r}, token={token!r}, auth_token_type={auth!r})
apply_plan(make_plan({n}), settings, {journal!r}, **{options!r})
"""


def set_profile(sb: SandboxProcess, profile: str) -> dict[str, Any]:
    r = httpx.put(sb.url + "/__sandbox/behaviour", json={"profile": profile}, headers={"Authorization": sb.token})
    r.raise_for_status()
    described: dict[str, Any] = r.json()
    return described


def set_faults(sb: SandboxProcess, faults: str) -> None:
    r = httpx.put(sb.url + "/__sandbox/faults", json={"faults": faults}, headers={"Authorization": sb.token})
    r.raise_for_status()


def world_audit(state: dict[str, Any], plan: pd.DataFrame) -> dict[str, int]:
    """``bench_apply.audit`` plus what only another world can do: generated keys, orphan apps, no gateway key."""
    result = audit(state, plan)
    keys = {reveal(k) for k in plan["key_id"]}
    ours = {a["ID"] for a in state["apps"] if a["Name"].startswith(APP_PREFIX)}
    held = {c["AppID"] for c in state["custom_credentials"]}
    generated = sum(1 for c in state["custom_credentials"] if c["AppID"] in ours and c["KeyID"] not in keys)
    gateway = {g["KeyID"]: g.get("CredentialID") for g in state.get("gateway_keys", [])}
    records = {c["KeyID"]: c["ID"] for c in state["custom_credentials"] if c["KeyID"] in keys}
    no_gateway = sum(1 for key, cid in records.items() if gateway.get(key) != cid)
    return {
        **result,
        "wrong": result["wrong"] + generated,
        "generated_keys": generated,
        "orphan_apps": len(ours - held),
        "no_gateway_key": no_gateway,
    }


def preflight_of(sb: SandboxProcess, tmp: Path, profile: str) -> tuple[Settings, dict[str, Any], dict[str, Any]]:
    """Settings as ``apply`` would build them from a preflight of this sandbox, the migration options, a summary."""
    settings = Settings(portal_url=sb.url, token=sb.token)
    started = time.perf_counter()
    found = run_preflight(
        settings,
        canary_user=None,
        gateway_url=sb.url + "/gateway",
        journal_path=tmp / f"{profile}-ledger.json",
        waits=Waits(listing=5.0, gateway=2.0),
    )
    used = apply_result(settings, found)
    options = {"initial_concurrency": found.start_concurrency} if found.start_concurrency else {}
    summary = {
        "ok": found.ok,
        "seconds": round(time.perf_counter() - started, 1),
        "auth_token_type": found.auth_token_type,
        "duplicate_key": found.duplicate_key,
        "per_page_max": found.per_page_max,
        "listing_lag_ms": found.listing_lag_ms,
        "start_concurrency": found.start_concurrency,
        "leftovers": found.leftovers,
        "unsafe": [c.name for c in found.problems],
        "lookup_patience": getattr(used, "lookup_patience", None),
    }
    return used, options, summary


def kill_partway(sb: SandboxProcess, n: int, journal: Path, settings: Settings, options: dict[str, Any]) -> bool:
    """Run the migration in a child process and SIGKILL it once a third of the keys are journalled."""
    code = _CHILD.format(
        root=str(ROOT), n=n, url=sb.url, token=sb.token, auth=settings.auth_token_type, journal=str(journal),
        options=options,
    )  # fmt: skip
    return kill_when_journalled(subprocess.Popen([sys.executable, "-c", code]), journal, n // 3, 300)


def one_world(profile: str, n: int, tmp: Path) -> dict[str, Any]:
    journal = tmp / f"{profile}.journal"
    with sandbox(latency_ms=5, random_seed=13) as sb:
        behaviour = set_profile(sb, profile)
        settings, options, preflight = preflight_of(sb, tmp, profile)
        set_faults(sb, FAULTS)
        killed = kill_partway(sb, n, journal, settings, options)
        at_kill = journal_rows(journal)
        plan = make_plan(n)
        started = time.perf_counter()
        migration, _ = run_migration(plan, settings, journal, **options)
        seconds = time.perf_counter() - started
        state = sb.state()
        result = world_audit(state, plan)
        writes = posts(state)
        run_migration(make_plan(n), settings, journal, **options)
        return {
            "profile": profile,
            "keys": n,
            "behaviour": behaviour,
            "faults": FAULTS,
            "faults_injected": state["requests"].get("faults_injected"),
            "preflight": preflight,
            "killed_mid_run": killed,
            "journal_created_at_kill": at_kill,
            "resume_seconds": round(seconds, 1),
            "statuses": plan["status"].value_counts().to_dict(),
            **result,
            "rerun_posts": posts(sb.state()) - writes,
            "fatal_error": migration.fatal_error,
        }


HEADERS = ["profile", "keys", "preflight", "killed at", "missing", "duplicate", "wrong", "orphan apps",
           "dup apps", "status != portal", "no gateway key", "rerun POSTs", "resume s"]  # fmt: skip


def table_row(r: dict[str, Any]) -> list[Any]:
    p = r["preflight"]
    verdict = "ok" if p["ok"] else "UNSAFE: " + ", ".join(p["unsafe"])
    killed = f"{r['journal_created_at_kill']}" + ("" if r["killed_mid_run"] else " (had ended)")
    return [r["profile"], r["keys"], verdict, killed, r["missing"], r["duplicate_credentials"], r["wrong"],
            r["orphan_apps"], r["duplicate_apps"], r["status_mismatch"], r["no_gateway_key"], r["rerun_posts"],
            r["resume_seconds"]]  # fmt: skip


def run(keys: int, profiles: tuple[str, ...] = PROFILES) -> dict[str, Any]:
    info = machine_info()
    results: dict[str, Any] = {"machine": info, "keys": keys, "faults": FAULTS, "profiles": []}
    with tempfile.TemporaryDirectory() as d:
        for profile in profiles:
            results["profiles"].append(one_world(profile, keys, Path(d)))
    rows = [table_row(r) for r in results["profiles"]]
    print(f"\nper-profile reliability: {keys} keys, faults {FAULTS}, SIGKILL partway and rerun")
    print(md_table(HEADERS, rows))
    for r in results["profiles"]:
        print(f"{r['profile']}: statuses {r['statuses']}; preflight {r['preflight']}")
    results["machine_label"] = machine_label(info)
    path = write_json("profiles.json", results)
    print(f"\n{results['machine_label']}\nwritten to {path}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--profile", choices=PROFILES, action="append", help="Only these profiles (repeatable).")
    args = parser.parse_args()
    run(args.keys, tuple(args.profile or PROFILES))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
