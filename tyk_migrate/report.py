"""Hand the evidence over: CSV outcome logs and one self-contained HTML report, never a raw key.

``frame_for_export`` makes any frame safe to leave the process: ``key_id`` becomes ``key_masked``, lists
are joined with ``;``, and text a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return) gets a leading apostrophe. ``export_outcomes`` writes the outcome log with
a stable column order (``OUTCOME_COLUMNS``, documented in docs/reporting.md); ``write_report`` writes the
HTML report: inputs, counts, failures with reasons, gateway verification and reconciliation, with inline
CSS and inline SVG charts, and no external assets or scripts.
"""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .secrets import SecretKey, is_key, mask, reveal

if TYPE_CHECKING:
    from .reconcile import Reconciliation

#: First characters that make a spreadsheet evaluate a cell (CSV/formula injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
LIST_SEPARATOR = ";"


def neutralise(value: str) -> str:
    """``'=1+1`` for ``=1+1``: a leading apostrophe makes spreadsheets show the text instead of running it."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _cell(value: Any) -> Any:
    if isinstance(value, SecretKey):
        return neutralise(mask(value))
    if isinstance(value, str):
        return neutralise(mask(value) if type(value) is not str else value)  # a str subclass may wrap a key
    if isinstance(value, (list, tuple, set, frozenset)) or (hasattr(value, "tolist") and hasattr(value, "ndim")):
        items = value.tolist() if hasattr(value, "tolist") else list(value)
        return neutralise(LIST_SEPARATOR.join(mask(v) if is_key(v) and type(v) is not str else str(v) for v in items))
    return value


def frame_for_export(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy safe to write out: ``key_id`` -> ``key_masked`` (same place), lists joined, formulas neutralised."""
    out = frame.copy()
    if "key_id" in out.columns:
        position = list(out.columns).index("key_id")
        masked = [mask(k) if is_key(k) else "" for k in out["key_id"]]
        out = out.drop(columns="key_id")
        if "key_masked" not in out.columns:
            out.insert(position, "key_masked", pd.Series(masked, index=out.index, dtype=object))
    for column in out.columns:
        series = out[column]
        if series.dtype == object or isinstance(series.dtype, pd.StringDtype) or str(series.dtype) == "str":
            out[column] = pd.Series([_cell(v) for v in series], index=out.index, dtype=object)
    return out


# -- outcome log (CSV) -----------------------------------------------------------------------------------

#: The outcome log's columns, in this order, always (absent ones are empty): docs/reporting.md explains
#: each. Extra columns a frame may carry follow, sorted by name.
OUTCOME_COLUMNS = [
    "source_row",
    "source_id",
    "key_fingerprint",
    "key_masked",
    "owner_email",
    "legacy_app_name",
    "app_name",
    "alias",
    "plan",
    "products",
    "expires_at",
    "active",
    "user_id",
    "plan_id",
    "product_ids",
    "action",
    "reason",
    "reason_code",
    "client_impact",
    "client_impact_detail",
    "status",
    "app_id",
    "credential_id",
    "http_status",
    "error",
    "attempts",
    "batch",
    "started_at",
    "finished_at",
    "verify_status",
    "verify_error",
    "verified_at",
    "verify_target",
]
#: Columns never written to an outcome log (the raw key goes out only as ``key_id`` with include_secrets).
_NEVER_EXPORTED = {"key_id"}


def _raw_keys(frame: pd.DataFrame) -> list[str | None]:
    if "key_id" not in frame.columns:
        return [None] * len(frame)
    return [reveal(k) if is_key(k) and k else None for k in frame["key_id"]]


def _scrub_own_keys(frame: pd.DataFrame, keys: Sequence[str | None]) -> pd.DataFrame:
    """Replace a row's own raw key wherever it appears in that row's text cells (e.g. an error message)."""
    if not any(keys):
        return frame
    out = frame.copy()
    for column in out.columns:
        if column == "key_id":
            continue
        values = list(out[column])
        if not any(isinstance(v, str) for v in values):
            continue
        changed = False
        for i, (value, key) in enumerate(zip(values, keys, strict=True)):
            if key and isinstance(value, str) and key in value:
                values[i] = value.replace(key, mask(key))
                changed = True
        if changed:
            out[column] = pd.Series(values, index=out.index, dtype=object)
    return out


def outcome_columns(frame: pd.DataFrame, *, include_secrets: bool = False) -> list[str]:
    """The outcome log's header for ``frame``: OUTCOME_COLUMNS (+ ``key_id`` after ``key_masked`` with secrets),
    then any other columns sorted by name."""
    known = list(OUTCOME_COLUMNS)
    if include_secrets:
        known.insert(known.index("key_masked") + 1, "key_id")
    extra = sorted(str(c) for c in frame.columns if c not in known and c not in _NEVER_EXPORTED)
    return known + extra


def export_outcomes(frame: pd.DataFrame, path: str | Path, *, include_secrets: bool = False) -> Path:
    """Write a plan / outcome / verified frame as the CSV outcome log (UTF-8, stable column order).

    Keys appear as ``key_fingerprint`` and ``key_masked`` only. ``include_secrets=True`` adds ``key_id``
    with the raw keys (and warns): such a file is as sensitive as the legacy export itself. Cells a
    spreadsheet would run as a formula get a leading apostrophe; lists are joined with ``;``; times are
    ISO 8601 UTC.
    """
    keys = _raw_keys(frame)
    safe = frame_for_export(_scrub_own_keys(frame, keys))
    columns = outcome_columns(frame, include_secrets=include_secrets)
    out = safe.reindex(columns=columns)
    if include_secrets:
        warnings.warn(
            f"{Path(path).name}: the outcome log holds raw key values (include_secrets=True); store and share it "
            "like the legacy export itself",
            UserWarning,
            stacklevel=2,
        )
        out["key_id"] = [neutralise(k) if k else None for k in keys]
    return _write_csv(out, path)


def _iso_times(frame: pd.DataFrame) -> pd.DataFrame:
    """Datetime columns as ISO 8601 text: ``2026-11-28T10:00:00Z`` for UTC-aware columns (all of ours)."""
    out = frame
    for column in frame.columns:
        series = frame[column]
        if not pd.api.types.is_datetime64_any_dtype(series.dtype):
            continue
        if out is frame:
            out = frame.copy()
        aware = getattr(series.dt, "tz", None) is not None
        text = (series.dt.tz_convert("UTC") if aware else series).dt.strftime(
            "%Y-%m-%dT%H:%M:%SZ" if aware else "%Y-%m-%dT%H:%M:%S"
        )
        out[column] = text.astype(object).where(series.notna(), None)
    return out


def _write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    frame = _iso_times(frame)
    target = Path(path)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(target, index=False, encoding="utf-8", lineterminator="\r\n")
    return target


def export_frame(frame: pd.DataFrame, path: str | Path, columns: Sequence[str] | None = None) -> Path:
    """Any frame (rejects, reconciliation rows, unexplained credentials) as a safe CSV: masked keys,
    neutralised formulas, joined lists, UTF-8; ``columns`` fixes the order (others follow, sorted)."""
    keys = _raw_keys(frame)
    safe = frame_for_export(_scrub_own_keys(frame, keys))
    if columns is not None:
        present = [c for c in columns if c in safe.columns]
        rest = sorted(str(c) for c in safe.columns if c not in present)
        safe = safe[present + rest]
    return _write_csv(safe, path)


def export_reconciliation(recon: Reconciliation, path: str | Path) -> Path:
    """``recon.rows`` as CSV in ``reconcile.ROW_COLUMNS`` order (the auditors' file)."""
    from .reconcile import ROW_COLUMNS

    return export_frame(recon.rows, path, ROW_COLUMNS)


# -- the HTML report --------------------------------------------------------------------------------------

MAX_TABLE_ROWS = 500

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;margin:0;background:#f5f7fa}
main{max-width:1100px;margin:0 auto;padding:24px 32px 48px;background:#fff;min-height:100vh}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;padding-bottom:4px;border-bottom:2px solid #e4e7eb}
h3{font-size:15px;margin:20px 0 6px}.muted{color:#616e7c}.small{font-size:12px}
table{border-collapse:collapse;margin:8px 0 12px;font-size:13px;width:100%}
th,td{border:1px solid #e4e7eb;padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f0f4f8;font-weight:600}tr:nth-child(even) td{background:#fafbfc}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{border:1px solid #e4e7eb;border-radius:8px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:22px}.card span{font-size:12px;color:#616e7c}
.ok b{color:#2e7d32}.bad b{color:#c62828}.warn b{color:#ef6c00}
.chart svg{max-width:100%;height:auto}.scroll{overflow-x:auto}
code{background:#f0f4f8;padding:1px 4px;border-radius:3px}
"""

_GOOD = {"created", "skipped", "present", "dry_run"}
_BAD = {"failed", "missing", "wrong_owner", "wrong_plan", "wrong_products", "duplicated"}


def _esc(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    return html.escape(str(value), quote=True)


def _table(frame: pd.DataFrame, *, limit: int = MAX_TABLE_ROWS, numeric: Sequence[str] = ()) -> str:
    if frame is None or frame.empty:
        return '<p class="muted">None.</p>'
    shown = frame.head(limit)
    head = "".join(f"<th>{_esc(c)}</th>" for c in shown.columns)
    body = []
    for row in shown.itertuples(index=False):
        cells = []
        for column, value in zip(shown.columns, row, strict=True):
            cls = (
                ' class="num"'
                if column in numeric or (isinstance(value, (int, float)) and not isinstance(value, bool))
                else ""
            )
            cells.append(f"<td{cls}>{_esc(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if len(frame) > limit:
        more = f'<p class="muted small">Showing {limit} of {len(frame)} rows; the CSV export has them all.</p>'
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>{more}'
    )


def _cards(counts: Mapping[str, int]) -> str:
    parts = []
    for name, value in counts.items():
        cls = (
            "ok"
            if name in _GOOD
            else "bad"
            if name in _BAD and value
            else "warn"
            if name == "blocked" and value
            else ""
        )
        parts.append(f'<div class="card {cls}"><b>{int(value)}</b><span>{_esc(name)}</span></div>')
    return '<div class="cards">' + "".join(parts) + "</div>"


def _bar_chart(counts: Mapping[str, int], title: str) -> str:
    from matplotlib.figure import Figure

    from .reconcile import figure_svg

    if not counts:
        return ""
    colours = {"created": "#2e7d32", "skipped": "#66bb6a", "failed": "#c62828", "blocked": "#ef6c00",
               "pending": "#9e9e9e", "rolled_back": "#6a1b9a", "dry_run": "#1565c0"}  # fmt: skip
    names = list(counts)
    fig = Figure(figsize=(7, max(1.6, 0.42 * len(names) + 0.9)))
    ax = fig.subplots()
    bars = ax.barh(
        names[::-1], [counts[n] for n in names][::-1], color=[colours.get(n, "#546e7a") for n in names][::-1]
    )
    ax.bar_label(bars, padding=3)
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return f'<div class="chart">{figure_svg(fig)}</div>'


def _safe(frame: pd.DataFrame) -> pd.DataFrame:
    return frame_for_export(_scrub_own_keys(frame, _raw_keys(frame)))


def _pick(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    return frame[[c for c in columns if c in frame.columns]]


def _section_inputs(inputs: Mapping[str, Any] | None, generated: datetime) -> str:
    rows = [("generated", generated.strftime("%Y-%m-%d %H:%M:%S UTC"))]
    for key, value in (inputs or {}).items():
        if isinstance(value, str) and ("token" in str(key).lower() or "secret" in str(key).lower()):
            value = "(hidden)"
        rows.append((str(key), value))
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<h2>Inputs</h2><table>{body}</table>"


def _status_counts(series: pd.Series, order: Sequence[str]) -> dict[str, int]:
    counts = series.astype(object).fillna("(none)").value_counts()
    ordered = [s for s in order if s in counts.index] + sorted(str(s) for s in counts.index if s not in order)
    return {str(s): int(counts[s]) for s in ordered}


def _section_counts(outcomes: pd.DataFrame | None, plan: pd.DataFrame | None, rejects: pd.DataFrame | None) -> str:
    from .run import STATUSES

    parts = ["<h2>Counts</h2>"]
    if rejects is not None and "source_row" in rejects.columns:
        errors = rejects[rejects["severity"] == "error"] if "severity" in rejects.columns else rejects
        warnings_ = rejects[rejects["severity"] == "warning"] if "severity" in rejects.columns else rejects.iloc[0:0]
        parts.append("<h3>Validation</h3>")
        parts.append(
            _cards(
                {
                    "rows rejected": int(errors["source_row"].nunique()),
                    "rows with warnings": int(warnings_["source_row"].nunique()),
                }
            )
        )
    source = plan if plan is not None else outcomes
    if source is not None and "action" in source.columns:
        parts.append("<h3>Plan</h3>")
        parts.append(
            _cards(_status_counts(source["action"], ["create_app", "add_credential", "skip_existing", "blocked"]))
        )
    if outcomes is not None and "status" in outcomes.columns:
        counts = _status_counts(outcomes["status"], list(STATUSES))
        parts.append("<h3>Run outcome</h3>")
        parts.append(_cards(counts))
        parts.append(_bar_chart(counts, "Keys by run status"))
    if len(parts) == 1:
        parts.append('<p class="muted">No plan or outcome given.</p>')
    return "".join(parts)


def _section_failures(outcomes: pd.DataFrame | None, rejects: pd.DataFrame | None) -> str:
    parts = ["<h2>Failures and reasons</h2>"]
    if outcomes is not None and "status" in outcomes.columns:
        bad = outcomes[outcomes["status"].isin(["failed", "blocked", "rolled_back"])]
        if bad.empty:
            parts.append("<p>No key failed or was blocked.</p>")
        else:
            reason = bad["error"] if "error" in bad.columns else pd.Series("", index=bad.index)
            if "reason" in bad.columns:
                reason = reason.where(reason.notna() & (reason.astype(object) != ""), bad["reason"])
            grouped = (
                pd.DataFrame({"status": bad["status"], "reason": reason.astype(object).fillna("(no reason given)")})
                .value_counts()
                .rename("keys")
                .reset_index()
            )
            parts.append("<h3>By reason</h3>" + _table(grouped, limit=50))
            detail = _pick(
                _safe(bad.assign(why=reason)),
                [
                    "source_row",
                    "key_masked",
                    "owner_email",
                    "app_name",
                    "status",
                    "http_status",
                    "why",
                ],
            )
            parts.append("<h3>Keys</h3>" + _table(detail))
    if rejects is not None and not rejects.empty:
        parts.append("<h3>Validation findings</h3>")
        by_check = _pick(rejects, ["severity", "column", "check"]).value_counts().rename("rows").reset_index()
        parts.append(_table(by_check, limit=50))
        errors = rejects[rejects["severity"] == "error"] if "severity" in rejects.columns else rejects
        parts.append(f"<h3>Rejected rows ({errors['source_row'].nunique() if len(errors) else 0})</h3>")
        parts.append(_table(_pick(_safe(errors), ["source_row", "column", "check", "message", "value"])))
        if len(errors) < len(rejects):
            parts.append('<p class="muted small">Warnings (rows kept) are counted above; rejects.csv lists each.</p>')
    return "".join(parts)


def _section_verification(verification: pd.DataFrame | None) -> str:
    from .verify import verification_attempted, verification_summary

    parts = ["<h2>Gateway verification</h2>"]
    if verification is None or "verify_status" not in verification.columns:
        return parts[0] + '<p class="muted">Not run.</p>'
    tried = verification[verification_attempted(verification)]
    ok = int(tried["verify_status"].between(200, 299).fillna(False).sum())
    parts.append(_cards({"keys called": len(tried), "answered 2xx": ok, "other answers": len(tried) - ok}))
    parts.append(_table(verification_summary(verification)))
    bad = tried[~tried["verify_status"].between(200, 299).fillna(False).astype(bool)]
    if not bad.empty:
        parts.append("<h3>Keys that did not open their API</h3>")
        columns = [
            "source_row",
            "key_masked",
            "owner_email",
            "status",
            "verify_target",
            "verify_status",
            "verify_error",
        ]
        parts.append(_table(_pick(_safe(bad), columns)))
    return "".join(parts)


def _section_reconciliation(recon: Reconciliation | None) -> str:
    from .reconcile import RECON_STATUSES, STATUS_ADVICE

    parts = ["<h2>Reconciliation</h2>"]
    if recon is None:
        return parts[0] + '<p class="muted">Not run.</p>'
    where = f" against <code>{_esc(recon.portal_url)}</code>" if recon.portal_url else ""
    when = f" (portal read {recon.fetched_at:%Y-%m-%d %H:%M:%S} UTC)" if isinstance(recon.fetched_at, datetime) else ""
    parts.append(f"<p>{len(recon.rows)} legacy keys compared{where}{when}.</p>")
    counts = recon.counts
    parts.append(_cards({str(k): int(v) for k, v in counts.items()}))
    charts = recon.charts()
    parts.append("".join(f'<div class="chart">{charts.svg(name)}</div>' for name in charts))
    advice = pd.DataFrame(
        {"status": list(RECON_STATUSES), "keys": [int(counts[s]) for s in RECON_STATUSES],
         "what to do": [STATUS_ADVICE[s] for s in RECON_STATUSES]}
    )  # fmt: skip
    parts.append("<h3>What each status means</h3>" + _table(advice))
    problems = recon.problems
    parts.append("<h3>Keys not as expected</h3>")
    columns = ["source_row", "key_masked", "owner_email", "migration_status", "recon_status", "recon_detail",
               "credential_id", "portal_owner_email", "portal_plan", "portal_products"]  # fmt: skip
    parts.append(_table(_pick(_safe(problems), columns)))
    parts.append("<h3>Portal credentials no legacy key explains</h3>")
    parts.append(_table(_safe(recon.unexplained)))
    parts.append("<h3>Per plan and product</h3>" + _table(recon.summary))
    return "".join(parts)


def _all_raw_keys(frames: Iterable[pd.DataFrame | None]) -> set[str]:
    keys: set[str] = set()
    for frame in frames:
        if frame is not None and "key_id" in frame.columns:
            keys.update(k for k in _raw_keys(frame) if k)
    return keys


def _scrub_document(text: str, keys: set[str]) -> str:
    """Last line of defence: any raw key still in the page (in whatever cell) becomes its mask.

    Few keys: every key is searched for (raw and HTML-escaped). Many keys: the page is cut into tokens and
    keys found among them are replaced, which stays linear in the page size."""
    if not keys:
        return text
    if len(keys) > 2000:
        tokens = set(re.findall(r"[^\s<>\"'&;,()\[\]{}]+", text))
        keys = {k for k in keys if k in tokens or html.escape(k, quote=True) in tokens}
    for key in keys:
        for form in {key, html.escape(key, quote=True)}:
            if form in text:
                text = text.replace(form, html.escape(mask(key)))
    return text


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
) -> Path:
    """Write ONE self-contained HTML file (inline CSS and SVG charts, no external assets, no scripts):
    inputs, counts, failures with reasons, gateway verification, reconciliation. Keys appear masked only.
    Any part may be left out; its section says so."""
    generated = datetime.now(UTC)
    if verification is None and outcomes is not None and "verify_status" in outcomes.columns:
        verification = outcomes
    body = "".join(
        [
            f"<h1>{_esc(title)}</h1>",
            '<p class="muted">Made by tyk-migrate. Keys are shown as fingerprints and masks only.</p>',
            _section_inputs(inputs, generated),
            _section_counts(outcomes, plan, rejects),
            _section_failures(outcomes if outcomes is not None else plan, rejects),
            _section_verification(verification),
            _section_reconciliation(reconciliation),
        ]
    )
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body><main>{body}</main></body></html>\n"
    )
    document = _scrub_document(document, _all_raw_keys([outcomes, rejects, plan, verification]))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(document, encoding="utf-8")
    return target
