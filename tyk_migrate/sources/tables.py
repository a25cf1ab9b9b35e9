"""Reading a flat export into a raw table of text, headers as written (CSV and kin, Excel, JSON, JSON Lines).

Every value stays text (never a number: a key like ``00012345`` keeps its zeros); a reader that knows each
record's line in the file adds it as the ``__row__`` column, which becomes ``source_row``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from typing import Any

import pandas as pd

from ..errors import InputError
from . import jsontext
from .encoding import decode, to_utf8
from .headers import columns_found, unique_headers
from .xlsx_guard import check_workbook


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
    names = unique_headers(header)
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
    frame.columns = unique_headers([str(c) for c in frame.columns])
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


READERS = {"csv": read_csv, "excel": read_excel, "json": read_json, "jsonl": read_jsonl}
