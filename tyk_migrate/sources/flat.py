"""Flat exports (CSV, TSV, semicolon files, Excel, JSON arrays, JSON Lines) into the canonical frame.

Two steps: read the file into a raw table of text (headers as written), then match its headers to the
canonical columns, automatically by common names or by the analyst's mapping, and build the canonical
frame. The header match is reported in ``frame.attrs["column_map"]`` so the analyst sees what was
taken from where.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError, MissingColumnsError, safe_names, show_names
from ..secrets import mask
from . import canonical, jsontext
from .capped import MAX_MAPPING_BYTES, read_capped
from .encoding import decode, to_utf8
from .header_line import column_name_shaped
from .limits import LIMIT_COLUMNS, LIMIT_SYNONYMS
from .xlsx_guard import check_workbook

#: Header names recognised per canonical column, best first; compared after lower-casing and removing
#: spaces, underscores, hyphens and dots ("API Key" == "api_key" == "apikey").
SYNONYMS: dict[str, tuple[str, ...]] = {
    "key_id": (
        "key_id",
        "key",
        "token",
        "api_key",
        "apikey",
        "access_token",
        "key_value",
        "auth_token",
        "custom_key",
        "credential",
        "secret",
    ),
    "owner_email": (
        "owner_email",
        "email",
        "developer_email",
        "user_email",
        "owner",
        "developer",
        "user",
        "email_address",
        "contact_email",
        "mail",
        "e_mail",
    ),
    "plan": (
        "plan",
        "plan_id",
        "policy",
        "policy_id",
        "tier",
        "plan_name",
        "policy_name",
        "usage_plan",
        "usage_plan_id",
        "subscription_plan",
    ),
    "products": (
        "products",
        "product_ids",
        "apis",
        "api",
        "product",
        "api_ids",
        "api_names",
        "access_rights",
        "catalogue",
        "catalog",
    ),
    "expires_at": (
        "expires_at",
        "expires",
        "expiry",
        "expiration",
        "expiry_date",
        "expiration_date",
        "expires_on",
        "valid_until",
    ),
    "alias": ("alias", "key_alias", "name", "key_name", "label"),
    "app_name": ("app_name", "app", "application", "application_name", "client_name", "client"),
    "org": (
        "org",
        "org_id",
        "organisation",
        "organization",
        "organisation_name",
        "organization_name",
        "company",
        "org_name",
    ),
    "active": (
        "active",
        "is_active",
        "enabled",
        "status",
        "state",
        "is_inactive",
        "inactive",
        "disabled",
        "is_disabled",
        "revoked",
    ),
    "source_id": ("source_id", "id", "record_id", "row_id", "key_hash"),
    **LIMIT_SYNONYMS,
}
#: Status headers whose true value means "not active".
INVERTED_ACTIVE = frozenset({"isinactive", "inactive", "disabled", "isdisabled", "revoked"})
#: Sections of a shared mapping file that belong to the planner, not to the loader.
PLANNER_SECTIONS = frozenset({"plans", "owners", "client_impact"})
#: Extra mapping target: a column whose true value means the key is inactive.
MAPPING_TARGETS = frozenset(
    set(canonical.COLUMNS) - {"key_fingerprint", "source_row", "expires_raw"} | {"inactive", *LIMIT_COLUMNS}
)


def norm(header: object) -> str:
    return re.sub(r"[\s_\-.]+", "", str(header)).lower()


#: Every header name the loader knows, normalised.
KNOWN_HEADERS = frozenset(norm(n) for names in SYNONYMS.values() for n in names) | {norm(c) for c in MAPPING_TARGETS}
_GENERATED_HEADER = re.compile(r"column_\d+(?:\.\d+)?")  # _unique_headers' name for a blank header


def first_line_is_data(names: list[str]) -> bool:
    """True unless a table's first line is certainly a header: then errors mask every value of it.

    Certainly a header: some name is one the loader knows, and every other one has a column name's shape
    (``header_line.column_name_shaped``), so no name is key-, passphrase-, email-, number- or date-shaped.
    A headerless file's first record ("correct-horse-battery-staple,developer,gold,active") can hold
    known words; one value shaped like no column name gives it away.
    """
    written = [n for n in names if not _GENERATED_HEADER.fullmatch(n)]
    unknown = [n for n in written if norm(n) not in KNOWN_HEADERS]
    return len(unknown) == len(written) or not all(column_name_shaped(n) for n in unknown)


def columns_found(names: list[str]) -> str:
    """The end of a read error that names the header: the names, or why they are not shown."""
    if first_line_is_data(names):
        return f"the first line looks like data, not column names ({show_names(safe_names(names, mask_all=True))})"
    return f"columns found: {show_names(safe_names(names))}"


# ---------------------------------------------------------------- reading raw tables


def sniff_delimiter(head: str) -> str:
    """The most frequent of ``,`` ``;`` tab ``|`` in the header line, outside quotes."""
    line = head.split("\n", 1)[0]
    outside = re.sub(r'"[^"]*"', "", line)
    counts = {d: outside.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(data: bytes, *, source: str, delimiter: str | None = None, report: list | None = None) -> pd.DataFrame:
    """All columns as text (never numbers: a key like ``00012345`` keeps its zeros); pyarrow does the work."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    utf8, encoding = to_utf8(data, source)
    head = utf8[:65536].decode("utf-8", "replace").lstrip("\ufeff")
    if not head.strip():
        raise InputError(f"{source}: the file is empty")
    if "\x00" in head:
        raise InputError(f"{source}: this looks like a binary file, not CSV text")
    delimiter = delimiter or sniff_delimiter(head)
    if b"\n" not in utf8:
        utf8 += b"\n"  # a header line alone: Arrow cannot skip a first line that never ends
    try:
        header = next(csv.reader(io.StringIO(head.split("\n", 1)[0].rstrip("\r")), delimiter=delimiter))
    except (csv.Error, StopIteration):
        raise InputError(f"{source}: cannot read the header line") from None
    names = _unique_headers(header)
    bad_rows: list[tuple[int | None, int, int]] = []

    def on_invalid(row: Any) -> str:
        bad_rows.append((row.number, row.actual_columns, row.expected_columns))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(utf8),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=16 << 20),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=b'"' in utf8, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException) as exc:
        # Arrow's message quotes the offending line, which may hold a key: keep only its first words
        reason = str(exc).split(":", 1)[0].strip() or "malformed CSV"
        raise InputError(f"{source}: cannot parse as CSV ({reason}); {columns_found(names)}") from None
    if bad_rows:
        number, actual, expected = bad_rows[0]
        where = f"record on line {number}" if number else "a record"
        raise InputError(
            f"{source}: {where} has {actual} field(s) but the header has {expected} "
            f"({len(bad_rows)} such record(s); check the delimiter {delimiter!r} and quoting); "
            f"{columns_found(names)}"
        )
    frame = table.to_pandas()
    if report is not None:
        report.append(f"read {len(frame)} record(s) as {encoding}, delimiter {delimiter!r}")
    return frame


def _unique_headers(header: list[str]) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        name = h.strip() or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        names.append(name)
    return names


def read_excel(data: bytes, *, source: str, report: list | None = None) -> pd.DataFrame:
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise InputError(f"{source}: old binary .xls workbooks are not supported; save it as .xlsx or CSV")
    check_workbook(data, source)  # a zip bomb or a forged sheet extent would take minutes or gigabytes
    try:
        frame = pd.read_excel(io.BytesIO(data), sheet_name=0, dtype=str, engine="openpyxl", na_filter=False)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, IndexError, EOFError) as exc:
        raise InputError(f"{source}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    except Exception as exc:  # openpyxl raises assorted errors on damaged workbooks
        raise InputError(f"{source}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    frame.columns = _unique_headers([str(c) for c in frame.columns])
    frame = frame[~(frame == "").all(axis=1)]  # fully blank sheet rows are not records
    if report is not None:
        report.append(f"read {len(frame)} row(s) from the first sheet")
    return frame.reset_index(drop=True).assign(**{"__row__": frame.index + 1})


def _records_frame(records: list[Any], *, source: str, where: str) -> pd.DataFrame:
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise InputError(f"{source}: {where} {i + 1} is a {type(rec).__name__}, expected an object")
    headers: dict[str, None] = {}
    for rec in records:
        headers.update(dict.fromkeys(str(k) for k in rec))
    cols = {h: [rec.get(h) for rec in records] for h in headers}
    return pd.DataFrame({h: pd.Series(v, dtype=object) for h, v in cols.items()}, index=pd.RangeIndex(len(records)))


def read_json(data: bytes, *, source: str, report: list | None = None) -> pd.DataFrame:
    text, _ = decode(data, source)
    try:
        doc = jsontext.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        line = exc.lineno if isinstance(exc, json.JSONDecodeError) else "?"
        raise InputError(f"{source}: not valid JSON ({msg} at line {line})") from None
    if isinstance(doc, dict):
        lists = [k for k, v in doc.items() if isinstance(v, list)]
        if len(lists) == 1:
            doc = doc[lists[0]]
    if not isinstance(doc, list):
        raise InputError(f"{source}: expected a JSON array of objects, got a {type(doc).__name__}")
    return _records_frame(doc, source=source, where="element")


def read_jsonl(data: bytes, *, source: str, report: list | None = None) -> pd.DataFrame:
    text, _ = decode(data, source)
    records: list[Any] = []
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(jsontext.loads(line))
        except (json.JSONDecodeError, RecursionError) as exc:
            why = f" ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else " (nested too deeply)"
            raise InputError(f"{source}: line {number} is not valid JSON{why}") from None
        lines.append(number)
    frame = _records_frame(records, source=source, where="line")
    frame["__row__"] = lines
    return frame


# ---------------------------------------------------------------- header matching


def load_mapping(mapping: Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    """``{canonical: source header | {"value": constant}}`` from a dict or a YAML/JSON file.

    The inverse orientation (``{source header: canonical}``) is accepted too and turned around.
    """
    if mapping is None:
        return {}
    if isinstance(mapping, str | Path):
        path = Path(mapping)
        try:
            text = read_capped(path, MAX_MAPPING_BYTES).decode("utf-8-sig")
        except (OSError, UnicodeError) as exc:
            raise InputError(f"mapping {path.name}: cannot read ({exc.__class__.__name__})") from None
        try:
            if path.suffix.lower() == ".json":
                loaded = jsontext.loads(text)
            else:
                import yaml

                loaded = yaml.safe_load(text)
        except Exception as exc:  # yaml.YAMLError and json errors: one line either way
            raise InputError(f"mapping {path.name}: not valid YAML/JSON ({exc.__class__.__name__})") from None
        if loaded is None:
            return {}
        mapping = loaded
    if not isinstance(mapping, Mapping):
        raise InputError("mapping: expected an object {canonical_column: source_header}")
    if "columns" in mapping and isinstance(mapping["columns"], Mapping):
        mapping = mapping["columns"]
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        key = str(k).strip()
        if key in PLANNER_SECTIONS or (key == "products" and isinstance(v, Mapping) and "value" not in v):
            continue  # the planner's sections of a shared mapping file (docs/formats.md)
        if key in MAPPING_TARGETS:
            out[key] = v
        elif isinstance(v, str) and v.strip() in MAPPING_TARGETS:
            out[v.strip()] = key
        else:
            raise InputError(
                f"mapping: {key!r} is not a canonical column; use one of {', '.join(sorted(MAPPING_TARGETS))}"
            )
    return out


def match_headers(headers: list[str], mapping: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
    """``({canonical: source header | {"value": c}}, inverted_active)`` for a table's headers."""
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(norm(h), h)
    chosen: dict[str, Any] = {}
    used: set[str] = set()
    inverted = False
    for target, spec in (mapping or {}).items():
        canon = "active" if target == "inactive" else target
        if isinstance(spec, Mapping) and "value" in spec:
            chosen[canon] = {"value": spec["value"]}
            continue
        header = spec if isinstance(spec, str) else None
        if header is None:
            raise InputError(f"mapping: {target} must name a column or be {{value: ...}}")
        found = header if header in headers else by_norm.get(norm(header))
        if found is None:
            # the same masking as any missing-column error: a file without a header line would print a key here
            data = first_line_is_data(headers)
            raise MissingColumnsError([f"{header} (mapped to {target})"], headers, "mapping", first_line_is_data=data)
        chosen[canon] = found
        used.add(found)
        if target == "inactive" or (target == "active" and norm(found) in INVERTED_ACTIVE):
            inverted = True
    for canon, names in SYNONYMS.items():
        if canon in chosen:
            continue
        for name in names:
            found = by_norm.get(norm(name))
            if found is not None and found not in used:
                chosen[canon] = found
                used.add(found)
                if canon == "active" and norm(found) in INVERTED_ACTIVE:
                    inverted = True
                break
    return chosen, inverted


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
READERS = {"csv": read_csv, "excel": read_excel, "json": read_json, "jsonl": read_jsonl}


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
    table.columns = _unique_headers([str(c) for c in table.columns])
    table = table.reset_index(drop=True)
    return to_canonical(table, fmt="frame", source="frame", mapping=mapping, report=report, required=required)
