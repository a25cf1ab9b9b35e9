"""Presenters: a command's result as the lines a person reads (pure: frames and numbers in, text out).

The commands compute, the presenters word it, ``Session`` decides where the lines go (stdout, stderr with
``--json``, nowhere with ``--quiet``). The run summary reuses the console's own text helpers
(``ui_format.status_by_action``, ``latest_failures``), so ``tyk-migrate apply`` and a
headless ``MigrationConsole.run()`` describe a run in the same words. No line holds a raw key: keys are
masked, and error texts are scrubbed of the row's key before they are cut.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .. import ui_format as fmt
from ..vocabulary import BLOCKED, CREATED, DRY_RUN, FAILED, PENDING, SKIPPED

APPLY_PLAN_ACTIONS = fmt.ACTIONS
#: Statuses named in the run's one-line result, in this order.
RUN_STATUSES = (CREATED, SKIPPED, DRY_RUN, FAILED, BLOCKED, PENDING)
FAILURES_SHOWN = 5
DISAGREEMENTS_SHOWN = 5
EXAMPLE_WIDTH = 110


def _indent(table: pd.DataFrame, **kw: Any) -> list[str]:
    return ["  " + line for line in table.to_string(index=False, **kw).splitlines()]


# -- validate ------------------------------------------------------------------------------------------


def validate_lines(
    source: Any, frame: pd.DataFrame, counts: Mapping[str, int], checks: pd.DataFrame, target: Path
) -> Iterator[str]:
    """``source``: the command's ``Source`` (path, and the format asked for when the loader names none)."""
    yield f"input:     {source.path} ({frame.attrs.get('format', source.format)})"
    for canon, column in frame.attrs.get("column_map", {}).items():
        yield f"  {canon:<12} <- {column}"
    ignored = frame.attrs.get("ignored_columns")
    if ignored:
        yield f"  ignored:       {', '.join(ignored)}"
    yield f"rows read: {counts['rows']}"
    yield f"valid:     {counts['valid']} ({counts['warned']} with warnings)"
    yield f"rejected:  {counts['rejected']}"
    if len(checks):
        yield "checks (rows):"
        for row in checks.itertuples(index=False):
            yield f"  {row.severity:<8} {row.check:<20} {row.rows}"
    yield f"rejects report: {target} ({counts['report_entries']} entries)"


# -- plan ----------------------------------------------------------------------------------------------


def input_line(source: str, prepared: Any, *, hint: bool = False) -> str:
    rejected = prepared.rejected_rows
    return (
        f"input   {Path(source).name}: {len(prepared.legacy)} rows, {len(prepared.valid)} valid, {rejected} rejected"
        + (" (run `tyk-migrate validate` for the report)" if hint and rejected else "")
    )


def portal_line(snap: Any) -> str:
    return (
        f"portal  {snap.portal_url}: {len(snap.users)} users, {len(snap.products)} products, "
        f"{len(snap.plans)} plans, {len(snap.apps)} apps, {len(snap.credentials)} credentials"
    )


def impact_lines(plan: pd.DataFrame) -> Iterator[str]:
    """Keys whose clients would notice, by kind: the one-line breakdown, then a row per kind with an example."""
    from ..report_impact import impact_breakdown, impact_by_kind, records

    table = impact_by_kind(plan)
    if not len(table):
        return
    yield f"  by kind: {impact_breakdown(table)}"
    for row in records(table):
        said = f"{row[BLOCKED]} blocked, {row['warned']} warned" if row[BLOCKED] else f"{row['warned']} warned"
        yield f"  {row['kind']:<21} {row['rows']:>7}  {said}; e.g. {str(row['example'])[:EXAMPLE_WIDTH]}"


def impact_counts_json(plan: pd.DataFrame) -> dict[str, Any]:
    """``--json``'s client-impact fields: rows with any impact, and per kind rows, setting, blocked, warned."""
    from ..report_impact import impact_by_kind, records

    table = impact_by_kind(plan)
    any_rows = int((plan["client_impact"].fillna("") != "").sum()) if "client_impact" in plan else 0
    per_kind = {
        str(r["kind"]): {
            k: (str(r[k]) if k == "setting" else int(r[k])) for k in ("rows", "setting", BLOCKED, "warned")
        }
        for r in records(table)
    }
    return {"client_impact_rows": any_rows, "client_impact": per_kind}


def dashboard_lines(prepared: Any) -> Iterator[str]:
    """What the Dashboard said: keys read or found, disagreements with the file, keys live in the gateway."""
    yield from getattr(prepared, "notes", None) or []
    enrichment = getattr(prepared, "enrichment", None)
    if enrichment is not None:
        yield from disagreement_lines(enrichment.disagreements)
    hashed = _hash_only_rows(prepared.legacy)
    if hashed:
        yield (
            f"  {hashed} key(s) held only as hashes (key hashing on): rejected, each with what to do "
            "(`tyk-migrate validate --from-dashboard` writes the report)"
        )
    live = getattr(prepared, "live", None)
    if live is not None:
        n = int(live["live"].sum()) if len(live) else 0
        yield f"live    {n} of {len(live)} key(s) live in the gateway today: the import replaces their sessions"


def _hash_only_rows(frame: pd.DataFrame) -> int:
    from ..hash_only import COLUMN

    return int(frame[COLUMN].fillna(False).astype(bool).sum()) if COLUMN in frame.columns else 0


def disagreement_lines(disagreements: pd.DataFrame) -> Iterator[str]:
    """A few of the values a file and the Dashboard give differently (the file's kept); keys as fingerprints."""
    if not len(disagreements):
        return
    yield f"  {len(disagreements)} value(s) differ from the Dashboard (the file's kept), e.g.:"
    for row in disagreements.head(DISAGREEMENTS_SHOWN).itertuples(index=False):
        yield (
            f"    row {row.source_row} ({row.key_fingerprint}) {row.column}: file {row.file_value!r}, "
            f"Dashboard {row.dashboard_value!r}"
        )


def enrichment_counts(enrichment: Any) -> dict[str, int]:
    lookups = enrichment.lookups
    found = int(lookups["found"].sum())
    return {"found": found, "not_found": len(lookups) - found, "disagreements": len(enrichment.disagreements)}


def dashboard_counts(prepared: Any) -> dict[str, Any]:
    """``--json``'s Dashboard fields (none without a Dashboard)."""
    out: dict[str, Any] = {}
    if getattr(prepared, "enrichment", None) is not None:
        out["dashboard"] = enrichment_counts(prepared.enrichment)
    if getattr(prepared, "live", None) is not None:
        out["live_keys"] = int(prepared.live["live"].sum()) if len(prepared.live) else 0
    if hashed := _hash_only_rows(prepared.legacy):
        out["hash_only_rows"] = hashed
    return out


def plan_lines(source: str, prepared: Any, summary: Mapping[str, Any]) -> Iterator[str]:
    yield input_line(source, prepared, hint=True)
    yield from dashboard_lines(prepared)
    yield portal_line(prepared.snapshot)
    scoped = f", {summary['out_of_scope']} out of scope" if summary["out_of_scope"] else ""
    yield f"plan    {summary['rows']} rows{scoped}"
    for action, count in summary["counts"].items():
        yield f"  {action:<15} {count:>7}"
    from ..plan import impact_line

    if impact := impact_line(dict(summary)):
        yield impact
        yield from impact_lines(prepared.plan)
    if summary["top_reasons"]:
        yield "top blocking reasons:"
        for reason, count in summary["top_reasons"]:
            yield f"  {count:>7}  {reason[:160]}"
    unresolved = prepared.unresolved
    if len(unresolved):
        yield "unmatched values (add them to the mapping file or fix the portal):"
        for kind, value, count, suggestions in unresolved.head(5)[["kind", "value", "rows", "suggestions"]].to_numpy():
            hint = f"  did you mean {suggestions}?" if suggestions else ""
            yield f"  {int(count):>7}  {kind} {str(value)!r}{hint}"


# -- apply ---------------------------------------------------------------------------------------------


def action_counts(plan: pd.DataFrame) -> dict[str, int]:
    counts = plan["action"].value_counts().to_dict() if len(plan) else {}
    return {a: int(counts.get(a, 0)) for a in APPLY_PLAN_ACTIONS}


def apply_header(source: str, prepared: Any) -> Iterator[str]:
    from ..report_impact import impact_breakdown, impact_by_kind

    yield input_line(source, prepared)
    yield from dashboard_lines(prepared)
    yield "plan    " + ", ".join(f"{n} {a}" for a, n in action_counts(prepared.plan).items())
    table = impact_by_kind(prepared.plan)
    if len(table):  # before any write: what the run changes for clients, blocked rows left out
        yield f"client impact: {impact_breakdown(table)}"


def run_summary(plan: pd.DataFrame, progress: Any, statuses: Mapping[str, int], limit: Any = None) -> Iterator[str]:
    """The run's result: statuses, requests, the run against its portal's limit (``throughput.HonestLimit``),
    outcome per action (the console's table) and the latest failures."""
    yield "status  " + ", ".join(f"{statuses[s]} {s}" for s in RUN_STATUSES if statuses.get(s))
    # benchmarks/bench_compare.py reads this line: "portal  N requests in S.SSs"
    yield (
        f"portal  {progress.requests} requests in {progress.elapsed_seconds:.2f}s, "
        f"concurrency ended at {progress.concurrency}"
    )
    if limit is not None and (line := limit.line()):
        yield "speed   " + line
    everything = pd.Series(True, index=plan.index)
    if "status" in plan and len(plan):
        yield "results:"
        yield from _indent(fmt.status_by_action(plan, everything))
    failures = fmt.latest_failures(plan, FAILURES_SHOWN)  # each error scrubbed of its row's key, then cut
    if len(failures):
        yield "latest failures:"
        yield from _indent(failures, max_colwidth=100)


# -- rollback ------------------------------------------------------------------------------------------


def rollback_counts(report: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{"apps": {result: n}, "credentials": {result: n}}``."""
    out: dict[str, dict[str, int]] = {"apps": {}, "credentials": {}}
    for kind, result in zip(report["kind"], report["result"], strict=True):
        group = out["apps" if kind == "app" else "credentials"]
        group[str(result)] = group.get(str(result), 0) + 1
    return out


def _count_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {result}" for result, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


def _what(row: pd.Series) -> str:
    if row["kind"] == "app":
        return f"app {row['app_id']}"
    return f"credential {row['credential_id']} (key {row['key_fingerprint']})"


def rollback_lines(report: pd.DataFrame, *, dry_run: bool, reasons: Mapping[str, str]) -> Iterator[str]:
    """Counts of apps and credentials by result, then why things were kept and what failed (a few each)."""
    counts = rollback_counts(report)
    yield "dry run (nothing deleted): what a rollback would do" if dry_run else "rolled back:"
    yield f"  apps:         {_count_text(counts['apps'])}"
    yield f"  credentials:  {_count_text(counts['credentials'])}"
    kept = report[report["result"] == "kept"]
    if len(kept):
        yield "kept (left in the portal, journal unchanged):"
        for (kind, reason), group in kept.groupby(["kind", "reason"], dropna=False, sort=False):
            why = reasons.get(str(reason), "") if isinstance(reason, str) else ""
            yield f"  {len(group):>5} {kind}(s): {why or 'see the detail'}"
            yield f"        e.g. {_what(group.iloc[0])}: {group['detail'].iat[0]}"
    failed = report[report["result"] == "failed"]
    if len(failed):
        yield f"failed ({len(failed)}; rerun the rollback to try them again):"
        for _, row in failed.head(FAILURES_SHOWN).iterrows():
            yield f"  {_what(row)}: {row['detail']}"


# -- verify, reconcile ---------------------------------------------------------------------------------


def verify_lines(summary: pd.DataFrame) -> Iterator[str]:
    for row in summary.itertuples(index=False):
        yield f"{row.verify_status:>10}  {row.keys:>6}  {row.meaning}"


def reconcile_lines(counts: Mapping[str, int], rejected: int) -> Iterator[str]:
    for status, count in counts.items():
        yield f"{status:>15}  {count}"
    if rejected:
        yield f"{rejected} input rows rejected by validation (not reconciled)"
