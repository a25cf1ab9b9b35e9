"""``tyk-migrate validate`` (sources, validate)."""

from __future__ import annotations

from pathlib import Path

import click

from . import present
from .app import cli
from .exits import Outcome, verdict
from .options import Source, command_options, input_options
from .paths import output_file
from .session import Session, default_output


@cli.command("validate")
@input_options(planning=False, dashboard=True)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the rejects report [default: ./<INPUT stem>.rejects.csv].",
)
@command_options()
def validate_command(session: Session, source: Source, rejects_path: str | None) -> Outcome:
    """Load a legacy key export, check every row, and write a rejects report.

    Exit 0 when every row is valid (warnings allowed), 1 when some rows are rejected, 2 when the input
    cannot be used. Key values are never printed: the report shows them masked. With a Dashboard
    (--dashboard-url or TYK_DASHBOARD_URL, and TYK_DASHBOARD_TOKEN) INPUT may hold only keys: each is
    completed from its session there (the file's values win); --from-dashboard reads the Dashboard's keys
    instead of INPUT (keys it holds only as hashes are rejected, each with what to do).

    \b
    Example:
      tyk-migrate validate data-samples/legacy_keys.csv --rejects out/rejects.csv
      tyk-migrate validate dump.json --format dashboard --developers developers.json
      tyk-migrate validate --from-dashboard --dashboard-url https://dashboard.example.com:3000
    """
    from ..dashboard_link import load_source
    from ..validate import summarize, validate_keys, write_rejects

    target = output_file(
        Path(rejects_path) if rejects_path else Path.cwd() / default_output(source.path, ".rejects.csv"),
        "--rejects",
        not_over=source.files,
    )
    load_kwargs = {"format": source.format, "mapping": source.mapping, "email_field": source.email_field}
    if source.developers is not None:
        load_kwargs["developers"] = source.developers
    loaded = load_source(
        None if source.from_dashboard else source.path,
        load_kwargs,
        source.dashboard,
        from_dashboard=source.from_dashboard,
    )
    frame = loaded.frame
    session.protect(frame["key_id"])
    session.lines(loaded.notes)
    valid, rejects = validate_keys(frame, min_key_length=source.min_key_length)
    write_rejects(rejects, target)
    counts = {
        "rows": len(frame),
        "valid": len(valid),
        "warned": int((valid["warnings"] != "").sum()),
        "rejected": len(frame) - len(valid),
        "report_entries": len(rejects),
    }
    session.lines(present.validate_lines(source, frame, counts, summarize(rejects), target))
    if loaded.enrichment is not None:
        counts["dashboard"] = present.enrichment_counts(loaded.enrichment)  # type: ignore[assignment]
        session.lines(present.disagreement_lines(loaded.enrichment.disagreements))
    return Outcome(verdict(rejected=counts["rejected"]), counts, {"rejects": target})
