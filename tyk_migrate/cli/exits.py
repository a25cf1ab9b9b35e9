"""The exit policy, in one place: which code a command ends with, and how an error becomes one line.

====  ==================  ========================================================================================
code  reason(s)           meaning
====  ==================  ========================================================================================
0     ok                  all done
1     rows_rejected,      some rows were rejected or blocked, or keys did not verify or are not present as
      rows_blocked, …     planned; reports are written and **no write failed**: fix the rows and rerun
2     unusable            unusable input, settings or usage (one line on stderr); nothing was written to the
                          portal, except after a journal failure (its outcomes are written too)
3     unexpected          a bug in tyk-migrate: one masked line (``TYK_MIGRATE_DEBUG=1`` shows the traceback)
4     writes_failed,      some create or delete failed or was not attempted (reports written): rerun the same
      unfinished          command to resume
130   interrupted,        Ctrl-C: what was done is journalled; rerun the same command to resume (also a write
      output_closed       outside the command's own output that met a closed pipe: the command was cut short)
====  ==================  ========================================================================================

Commands return an ``Outcome`` (a ``Verdict`` plus counts and files); ``guarded`` runs a command body and
turns whatever it raises into a ``Verdict`` and a line, so no command picks its own codes.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from ..errors import MigrateError
from ..scrub import clip, mask_secretish

F = TypeVar("F", bound=Callable[..., Any])


class ExitCode(IntEnum):
    OK = 0
    ROWS = 1
    UNUSABLE = 2
    UNEXPECTED = 3
    WRITES_FAILED = 4
    INTERRUPTED = 130


#: Exit code of an error tyk-migrate did not expect (a bug), apart from 2 so scripts can tell "fix the
#: input" from "report this".
EXIT_UNEXPECTED = int(ExitCode.UNEXPECTED)
DEBUG_ENV = "TYK_MIGRATE_DEBUG"
UNEXPECTED_MESSAGE_CHARS = 120
INTERRUPTED_MESSAGE = "interrupted: the journal keeps what was done; rerun the same command to resume"

#: The ``--help`` epilog of every command (and the README's table says the same).
EXIT_CODES_HELP = (
    "\b\nExit codes:\n"
    "  0    all done\n"
    "  1    rows rejected or blocked (or keys not verified / not present); reports written, no write failed\n"
    "  2    unusable input, settings or usage (one line on stderr)\n"
    "  3    a bug in tyk-migrate (TYK_MIGRATE_DEBUG=1 shows the traceback)\n"
    "  4    writes failed or were not attempted; rerun the same command to resume\n"
    "  130  interrupted (Ctrl-C); rerun the same command to resume"
)


@dataclass(frozen=True)
class Verdict:
    """How a command ends: its exit ``code`` and a machine-readable ``reason`` (the ``--json`` exit_reason)."""

    code: ExitCode
    reason: str


OK = Verdict(ExitCode.OK, "ok")
UNUSABLE = Verdict(ExitCode.UNUSABLE, "unusable")
UNEXPECTED = Verdict(ExitCode.UNEXPECTED, "unexpected")
INTERRUPTED = Verdict(ExitCode.INTERRUPTED, "interrupted")
NOTHING_TO_VERIFY = Verdict(ExitCode.ROWS, "nothing_to_verify")
OUTPUT_CLOSED = Verdict(ExitCode.INTERRUPTED, "output_closed")


def verdict(
    *,
    interrupted: bool = False,
    failed: int = 0,
    unfinished: int = 0,
    blocked: int = 0,
    rejected: int = 0,
    unverified: int = 0,
    missing: int = 0,
    problems: int = 0,
) -> Verdict:
    """The one rule: interrupted beats failed writes, which beat rows a person must look at.

    ``failed``/``unfinished``: writes (creates, deletes) that failed / were never attempted (a run stopped
    early). ``blocked``/``rejected``: rows the plan or validation left out. ``unverified``: keys the gateway
    did not accept; ``missing``: keys not present in the portal as planned; ``problems``: anything else a
    command reports as not as it should be (the demo's checks).
    """
    if interrupted:
        return INTERRUPTED
    if failed:
        return Verdict(ExitCode.WRITES_FAILED, "writes_failed")
    if unfinished:
        return Verdict(ExitCode.WRITES_FAILED, "unfinished")
    for count, reason in (
        (blocked, "rows_blocked"),
        (rejected, "rows_rejected"),
        (unverified, "keys_not_verified"),
        (missing, "keys_not_present"),
        (problems, "problems"),
    ):
        if count:
            return Verdict(ExitCode.ROWS, reason)
    return OK


@dataclass
class Outcome:
    """What a command hands back: its verdict, counts and files for ``--json``, and the line for stderr if it
    ended on an error (``error: …``; also after writing its reports, as when the journal failed mid-run)."""

    verdict: Verdict = OK
    counts: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, str | Path] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


def unexpected_message(exc: BaseException) -> str:
    """An unexpected error's text, safe to print: one line, at most ``UNEXPECTED_MESSAGE_CHARS``, keys masked.

    Library code never puts a raw key in its own errors, but third-party ones (pandas, pyarrow, httpx) quote
    the value they choked on, which may be a key: so every quoted value is masked, and so is every unquoted
    run of 8+ characters (the gateway's shortest key) shaped like a key, not a name (``scrub.mask_secretish``).
    """
    return clip(" ".join(str(exc).split()), UNEXPECTED_MESSAGE_CHARS, mask_secretish)


def _debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def guarded(
    body: Callable[[], Outcome | None], explain: Callable[[MigrateError], str]
) -> tuple[Outcome, BaseException | None]:
    """Run ``body``; return its outcome, or the outcome of what it raised (with that exception).

    ``MigrateError`` (and unreadable files) -> 2 with ``explain(exc)``; Ctrl-C -> 130; click's own usage
    errors and exits pass through (click prints them and picks the code); anything else -> 3, one masked line.
    A reader that left (``| head -1``) is not an error: ``Session`` drops the rest of the output and the
    command's own code stands; only a write outside it that meets a closed pipe ends the command as cut short
    (130, reason ``output_closed``), quietly.
    """
    try:
        return body() or Outcome(), None
    except MigrateError as exc:
        return Outcome(UNUSABLE, error=f"error: {explain(exc)}"), exc
    except BrokenPipeError as exc:  # a write no Session guards (a prompt, a bar): the command was cut short
        return Outcome(OUTPUT_CLOSED), exc
    except (OSError, UnicodeError) as exc:
        return Outcome(UNUSABLE, error=f"error: {exc}"), exc
    except KeyboardInterrupt as exc:
        return Outcome(INTERRUPTED, error=INTERRUPTED_MESSAGE), exc
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except Exception as exc:
        if _debugging():
            raise
        text = (
            f"error: unexpected {type(exc).__name__}: {unexpected_message(exc)} (a bug in tyk-migrate; rerun with "
            f"{DEBUG_ENV}=1 for the traceback, which may show key values)"
        )
        return Outcome(UNEXPECTED, error=text), exc


def one_line_errors(func: F) -> F:
    """For a command outside the ``Session`` pattern (``preflight``): whatever ``guarded`` turns an error into,
    as one line on stderr and its exit code; the command's own return and exits stand."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        outcome, raised = guarded(lambda: func(*args, **kwargs) and None, str)
        if raised is None:
            return None
        if outcome.error:
            click.echo(outcome.error, err=True)
        sys.exit(int(outcome.verdict.code))

    return wrapper  # type: ignore[return-value]


def exit_now(code: object) -> NoReturn:
    """End the process with ``code`` (``sys.exit``'s meaning) as soon as the command is done.

    Every file a command writes is closed by the command itself (journals and outputs in ``with`` or
    ``finally`` blocks, locks are flocks the kernel drops), so all that is left is the interpreter's teardown of
    pandas, pandera and aiohttp: a quarter of a second on every command. The ``atexit`` handlers still run
    (logging's flush, anything a library registered). A thread still working (not a daemon) gets the ordinary
    exit, which waits for it.
    """
    if isinstance(code, str):
        print(code, file=sys.stderr)  # as sys.exit("text") does
    status = 0 if code is None else code if isinstance(code, int) else 1
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: the command's own lines are already out or lost
            stream.flush()
    os._exit(status)
