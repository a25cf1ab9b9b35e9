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
@input_options(planning=False)
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
    cannot be used. Key values are never printed: the report shows them masked.

    \b
    Example:
      tyk-migrate validate data-samples/legacy_keys.csv --rejects out/rejects.csv
      tyk-migrate validate dump.json --format dashboard --developers developers.json
    """
    from ..sources import load_keys, require_records
    from ..validate import summarize, validate_keys, write_rejects

    target = output_file(
        Path(rejects_path) if rejects_path else Path.cwd() / default_output(source.path, ".rejects.csv"),
        "--rejects",
        not_over=[source.path],
    )
    frame = load_keys(
        source.path, source.format, source.mapping, developers=source.developers, email_field=source.email_field
    )
    require_records(frame, source.path)
    session.protect(frame["key_id"])
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
    return Outcome(verdict(rejected=counts["rejected"]), counts, {"rejects": target})
