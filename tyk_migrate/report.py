"""Hand the evidence over: CSV outcome logs and one self-contained HTML report, never a raw key.

``frame_for_export`` makes any frame safe to leave the process: ``key_id`` becomes ``key_masked``, lists
are joined with ``;``, and text a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return) gets a leading apostrophe. ``export_outcomes`` writes the outcome log with
a stable column order (``OUTCOME_COLUMNS``, documented in docs/reporting.md). The HTML report lives in
``report_html`` (``write_report`` is importable from here too).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .report_html import write_report as write_report  # re-exported: the HTML report lives in report_html
from .scrub import may_hold, scrub_keys
from .secrets import SecretKey, is_key, mask, private_file, reveal

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
            # a plain str is the common cell: neutralised inline, everything else through _cell
            values = series.tolist()  # far faster than iterating an Arrow-backed column
            cells = [("'" + v if v.startswith(FORMULA_PREFIXES) else v) if type(v) is str else _cell(v) for v in values]
            out[column] = pd.Series(cells, index=out.index, dtype=object)
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
        values = out[column].tolist()  # far faster than iterating an Arrow-backed column
        # only a cell that may hold its row's key is scrubbed (``may_hold``: a few substring tests a cell)
        suspects = [
            i for i, (v, k) in enumerate(zip(values, keys, strict=True)) if k and isinstance(v, str) and may_hold(v, k)
        ]
        changed = False
        for i in suspects:
            value = values[i]
            scrubbed = scrub_keys(value, [keys[i]])
            if scrubbed != value:
                values[i] = scrubbed
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
    columns = outcome_columns(frame, include_secrets=include_secrets)
    # only the columns written (and the key, masked into key_masked) are made safe: a run's frame has more
    written = set(columns)
    wanted = [c for c in frame.columns if c in written or c == "key_id"]
    frame = frame[wanted] if len(wanted) < len(frame.columns) else frame
    keys = _raw_keys(frame)
    safe = frame_for_export(_scrub_own_keys(frame, keys))
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
    target = private_file(path)  # owner-only before the first byte: the file holds fingerprints
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
