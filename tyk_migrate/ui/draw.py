"""Copy a ``ConsoleView`` into the console's widgets (no decisions here: the view model made them)."""

from __future__ import annotations

from .. import ui_format as fmt
from . import render
from .layout import ConsoleWidgets
from .view import ConsoleView


def draw_controls(ui: ConsoleWidgets, view: ConsoleView) -> None:
    """Buttons (enabled, colour, what Start reads) and the inputs locked while a run is active."""
    for name, button in ui.buttons.items():
        button.disabled = not view.enabled[name]
        button.button_style = view.button_styles[name]
    for widget in ui.inputs():
        widget.disabled = view.locked
    ui.start_button.description = view.start_label
    ui.start_button.tooltip = view.start_tip


def draw(ui: ConsoleWidgets, view: ConsoleView) -> None:
    """Everything; the tables only where the view carries them (it skips them between throttled redraws)."""
    ui.progress_bar.max = view.bar_max
    ui.progress_bar.value = view.bar_value
    ui.progress_bar.bar_style = view.bar_style
    ui.progress_label.value = render.progress_html(view)
    ui.state_label.value = render.state_html(view)
    ui.stats.value = render.stats_html(view)
    draw_controls(ui, view)
    if view.results is not None:
        ui.results_table.value = fmt.html_table(view.results, last_row_total=True, empty="no rows in scope")
    if view.problems is not None:
        ui.problems.set_title(0, view.problems.title)
        ui.problems_table.value = render.problems_html(view.problems)
    if view.failures is not None:
        ui.failures.value = fmt.html_table(view.failures, empty="no failures")
