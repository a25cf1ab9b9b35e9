"""``tyk-migrate apply`` (run, journal)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click

from ..vocabulary import BLOCKED, FAILED, PENDING
from . import present
from .accounts import account_options, account_summary
from .app import cli
from .exits import UNUSABLE, Outcome, verdict
from .options import Source, command_options, concurrency_value, input_options, portal_options
from .paths import output_file
from .running import ProgressBar, ctrl_c_ignored, run_migration
from .session import Session, default_output


@cli.command("apply")
@input_options(dashboard=True)
@click.option(
    "--journal",
    required=True,
    type=click.Path(dir_okay=False),
    help="SQLite journal of this migration: created if new; rerun with the same file to resume.",
)
@click.option(
    "--concurrency",
    default="adaptive",
    show_default=True,
    help="Requests in flight: a number, or 'adaptive' (starts at 8, or at the preflight's safe start, and "
    "follows the portal's answers).",
)
@click.option("--max-concurrency", default=64, show_default=True, help="Ceiling for adaptive concurrency.")
@click.option("--batch-size", default=200, show_default=True, help="Rows per batch (apps of a batch go first).")
@click.option("--dry-run", is_flag=True, help="Make every check, write nothing (rows marked dry_run).")
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Outcome CSV (keys masked). Default: INPUT-stem.outcomes.csv."
)
@click.option(
    "--read-back",
    type=click.Choice(("auto", "all", "none")),  # run/readback.py READ_BACK_MODES (not imported: start-up)
    default="auto",
    show_default=True,
    help="GET each created credential back: 'all', 'none', or 'auto' (where the create's answer cannot "
    "settle it, the first 20, and a 2% sample; a mismatch switches the run to 'all').",
)
@click.option("--force-journal", is_flag=True, help="Use a journal that was made for a different input.")
@click.option("--no-progress", is_flag=True, help="No progress bar (logs, CI).")
@click.option(
    "--preflight",
    "preflight_file",
    type=click.Path(dir_okay=False),
    help="A `tyk-migrate preflight` result of this portal [default: the one preflight keeps for it]. A live run "
    "against a portal off this machine needs a passing one, newer than a day.",
)
@click.option("--no-preflight", is_flag=True, help="Write without a preflight (not recommended for a real portal).")
@account_options
@portal_options
@command_options()
def apply_command(
    session: Session,
    source: Source,
    journal: str,
    concurrency: str,
    max_concurrency: int,
    batch_size: int,
    dry_run: bool,
    out: str | None,
    force_journal: bool,
    read_back: str,
    no_progress: bool,
    preflight_file: str | None,
    no_preflight: bool,
    portal_url: str | None,
    token: str | None,
    accounts: Any = None,
) -> Outcome:
    """Create every planned key in the portal, exactly once, resumably.

    Plans INPUT like `tyk-migrate plan`, then creates apps and custom credentials in batches, journalling
    every write so a rerun with the same --journal does only what is missing (also after a crash or
    Ctrl-C). Each credential is compared with the request (read back per --read-back). Writes the outcome CSV
    (keys masked).
    Exit 0 when every key is created or already there, 1 when some rows were rejected or blocked and no
    write failed, 4 when some write failed or was not attempted, 130 after Ctrl-C.

    A portal off this machine must have passed `tyk-migrate preflight` in the last day (its AuthTokenType and
    safe concurrency start are used); without one a live run stops before reading the portal (exit 2).

    \b
    Example:
      tyk-migrate apply keys.csv --mapping mapping.yaml --journal run.journal --out outcomes.csv
      tyk-migrate apply keys.csv --journal run.journal --dry-run
    """
    from ..plan.accounts import account_counts
    from ..portal_lock import take_portal_lock
    from ..preflight.use import explicit_auth_token_type, use_preflight
    from ..report import export_outcomes
    from ..run.readback import ReadBackPolicy
    from ..run.throughput import run_limit
    from ..ui_format import status_counts

    limit = concurrency_value(concurrency)
    if batch_size < 1 or max_concurrency < 1:
        raise click.UsageError("--batch-size and --max-concurrency must be at least 1")
    # every file this run writes is checked before the portal is read: no run may end "cannot write" after it
    target = output_file(
        out or default_output(source.path, ".outcomes.csv"), "--out", not_over=[*source.files, journal]
    )
    output_file(journal, "--journal", not_over=source.files)
    settings = session.settings(portal_url, token)
    preflight = use_preflight(
        settings,
        path=preflight_file,
        enabled=not no_preflight,
        dry_run=dry_run,
        explicit_auth_token_type=explicit_auth_token_type(session.config.settings()),
    )  # before the portal is read: a run that may not write stops at once
    settings = preflight.settings
    if preflight.note:  # "not used" is a warning everyone sees; what a preflight set is a line of the output
        (session.line if preflight.result is not None else session.note)(preflight.note)
    show = None if session.show_progress else False
    portal = session.client(settings)  # a missing or bad portal URL is refused here, in one line
    # the portal is this run's before it is read (a second run is refused before any reading), so the
    # snapshot's walk of /apps serves as the run's first listing (Migration's apps_listed)
    lock = None if dry_run else take_portal_lock(settings, portal.base_url, journal)
    with lock or contextlib.nullcontext():  # released by the run's end, or here if it never began
        prepared = source.prepare(portal=portal, progress=show, accounts=accounts)
        session.protect(prepared.legacy["key_id"])
        plan = prepared.plan
        session.lines(present.apply_header(source.path, prepared))
        if users_line := account_summary(account_counts(plan)):
            session.line(users_line)
        bar = ProgressBar(len(plan), "dry run" if dry_run else "apply", session.show_progress and not no_progress)
        ended = run_migration(
            plan,
            settings,
            journal,
            bar=bar,
            batch_size=batch_size,
            concurrency=limit,
            max_concurrency=max_concurrency,
            dry_run=dry_run,
            force_journal=force_journal,
            **preflight.migration_options(limit, max_concurrency),
            read_back=ReadBackPolicy.for_portal(read_back, preflight.trust_answer),
            portal_lock=lock,
            apps_listed=prepared.snapshot.apps_walk,
        )
    migration = ended.migration
    statuses = status_counts(plan)
    honest = run_limit(migration, statuses) if not dry_run else None
    with ctrl_c_ignored():  # the run's record: a Ctrl-C now (the second, after a graceful stop) must not lose it
        session.lines(present.run_summary(plan, migration.progress, statuses, honest))
        if migration.fatal_error:
            session.note(migration.fatal_error)  # says what stopped the run and what to change
        if statuses.get(PENDING) and not ended.journal_error:
            session.note("stopped before the end: rerun the same command to resume")
        files = {"outcomes": export_outcomes(plan, target), "journal": Path(journal)}
        session.line(f"outcomes written to {target} (keys masked); journal: {journal}")
    counts = {
        "rows": len(prepared.legacy),
        "valid": len(prepared.valid),
        "rejected": prepared.rejected_rows,
        "actions": present.action_counts(plan),
        "statuses": statuses,
        "requests": migration.progress.requests,
        "limit": honest.fields() if honest is not None else None,
    }
    if ended.journal_error is not None:  # after the summary and the outcome CSV: they hold what was done
        return Outcome(UNUSABLE, counts, files, error=f"error: {ended.journal_error}")
    result = verdict(
        interrupted=ended.interrupted,
        failed=statuses.get(FAILED, 0) + (1 if migration.fatal_error else 0),
        unfinished=statuses.get(PENDING, 0),
        blocked=statuses.get(BLOCKED, 0),
        rejected=prepared.rejected_rows,
    )
    return Outcome(result, counts, files)
