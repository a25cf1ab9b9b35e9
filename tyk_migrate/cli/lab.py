"""``tyk-migrate lab``: the sandbox and JupyterLab opening the migration workbook (tyk_migrate/lab.py)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import MigrateError
from .app import cli
from .exits import Outcome
from .options import command_options
from .session import Session


@cli.command("lab")
@click.option("--port", type=int, default=None, help="JupyterLab's port [default: a free one].")
@click.option("--no-browser", is_flag=True, help="Do not open a browser; click the URL printed last.")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Work folder: notebooks and samples are copied there once [default: the clone, else ./tyk-migrate-lab].",
)
@click.option(
    "--seed", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None, help="Sandbox seed."
)
@command_options(settings=False)
def lab_command(
    session: Session, port: int | None, no_browser: bool, folder: Path | None, seed: Path | None
) -> Outcome:
    """Rehearse in JupyterLab: a local sandbox portal and the migration workbook, wired to each other.

    Prints the workbook's URL (with its token) as the last line once JupyterLab is up. Ctrl-C stops both.
    Needs the lab extra: pip install 'tyk-migrate[lab]'.

    \b
    Example:
      tyk-migrate lab --no-browser
    """
    from ..lab import DEFAULT_SEED, run_lab, stop_on_signals

    stop_on_signals()
    code = run_lab(seed=seed or DEFAULT_SEED, port=port, open_browser=not no_browser, root=folder, echo=session.line)
    if code == 130:
        raise KeyboardInterrupt
    if code:
        raise MigrateError(f"JupyterLab exited with code {code} (its log is above)")
    return Outcome()
