"""The migration console (``MigrationConsole``): ipywidgets over ``run.Migration`` for JupyterLab.

The parts, one module each: ``view`` (the pure view model: ``view_of(ConsoleState) -> ConsoleView``),
``problems`` (the failed and blocked rows table), ``render`` (its HTML and text), ``layout`` (the widgets
and their CSS classes), ``control`` (the run's task, Start/Pause/Resume/Stop and the redraw timers) and
``console`` (the class that wires them).
"""

from __future__ import annotations

from . import _extra  # noqa: F401  (first: a missing extra is one line)
from .console import MigrationConsole
from .control import HEARTBEAT_SECONDS, RunControl, guarded
from .layout import CONCURRENCY_CHOICES, HELP, ConsoleWidgets
from .problems import Problems, problems_of
from .target import portal_host
from .view import BUTTON_STYLES, NEXT_STEP, Badge, ConsoleState, ConsoleView, display_state, progress_of, view_of

__all__ = [
    "BUTTON_STYLES",
    "CONCURRENCY_CHOICES",
    "HEARTBEAT_SECONDS",
    "HELP",
    "NEXT_STEP",
    "Badge",
    "ConsoleState",
    "ConsoleView",
    "ConsoleWidgets",
    "MigrationConsole",
    "Problems",
    "RunControl",
    "display_state",
    "guarded",
    "portal_host",
    "problems_of",
    "progress_of",
    "view_of",
]
