"""The ``tyk-migrate`` command: one module per command group, each a thin layer over one library call.

Each command parses its options, checks the files it will write, calls one library function and hands the
result to a presenter (``present``); ``Session`` (``session``) decides where the lines go (text, ``--json``,
``--quiet``) and ``exits`` holds the exit policy: 0 all done, 1 rows rejected or blocked (no write failed),
2 unusable input or settings, 3 a bug, 4 writes failed, 130 interrupted.

Modules: ``app`` (the group), ``options`` (shared options, ``Source``, the wrapper every command runs in),
``session``, ``exits``, ``present``, ``diagnose`` (hints for portal errors), ``logs`` (``--verbose`` and the
secret-scrubbing log filter), ``paths`` (output checks), ``running`` (a run in a terminal: progress, Ctrl-C);
the commands: ``sandbox`` (sandbox, demo), ``lab``, ``validate``, ``plan``, ``apply``, ``rollback``, ``verify``
(verify, reconcile).
"""

from __future__ import annotations

import sys

from . import apply, lab, plan, rollback, sandbox, validate, verify  # noqa: F401  (each registers its commands)
from .app import cli
from .exits import (
    DEBUG_ENV,
    EXIT_UNEXPECTED,
    UNEXPECTED_MESSAGE_CHARS,
    ExitCode,
    exit_now,
    one_line_errors,
    unexpected_message,
)
from .options import INPUT_FORMATS, Source, input_options, portal_options, read_concurrency_option
from .plan import plan_scope


def _register_preflight() -> None:
    from ..preflight_cli import preflight_command

    cli.add_command(preflight_command)


_register_preflight()

__all__ = [
    "DEBUG_ENV",
    "EXIT_UNEXPECTED",
    "INPUT_FORMATS",
    "UNEXPECTED_MESSAGE_CHARS",
    "ExitCode",
    "Source",
    "cli",
    "input_options",
    "main",
    "one_line_errors",
    "plan_scope",
    "portal_options",
    "read_concurrency_option",
    "unexpected_message",
]


def main() -> None:
    """The console script (also ``python -m tyk_migrate.cli``): the command, then the process ends at once
    (``exits.exit_now`` says why that is safe). In-process callers (tests, notebooks) use ``cli`` instead."""
    # pandera's first validation imports hypothesis when it is installed, for the data synthesis no command
    # uses: 90 ms of every validating command. A None entry makes that import fail as if it were absent.
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]
    try:
        cli(prog_name="tyk-migrate")  # standalone mode: always ends in SystemExit
    except SystemExit as done:
        exit_now(done.code)
    exit_now(0)
