"""Run control behind the console: the run's task, Start/Pause/Resume/Stop, and the redraw timers.

The run is a task on the kernel's own event loop (ipykernel runs one), so other cells stay usable. The
runner reports every finished row; this only notes it and arms a ``loop.call_later`` redraw, at most
``1 / min_interval`` times a second, plus a heartbeat once a second so rates and ETA move when no row
finishes. Every callback is ``guarded``: its exception shows in the console's Messages, not the kernel log.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import pandas as pd

from ..errors import AuthError, MigrateError
from ..run import Migration, Progress
from .guard import guard_start

F = TypeVar("F", bound=Callable[..., Any])
HEARTBEAT_SECONDS = 1.0


class Shows(Protocol):
    def _show_error(self, exc: BaseException, where: str) -> None: ...


class ConsoleHooks(Shows, Protocol):
    """What the control calls back on the console (looked up at call time, so a wrapped method counts)."""

    def _refresh(self) -> None: ...

    def _run_ended(self, clean: bool) -> None: ...

    def _say(self, text: str) -> None: ...


def guarded(method: F) -> F:
    """Run a widget or loop callback so that its exception shows in the console's output, not the kernel log."""

    @functools.wraps(method)
    def wrapper(self: Shows, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # shown to the user in the console, never swallowed silently
            self._show_error(exc, method.__name__.strip("_").replace("_", " "))
            return None

    return wrapper  # type: ignore[return-value]


class RunControl:
    """The console's runs: the active ``Migration`` and its task, what it ran over, and the redraw timers."""

    def __init__(self, ui: ConsoleHooks, *, min_interval: float, scrub: Callable[[str], str]) -> None:
        self.ui = ui
        self.min_interval = min_interval
        self.scrub = scrub
        self.migration: Migration | None = None
        self.runs = 0
        self.finished_runs = 0
        self.run_scope: pd.Series | None = None  # the rows of the last run (its progress shows while in scope)
        self.last_refresh = 0.0
        self._task: asyncio.Task[pd.DataFrame] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._heartbeat: asyncio.TimerHandle | None = None

    def _show_error(self, exc: BaseException, where: str) -> None:
        self.ui._show_error(exc, where)

    # -- what is going on ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """A run is active (running, paused or stopping)."""
        return self._task is not None and not self._task.done()

    def same_scope(self, scope: pd.Series) -> bool:
        return self.run_scope is not None and bool(self.run_scope.equals(scope))

    def fatal_error(self) -> AuthError | None:
        """The error the last run stopped on, if any (the runner's only fatal error: the token was refused)."""
        m = self.migration
        return AuthError(self.scrub(m.fatal_error)) if m is not None and m.fatal_error else None

    def settle_frame(self) -> bool:
        """Have a paused runner copy its outcomes into the frame once its requests in flight have landed.

        The runner copies them at most every ``flush_interval`` *when a row finishes*; the last rows to land
        after a Pause could stay out of the frame until Resume, so the results table (from the frame) told
        less than the badges (the runner's counters). True when it copied something.
        """
        m = self.migration
        if m is None or not self.running or m.state != "paused" or m.limiter.in_use:
            return False
        behind = m._dirty
        if behind:  # the runner's own flush (until Migration.pause does it itself)
            m.copy_outcomes()
        return behind

    # -- control ---------------------------------------------------------------------------------------
    def check_startable(self) -> None:
        """Raise a one-line ``MigrateError`` if a run is active or no event loop runs (a click outside a kernel)."""
        if self.running:
            raise MigrateError("a run is already active: pause, resume or stop it")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise MigrateError(
                "start() needs a running event loop (a notebook cell, or inside asyncio.run); "
                "in a script use asyncio.run(console.run())"
            ) from None

    def start(
        self, plan: pd.DataFrame, client: Any, journal: Any, scope: pd.Series, **options: Any
    ) -> asyncio.Task[pd.DataFrame]:
        """Start a ``Migration`` of ``plan``'s rows in ``scope`` (``options`` go to it) on the running loop."""
        self.check_startable()
        n = int(scope.sum())
        if n == 0:
            raise MigrateError("no rows in scope: clear or change the filters")
        rows = None if n == len(plan) else plan.index[scope.to_numpy(bool)]
        client, note = guard_start(client, options)  # a portal off this machine: a passing preflight first
        if note:
            self.ui._say(note)
        migration = Migration(plan, client, journal, rows=rows, on_progress=self.on_progress, **options)
        self.migration = migration
        self.run_scope = scope.copy()
        self.runs += 1
        self._task = migration.start()
        self._task.add_done_callback(self._on_done)
        return self._task

    def pause(self, retry: Callable[[], None]) -> bool:
        """Pause the active run; True when done now. Before the task's first step ``retry`` is called soon."""
        if self.migration is None or not self.running:
            return False
        if self.migration.state == "idle":  # the task has not taken its first step yet
            asyncio.get_running_loop().call_soon(retry)
            return False
        self.migration.pause()
        return True

    def resume(self) -> bool:
        if self.migration is None or not self.running:
            return False
        self.migration.resume()
        return True

    def stop(self) -> bool:
        if self.migration is None or not self.running:
            return False
        self.migration.stop()
        return True

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.wait([self._task])

    # -- timers ----------------------------------------------------------------------------------------
    @guarded
    def on_progress(self, progress: Progress) -> None:
        """Called by the runner after every row: only arm the redraw timer (cheap by design)."""
        if self._handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.ui._refresh()
            return
        delay = max(0.0, self.last_refresh + self.min_interval - time.monotonic())
        self._handle = loop.call_later(delay, self._on_timer)

    @guarded
    def _on_timer(self) -> None:
        self._handle = None
        self.ui._refresh()

    @guarded
    def _on_heartbeat(self) -> None:
        self._heartbeat = None
        if self.running:
            self.ui._refresh()

    def drew(self) -> None:
        """Note a redraw, and keep one coming at least once a second while running."""
        self.last_refresh = time.monotonic()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if self.running:
            with contextlib.suppress(RuntimeError):
                self._heartbeat = asyncio.get_running_loop().call_later(HEARTBEAT_SECONDS, self._on_heartbeat)

    @guarded
    def _on_done(self, task: asyncio.Task[pd.DataFrame]) -> None:
        for handle in (self._handle, self._heartbeat):
            if handle is not None:
                handle.cancel()
        self._handle = self._heartbeat = None
        if task.cancelled():
            self.ui._say("the run was cancelled; Start continues from the journal")
        elif task.exception() is not None:
            self.ui._show_error(task.exception(), "run")  # type: ignore[arg-type]
        fatal = self.fatal_error()
        if fatal is not None:
            self.ui._show_error(fatal, "run")
        clean = self.migration is not None and not task.cancelled() and task.exception() is None
        if clean and self.migration is not None and self.migration.state == "finished":
            self.finished_runs += 1
        self.ui._run_ended(clean)
