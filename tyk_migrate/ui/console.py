"""The migration console: ipywidgets over ``run.Migration`` for analysts in JupyterLab.

    console = MigrationConsole(plan, settings, "migration.journal", snapshot=snapshot)
    console            # shows the console; pick a scope, press Start, watch, Pause/Stop when needed
    console.results    # the plan frame itself, outcome columns filled in place (during and after)

Why it is built this way:

* It only composes widgets and calls the runner: every request, retry and journal record is
  ``Migration``'s job, so a run from the console is the same run as from the CLI or ``apply_plan``.
* This class wires the parts: widgets (``layout``), the pure view model of what they show (``view``),
  its HTML (``render``, ``draw``), and the run's task and throttled redraw timers (``control``).
* Every callback is ``guarded``: an exception ends up, masked, in Messages, not in the kernel log.
* Keys are shown masked or as fingerprints everywhere, and error texts go through a scrubber that
  replaces any raw key of the plan with its mask.
* Where widgets cannot render (papermill, a terminal) the console is a plain-text summary that prints a
  progress line now and then; ``await console.run()`` drives it without any clicking.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .. import ui_format as fmt
from ..errors import MigrateError, NotReady
from ..journal import Journal
from ..run import Migration, Progress
from . import render
from .control import RunControl, guarded
from .draw import draw, draw_controls
from .layout import ConsoleWidgets
from .messages import Messages
from .problems import problems_of
from .target import created_fingerprints, journal_path, portal_host, widgets_available
from .view import NEXT_STEP, ConsoleState, ConsoleView, display_state, progress_of, view_of


class MigrationConsole(ConsoleWidgets):
    """Scope, control, progress and results of a migration run, as one widget (or a text summary).

    ``client`` and ``journal`` are what ``Migration`` takes (an ``AsyncPortalClient``, ``Settings`` or None
    for the environment; a ``Journal`` or a path). ``snapshot`` (a ``PortalSnapshot``) only names plans,
    products and organisations in the filters. ``widgets`` forces (True) or disables (False) the widget
    view; None decides by the environment. ``problems_shown`` caps the rows of the failed and blocked
    table. ``migration_options`` go to ``Migration`` (``initial_concurrency``, ``verify_readback``…), but
    ``preflight`` (True, a preflight file, or False: ``ui.guard``) guards Start against a remote portal.
    """

    def __init__(
        self,
        plan: pd.DataFrame,
        client: Any = None,
        journal: Journal | str | Path = "migration.journal",
        *,
        snapshot: Any = None,
        batch_size: int = 200,
        concurrency: int | str = "adaptive",
        max_concurrency: int = 64,
        dry_run: bool = False,
        widgets: bool | None = None,
        failures_shown: int = 15,
        problems_shown: int = 100,
        updates_per_second: float = 4.0,
        text_interval: float = 10.0,
        **migration_options: Any,
    ) -> None:
        if "action" not in plan or "key_fingerprint" not in plan or "key_id" not in plan:
            raise MigrateError("the console needs a plan frame (from build_plan): action, key_id, key_fingerprint")
        if not plan.index.is_unique:
            raise MigrateError("the plan frame's index has duplicate labels; use plan.reset_index(drop=True)")
        self.plan = plan
        self.client = client
        self.journal = journal
        self.max_concurrency = int(max_concurrency)
        self.failures_shown = int(failures_shown)
        self.problems_shown = int(problems_shown)
        self.text_interval = float(text_interval)
        self.migration_options = migration_options
        self.widgets_enabled = widgets_available() if widgets is None else bool(widgets)
        self.refreshes = 0  # how many times the view was redrawn (the benchmark reports it)
        self.host = portal_host(client)
        self._last_text = 0.0
        self._last_state = ""
        self._results_at = 0.0
        self._failures_for = -1
        self._scrub = fmt.Scrubber(plan["key_id"])
        self._facets = fmt.facets(plan, snapshot)
        self._journal_done: frozenset[str] = frozenset()
        self._control = RunControl(self, min_interval=1.0 / max(0.1, float(updates_per_second)), scrub=self._scrub)
        super().__init__(self._facets, batch_size, concurrency, dry_run, self.failures_shown)
        self._messages = Messages(self.output, self._scrub, echo=not self.widgets_enabled)
        self._wire()
        self._draw_title()
        self._read_journal()
        self._update_scope()
        self._refresh()

    def _wire(self) -> None:
        for select in self.filters.values():
            select.observe(self._on_filter, names="value")
        self.clear_button.on_click(self._on_clear)
        self.dry_run_input.observe(self._on_settings, names="value")
        self.start_button.on_click(self._on_start)
        self.pause_button.on_click(self._on_pause)
        self.resume_button.on_click(self._on_resume)
        self.stop_button.on_click(self._on_stop)

    # -- public API ------------------------------------------------------------------------------------
    @property
    def results(self) -> pd.DataFrame:
        """The plan frame itself, its outcome columns updated in place as the run goes."""
        return self.plan

    @property
    def migration(self) -> Migration | None:
        """The last run's ``Migration`` (None before the first Start)."""
        return self._control.migration

    @property
    def runs(self) -> int:
        return self._control.runs

    @property
    def finished_runs(self) -> int:
        return self._control.finished_runs

    @property
    def progress(self) -> Progress:
        """The runner's progress while a run is active or the scope is the last run's; else the scope's rows.

        With no run active and another scope picked, the counts are those of ``console.results`` for the
        rows now in scope (all pending before any run), so the bar and *pending* match what Start would do.
        """
        return progress_of(self._facts(tables=False, failures=False))

    @property
    def running(self) -> bool:
        """A run is active (running, paused or stopping)."""
        return self._control.running

    @property
    def scope(self) -> pd.Series:
        """Boolean mask of the rows the current filters select."""
        return self._scope

    def selected(self) -> dict[str, list[Any]]:
        return {name: list(select.value) for name, select in self.filters.items()}

    def view(self) -> ConsoleView:
        """What the console shows now, as data (the view model; every table included)."""
        return view_of(self._facts(tables=True, failures=True))

    def require_finished(self) -> None:
        """Raise a one-line ``NotReady`` (a ``MigrateError``) unless a run has finished and none is active.

        The workbook calls it before verifying, so *Run All* stops with a sentence that says what to do
        instead of a long error from a verification over rows nobody migrated yet.
        """
        __tracebackhide__ = True  # IPython shows the one line, not this frame
        if self.running:
            raise NotReady("a run is still active: wait until the console above says 'finished' (or press Stop)")
        if self.finished_runs == 0:
            raise NotReady("no finished run yet: press Start in the console above and wait for 'finished'")

    def start(self) -> asyncio.Task[pd.DataFrame]:
        """Start (or continue from the journal) a run over the current scope on the running event loop."""
        keep = self.scope
        task = self._control.start(
            self.plan, self.client, self.journal, keep, **self.account_options(),
            batch_size=int(self.batch_size_input.value), concurrency=self.concurrency_input.value,
            max_concurrency=self.max_concurrency, dry_run=bool(self.dry_run_input.value), **self.migration_options,
        )  # fmt: skip
        n = int(keep.sum())
        self._failures_for = -1
        done = len(self._journal_done.intersection(self.plan.loc[keep.to_numpy(bool), "key_fingerprint"]))
        note = f"; the journal already shows {done:,} of them created" if done else ""
        mode = "dry run" if self._control.migration is not None and self._control.migration.dry_run else "run"
        self._say(f"{mode} {self.runs} started: {n:,} rows in scope{note}")
        self._refresh()
        return task

    def pause(self) -> None:
        if self._control.pause(retry=self._on_pause):  # before the run's first step: retried, still guarded
            self._refresh()

    def resume(self) -> None:
        if self._control.resume():
            self._refresh()

    def stop(self) -> None:
        if self._control.stop():
            self._refresh()

    async def wait(self) -> pd.DataFrame:
        """Wait for the active run (if any) to end; returns the results frame."""
        await self._control.wait()
        return self.plan

    async def run(self) -> pd.DataFrame:
        """Start and wait (headless runs, papermill), then print the text summary; raise if the run failed.

        The summary goes to stdout so an executed notebook keeps the results even where no frontend
        draws the widget. What ended the run is re-raised; a run that stopped on a fatal error (the
        portal refusing the token) raises ``AuthError`` with that one line, already shown in Messages,
        so a scheduled run fails instead of carrying on to verify nothing.
        """
        __tracebackhide__ = True  # IPython shows the one line, not this frame
        task = self.start()
        try:
            await asyncio.wait([task])
        finally:
            print(self.render_text(), flush=True)
        task.result()
        fatal = self._control.fatal_error()
        if fatal is not None:
            raise fatal
        return self.plan

    def summary(self) -> pd.DataFrame:
        """Rows per batch and status of the last run (empty before any run)."""
        return self.migration.summary() if self.migration is not None else pd.DataFrame()

    # -- callbacks -------------------------------------------------------------------------------------
    @guarded
    def _on_start(self, _button: Any = None) -> None:
        self.start()

    @guarded
    def _on_pause(self, _button: Any = None) -> None:
        self.pause()

    @guarded
    def _on_resume(self, _button: Any = None) -> None:
        self.resume()

    @guarded
    def _on_stop(self, _button: Any = None) -> None:
        self.stop()

    @guarded
    def _on_clear(self, _button: Any = None) -> None:
        for select in self.filters.values():
            select.value = ()

    @guarded
    def _on_filter(self, _change: Any = None) -> None:
        self._update_scope()
        if not self.running:
            self._failures_for = -1
            self._refresh()  # progress, state and results follow the scope until Start

    @guarded
    def _on_settings(self, _change: Any = None) -> None:
        self._draw_title()
        draw_controls(self, view_of(self._facts(tables=False, failures=False)))

    def _run_ended(self, clean: bool) -> None:
        """After the run's task ended (from its done callback): journal, scope and view, then say how."""
        self._read_journal(quiet=True)
        self._update_scope()
        self._failures_for = -1
        self._refresh()
        m = self.migration
        if m is not None and clean:
            self._say(f"run {self.runs} ended: {fmt.progress_line(m.progress, self._state())}")
            if m.state == "finished":
                self._say(NEXT_STEP)

    # -- drawing ----------------------------------------------------------------------------------------
    def _facts(self, *, tables: bool, failures: bool) -> ConsoleState:
        c, m = self._control, self._control.migration
        return ConsoleState(
            plan=self.plan,
            scope=self._scope,
            preview=self._preview,
            runner=m.progress if m is not None else None,
            runner_state=m.state if m is not None else None,
            running=c.running,
            same_scope=c.same_scope(self._scope),
            fatal=bool(m is not None and m.fatal_error),
            dry_run=bool(self.dry_run_input.value),
            concurrency=self.concurrency_input.value,
            failures_shown=self.failures_shown,
            problems_shown=self.problems_shown,
            scrub=self._scrub,
            tables=tables,
            failures=failures,
        )

    def _state(self) -> str:
        c, m = self._control, self._control.migration
        return display_state(m.state if m is not None else None, c.running, c.same_scope(self._scope))

    def _draw_title(self) -> None:
        self.title.value = render.title_html(self.host, journal_path(self.journal), bool(self.dry_run_input.value))

    def _read_journal(self, *, quiet: bool = False) -> None:
        """Fingerprints the journal shows as created (so the preview and Start know what a rerun skips)."""
        try:
            self._journal_done = created_fingerprints(self.journal)
        except MigrateError as exc:  # shown now; Start reports it again if it still stands
            self._journal_done = frozenset()
            if not quiet:
                self._show_error(exc, "journal")

    def _update_scope(self) -> None:
        self._scope = fmt.scope_mask(self._facets, self.selected(), self.plan.index)
        chosen = {f.title.split(" (")[0].lower(): len(self.filters[f.name].value) for f in self._facets}
        self.scope_label.value = render.scope_html(int(self._scope.sum()), len(self.plan), chosen)
        self._preview = fmt.action_preview(self.plan, self._scope, self._journal_done)
        self.preview.value = fmt.html_table(self._preview, last_row_total=True)
        draw_controls(self, view_of(self._facts(tables=False, failures=False)))

    def _refresh(self) -> None:
        """Redraw everything from the runner's current progress (called at most a few times a second)."""
        self.refreshes += 1
        control = self._control
        settled = control.settle_frame()
        control.drew()
        now, running, state = time.monotonic(), control.running, self._state()
        facts = self._facts(tables=False, failures=False)
        p = progress_of(facts)
        # a group-by over the frame: once a second is plenty while running, and at once when the state moves
        tables = settled or not running or state != self._last_state or now - self._results_at >= 1.0
        failures = p.failed != self._failures_for or not running
        view = view_of(dataclasses.replace(facts, tables=tables, failures=failures))
        draw(self, view)
        if view.results is not None:
            self._results_at = now
        if view.failures is not None:
            # the runner writes the frame a little behind its counters: look again until it caught up
            self._failures_for = p.failed if len(view.failures) >= min(p.failed, self.failures_shown) else -1
        if state != self._last_state:
            self._last_state = state
            if not self.widgets_enabled and self.migration is not None:
                self._print_line(p)
        elif not self.widgets_enabled and running and now - self._last_text >= self.text_interval:
            self._print_line(p)

    def _print_line(self, p: Progress) -> None:
        self._last_text = time.monotonic()
        print(fmt.progress_line(p, self._state()), flush=True)

    # -- messages ---------------------------------------------------------------------------------------
    @property
    def errors(self) -> list[str]:
        """Every error shown in Messages, scrubbed, oldest first."""
        return self._messages.errors

    def _say(self, text: str) -> None:
        self._messages.say(text)

    def _show_error(self, exc: BaseException, where: str) -> None:
        self._messages.error(exc, where)

    # -- text view --------------------------------------------------------------------------------------
    def render_text(self) -> str:
        """The console as plain text: scope, settings, progress and the latest failures (keys masked)."""
        n, ran = int(self.scope.sum()), self.migration is not None
        return render.text_summary(
            header=render.text_header(
                host=self.host, journal=journal_path(self.journal), dry_run=bool(self.dry_run_input.value),
                rows=(n, len(self.plan)), filters={k: v for k, v in self.selected().items() if v},
                batch_size=self.batch_size_input.value, concurrency=self.concurrency_input.value,
            ),
            progress_line=fmt.progress_line(self.progress, self._state()) if ran else f"ready: {n:,} rows to run",
            preview=fmt.action_preview(self.plan, self.scope, self._journal_done),
            results=fmt.status_by_action(self.plan, self.scope) if ran else None,
            failures=fmt.latest_failures(self.plan, min(self.failures_shown, 5), self._scrub),
            problems=problems_of(self.plan, self.scope, 0, self._scrub),
            last_error=self._messages.last_error(),
        )  # fmt: skip

    def __repr__(self) -> str:
        p = self.progress
        return f"<MigrationConsole {self._state()}: {p.done:,}/{p.total:,} rows, {p.failed:,} failed>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self) if cycle else self.render_text())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """The widget where the frontend renders widgets; the text summary for everything else."""
        bundle: dict[str, Any] = {}
        if self.widgets_enabled:
            bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/plain"] = self.render_text()
        return bundle

    def display(self) -> None:
        """Show the console in the current cell's output (same as leaving ``console`` last in a cell)."""
        from IPython.display import display

        display(self)
