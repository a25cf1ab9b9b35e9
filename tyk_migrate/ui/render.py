"""The console's HTML and text, from its view model (pure: strings in, strings out, every value escaped)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .. import ui_format as fmt
from ..vocabulary import DRY_RUN
from .problems import Problems
from .view import GREY, Badge, ConsoleView


def title_html(host: str, journal: str, dry_run: bool) -> str:
    """Title, DRY RUN / LIVE badge, portal host and journal: where a press of Start writes, before it."""
    colour = fmt.COLOURS[DRY_RUN] if dry_run else "var(--jp-brand-color1, #1976d2)"
    badge = (
        f"<span class='tyk-mode' style='margin-left:12px;padding:1px 8px;border-radius:3px;font-size:0.7em;"
        f"vertical-align:middle;color:white;background:{colour}'>{'DRY RUN' if dry_run else 'LIVE'}</span>"
    )
    grey = f"color:{GREY}"
    where = (
        "<div class='tyk-target' style='margin:2px 0;line-height:1.4;overflow-wrap:anywhere'>"
        f"<span style='{grey}'>portal</span> "
        f"<code>{html.escape(host)}</code> "
        f"<span style='{grey};margin-left:14px'>journal</span> "
        f"<code title='{html.escape(journal)}'>{html.escape(journal)}</code>"
        + (f"<span style='{grey};margin-left:14px'>nothing is written to the portal</span>" if dry_run else "")
        + "</div>"
    )
    return (
        "<div style='font-size:var(--jp-content-font-size3,17px);font-weight:600'>Key migration console"
        f"{badge}</div>{where}"
    )


def scope_html(n: int, total: int, chosen: Mapping[str, int]) -> str:
    """``12 of 60 rows in scope (plan: 1 selected)``; ``chosen`` is values picked per filter title."""
    picked = [f"{title}: {count}" for title, count in chosen.items() if count]
    return (
        f"<span style='margin-left:10px'><b>{n:,}</b> of {total:,} rows in scope"
        + (f" ({html.escape(', '.join(picked))} selected)" if picked else " (no filter: every row)")
        + "</span>"
    )


def state_html(view: ConsoleView) -> str:
    note = f" <span style='margin-left:6px;color:{GREY}'>{html.escape(view.note)}</span>" if view.note else ""
    return (
        f"<div style='line-height:1.35;margin-left:12px'><span style='font-weight:600;color:{view.state_colour}'>"
        f"● {html.escape(view.state)}</span>{note}</div>"
    )


def progress_html(view: ConsoleView) -> str:
    p = view.progress
    return f"<span style='margin-left:10px'><b>{p.done:,}</b> / {p.total:,} rows ({view.percent})</span>"


def _badge(b: Badge) -> str:
    if b.after is None:
        return fmt.badge(b.label, b.value, b.colour)
    return fmt.stat(b.label, b.value, b.after, b.colour)


def stats_html(view: ConsoleView) -> str:
    return f"<div>{''.join(map(_badge, view.counts))}</div><div>{''.join(map(_badge, view.metrics))}</div>"


def problems_html(problems: Problems) -> str:
    """Causes first (how many rows each), then the rows themselves."""
    if problems.failed + problems.blocked == 0:
        return fmt.html_table(problems.rows, empty="no failed or blocked rows in scope")
    return (
        f"<div style='font-weight:600;margin:4px 0'>By cause</div>{fmt.html_table(problems.causes)}"
        f"<div style='font-weight:600;margin:8px 0 4px 0'>Rows</div>{fmt.html_table(problems.rows)}"
    )


def _indented(title: str, frame: pd.DataFrame, **to_string: Any) -> list[str]:
    return [f"  {title}:", *("    " + line for line in frame.to_string(index=False, **to_string).splitlines())]


def text_header(
    *,
    host: str,
    journal: str,
    dry_run: bool,
    rows: tuple[int, int],
    filters: Mapping[str, Any],
    batch_size: Any,
    concurrency: Any,
) -> list[str]:
    """Title, target, scope (``rows``: in scope, in the plan) and settings lines of the text summary."""
    n, total = rows
    return [
        "Key migration console" + (" [DRY RUN: nothing is written]" if dry_run else ""),
        f"  portal {host} | journal {journal}",
        f"  scope: {n:,} of {total:,} rows" + (f" (filters: {dict(filters)})" if filters else " (no filter)"),
        f"  batch size {batch_size} | concurrency {concurrency} | dry run {'on' if dry_run else 'off'}",
    ]


def text_summary(
    *,
    header: Sequence[str],
    progress_line: str,
    preview: pd.DataFrame,
    results: pd.DataFrame | None,
    failures: pd.DataFrame,
    problems: Problems | None,
    last_error: str | None,
) -> str:
    """The console as plain text (headless runs, ``repr`` in a terminal): keys masked or fingerprinted."""
    lines = [*header, "  " + progress_line, *_indented("preview", preview)]
    if results is not None:
        lines += _indented("results in scope", results)
    if len(failures):
        lines += _indented("latest failures", failures, max_colwidth=80)
    if problems is not None and len(problems.causes):
        lines += _indented("failed and blocked rows by cause", problems.causes, max_colwidth=80)
    if last_error:
        lines.append(f"  last error: {last_error}")
    return "\n".join(lines)
