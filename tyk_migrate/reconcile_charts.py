"""The figures of a reconciliation: matplotlib bar charts, and their inline SVG / PNG forms for reports.

Split from ``reconcile.py`` (which re-exports ``Charts``, ``figure_svg`` and ``figure_png_data_uri``).
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import pandas as pd

from .vocabulary import DUPLICATED, MISSING, PRESENT, RECON_STATUSES, WRONG_OWNER, WRONG_PLAN, WRONG_PRODUCTS

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class Charts(dict[str, "Figure"]):
    """Named matplotlib figures that display inline (as SVG) when a notebook cell returns them."""

    def svg(self, name: str) -> str:
        return figure_svg(self[name])

    def _repr_html_(self) -> str:
        return "".join(f'<div class="tyk-chart">{figure_svg(fig)}</div>' for fig in self.values())


def figure_svg(fig: Figure) -> str:
    """A figure as an inline ``<svg>`` element (no XML prolog, no external references)."""
    buffer = io.StringIO()
    fig.savefig(
        buffer,
        format="svg",
        bbox_inches="tight",
        metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
    )
    text = buffer.getvalue()
    return text[text.find("<svg") :]


def figure_png_data_uri(fig: Figure, dpi: int = 110) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def status_charts(counts: pd.Series, summary: pd.DataFrame) -> Charts:
    """Three bar charts: ``counts`` per status, and the ``summary`` status split per plan and per product."""
    from .extras import require

    require("report", needed_for="the reconciliation charts")
    from matplotlib.figure import Figure

    colours = {
        PRESENT: "#2e7d32",
        MISSING: "#c62828",
        WRONG_OWNER: "#ef6c00",
        WRONG_PLAN: "#f9a825",
        WRONG_PRODUCTS: "#6a1b9a",
        DUPLICATED: "#1565c0",
        "unexplained": "#757575",
    }
    charts = Charts()
    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    bars = ax.barh(
        list(counts.index)[::-1], list(counts.to_numpy())[::-1], color=[colours[s] for s in counts.index][::-1]
    )
    ax.bar_label(bars, padding=3)
    ax.set_title("Legacy keys by reconciliation status")
    ax.set_xlabel("keys")
    ax.spines[["top", "right"]].set_visible(False)
    charts["status"] = fig
    for group, title in (("plan", "per plan"), ("product", "per product")):
        part = summary[summary["group"] == group]
        fig = Figure(figsize=(7, max(2.4, 0.45 * len(part) + 1.2)))
        ax = fig.subplots()
        left = [0] * len(part)
        names = list(part["name"])
        for status in RECON_STATUSES:
            values = [int(v) for v in part[status]]
            if not any(values):
                continue
            ax.barh(names, values, left=left, color=colours[status], label=status)
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.invert_yaxis()
        ax.set_title(f"Legacy keys {title}")
        ax.set_xlabel("keys")
        ax.spines[["top", "right"]].set_visible(False)
        if names:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
        charts[group] = fig
    return charts
