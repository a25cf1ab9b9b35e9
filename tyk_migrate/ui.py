"""The migration console: ipywidgets over ``run.Migration`` for analysts in JupyterLab.

    console = MigrationConsole(plan, settings, "migration.journal", snapshot=snapshot)
    console            # shows the console; pick a scope, press Start, watch, Pause/Stop when needed
    console.results    # the plan frame itself, outcome columns filled in place (during and after)

Why it is built this way:

* It only composes widgets and calls the runner: every request, retry and journal record is
  ``Migration``'s job, so a run from the console is the same run as from the CLI or ``apply_plan``.
* The run is a task on the kernel's own event loop (ipykernel runs one), so other cells stay usable.
  The runner reports every finished row; the console only notes the latest state and redraws on a
  ``loop.call_later`` timer, at most ``updates_per_second`` times a second, so drawing never slows a run.
* Every callback is wrapped: an exception ends up, masked, in the console's own output area instead of
  the kernel log where nobody looks.
* Keys are shown masked everywhere (filters hold emails and policy names, tables masked keys, and error
  texts go through a scrubber that replaces any raw key of the plan with its mask).
* Where widgets cannot render (a headless papermill run, a terminal) the console is a plain-text summary
  and prints a progress line now and then; ``await console.run()`` drives it without any clicking.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ipywidgets as w
import pandas as pd

from . import ui_format as fmt
from .config import Settings
from .errors import AuthError, MigrateError
from .journal import Journal
from .run import Migration, Progress

F = TypeVar("F", bound=Callable[..., Any])

HEARTBEAT_SECONDS = 1.0
CONCURRENCY_CHOICES = ("adaptive", 1, 2, 4, 8, 16, 32, 64)
HELP = (
    "Pick a scope (nothing selected = every row; Ctrl/Cmd-click selects several), check the preview, then "
    "<b>Start</b>. <b>Pause</b> lets requests in flight finish and sends nothing new; <b>Stop</b> ends the run "
    "and a later <b>Start</b> (even after a kernel restart) continues from the journal without repeating a "
    "write. Results land in <code>console.results</code>."
)
_ERROR_TYPES = (MigrateError, ValueError, TypeError, KeyError)
NEXT_STEP = "next: run the cells below to verify and reconcile"
# the colour each button shows while enabled (a disabled button is plain grey: no red Stop nobody can press)
BUTTON_STYLES = {"start": "primary", "pause": "", "resume": "info", "stop": "danger"}


def guarded(method: F) -> F:
    """Run a widget callback so that its exception shows in the console's output area, not the kernel log."""

    @functools.wraps(method)
    def wrapper(self: MigrationConsole, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # shown to the user in the console, never swallowed silently
            self._show_error(exc, method.__name__.strip("_").replace("_", " "))
            return None

    return wrapper  # type: ignore[return-value]


def _widgets_available() -> bool:
    """True inside an IPython kernel (a frontend that may render widgets), False in scripts and terminals."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def portal_host(client: Any) -> str:
    """The portal's host (and port) the console writes to, from a client or ``Settings``; never the token.

    ``None`` means the environment, as ``Migration`` reads it. Credentials in the URL are dropped.
    """
    url = ""
    try:
        if client is None:
            url = Settings.from_env().portal_url
        elif isinstance(client, Settings):
            url = client.portal_url
        else:
            settings = getattr(client, "settings", None)
            url = str(getattr(settings, "portal_url", "") or getattr(client, "base_url", "") or "")
    except MigrateError:
        url = ""
    parts = urlsplit(url if "//" in url else f"//{url}")
    host = parts.hostname or ""
    if host and parts.port:
        host = f"{host}:{parts.port}"
    return host or "(portal not set)"


def _heading(text: str) -> w.HTML:
    return w.HTML(
        f"<div style='font-weight:600;font-size:var(--jp-ui-font-size2,14px);margin:10px 0 2px 0;"
        f"border-bottom:1px solid var(--jp-border-color2,#e0e0e0)'>{text}</div>"
    )


class MigrationConsole:
    """Scope, control, progress and results of a migration run, as one widget (or a text summary).

    ``client`` and ``journal`` are what ``Migration`` takes (an ``AsyncPortalClient``, ``Settings`` or None
    for the environment; a ``Journal`` or a path). ``snapshot`` (a ``PortalSnapshot``) only names plans,
    products and organisations in the filters. ``widgets`` forces (True) or disables (False) the widget
    view; None decides by the environment. ``migration_options`` go to ``Migration`` as they are
    (``initial_concurrency``, ``verify_readback``, ``retry``…).
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
        self.min_interval = 1.0 / max(0.1, float(updates_per_second))
        self.text_interval = float(text_interval)
        self.migration_options = migration_options
        self.widgets_enabled = _widgets_available() if widgets is None else bool(widgets)
        self.migration: Migration | None = None
        self.runs = 0
        self.errors: list[str] = []
        self.refreshes = 0  # how many times the view was redrawn (the benchmark reports it)
        self._task: asyncio.Task[pd.DataFrame] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._heartbeat: asyncio.TimerHandle | None = None
        self._last_refresh = 0.0
        self._last_text = 0.0
        self._last_state = ""
        self._results_at = 0.0
        self._failures_for = -1
        self._scrub = fmt.Scrubber(plan["key_id"])
        self._facets = fmt.facets(plan, snapshot)
        self._journal_done: frozenset[str] = frozenset()
        self._run_scope: pd.Series | None = None  # the rows of the last run (progress shows them while in scope)
        self.finished_runs = 0
        self.host = portal_host(client)

        self._build(batch_size, concurrency, dry_run)
        self._read_journal()
        self._update_scope()
        self._refresh()

    # -- the widgets ---------------------------------------------------------------------------------
    def _build(self, batch_size: int, concurrency: int | str, dry_run: bool) -> None:
        self.title = w.HTML()
        self.help = w.HTML(
            f"<div style='color:var(--jp-ui-font-color2,#757575);margin:2px 0 4px 0;line-height:1.45'>{HELP}</div>"
        )
        self.filters: dict[str, w.SelectMultiple] = {}
        boxes = []
        for facet in self._facets:
            options = facet.options()
            select = w.SelectMultiple(options=options, rows=6, layout=w.Layout(width="auto"))  # 100% + margin overflows
            select.add_class("tyk-filter")
            select.add_class(f"tyk-filter-{facet.name}")
            select.observe(self._on_filter, names="value")
            self.filters[facet.name] = select
            # each list grows with its longest label (+ room for the scroll bar), so none is cut at the edge
            chars = max([len(label) for label, _ in options] + [len(facet.title), 12]) + 5
            boxes.append(
                w.VBox(
                    [w.HTML(f"<b>{facet.title}</b>"), select],
                    layout=w.Layout(flex=f"{chars} 1 0", min_width=f"{min(chars, 24) * 6}px", margin="0 8px 0 0"),
                )
            )
        self.clear_button = w.Button(description="Clear filters", icon="times", layout=w.Layout(width="130px"))
        self.clear_button.on_click(self._on_clear)
        self.scope_label = w.HTML()
        self.preview = w.HTML()
        self.preview.add_class("tyk-preview")

        self.batch_size_input = w.BoundedIntText(
            value=int(batch_size),
            min=1,
            max=100_000,
            description="Batch size",
            style={"description_width": "initial"},
            layout=w.Layout(width="170px", margin="0 16px 0 0"),
        )
        choices: list[Any] = list(CONCURRENCY_CHOICES)
        if concurrency not in choices:
            choices.append(int(concurrency))
        self.concurrency_input = w.Dropdown(
            options=[(str(c), c) for c in choices], value=concurrency, description="Concurrency",
            style={"description_width": "initial"}, layout=w.Layout(width="200px", margin="0 16px 0 0"),
        )  # fmt: skip
        self.dry_run_input = w.Checkbox(value=bool(dry_run), description="Dry run (no writes)", indent=False)
        self.dry_run_input.observe(self._on_settings, names="value")

        button = w.Layout(width="120px")
        self.start_button = w.Button(description="Start", icon="play", layout=w.Layout(width="170px"))
        self.pause_button = w.Button(description="Pause", icon="pause", layout=button)
        self.resume_button = w.Button(description="Resume", icon="play-circle", layout=button)
        self.stop_button = w.Button(description="Stop", icon="stop", layout=button)
        self._buttons = {
            "start": self.start_button,
            "pause": self.pause_button,
            "resume": self.resume_button,
            "stop": self.stop_button,
        }
        for name, widget in self._buttons.items():
            widget.add_class(f"tyk-{name}")
        self.start_button.on_click(self._on_start)
        self.pause_button.on_click(self._on_pause)
        self.resume_button.on_click(self._on_resume)
        self.stop_button.on_click(self._on_stop)
        self.state_label = w.HTML(layout=w.Layout(flex="1 1 auto", min_width="0"))  # the note gets the row's rest
        self.state_label.add_class("tyk-state")

        self.progress_bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="60%"))
        self.progress_bar.add_class("tyk-progress")
        self.progress_label = w.HTML()
        self.progress_label.add_class("tyk-progress-label")
        self.stats = w.HTML()
        self.stats.add_class("tyk-stats")
        self.results_table = w.HTML()
        self.results_table.add_class("tyk-results")
        self.failures = w.HTML()
        self.failures.add_class("tyk-failures")
        self.output = w.Output(layout=w.Layout(max_height="160px", overflow="auto"))
        self.output.add_class("tyk-messages")

        self.widget = w.VBox(
            [
                self.title,
                self.help,
                _heading("Scope"),
                w.HBox(boxes, layout=w.Layout(flex_flow="row wrap", width="100%")),
                w.HBox([self.clear_button, self.scope_label], layout=w.Layout(align_items="center")),
                self.preview,
                _heading("Run"),
                w.HBox(
                    [self.batch_size_input, self.concurrency_input, self.dry_run_input],
                    layout=w.Layout(align_items="center"),
                ),
                w.HBox(
                    [self.start_button, self.pause_button, self.resume_button, self.stop_button, self.state_label],
                    layout=w.Layout(align_items="center"),
                ),
                _heading("Progress"),
                w.HBox([self.progress_bar, self.progress_label], layout=w.Layout(align_items="center")),
                self.stats,
                _heading("Results in scope"),
                self.results_table,
                _heading(f"Latest failures (up to {self.failures_shown})"),
                self.failures,
                _heading("Messages"),
                self.output,
            ],
            layout=w.Layout(width="100%", max_width="1200px", padding="4px 8px"),
        )
        self.widget.add_class("tyk-console")
        self._draw_title()

    def _draw_title(self) -> None:
        """Title, DRY RUN / LIVE badge, portal host and journal: where a press of Start writes, before it."""
        dry = bool(self.dry_run_input.value)
        colour = fmt.COLOURS["dry_run"] if dry else "var(--jp-brand-color1, #1976d2)"
        badge = (
            f"<span class='tyk-mode' style='margin-left:12px;padding:1px 8px;border-radius:3px;font-size:0.7em;"
            f"vertical-align:middle;color:white;background:{colour}'>{'DRY RUN' if dry else 'LIVE'}</span>"
        )
        grey = "color:var(--jp-ui-font-color2,#757575)"
        where = (
            "<div class='tyk-target' style='margin:2px 0;line-height:1.4;overflow-wrap:anywhere'>"
            f"<span style='{grey}'>portal</span> "
            f"<code>{html.escape(self.host)}</code> "
            f"<span style='{grey};margin-left:14px'>journal</span> "
            f"<code title='{html.escape(self._journal_path())}'>{html.escape(self._journal_path())}</code>"
            + (f"<span style='{grey};margin-left:14px'>nothing is written to the portal</span>" if dry else "")
            + "</div>"
        )
        self.title.value = (
            "<div style='font-size:var(--jp-content-font-size3,17px);font-weight:600'>Key migration console"
            f"{badge}</div>{where}"
        )

    # -- public API ------------------------------------------------------------------------------------
    @property
    def results(self) -> pd.DataFrame:
        """The plan frame itself, its outcome columns updated in place as the run goes."""
        return self.plan

    @property
    def progress(self) -> Progress:
        """The runner's progress while a run is active or the scope is the last run's; else the scope's rows.

        With no run active and another scope picked, the counts are those of ``console.results`` for the
        rows now in scope (all pending before any run), so the bar and *pending* match what Start would do.
        """
        m = self.migration
        if m is not None and m.state != "idle" and (self.running or self._same_scope_as_run()):
            return m.progress
        counts = fmt.scope_statuses(self.plan, self.scope)
        done = sum(n for status, n in counts.items() if status != "pending")
        return Progress(
            total=int(self.scope.sum()),
            done=done,
            created=counts.get("created", 0),
            skipped=counts.get("skipped", 0),
            failed=counts.get("failed", 0),
            blocked=counts.get("blocked", 0),
            dry_run=counts.get("dry_run", 0),
            state="ready",
        )

    def _same_scope_as_run(self) -> bool:
        return self._run_scope is not None and bool(self._run_scope.equals(self._scope))

    @property
    def running(self) -> bool:
        """A run is active (running, paused or stopping)."""
        return self._task is not None and not self._task.done()

    @property
    def scope(self) -> pd.Series:
        """Boolean mask of the rows the current filters select."""
        return self._scope

    def selected(self) -> dict[str, list[Any]]:
        return {name: list(select.value) for name, select in self.filters.items()}

    def require_finished(self) -> None:
        """Raise a one-line ``MigrateError`` unless a run has finished and none is active.

        The workbook calls it before verifying, so *Run All* stops with a sentence that says what to do
        instead of a long error from a verification over rows nobody migrated yet.
        """
        __tracebackhide__ = True  # IPython shows the one line, not this frame
        if self.running:
            raise MigrateError("a run is still active: wait until the console above says 'finished' (or press Stop)")
        if self.finished_runs == 0:
            raise MigrateError("no finished run yet: press Start in the console above and wait for 'finished'")

    def start(self) -> asyncio.Task[pd.DataFrame]:
        """Start (or continue from the journal) a run over the current scope on the running event loop."""
        if self.running:
            raise MigrateError("a run is already active: pause, resume or stop it")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise MigrateError(
                "start() needs a running event loop (a notebook cell, or inside asyncio.run); "
                "in a script use asyncio.run(console.run())"
            ) from None
        keep = self.scope
        n = int(keep.sum())
        if n == 0:
            raise MigrateError("no rows in scope: clear or change the filters")
        rows = None if n == len(self.plan) else self.plan.index[keep.to_numpy(bool)]
        migration = Migration(
            self.plan,
            self.client,
            self.journal,
            batch_size=int(self.batch_size_input.value),
            concurrency=self.concurrency_input.value,
            max_concurrency=self.max_concurrency,
            dry_run=bool(self.dry_run_input.value),
            rows=rows,
            on_progress=self._on_progress,
            **self.migration_options,
        )
        self.migration = migration
        self._run_scope = keep.copy()
        self.runs += 1
        self._failures_for = -1
        self._task = migration.start()
        self._task.add_done_callback(self._on_done)
        done = len(self._journal_done.intersection(self.plan.loc[keep.to_numpy(bool), "key_fingerprint"]))
        note = f"; the journal already shows {done:,} of them created" if done else ""
        mode = "dry run" if migration.dry_run else "run"
        self._say(f"{mode} {self.runs} started: {n:,} rows in scope{note}")
        self._refresh()
        return self._task

    def pause(self) -> None:
        if self.migration is None or not self.running:
            return
        if self.migration.state == "idle":  # the task has not taken its first step yet
            asyncio.get_running_loop().call_soon(self._on_pause)  # guarded: an error shows in Messages
            return
        self.migration.pause()
        self._refresh()

    def resume(self) -> None:
        if self.migration is not None and self.running:
            self.migration.resume()
            self._refresh()

    def stop(self) -> None:
        if self.migration is not None and self.running:
            self.migration.stop()
            self._refresh()

    async def wait(self) -> pd.DataFrame:
        """Wait for the active run (if any) to end; returns the results frame."""
        if self._task is not None:
            await asyncio.wait([self._task])
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
        fatal = self._fatal_error()
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
        self._sync_buttons()

    @guarded
    def _on_progress(self, progress: Progress) -> None:
        """Called by the runner after every row: only arm the redraw timer (cheap by design)."""
        if self._handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._refresh()
            return
        delay = max(0.0, self._last_refresh + self.min_interval - time.monotonic())
        self._handle = loop.call_later(delay, self._on_timer)

    @guarded
    def _on_timer(self) -> None:
        self._handle = None
        self._refresh()

    @guarded
    def _on_heartbeat(self) -> None:
        self._heartbeat = None
        if self.running:
            self._refresh()

    def _arm_heartbeat(self) -> None:
        """Redraw at least once a second while running, so rates and ETA move even when no row finishes."""
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
            self._say("the run was cancelled; Start continues from the journal")
        elif task.exception() is not None:
            self._show_error(task.exception(), "run")  # type: ignore[arg-type]
        m = self.migration
        fatal = self._fatal_error()
        if fatal is not None:
            self._show_error(fatal, "run")
        if m is not None and m.state == "finished" and not task.cancelled() and task.exception() is None:
            self.finished_runs += 1
        self._read_journal(quiet=True)
        self._update_scope()
        self._failures_for = -1
        self._refresh()
        if m is not None and not task.cancelled() and task.exception() is None:
            self._say(f"run {self.runs} ended: {fmt.progress_line(m.progress, self._state())}")
            if m.state == "finished":
                self._say(NEXT_STEP)

    # -- drawing ----------------------------------------------------------------------------------------
    def _read_journal(self, *, quiet: bool = False) -> None:
        """Fingerprints the journal shows as created (so the preview and Start know what a rerun skips)."""
        records: list[Any] = []
        try:
            if isinstance(self.journal, Journal):
                records = self.journal.credentials()
            elif Path(self.journal).exists():
                with Journal(self.journal) as journal:
                    records = journal.credentials()
        except MigrateError as exc:  # shown now; Start reports it again if it still stands
            if not quiet:
                self._show_error(exc, "journal")
        self._journal_done = frozenset(r.fingerprint for r in records if r.state == "created")

    def _update_scope(self) -> None:
        self._scope = fmt.scope_mask(self._facets, self.selected(), self.plan.index)
        n, total = int(self._scope.sum()), len(self.plan)
        chosen = [f"{f.title.split(' (')[0].lower()}: {len(self.filters[f.name].value)}" for f in self._facets]
        chosen = [c for c in chosen if not c.endswith(": 0")]
        self.scope_label.value = (
            f"<span style='margin-left:10px'><b>{n:,}</b> of {total:,} rows in scope"
            + (f" ({', '.join(chosen)} selected)" if chosen else " (no filter: every row)")
            + "</span>"
        )
        table = fmt.action_preview(self.plan, self._scope, self._journal_done)
        self._preview = table
        self.preview.value = fmt.html_table(table, last_row_total=True)
        self._sync_buttons()

    def _state(self) -> str:
        """What the view shows: the runner's state, or ``ready``/``starting``/``stopped`` around it."""
        m = self.migration
        if m is None:
            return "ready"
        if self.running:
            return "starting" if m.state == "idle" else m.state
        if not self._same_scope_as_run():
            return "ready"  # another scope was picked after the last run: that run's state is not this one's
        # the task has ended: whatever the runner last said, nothing runs any more
        return m.state if m.state in ("finished", "stopped") else "stopped"

    def _fatal(self) -> bool:
        return bool(self.migration is not None and self.migration.fatal_error)

    def _fatal_error(self) -> AuthError | None:
        """The error the last run stopped on, if any (the runner's only fatal error: the token was refused)."""
        m = self.migration
        return AuthError(self._scrub(m.fatal_error)) if m is not None and m.fatal_error else None

    def _sync_buttons(self) -> None:
        m = self.migration
        active = self.running
        state = m.state if m is not None else "idle"
        total = self._preview.iloc[-1]
        to_send, already = int(total["to send"]), int(total["already done"])
        unrecorded = fmt.scope_statuses(self.plan, self._scope).get("pending", 0)
        nothing = to_send == 0 and unrecorded == 0  # every row in scope has its outcome already
        self.start_button.disabled = active or not bool(self._scope.any()) or nothing
        self.pause_button.disabled = not active or state not in ("idle", "running")
        self.resume_button.disabled = not active or state != "paused"
        self.stop_button.disabled = not active or state == "stopping"
        for name, button in self._buttons.items():
            button.button_style = "" if button.disabled else BUTTON_STYLES[name]
        for widget in (*self.filters.values(), self.clear_button, self.batch_size_input, self.concurrency_input):
            widget.disabled = active
        self.dry_run_input.disabled = active
        resumable = already > 0 or (self._state() == "stopped" and self._same_scope_as_run())
        if nothing and self._scope.any():
            verb, tip = "Nothing to send", "Every row in scope is done: pick another scope"
        elif self.dry_run_input.value:
            verb, tip = "Dry run", "Go through the rows in scope and record what would happen; write nothing"
        elif resumable:
            verb = "Continue"
            tip = "Continue from the journal: rows already created are not sent again"
            if to_send == 0:
                tip = "Nothing left to send: fills console.results from the journal"
        else:
            verb, tip = "Start", "Start a run over the rows in scope"
        self.start_button.description = verb
        self.start_button.tooltip = tip

    def _refresh(self) -> None:
        """Redraw everything from the runner's current progress (called at most a few times a second)."""
        self.refreshes += 1
        self._last_refresh = time.monotonic()
        self._arm_heartbeat()
        p = self.progress
        state = self._state()
        bar = self.progress_bar
        bar.max = max(1, p.total)
        bar.value = min(p.done, bar.max)
        failed = p.failed > 0
        # red only for a fatal error or failures; a Stop the user pressed is amber, not an error
        bar.bar_style = {
            "running": "danger" if failed else "info",
            "starting": "info",
            "paused": "warning",
            "stopping": "warning",
            "stopped": "danger" if failed or self._fatal() else "",
            "finished": "warning" if failed else "success",
        }.get(state, "")
        pct = f"{p.done / p.total:.0%}" if p.total else "–"
        self.progress_label.value = (
            f"<span style='margin-left:10px'><b>{p.done:,}</b> / {p.total:,} rows ({pct})</span>"
        )
        amber = fmt.COLOURS["blocked"]
        colour = {
            "running": "var(--jp-info-color1,#0097a7)",
            "starting": "var(--jp-info-color1,#0097a7)",
            "paused": amber,
            "stopping": amber,
            "stopped": fmt.COLOURS["failed"] if self._fatal() else amber,
            "finished": fmt.COLOURS["created"],
        }.get(state, "var(--jp-ui-font-color2,#757575)")
        note = ""
        if state == "stopped":
            note = "error: see Messages" if self._fatal() else "by you: Continue carries on from the journal"
        elif state == "finished":
            note = NEXT_STEP
        self.state_label.value = (
            f"<div style='line-height:1.35;margin-left:12px'><span style='font-weight:600;color:{colour}'>● {state}"
            "</span>"
            + (f" <span style='margin-left:6px;color:var(--jp-ui-font-color2,#757575)'>{note}</span>" if note else "")
            + "</div>"
        )
        counts = [
            fmt.badge("created", f"{p.created:,}", fmt.COLOURS["created"]),
            fmt.badge("skipped", f"{p.skipped:,}", fmt.COLOURS["skipped"]),
            fmt.badge("failed", f"{p.failed:,}", fmt.COLOURS["failed"] if failed else fmt.COLOURS["pending"]),
            fmt.badge("blocked", f"{p.blocked:,}", fmt.COLOURS["blocked"] if p.blocked else fmt.COLOURS["pending"]),
        ]
        if p.dry_run:
            counts.append(fmt.badge("dry run", f"{p.dry_run:,}", fmt.COLOURS["dry_run"]))
        counts.append(fmt.badge("pending", f"{p.pending:,}", fmt.COLOURS["pending"]))
        err_colour = fmt.COLOURS["failed"] if p.recent_error_rate >= 0.05 else fmt.COLOURS["pending"]
        ink = "var(--jp-ui-font-color1,#212121)"
        concurrency = p.concurrency if self.running or p.concurrency else self.concurrency_input.value
        metrics = [
            fmt.badge("req/s", f"{p.requests_per_second:,.1f}", ink),
            fmt.badge("ETA", fmt.duration(p.eta_seconds) if self.running else "–", ink),
            fmt.stat("concurrency", f"{concurrency}", f"· {p.in_flight} in flight", ink),
            fmt.badge("portal errors (recent)", f"{p.recent_error_rate:.1%}", err_colour),
            fmt.badge("elapsed", fmt.duration(p.elapsed_seconds), ink),
            fmt.badge("batch", f"{p.batch}/{p.batches}" if p.batches else "–", ink),
        ]
        self.stats.value = f"<div>{''.join(counts)}</div><div>{''.join(metrics)}</div>"
        if not self.running or time.monotonic() - self._results_at >= 1.0:  # a group-by: once a second is plenty
            self._results_at = time.monotonic()
            results = fmt.status_by_action(self.plan, self.scope)
            self.results_table.value = fmt.html_table(results, last_row_total=True, empty="no rows in scope")
        if p.failed != self._failures_for or not self.running:
            table = fmt.latest_failures(self.plan, self.failures_shown, self._scrub)
            self.failures.value = fmt.html_table(table, empty="no failures")
            # the runner writes the frame a little behind its counters: look again until it caught up
            self._failures_for = p.failed if len(table) >= min(p.failed, self.failures_shown) else -1
        if state != self._last_state:
            self._last_state = state
            self._sync_buttons()
            if not self.widgets_enabled and self.migration is not None:
                self._print_line(p)
        elif not self.widgets_enabled and self.running and time.monotonic() - self._last_text >= self.text_interval:
            self._print_line(p)

    def _print_line(self, p: Progress) -> None:
        self._last_text = time.monotonic()
        print(fmt.progress_line(p, self._state()), flush=True)

    # -- messages ---------------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        line = f"{time.strftime('%H:%M:%S')}  {self._scrub(text)}\n"
        self.output.append_stdout(line)
        if not self.widgets_enabled:
            print(line, end="", flush=True)

    def _show_error(self, exc: BaseException, where: str) -> None:
        if isinstance(exc, _ERROR_TYPES):
            text = f"{where}: {type(exc).__name__}: {exc}"
        else:
            text = f"{where}: " + "".join(traceback.format_exception(exc)).rstrip()
        text = self._scrub(text)
        self.errors.append(text)
        self.output.append_stderr(f"{time.strftime('%H:%M:%S')}  {text}\n")
        if not self.widgets_enabled:
            print(text, file=sys.stderr, flush=True)

    # -- text view --------------------------------------------------------------------------------------
    def render_text(self) -> str:
        """The console as plain text: scope, settings, progress and the latest failures (keys masked)."""
        p = self.progress
        n = int(self.scope.sum())
        chosen = {k: v for k, v in self.selected().items() if v}
        lines = [
            "Key migration console" + (" [DRY RUN: nothing is written]" if self.dry_run_input.value else ""),
            f"  portal {self.host} | journal {self._journal_path()}",
            f"  scope: {n:,} of {len(self.plan):,} rows" + (f" (filters: {chosen})" if chosen else " (no filter)"),
            f"  batch size {self.batch_size_input.value} | concurrency {self.concurrency_input.value} | "
            f"dry run {'on' if self.dry_run_input.value else 'off'}",
            "  " + (fmt.progress_line(p, self._state()) if self.migration is not None else f"ready: {n:,} rows to run"),
        ]
        preview = fmt.action_preview(self.plan, self.scope, self._journal_done)
        lines.append("  preview:")
        lines += ["    " + line for line in preview.to_string(index=False).splitlines()]
        if self.migration is not None:
            results = fmt.status_by_action(self.plan, self.scope)
            lines.append("  results in scope:")
            lines += ["    " + line for line in results.to_string(index=False).splitlines()]
        failures = fmt.latest_failures(self.plan, min(self.failures_shown, 5), self._scrub)
        if len(failures):
            lines.append("  latest failures:")
            lines += ["    " + line for line in failures.to_string(index=False, max_colwidth=80).splitlines()]
        if self.errors:
            lines.append(f"  last error: {self.errors[-1].splitlines()[-1]}")
        return "\n".join(lines)

    def _journal_path(self) -> str:
        return str(self.journal.path if isinstance(self.journal, Journal) else self.journal)

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
