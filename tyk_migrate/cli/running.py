"""A ``Migration`` run in a terminal: the progress bar, Ctrl-C, and how the run ended.

First Ctrl-C: requests in flight finish and are journalled, nothing new starts (unstarted rows stay
``pending``); a second one interrupts at once. Either way, and also when the journal fails mid-run
(``JournalError``: a full disk), the run's frame is complete as far as it got, so the command still prints
its summary and writes the outcome CSV before it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from dataclasses import dataclass
from typing import Any

import click

from ..aio import run_blocking
from ..config import Settings
from ..errors import JournalError
from ..portal import AsyncPortalClient
from . import logs

#: how often a command copies outcomes into the plan frame mid-run (it is copied at the end regardless)
CLI_FLUSH_SECONDS = 30.0
STOPPING_MESSAGE = "\nstopping: finishing requests in flight (Ctrl-C again to interrupt)"


@dataclass
class Ended:
    """How a run ended: the migration (its ``plan`` and ``progress``), whether Ctrl-C was pressed, and the
    journal failure that stopped it, if one did."""

    migration: Any
    interrupted: bool = False
    journal_error: JournalError | None = None


class ProgressBar:
    """A tqdm bar fed from the runner's ``Progress`` callbacks (redrawn at most twice a second)."""

    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="key", desc=desc, dynamic_ncols=True, leave=True) if enabled else None
        self.shown, self.drawn = 0, 0.0

    def __call__(self, p: Any) -> None:
        if self.bar is None:
            return
        if p.done > self.shown:
            self.bar.update(p.done - self.shown)
            self.shown = p.done
        now = time.monotonic()
        if now - self.drawn > 0.5:
            self.drawn = now
            self.bar.set_postfix_str(
                f"created={p.created} failed={p.failed} in_flight={p.in_flight}/{p.concurrency} "
                f"{p.requests_per_second:.0f} req/s",
                refresh=False,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_migration(plan: Any, settings: Settings, journal: str, *, bar: ProgressBar, **options: Any) -> Ended:
    """Run ``Migration(plan, …)`` to its end on a new event loop; returns how it ended (never raises a
    ``JournalError`` or a Ctrl-C: the caller reports them after writing its files)."""
    from ..run import Migration

    # nothing reads the plan frame while a command runs (the bar reads the tally), and it is copied whole at
    # the end: a copy every quarter second, as a notebook's table needs, was 4% of the run's CPU at 2,000 keys
    options.setdefault("flush_interval", CLI_FLUSH_SECONDS)
    ended = Ended(migration=None)

    def graceful_stop(loop: asyncio.AbstractEventLoop) -> None:
        if ended.interrupted:  # a second Ctrl-C queued before the handler was removed: at once, as promised
            raise KeyboardInterrupt
        click.echo(STOPPING_MESSAGE, err=True)
        ended.interrupted = True
        ended.migration.stop()
        loop.remove_signal_handler(signal.SIGINT)  # the next Ctrl-C is Python's: KeyboardInterrupt

    async def main() -> None:
        async with AsyncPortalClient(settings=settings, on_response=logs.request_logger) as client:
            ended.migration = Migration(plan, client, journal, on_progress=bar, **options)
            loop = asyncio.get_running_loop()
            # not on Windows, not off the main thread (uvloop says so with a ValueError)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGINT, graceful_stop, loop)
            try:
                await ended.migration.run()
            finally:  # Ctrl-C is Python's again: the loop's handler would outlive it (uvloop leaves it behind)
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(signal.SIGINT)

    def began() -> bool:  # a run was recorded: its rows have outcomes worth writing down
        return ended.migration is not None and ended.migration.run_id is not None

    try:
        run_blocking(main)
    except JournalError as exc:
        if not began():  # the journal could not be opened or belongs to another input: one line, as ever
            raise
        ended.journal_error = exc
    except KeyboardInterrupt:
        if not began():
            raise
        ended.interrupted = True
        with ctrl_c_ignored():  # the second Ctrl-C may have cut the end's copy short: the summary and the
            ended.migration.copy_outcomes()  # outcome CSV are written from the frame, so it is copied whole
    finally:
        bar.close()
    return ended


@contextlib.contextmanager
def ctrl_c_ignored() -> Any:
    """Ctrl-C does nothing inside: what writes a run's record after it (the frame's copy, the summary, the
    outcome CSV) is short, and an interrupt there would lose what the run did from the command's output."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to ignore there
        yield
        return
    try:
        yield
    finally:  # None: the handler was not set from Python (an embedding host's); Python's own is the fallback
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
