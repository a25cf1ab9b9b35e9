"""The HTML report: one self-contained file (inline CSS and SVG charts, no scripts, no external assets).

``write_report`` gathers what each section shows from the frames (``report_summary`` computes the verdict,
funnel and provenance, ``report_terms`` the action list, headers and glossary) and renders
``templates/report.html.j2`` with Jinja2, autoescaping every value. Keys appear as fingerprints and masks
only: frames are made safe cell by cell first, and a last pass over the finished page replaces any raw key
still in it by its mask.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from .report_summary import STAGES as FUNNEL_STAGES
from .report_summary import Evidence, bare_url, funnel, inputs_rows, provenance, verdict
from .report_terms import action_items, glossary, header
from .scrub import KeyScrubber
from .secrets import private_file
from .vocabulary import (
    BLOCKED,
    CREATED,
    DRY_RUN,
    DUPLICATED,
    FAILED,
    MISSING,
    PENDING,
    PRESENT,
    ROLLED_BACK,
    SKIPPED,
    WRONG_OWNER,
    WRONG_PLAN,
    WRONG_PRODUCTS,
)

if TYPE_CHECKING:
    from jinja2 import Environment
    from matplotlib.figure import Figure

    from .reconcile import Reconciliation

MAX_TABLE_ROWS = 500
#: The outcome log's client-impact columns, shown in the per-row tables.
IMPACT_COLUMNS = ("client_impact", "client_impact_detail")
_GOOD = {CREATED, SKIPPED, PRESENT, DRY_RUN}
_BAD = {FAILED, MISSING, WRONG_OWNER, WRONG_PLAN, WRONG_PRODUCTS, DUPLICATED, ROLLED_BACK}
_WARN = {BLOCKED, "rows rejected", "unexplained", PENDING}


def _text(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _finalize(value: Any) -> Any:
    """Every ``{{ value }}``: empty for missing values, escaped with ``html.escape`` (the forms the scrub pass
    over the finished page looks for); trusted markup (charts, macros) passes as it is."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(_text(value), quote=True))


@functools.cache
def _env() -> Environment:
    """Made on the first report, not at import: every command imports this module, few write a report."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("tyk_migrate", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_CSS = Markup(resources.files("tyk_migrate").joinpath("templates", "report.css").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Table:
    """A frame ready for the template: human headers, cells as ``(text, css class)``, all rows' count."""

    headers: list[str]
    rows: list[list[tuple[str, str]]]
    total: int


#: Columns whose long unbroken values (e-mails, fingerprints, joined lists) may wrap anywhere, so a wide
#: table still fits; masked keys never wrap (the two ends of a mask belong together).
_WRAP_ANYWHERE = {"owner_email", "portal_owner_email", "key_fingerprint", "portal_products", "products", "value",
                  "verify_target", "verify_error", "portal_app_name"}  # fmt: skip
_NO_WRAP = {"key_masked"}


def _cell_class(column: str, value: Any) -> str:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return "num"
    return "key" if column in _NO_WRAP else "wrap" if column in _WRAP_ANYWHERE else ""


def _table(frame: pd.DataFrame | None, *, limit: int = MAX_TABLE_ROWS) -> Table | None:
    if frame is None or frame.empty:
        return None
    shown = frame.head(limit)
    columns = [str(c) for c in shown.columns]
    rows = [
        [(_text(v), _cell_class(c, v)) for c, v in zip(columns, row, strict=True)]
        for row in shown.itertuples(index=False)
    ]
    return Table([header(c) for c in columns], rows, len(frame))


def _cards(counts: Mapping[str, int]) -> list[tuple[str, int, str]]:
    """``(label, number, tone)`` per count: good statuses green, bad ones red when non-zero, blocked orange."""
    cards = []
    for name, value in counts.items():
        tone = "ok" if name in _GOOD else "bad" if name in _BAD and value else "warn" if name in _WARN and value else ""
        cards.append((name, int(value), tone))
    return cards


def _svg(fig: Figure) -> Markup:
    from .reconcile import figure_svg

    return Markup(figure_svg(fig))  # matplotlib escapes the text it writes into the SVG


def _bar_chart(counts: Mapping[str, int], title: str) -> Markup | None:
    from matplotlib.figure import Figure

    if not counts:
        return None
    colours = {CREATED: "#2e7d32", SKIPPED: "#66bb6a", FAILED: "#c62828", BLOCKED: "#ef6c00",
               PENDING: "#9e9e9e", ROLLED_BACK: "#6a1b9a", DRY_RUN: "#1565c0"}  # fmt: skip
    names = list(counts)
    fig = Figure(figsize=(7, max(1.6, 0.42 * len(names) + 0.9)))
    ax = fig.subplots()
    bars = ax.barh(
        names[::-1], [counts[n] for n in names][::-1], color=[colours.get(n, "#546e7a") for n in names][::-1]
    )
    ax.bar_label(bars, padding=3)
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def label_bars(fig: Figure) -> Figure:
    """Value labels on every bar of a chart that has none: each segment of a stacked bar gets its count
    (white on dark colours), and each bar its total at its end."""
    from matplotlib.colors import to_rgb
    from matplotlib.container import BarContainer

    for ax in fig.axes:
        containers = [c for c in ax.containers if isinstance(c, BarContainer)]
        if ax.texts or not containers:
            continue
        values = [[float(v) for v in np.asarray(c.datavalues).ravel()] for c in containers]
        totals = [sum(column) for column in zip(*values, strict=True)]
        # a segment narrower than its number (about 2% of the widest bar per digit) shows none: the total says it
        unit = 0.02 * max([*totals, 1.0])
        for container, numbers in zip(containers, values, strict=True):
            r, g, b = to_rgb(container.patches[0].get_facecolor())
            colour = "#1f2933" if 0.299 * r + 0.587 * g + 0.114 * b > 0.6 else "white"
            labels = [f"{v:g}" if v >= unit * (len(f"{v:g}") + 0.5) else "" for v in numbers]
            ax.bar_label(container, labels=labels, label_type="center", color=colour, fontsize=8)
        ax.bar_label(containers[-1], labels=[f"{t:g}" for t in totals], padding=3, fontsize=8)
    return fig


def _safe(frame: pd.DataFrame) -> pd.DataFrame:
    from .report import _raw_keys, _scrub_own_keys, frame_for_export

    return frame_for_export(_scrub_own_keys(frame, _raw_keys(frame)))


def _pick(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    return frame[[c for c in columns if c in frame.columns]]


# -- sections -----------------------------------------------------------------------------------------------


def _status_counts(series: pd.Series, order: Sequence[str]) -> dict[str, int]:
    counts = series.astype(object).fillna("(none)").value_counts()
    ordered = [s for s in order if s in counts.index] + sorted(str(s) for s in counts.index if s not in order)
    return {str(s): int(counts[s]) for s in ordered}


def _counts(ev: Evidence) -> dict[str, Any]:
    from .schemas import ACTIONS, OUTCOME_STATUSES

    out: dict[str, Any] = dict.fromkeys(("validation", "plan", "run", "chart"))
    rejected = ev.rejected()
    if rejected is not None and ev.rejects is not None:
        warned = ev.rejects[ev.rejects["severity"] == "warning"] if "severity" in ev.rejects.columns else None
        warnings_ = int(warned["source_row"].nunique()) if warned is not None else 0
        out["validation"] = _cards({"rows rejected": rejected, "rows with warnings": warnings_})
    source = ev.plan if ev.plan is not None else ev.outcomes
    if source is not None and "action" in source.columns:
        out["plan"] = _cards(_status_counts(source["action"], ACTIONS))
    if ev.outcomes is not None and "status" in ev.outcomes.columns:
        counts = _status_counts(ev.outcomes["status"], OUTCOME_STATUSES)
        out["run"] = _cards(counts)
        out["chart"] = _bar_chart(counts, "Keys by run status")
    return out


def _failures(frame: pd.DataFrame | None, rejects: pd.DataFrame | None) -> dict[str, Any]:
    out: dict[str, Any] = {"ran": frame is not None and "status" in frame.columns, "rejected_count": 0,
                           "by_reason": None, "checks": None}  # fmt: skip
    if out["ran"] and frame is not None:
        bad = frame[frame["status"].isin([FAILED, BLOCKED, ROLLED_BACK])]
        reason = bad["error"] if "error" in bad.columns else pd.Series("", index=bad.index)
        if "reason" in bad.columns:
            reason = reason.where(reason.notna() & (reason.astype(object) != ""), bad["reason"])
        why = reason.astype(object).fillna("(no reason given)")
        grouped = pd.DataFrame({"status": bad["status"], "reason": why}).value_counts().rename("keys").reset_index()
        out["by_reason"] = _table(grouped, limit=50)
        columns = [
            "source_row",
            "key_masked",
            "owner_email",
            "app_name",
            "status",
            "http_status",
            "why",
            *IMPACT_COLUMNS,
        ]
        out["per_key"] = _table(_pick(_safe(bad.assign(why=reason)), columns))
    if rejects is not None and not rejects.empty:
        by_check = _pick(rejects, ["severity", "column", "check"]).value_counts().rename("rows").reset_index()
        errors = rejects[rejects["severity"] == "error"] if "severity" in rejects.columns else rejects
        out["checks"] = _table(by_check, limit=50)
        out["rejected_count"] = int(errors["source_row"].nunique()) if len(errors) else 0
        out["rejected"] = _table(_pick(_safe(errors), ["source_row", "column", "check", "message", "value"]))
        out["warnings_only"] = len(errors) < len(rejects)
    return out


def _impact(frame: pd.DataFrame | None) -> dict[str, Any] | None:
    """Keys whose clients would notice, by kind (``report_impact``), and those keys one per row."""
    from .report_impact import impact_by_kind

    if frame is None or "client_impact" not in frame.columns:
        return None
    hit = frame[frame["client_impact"].fillna("").astype(str) != ""]
    columns = ["source_row", "key_masked", "owner_email", "action", "status", *IMPACT_COLUMNS]
    return {"by_kind": _table(impact_by_kind(frame), limit=50), "rows": _table(_pick(_safe(hit), columns))}


def _verification(verification: pd.DataFrame | None) -> dict[str, Any] | None:
    from .verify import verification_attempted, verification_summary

    if verification is None or "verify_status" not in verification.columns:
        return None
    tried = verification[verification_attempted(verification)]
    ok = tried["verify_status"].between(200, 299).fillna(False).astype(bool)
    bad = tried[~ok]
    columns = ["source_row", "key_masked", "owner_email", "status", "verify_target", "verify_status", "verify_error"]
    return {
        "cards": _cards({"keys called": len(tried), "answered 2xx": int(ok.sum()), "other answers": len(bad)}),
        "summary": _table(verification_summary(verification)),
        "bad": _table(_pick(_safe(bad), columns)),
    }


def _reconciliation(recon: Reconciliation | None) -> dict[str, Any] | None:
    from .reconcile import RECON_STATUSES, STATUS_ADVICE

    if recon is None:
        return None
    counts = recon.counts
    charts = recon.charts()
    seen = [s for s in RECON_STATUSES if s != PRESENT and counts[s]]
    advice = pd.DataFrame({"recon_status": seen, "keys": [int(counts[s]) for s in seen],
                           "what to do": [STATUS_ADVICE[s] for s in seen]})  # fmt: skip
    columns = ["source_row", "key_masked", "owner_email", "migration_status", "recon_status", "recon_detail",
               "credential_id", "portal_owner_email", "portal_plan", "portal_products"]  # fmt: skip
    return {
        "compared": len(recon.rows),
        "portal_url": bare_url(recon.portal_url) if recon.portal_url else "",
        "fetched_at": f"{recon.fetched_at:%Y-%m-%d %H:%M:%S} UTC" if isinstance(recon.fetched_at, datetime) else "",
        "cards": _cards({str(k): int(v) for k, v in counts.items()}),
        "charts": [_svg(label_bars(charts[name])) for name in charts],
        "advice": _table(advice),
        "problems": _table(_pick(_safe(recon.problems), columns)),
        "unexplained": _table(_safe(recon.unexplained)),
        "summary": _table(recon.summary),
    }


def _funnel(ev: Evidence) -> list[dict[str, Any]]:
    numbers = funnel(ev)
    return [
        {"name": name, "value": numbers[name], "hint": hint,
         "tone": "warn" if name in ("rejected", BLOCKED) and numbers[name] else ""}
        for name, hint in FUNNEL_STAGES.items()
    ]  # fmt: skip


# -- the page -----------------------------------------------------------------------------------------------


def _all_raw_keys(frames: Iterable[pd.DataFrame | None]) -> set[str]:
    from .report import _raw_keys

    keys: set[str] = set()
    for frame in frames:
        if frame is not None and "key_id" in frame.columns:
            keys.update(k for k in _raw_keys(frame) if k)
    return keys


def _scrub_document(text: str, keys: set[str]) -> str:
    """Last line of defence: any raw key still in the page (in whatever cell, raw, HTML-, JSON- or
    URL-escaped, or cut) becomes its mask. One pass over the page whatever the number of keys."""
    return KeyScrubber(keys, render=html.escape)(text) if keys else text


def write_report(
    path: str | Path,
    *,
    outcomes: pd.DataFrame | None = None,
    rejects: pd.DataFrame | None = None,
    plan: pd.DataFrame | None = None,
    verification: pd.DataFrame | None = None,
    reconciliation: Reconciliation | None = None,
    inputs: Mapping[str, Any] | None = None,
    title: str = "Key migration report",
    input_path: str | Path | None = None,
    mapping: str | Path | None = None,
    portal_url: str | None = None,
    started_at: datetime | None = None,
    operator: str | None = None,
) -> Path:
    """Write ONE self-contained HTML file (inline CSS and SVG charts, no external assets, no scripts): the
    verdict, the funnel, what to do about blocked keys, provenance and inputs, counts, failures with
    reasons, gateway verification, reconciliation and a glossary. Keys appear masked only. Any part may be
    left out; its section says so.

    Provenance: ``input_path`` / ``mapping`` (their SHA-256 is shown), ``portal_url`` (default: the
    reconciliation's), ``operator`` (default: the login name), ``started_at`` (default: the run's first
    start in ``outcomes``; the duration runs to its last finish, or to now when ``started_at`` is given).
    """
    from .extras import require

    require("report", needed_for="the HTML report's charts")
    generated = datetime.now(UTC)
    if verification is None and outcomes is not None and "verify_status" in outcomes.columns:
        verification = outcomes
    ev = Evidence(outcomes, plan, rejects, verification, reconciliation)
    portal = portal_url or (reconciliation.portal_url if reconciliation is not None else None)
    context = {
        "title": title,
        "css": _CSS,
        "verdict": verdict(ev),
        "funnel": _funnel(ev),
        "actions": action_items(plan if plan is not None else outcomes),
        "blocked": ev.blocked() or 0,  # the template's variable, named after the action it counts
        "provenance": provenance(generated, input_path=input_path, mapping=mapping, portal_url=portal,
                                 operator=operator, started_at=started_at, outcomes=outcomes),
        "inputs": inputs_rows(inputs),
        "counts": _counts(ev),
        "failures": _failures(outcomes if outcomes is not None else plan, rejects),
        "impact": _impact(outcomes if outcomes is not None else plan),
        "verification": _verification(verification),
        "recon": _reconciliation(reconciliation),
        "glossary": glossary(),
    }  # fmt: skip
    document = _env().get_template("report.html.j2").render(context)
    document = _scrub_document(document, _all_raw_keys([outcomes, rejects, plan, verification]))
    target = private_file(path)  # owner-only before the first byte: the page holds fingerprints
    target.write_text(document, encoding="utf-8")
    return target
