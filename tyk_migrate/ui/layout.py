"""The console's widgets and how they sit on the page: only ipywidgets, no behaviour.

Every part a browser test looks for carries a ``tyk-*`` CSS class (docs/console.md lists them); the
console (``console.py``) wires the callbacks and copies its view model into these widgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from .. import ui_format as fmt

CONCURRENCY_CHOICES = ("adaptive", 1, 2, 4, 8, 16, 32, 64)
HELP = (
    "Pick a scope (nothing selected = every row; Ctrl/Cmd-click selects several), check the preview, then "
    "<b>Start</b>. <b>Pause</b> lets requests in flight finish and sends nothing new; <b>Stop</b> ends the run "
    "and a later <b>Start</b> (even after a kernel restart) continues from the journal without repeating a "
    "write. Results land in <code>console.results</code>."
)


def row() -> w.Layout:
    return w.Layout(align_items="center")


def heading(text: str) -> w.HTML:
    return w.HTML(
        f"<div style='font-weight:600;font-size:var(--jp-ui-font-size2,14px);margin:10px 0 2px 0;"
        f"border-bottom:1px solid var(--jp-border-color2,#e0e0e0)'>{text}</div>"
    )


def classed(widget: Any, *names: str) -> Any:
    for name in names:
        widget.add_class(name)
    return widget


class ConsoleWidgets:
    """Every widget of the console, laid out in ``self.widget`` (a VBox with class ``tyk-console``)."""

    def __init__(
        self, facets: Sequence[fmt.Facet], batch_size: int, concurrency: int | str, dry_run: bool, failures_shown: int
    ) -> None:
        self.title = w.HTML()
        self.help = w.HTML(
            f"<div style='color:var(--jp-ui-font-color2,#757575);margin:2px 0 4px 0;line-height:1.45'>{HELP}</div>"
        )
        self.filters: dict[str, w.SelectMultiple] = {}
        filter_boxes = [self._filter(facet) for facet in facets]
        self.clear_button = w.Button(description="Clear filters", icon="times", layout=w.Layout(width="130px"))
        self.scope_label = w.HTML()
        self.preview = classed(w.HTML(), "tyk-preview")
        self._settings(batch_size, concurrency, dry_run)
        self._buttons()
        self.progress_bar = classed(w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="60%")), "tyk-progress")
        self.progress_label = classed(w.HTML(), "tyk-progress-label")
        self.stats = classed(w.HTML(), "tyk-stats")
        self.results_table = classed(w.HTML(), "tyk-results")
        self.failures = classed(w.HTML(), "tyk-failures")
        # issue 19: every failed or blocked row in scope with its reason, folded away until asked for
        self.problems_table = classed(w.HTML(), "tyk-problems-table")
        self.problems = classed(w.Accordion(children=[self.problems_table], selected_index=None), "tyk-problems")
        self.output = classed(w.Output(layout=w.Layout(max_height="160px", overflow="auto")), "tyk-messages")
        self.widget = classed(
            w.VBox(
                [
                    self.title,
                    self.help,
                    heading("Scope"),
                    w.HBox(filter_boxes, layout=w.Layout(flex_flow="row wrap", width="100%")),
                    w.HBox([self.clear_button, self.scope_label], layout=row()),
                    self.preview,
                    heading("Run"),
                    w.HBox([self.batch_size_input, self.concurrency_input, self.dry_run_input], layout=row()),
                    w.HBox([self.create_users_input, self.activate_users_input], layout=row()),
                    w.HBox([*self.buttons.values(), self.state_label], layout=row()),
                    heading("Progress"),
                    w.HBox([self.progress_bar, self.progress_label], layout=row()),
                    self.stats,
                    heading("Results in scope"),
                    self.results_table,
                    heading(f"Latest failures (up to {int(failures_shown)})"),
                    self.failures,
                    self.problems,
                    heading("Messages"),
                    self.output,
                ],
                layout=w.Layout(width="100%", max_width="1200px", padding="4px 8px"),
            ),
            "tyk-console",
        )

    def _filter(self, facet: fmt.Facet) -> w.VBox:
        options = facet.options()
        select = w.SelectMultiple(options=options, rows=6, layout=w.Layout(width="auto"))  # 100% + margin overflows
        self.filters[facet.name] = classed(select, "tyk-filter", f"tyk-filter-{facet.name}")
        # each list grows with its longest label (+ room for the scroll bar), so none is cut at the edge
        chars = max([len(label) for label, _ in options] + [len(facet.title), 12]) + 5
        return w.VBox(
            [w.HTML(f"<b>{facet.title}</b>"), select],
            layout=w.Layout(flex=f"{chars} 1 0", min_width=f"{min(chars, 24) * 6}px", margin="0 8px 0 0"),
        )

    def _settings(self, batch_size: int, concurrency: int | str, dry_run: bool) -> None:
        initial = {"description_width": "initial"}
        self.batch_size_input = w.BoundedIntText(
            value=int(batch_size), min=1, max=100_000, description="Batch size", style=initial,
            layout=w.Layout(width="170px", margin="0 16px 0 0"),
        )  # fmt: skip
        choices: list[Any] = list(CONCURRENCY_CHOICES)
        if concurrency not in choices:
            choices.append(int(concurrency))
        self.concurrency_input = w.Dropdown(
            options=[(str(c), c) for c in choices], value=concurrency, description="Concurrency", style=initial,
            layout=w.Layout(width="200px", margin="0 16px 0 0"),
        )  # fmt: skip
        self.dry_run_input = w.Checkbox(value=bool(dry_run), description="Dry run (no writes)", indent=False)
        # issue 19: the plan's account steps (plan.accounts) are only sent when ticked; off by default
        self.create_users_input = classed(
            w.Checkbox(value=False, description="Create missing developer accounts", indent=False), "tyk-create-users"
        )
        self.activate_users_input = classed(
            w.Checkbox(value=False, description="Activate inactive owners", indent=False), "tyk-activate-users"
        )

    def account_options(self) -> dict[str, bool]:
        """The account toggles as ``Migration`` options (``create_users``, ``activate_users``)."""
        return {
            "create_users": bool(self.create_users_input.value),
            "activate_users": bool(self.activate_users_input.value),
        }

    def _buttons(self) -> None:
        narrow = w.Layout(width="120px")
        self.start_button = w.Button(description="Start", icon="play", layout=w.Layout(width="170px"))
        self.pause_button = w.Button(description="Pause", icon="pause", layout=narrow)
        self.resume_button = w.Button(description="Resume", icon="play-circle", layout=narrow)
        self.stop_button = w.Button(description="Stop", icon="stop", layout=narrow)
        self.buttons = {
            "start": self.start_button,
            "pause": self.pause_button,
            "resume": self.resume_button,
            "stop": self.stop_button,
        }
        for name, button in self.buttons.items():
            button.add_class(f"tyk-{name}")
        # the state's note gets the rest of the buttons' row
        self.state_label = classed(w.HTML(layout=w.Layout(flex="1 1 auto", min_width="0")), "tyk-state")

    def inputs(self) -> list[Any]:
        """The widgets locked while a run is active (scope and run settings)."""
        return [*self.filters.values(), self.clear_button, self.batch_size_input, self.concurrency_input,
                self.dry_run_input, self.create_users_input, self.activate_users_input]  # fmt: skip
