"""``tyk-migrate demo`` / ``make demo``: the whole migration on the sample data, against a local sandbox.

Load the sample ``legacy_keys.csv`` (``tyk_migrate.resources``) -> validate -> fetch the sandbox portal ->
plan -> apply (journal in the output folder) -> verify every migrated key on the sandbox gateway ->
reconcile against a fresh read of the portal -> write the evidence: ``plan.csv``, ``outcomes.csv``, ``rejects.csv``,
``reconciliation.csv``, ``report.html``. The sandbox runs on a free loopback port for the duration only.

Each step is one library call, the same ones a notebook cell makes, so this file doubles as a worked
example of the API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from . import resources
from .errors import InputError
from .outputs import DEMO_JOURNAL, DEMO_OUTPUT_DIR, SQLITE_SIDECARS
from .report_impact import impact_breakdown, impact_by_kind
from .vocabulary import BLOCKED, CREATED, FAILED, SKIPPED

DEFAULT_INPUT = resources.LEGACY_KEYS  # the clone's data-samples/, or the copy an installed wheel ships
DEFAULT_SEED = resources.SEED
REJECT_COLUMNS = ["source_row", "severity", "column", "check", "message", "value"]


@dataclass
class DemoResult:
    """What the demo made: frames for a notebook, files for a human, and whether all went well."""

    out_dir: Path
    files: dict[str, Path]
    rejects: pd.DataFrame
    plan: pd.DataFrame
    outcomes: pd.DataFrame
    reconciliation: Any
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Everything that could migrate did: nothing failed, every migrated key opens the gateway and
        is present in the portal. (Blocked and rejected rows are expected in the sample data.)"""
        return not self.problems


def _status_counts(frame: pd.DataFrame, column: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame[column].value_counts().items()}


def _fresh_journal(path: Path) -> None:
    """A new sandbox knows nothing of an older demo's run: its journal must not claim otherwise."""
    for suffix in ("", *SQLITE_SIDECARS):
        Path(str(path) + suffix).unlink(missing_ok=True)


def run_demo(
    out_dir: str | Path = DEMO_OUTPUT_DIR,
    *,
    input: str | Path = DEFAULT_INPUT,
    seed: str | Path = DEFAULT_SEED,
    echo: Callable[[str], None] = print,
) -> DemoResult:
    """Run the demo end to end and write its files into ``out_dir``; prints a short summary via ``echo``."""
    from .extras import require

    for extra in ("sandbox", "report"):  # before anything runs: not a migration that ends without its report
        require(extra, needed_for="tyk-migrate demo")
    from .config import Settings
    from .plan import build_plan, export_plan
    from .reconcile import reconcile
    from .report import export_frame, export_outcomes, export_reconciliation, write_report
    from .run import apply_plan
    from .sandbox import SandboxConfig, run_in_thread
    from .snapshot import fetch_snapshot
    from .sources import load_keys
    from .validate import validate_keys
    from .verify import verified_ok, verify_access

    started = datetime.now(UTC)
    source, seed_path, out = Path(input), Path(seed), Path(out_dir)
    if not source.exists():
        raise InputError(f"demo input {source} not found (run python data-samples/make_samples.py)")
    out.mkdir(parents=True, exist_ok=True)
    journal = out / DEMO_JOURNAL
    _fresh_journal(journal)

    legacy = load_keys(source)
    valid, rejects = validate_keys(legacy)
    echo(f"loaded {len(legacy)} keys from {source.name}: {len(valid)} valid, {len(legacy) - len(valid)} rejected")

    with run_in_thread(SandboxConfig(seed=str(seed_path))) as sandbox:
        settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token, gateway_url=sandbox.gateway_url)
        echo(f"sandbox portal at {sandbox.portal_url}")
        snapshot = fetch_snapshot(settings, progress=False)
        plan, unresolved = build_plan(valid, snapshot)
        echo("plan: " + ", ".join(f"{k} {v}" for k, v in _status_counts(plan, "action").items()))
        impact = impact_breakdown(impact_by_kind(plan))
        if impact:  # what the keys' clients would notice (report.html has the table)
            echo(f"client impact: {impact}")
        plan_file = export_plan(plan, out / "plan.csv", snapshot)  # names beside IDs, no run columns

        outcomes = apply_plan(plan.copy(), settings, journal)
        echo("apply: " + ", ".join(f"{k} {v}" for k, v in _status_counts(outcomes, "status").items()))

        after = fetch_snapshot(settings, progress=False)
        verified = verify_access(outcomes, sandbox.gateway_url, snapshot=after)
        migrated = verified["status"].isin([CREATED, SKIPPED])
        opened = verified_ok(verified)
        echo(f"verify: {int((migrated & opened).sum())} of {int(migrated.sum())} migrated keys open their API")

        recon = reconcile(valid, after, plan=verified)
        echo("reconcile: " + ", ".join(f"{k} {v}" for k, v in recon.counts.items() if v))
        portal_url = sandbox.portal_url

    files = {
        "plan": plan_file,
        "outcomes": export_outcomes(verified, out / "outcomes.csv"),
        "rejects": export_frame(rejects, out / "rejects.csv", REJECT_COLUMNS),
        "reconciliation": export_reconciliation(recon, out / "reconciliation.csv"),
    }
    files["report"] = write_report(
        out / "report.html",
        outcomes=verified,
        rejects=rejects,
        plan=plan,
        reconciliation=recon,
        inputs={
            "keys in the file": len(legacy),
            "valid keys": len(valid),
            "portal kind": "local sandbox, stopped after the demo",
            "unresolved owners / policies": len(unresolved),
            "journal": journal.name,
        },
        title="tyk-migrate demo: Quillbridge Bank key migration",
        input_path=source,
        portal_url=portal_url,
        started_at=started,
    )

    problems: list[str] = []
    failed = int((verified["status"] == FAILED).sum())
    if failed:
        problems.append(f"{failed} keys failed to migrate (see outcomes.csv, column error)")
    closed = int((migrated & ~opened).sum())
    if closed:
        problems.append(f"{closed} migrated keys did not open their API on the gateway")
    migrated_fps = verified.loc[migrated, "key_fingerprint"]
    if not recon.all_present(migrated_fps):
        problems.append("some migrated keys are not present as expected in the portal (see reconciliation.csv)")

    echo("")
    echo(f"wrote into {out}/:")
    for name, path in files.items():
        echo(f"  {path.name:<20} {name}")
    echo("")
    if problems:
        for problem in problems:
            echo(f"PROBLEM: {problem}")
    else:
        blocked = int((verified["status"] == BLOCKED).sum())
        echo(
            f"done: every key that could migrate did ({int(migrated.sum())} keys, all verified and present); "
            f"{blocked} blocked and {len(legacy) - len(valid)} rejected rows are explained in report.html"
        )
    return DemoResult(out, files, rejects, plan, verified, recon, problems)
