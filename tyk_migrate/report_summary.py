"""What the HTML report says before its tables: the verdict, the funnel and the provenance.

The verdict and funnel are computed from the frames a migration produces (plan, outcomes, rejects,
verification, reconciliation), so the headline can never disagree with the tables below it: frames in,
plain values out; ``report_html`` renders them.
"""

from __future__ import annotations

import getpass
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from . import __version__
from .vocabulary import BLOCKED, CREATED, DRY_RUN, FAILED, MIGRATED_STATUSES, PENDING, PRESENT, ROLLED_BACK, SKIPPED

if TYPE_CHECKING:
    from .reconcile import Reconciliation

Tone = Literal["ok", "info", "warn", "bad"]


def plural(count: int, one: str, many: str | None = None) -> str:
    """``"1 key"``, ``"3 keys"``; ``many`` for irregular plurals (``"policy", "policies"``)."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _and(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass(frozen=True)
class Evidence:
    """The frames a report is made of; any may be missing."""

    outcomes: pd.DataFrame | None = None
    plan: pd.DataFrame | None = None
    rejects: pd.DataFrame | None = None
    verification: pd.DataFrame | None = None
    reconciliation: Reconciliation | None = None

    @property
    def rows(self) -> pd.DataFrame | None:
        """One row per planned key: the outcome frame when there is one, else the plan."""
        return self.outcomes if self.outcomes is not None else self.plan

    def run_counts(self) -> dict[str, int]:
        """Keys per run ``status`` (empty without a run)."""
        if self.outcomes is None or "status" not in self.outcomes.columns:
            return {}
        return {str(k): int(v) for k, v in self.outcomes["status"].value_counts().items()}

    def blocked_mask(self) -> pd.Series | None:
        rows = self.rows
        if rows is None:
            return None
        column = "action" if "action" in rows.columns else "status" if "status" in rows.columns else None
        return rows[column] == BLOCKED if column else pd.Series(False, index=rows.index)

    def blocked(self) -> int | None:
        mask = self.blocked_mask()
        return None if mask is None else int(mask.sum())

    def rejected(self) -> int | None:
        """Input rows validation rejected (errors; warnings keep a row)."""
        rejects = self.rejects
        if rejects is None or "source_row" not in rejects.columns:
            return None
        if "severity" in rejects.columns:
            rejects = rejects[rejects["severity"] == "error"]
        return int(rejects["source_row"].nunique())

    def out_of_scope(self) -> int:
        for frame in (self.plan, self.outcomes):
            if frame is not None and "out_of_scope" in frame.attrs:
                return int(frame.attrs["out_of_scope"])
        return 0

    def migratable_fingerprints(self) -> set[str] | None:
        """Fingerprints of the keys that are not blocked (None: no plan or run to tell)."""
        rows, mask = self.rows, self.blocked_mask()
        if rows is None or mask is None or "key_fingerprint" not in rows.columns:
            return None
        return {str(f) for f in rows.loc[~mask, "key_fingerprint"] if isinstance(f, str)}

    def gateway_refusals(self) -> int:
        """Keys the gateway was asked about that did not answer 2xx."""
        from .verify import verification_attempted, verified_ok

        if self.verification is None or "verify_status" not in self.verification.columns:
            return 0
        tried = verification_attempted(self.verification)
        return int((tried & ~verified_ok(self.verification)).sum())

    def verified(self) -> int | None:
        from .verify import verification_attempted, verified_ok

        if self.verification is None or "verify_status" not in self.verification.columns:
            return None
        return int((verification_attempted(self.verification) & verified_ok(self.verification)).sum())

    def recon_off(self) -> dict[str, int]:
        """Migratable keys reconciliation found not as expected, per status (blocked keys are expected missing)."""
        if self.reconciliation is None:
            return {}
        rows = self.reconciliation.rows
        wanted = self.migratable_fingerprints()
        if wanted is not None:
            rows = rows[rows["key_fingerprint"].isin(wanted)]
        off = rows.loc[rows["recon_status"] != PRESENT, "recon_status"].value_counts()
        return {str(k): int(v) for k, v in off.items()}


# -- the funnel ---------------------------------------------------------------------------------------------

#: The funnel's stages, in the order the report shows them, with what each number counts.
STAGES = {
    "read": "rows read from the input",
    "rejected": "rows validation rejected",
    BLOCKED: "keys the plan blocked",
    CREATED: "keys this run wrote",
    SKIPPED: "keys already in the portal",
    "verified": "keys that opened their API",
    PRESENT: "keys the portal holds as expected",
}


def funnel(ev: Evidence) -> dict[str, int | None]:
    """The funnel's numbers (``STAGES``); ``None`` where the report was not given the frame to count it."""
    rows, rejected = ev.rows, ev.rejected()
    recon = ev.reconciliation
    valid = len(rows) + ev.out_of_scope() if rows is not None else len(recon.rows) if recon is not None else None
    run = ev.run_counts()
    return {
        "read": None if valid is None else valid + (rejected or 0),
        "rejected": rejected,
        BLOCKED: ev.blocked(),
        CREATED: run.get(CREATED, 0) if run else None,
        SKIPPED: run.get(SKIPPED, 0) if run else None,
        "verified": ev.verified(),
        PRESENT: int(recon.counts[PRESENT]) if recon is not None else None,
    }


# -- the verdict --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The report's headline: one sentence, its tone, and short follow-up notes."""

    tone: Tone
    text: str
    notes: list[str] = field(default_factory=list)


def _trouble(ev: Evidence, run: dict[str, int]) -> list[str]:
    """What went wrong, worst first (empty: nothing did)."""
    found = []
    if run.get(FAILED):
        n = run[FAILED]
        found.append(f"{plural(n, 'write')} failed")
    if run.get(ROLLED_BACK):
        n = run[ROLLED_BACK]
        found.append(f"{plural(n, 'key')} {'was' if n == 1 else 'were'} rolled back")
    refused = ev.gateway_refusals()
    if refused:
        found.append(f"{plural(refused, 'migrated key')} did not open {'its' if refused == 1 else 'their'} API")
    off = ev.recon_off()
    if off:
        n = sum(off.values())
        detail = ", ".join(f"{v} {k}" for k, v in off.items())
        what = "migratable key" if ev.migratable_fingerprints() is not None else "legacy key"
        found.append(f"{plural(n, what)} {'is' if n == 1 else 'are'} not as expected in the portal ({detail})")
    return found


def _notes(ev: Evidence) -> list[str]:
    parts = []
    blocked, rejected = ev.blocked() or 0, ev.rejected() or 0
    if blocked:
        parts.append(f"{plural(blocked, 'blocked key')}")
    if rejected:
        parts.append(f"{plural(rejected, 'rejected row')}")
    notes = [f"{_and(parts)} need action: see What to do."] if parts else []
    unexplained = len(ev.reconciliation.unexplained) if ev.reconciliation is not None else 0
    if unexplained:
        notes.append(f"{plural(unexplained, 'portal credential')} no legacy key explains: see Reconciliation.")
    return notes


def _all(count: int, what: str) -> str:
    return f"The only {what} is" if count == 1 else f"All {count} {what}s are"


def _run_verdict(ev: Evidence, run: dict[str, int], notes: list[str]) -> Verdict:
    migrated = sum(run.get(s, 0) for s in MIGRATED_STATUSES)
    if run.get(PENDING):
        waiting = run[PENDING]
        total = waiting + migrated
        return Verdict("warn", f"The run is not finished: {waiting} of {total} keys are still pending", notes)
    if run.get(DRY_RUN):
        return Verdict("info", f"Dry run: {plural(run[DRY_RUN], 'key')} would be written; nothing was written", notes)
    if not migrated:
        return Verdict("bad", "No key could migrate: see What to do", notes)
    checked = ev.verification is not None or ev.reconciliation is not None
    tail = " and verified" if checked else " (not verified yet: run verify and reconcile)"
    return Verdict("ok", f"{_all(migrated, 'migratable key')} in the portal{tail}", notes)


def verdict(ev: Evidence) -> Verdict:
    """The headline, the first of these that applies: what went wrong (failed writes, rolled-back keys,
    keys the gateway refused, migratable keys reconciliation found not as expected); an unfinished or dry
    run; all migratable keys in the portal; a reconciliation's result; a plan not run yet; nothing given."""
    run = ev.run_counts()
    notes = _notes(ev)
    trouble = _trouble(ev, run)
    if trouble:
        return Verdict("bad", _and(trouble) + ": see below", notes)
    if run:
        return _run_verdict(ev, run, notes)
    rows, blocked = ev.rows, ev.blocked() or 0
    if ev.reconciliation is not None:
        wanted = ev.migratable_fingerprints()
        count = len(ev.reconciliation.rows) if wanted is None else len(wanted)
        if not count:
            return Verdict("bad", "No key can migrate: see What to do", notes)
        what = "legacy key" if wanted is None else "migratable key"
        return Verdict("ok", f"{_all(count, what)} present in the portal as expected", notes)
    if rows is not None:
        ready = len(rows) - blocked
        return Verdict("info", f"Nothing written yet: the plan has {plural(ready, 'key')} ready to migrate", notes)
    return Verdict("info", "Nothing to report yet: no plan, run or reconciliation was given", notes)


# -- provenance ---------------------------------------------------------------------------------------------


def sha256_of(path: str | Path) -> str:
    """The file's SHA-256 (hex), read in chunks; a one-line reason instead when it is not a readable file."""
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        return f"not computed ({exc.strerror or type(exc).__name__})"
    return digest.hexdigest()


def _operator() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "unknown"


def bare_url(url: str) -> str:
    """The URL without any user:password part."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.hostname or "")) if "@" in parts.netloc else url


def _duration(seconds: float) -> str:
    whole = round(seconds)
    return str(timedelta(seconds=whole)) if whole >= 60 else f"{seconds:.1f} s"


def _run_times(outcomes: pd.DataFrame | None) -> tuple[Any, Any]:
    """The first start and last finish recorded in an outcome frame (NaT when there are none)."""
    if outcomes is None or "started_at" not in outcomes.columns:
        return pd.NaT, pd.NaT
    finished = outcomes["finished_at"] if "finished_at" in outcomes.columns else outcomes["started_at"]
    return pd.to_datetime(outcomes["started_at"], utc=True).min(), pd.to_datetime(finished, utc=True).max()


def provenance(
    generated: datetime,
    *,
    input_path: str | Path | None = None,
    mapping: str | Path | None = None,
    portal_url: str | None = None,
    operator: str | None = None,
    started_at: datetime | None = None,
    outcomes: pd.DataFrame | None = None,
) -> list[tuple[str, str]]:
    """``(label, value)`` rows saying who made the report from what, when, and how long the run took."""
    rows = [("generated", generated.strftime("%Y-%m-%d %H:%M:%S UTC")), ("tool", f"tyk-migrate {__version__}")]
    rows.append(("operator", operator or _operator()))
    for label, path in (("input file", input_path), ("mapping file", mapping)):
        if path is not None and str(path):
            rows += [(label, str(path)), (f"{label} SHA-256", sha256_of(path))]
    if portal_url:
        rows.append(("portal", bare_url(portal_url)))
    run_start, run_end = _run_times(outcomes)
    start = pd.Timestamp(started_at) if started_at is not None else run_start
    if pd.notna(start):
        start = start.tz_localize(UTC) if start.tzinfo is None else start
        end = run_end if started_at is None and pd.notna(run_end) else pd.Timestamp(generated)
        rows += [
            ("started", start.strftime("%Y-%m-%d %H:%M:%S UTC")),
            ("duration", _duration((end - start).total_seconds())),
        ]
    return rows


def inputs_rows(inputs: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    rows = []
    for key, value in (inputs or {}).items():
        if isinstance(value, str) and ("token" in str(key).lower() or "secret" in str(key).lower()):
            value = "(hidden)"
        rows.append((str(key), value))
    return rows
