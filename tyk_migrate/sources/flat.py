"""Flat exports (CSV, TSV, semicolon files, Excel, JSON arrays, JSON Lines) into the canonical frame.

Two steps: read the file into a raw table of text (headers as written), then match its headers to the
canonical columns, automatically by common names or by the analyst's mapping, and build the canonical
frame. The header match is reported in ``frame.attrs["column_map"]`` so the analyst sees what was
taken from where.

The parts: raw tables (tables.py), header recognition (headers.py), the analyst's mapping (column_mapping.py);
this module joins them and builds the frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..errors import MissingColumnsError
from ..secrets import mask
from . import canonical
from .column_mapping import load_mapping
from .headers import KNOWN_HEADERS, first_line_is_data, match_headers, norm, unique_headers
from .tables import READERS, read_csv

__all__ = ["TABLE_FORMATS", "load_flat", "load_frame", "load_mapping", "to_canonical"]


def to_canonical(
    raw: pd.DataFrame,
    *,
    fmt: str,
    source: str,
    mapping: Mapping[str, Any] | None,
    report: list | None = None,
    required: Sequence[str] = canonical.REQUIRED,
) -> pd.DataFrame:
    """Match headers, check the ``required`` columns, and build the canonical frame."""
    rows = raw.pop("__row__").to_numpy() if "__row__" in raw.columns else None
    if len(raw) == 0 and len(raw.columns) == 0:
        # no record and so no names ([], an empty sheet): the same empty frame as a header-only CSV
        return canonical.empty_frame(fmt)
    headers = [str(c) for c in raw.columns]
    raw.columns = headers
    chosen, inverted = match_headers(headers, mapping)
    missing = [c for c in required if c not in chosen]
    if missing:
        # JSON names are object keys, never a record, so only tables can have lost their header line
        data = fmt in TABLE_FORMATS and first_line_is_data(headers)
        shown = headers
        if fmt in TABLE_FORMATS and "key_id" in missing and not data:
            # no known key column: a headerless record's key may be any one of the unknown names, and a
            # passphrase key ("PurpleMonkeyDish") has a column name's shape; only names the loader knows are
            # shown (the key column is then named with --mapping)
            shown = [h if norm(h) in KNOWN_HEADERS else mask(h) for h in headers]
        raise MissingColumnsError(missing, shown, source, first_line_is_data=data)
    n = len(raw)
    columns: dict[str, Any] = {}
    column_map: dict[str, str] = {}
    for canon, spec in chosen.items():
        if isinstance(spec, dict):
            value = spec["value"]
            columns[canon] = pd.Series([value] * n, dtype=object)
            column_map[canon] = f"(constant {value!r})"
        else:
            columns[canon] = raw[spec]
            column_map[canon] = spec + (" (inverted)" if canon == "active" and inverted else "")
    frame = canonical.build_frame(n, columns, fmt=fmt, column_map=column_map, source_row=rows, inverted_active=inverted)
    ignored = [
        h
        for h in headers
        if h not in set(column_map.values()) and h not in {s for s in chosen.values() if isinstance(s, str)}
    ]
    if ignored:
        frame.attrs["ignored_columns"] = ignored[:50]
    if report is not None:
        report.append("columns: " + ", ".join(f"{k} <- {v}" for k, v in column_map.items()))
        if ignored:
            report.append("ignored columns: " + ", ".join(ignored[:50]))
    return frame


TABLE_FORMATS = frozenset({"csv", "tsv", "excel", "frame"})


def load_flat(
    data: bytes,
    fmt: str,
    *,
    source: str,
    mapping: Mapping[str, Any] | None,
    report: list | None = None,
    required: Sequence[str] = canonical.REQUIRED,
) -> pd.DataFrame:
    if fmt == "tsv":
        raw = read_csv(data, source=source, delimiter="\t", report=report)
    else:
        raw = READERS[fmt](data, source=source, report=report)
    return to_canonical(raw, fmt=fmt, source=source, mapping=mapping, report=report, required=required)


def load_frame(
    raw: pd.DataFrame,
    *,
    mapping: Mapping[str, Any] | None,
    report: list | None = None,
    required: Sequence[str] = canonical.REQUIRED,
) -> pd.DataFrame:
    """An in-memory table (a notebook's own DataFrame) treated like a flat export."""
    table = raw.copy()
    table.columns = unique_headers([str(c) for c in table.columns])
    table = table.reset_index(drop=True)
    return to_canonical(table, fmt="frame", source="frame", mapping=mapping, report=report, required=required)
