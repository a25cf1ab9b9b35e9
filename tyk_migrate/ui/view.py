"""The console's view model: what every part of the console shows, computed from plain facts, no widgets.

``view_of(ConsoleState(...))`` gives a ``ConsoleView``: the state line, the progress bar and its text, the
count badges and run metrics, which buttons are enabled (and how they read), and the tables. The widgets
only copy it (``console.py``), so every rule of the view is tested here without a frontend
(tests/test_ui_view.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from .. import ui_format as fmt
from ..run import Progress
from ..vocabulary import BLOCKED, CREATED, DRY_RUN, FAILED, PENDING, SKIPPED
from .problems import Problems, problems_of

NEXT_STEP = "next: run the cells below to verify and reconcile"
# the colour each button shows while enabled (a disabled button is plain grey: no red Stop nobody can press)
BUTTON_STYLES = {"start": "primary", "pause": "", "resume": "info", "stop": "danger"}
BUTTONS = tuple(BUTTON_STYLES)
INFO = "var(--jp-info-color1,#0097a7)"
GREY = "var(--jp-ui-font-color2,#757575)"
INK = "var(--jp-ui-font-color1,#212121)"
# red only for a fatal error or failures; a Stop the user pressed is amber, not an error
_BAR_STYLES = {"starting": "info", "paused": "warning", "stopping": "warning"}
_STATE_COLOURS = {
    "running": INFO,
    "starting": INFO,
    "paused": fmt.COLOURS[BLOCKED],
    "stopping": fmt.COLOURS[BLOCKED],
    "finished": fmt.COLOURS[CREATED],
}


@dataclass(frozen=True)
class Badge:
    """One figure of the stats block: ``value label`` (or ``label value after`` when ``after`` is set)."""

    label: str
    value: str
    colour: str
    after: str | None = None


@dataclass(frozen=True)
class ConsoleState:
    """The facts the view is computed from, at one moment.

    ``runner``/``runner_state`` are the last run's ``Migration.progress`` and ``.state`` (None before any
    run); ``running`` says its task is active; ``same_scope`` that the filters select that run's rows.
    ``preview`` is ``ui_format.action_preview`` of the scope (with its total row). ``tables`` and
    ``failures`` ask for the frame's group-bys (the console asks at most once a second while running).
    """

    plan: pd.DataFrame
    scope: pd.Series
    preview: pd.DataFrame
    runner: Progress | None = None
    runner_state: str | None = None
    running: bool = False
    same_scope: bool = False
    fatal: bool = False
    dry_run: bool = False
    concurrency: Any = "adaptive"
    failures_shown: int = 15
    problems_shown: int = 100
    scrub: fmt.Scrubber | None = None
    tables: bool = True
    failures: bool = True


@dataclass(frozen=True)
class ConsoleView:
    """Everything the console shows; tables are None when the state did not ask for them."""

    state: str
    state_colour: str
    note: str
    progress: Progress
    bar_value: int
    bar_max: int
    bar_style: str
    percent: str
    counts: tuple[Badge, ...]
    metrics: tuple[Badge, ...]
    batch: str
    enabled: dict[str, bool]
    button_styles: dict[str, str]
    locked: bool
    start_label: str
    start_tip: str
    results: pd.DataFrame | None = None
    failures: pd.DataFrame | None = None
    problems: Problems | None = None

    def count(self, label: str) -> int:
        """The number on the ``label`` badge (``created``, ``pending``…); KeyError when it is not shown."""
        for badge in self.counts:
            if badge.label == label:
                return int(badge.value.replace(",", ""))
        raise KeyError(label)


# -- state and progress ----------------------------------------------------------------------------------


def display_state(runner_state: str | None, running: bool, same_scope: bool) -> str:
    """What the view shows: the runner's state, or ``ready``/``starting``/``stopped`` around it."""
    if runner_state is None:
        return "ready"
    if running:
        return "starting" if runner_state == "idle" else runner_state
    if not same_scope:
        return "ready"  # another scope was picked after the last run: that run's state is not this one's
    # the task has ended: whatever the runner last said, nothing runs any more
    return runner_state if runner_state in ("finished", "stopped") else "stopped"


def scope_progress(plan: pd.DataFrame, scope: pd.Series) -> Progress:
    """The counts of the frame's rows in scope as a ``Progress`` (state ``ready``): what Start would face."""
    counts = fmt.scope_statuses(plan, scope)
    return Progress(
        total=int(scope.sum()),
        done=sum(n for status, n in counts.items() if status != PENDING),
        created=counts.get(CREATED, 0),
        skipped=counts.get(SKIPPED, 0),
        failed=counts.get(FAILED, 0),
        blocked=counts.get(BLOCKED, 0),
        dry_run=counts.get(DRY_RUN, 0),
        state="ready",
    )


def progress_of(s: ConsoleState) -> Progress:
    """The runner's progress while its run is active or the scope is its; else the scope's rows."""
    if s.runner is not None and s.runner_state not in (None, "idle") and (s.running or s.same_scope):
        return s.runner
    return scope_progress(s.plan, s.scope)


def batch_counter(plan: pd.DataFrame, scope: pd.Series, p: Progress) -> str:
    """``k/n``: the earliest batch of the run that still has unfinished rows, of ``n`` batches.

    Not the runner's ``batch``: that is the last batch it *opened*, and its sliding window opens every
    batch of a small run at once, so it read ``8/8`` at 21 % (issue 19). The frame is flushed a little
    behind the counters, so this may lag a moment; it never runs ahead.
    """
    if not p.batches:
        return "–"
    if p.done >= p.total or "batch" not in plan or "status" not in plan:
        return f"{p.batches}/{p.batches}" if p.done >= p.total else "–"
    unfinished = plan["status"].eq(PENDING).to_numpy(bool) & scope.to_numpy(bool)
    first = int(unfinished.argmax())
    batch: Any = plan["batch"].iat[first]
    if not unfinished[first] or pd.isna(batch):  # the frame does not hold this run's rows yet (not prepared)
        return "–"
    return f"{min(int(batch), p.batches)}/{p.batches}"


def _bar_style(state: str, p: Progress, fatal: bool) -> str:
    failed = p.failed > 0
    if state == "running":
        return "danger" if failed else "info"
    if state == "stopped":
        return "danger" if failed or fatal else ""
    if state == "finished":
        return "warning" if failed else "success"
    return _BAR_STYLES.get(state, "")


def _state_line(state: str, fatal: bool) -> tuple[str, str]:
    """The state's colour and the note beside it."""
    if state == "stopped":
        if fatal:
            return fmt.COLOURS[FAILED], "error: see Messages"
        return fmt.COLOURS[BLOCKED], "by you: Continue carries on from the journal"
    return _STATE_COLOURS.get(state, GREY), NEXT_STEP if state == "finished" else ""


def _counts(p: Progress) -> tuple[Badge, ...]:
    pending = fmt.COLOURS[PENDING]
    counts = [
        Badge(CREATED, f"{p.created:,}", fmt.COLOURS[CREATED]),
        Badge(SKIPPED, f"{p.skipped:,}", fmt.COLOURS[SKIPPED]),
        Badge(FAILED, f"{p.failed:,}", fmt.COLOURS[FAILED] if p.failed else pending),
        Badge(BLOCKED, f"{p.blocked:,}", fmt.COLOURS[BLOCKED] if p.blocked else pending),
    ]
    if p.dry_run:
        counts.append(Badge("dry run", f"{p.dry_run:,}", fmt.COLOURS[DRY_RUN]))
    counts.append(Badge(PENDING, f"{p.pending:,}", pending))
    return tuple(counts)


def _metrics(s: ConsoleState, p: Progress, batch: str) -> tuple[Badge, ...]:
    err_colour = fmt.COLOURS[FAILED] if p.recent_error_rate >= 0.05 else fmt.COLOURS[PENDING]
    concurrency = p.concurrency if s.running or p.concurrency else s.concurrency
    return (
        Badge("req/s", f"{p.requests_per_second:,.1f}", INK),
        Badge("ETA", fmt.duration(p.eta_seconds) if s.running else "–", INK),
        Badge("concurrency", f"{concurrency}", INK, after=f"· {p.in_flight} in flight"),
        Badge("portal errors (recent)", f"{p.recent_error_rate:.1%}", err_colour),
        Badge("elapsed", fmt.duration(p.elapsed_seconds), INK),
        Badge("batch", batch, INK),
    )


# -- buttons ---------------------------------------------------------------------------------------------


def _preview_total(s: ConsoleState, column: str) -> int:
    total: Any = s.preview[column].iat[-1]  # the preview's last row is its total
    return int(total)


def _nothing_to_send(s: ConsoleState) -> bool:
    """Every row in scope has its outcome already (the journal's or the frame's)."""
    if _preview_total(s, "to send") != 0:
        return False
    return fmt.scope_statuses(s.plan, s.scope).get(PENDING, 0) == 0


def _enabled(s: ConsoleState, nothing: bool) -> dict[str, bool]:
    active, runner = s.running, s.runner_state or "idle"
    return {
        "start": not active and bool(s.scope.any()) and not nothing,
        "pause": active and runner in ("idle", "running"),
        "resume": active and runner == "paused",
        "stop": active and runner != "stopping",
    }


def _start_label(s: ConsoleState, state: str, nothing: bool) -> tuple[str, str]:
    """What Start reads (Start, Continue, Dry run, Nothing to send) and its tooltip."""
    if nothing and s.scope.any():
        return "Nothing to send", "Every row in scope is done: pick another scope"
    if s.dry_run:
        return "Dry run", "Go through the rows in scope and record what would happen; write nothing"
    if _preview_total(s, "already done") > 0 or (state == "stopped" and s.same_scope):
        if _preview_total(s, "to send") == 0:
            return "Continue", "Nothing left to send: fills console.results from the journal"
        return "Continue", "Continue from the journal: rows already created are not sent again"
    return "Start", "Start a run over the rows in scope"


# -- the view --------------------------------------------------------------------------------------------


def view_of(s: ConsoleState) -> ConsoleView:
    """The whole view of ``s``; the frame's tables only where ``s.tables``/``s.failures`` ask for them."""
    p = progress_of(s)
    state = display_state(s.runner_state, s.running, s.same_scope)
    colour, note = _state_line(state, s.fatal)
    nothing = _nothing_to_send(s)
    enabled = _enabled(s, nothing)
    label, tip = _start_label(s, state, nothing)
    bar_max = max(1, p.total)
    batch = batch_counter(s.plan, s.scope, p)
    tables: dict[str, Any] = {}
    if s.tables:
        tables["results"] = fmt.status_by_action(s.plan, s.scope)
        tables["problems"] = problems_of(s.plan, s.scope, s.problems_shown, s.scrub)
    if s.failures:
        tables["failures"] = fmt.latest_failures(s.plan, s.failures_shown, s.scrub)
    return ConsoleView(
        state=state,
        state_colour=colour,
        note=note,
        progress=p,
        bar_value=min(p.done, bar_max),
        bar_max=bar_max,
        bar_style=_bar_style(state, p, s.fatal),
        percent=f"{p.done / p.total:.0%}" if p.total else "–",
        counts=_counts(p),
        metrics=_metrics(s, p, batch),
        batch=batch,
        enabled=enabled,
        button_styles={name: BUTTON_STYLES[name] if on else "" for name, on in enabled.items()},
        locked=s.running,
        start_label=label,
        start_tip=tip,
        **tables,
    )
