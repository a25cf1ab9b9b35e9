"""Refuse a workbook that would take minutes or gigabytes to read, before openpyxl or pandas open it.

An ``.xlsx`` is a zip of XML parts. A few megabytes on disk can inflate to gigabytes (a zip bomb), and a
sheet of two cells, ``A1`` and ``XFD1048576``, makes pandas build a grid of 17 billion cells. Both cost
little to see: the zip directory states each part's inflated size, and the first sheet's XML states its
extent (``<dimension ref="A1:D500"/>``) and names every row and cell it holds. ``check_workbook`` reads
only the directory, the small workbook parts, and the first sheet streamed in chunks (its inflated size
already checked), and raises ``InputError`` with one line when a limit is passed.

The stated sizes can be trusted as upper bounds: ``zipfile`` stops a part at its stated size (and then
fails its CRC), so a part that lies about its size cannot inflate further than it says.
"""

from __future__ import annotations

import io
import posixpath
import re
import struct
import zipfile
from collections.abc import Callable

from ..errors import InputError

#: Total inflated size of all parts: a workbook of a million keys is a few hundred MiB of XML.
MAX_INFLATED_BYTES = 512 << 20
#: Inflated / compressed size of one part, checked for parts above ``RATIO_FLOOR_BYTES``; sheet XML
#: compresses about 5-20 times, a bomb 200-1000 times.
MAX_COMPRESSION_RATIO = 100
RATIO_FLOOR_BYTES = 16 << 20
#: Parts in the zip: a workbook has tens, a few hundred with many sheets and images.
MAX_ENTRIES = 10_000
#: Cells of the first sheet's grid (rows x columns), declared or real: a full-height Excel sheet of 32
#: columns. pandas pads every row to the widest, so the grid, not the cells written, is what it builds.
MAX_SHEET_CELLS = 1_048_576 * 32
#: Excel's own height: no workbook Excel wrote has a row below this.
MAX_SHEET_ROWS = 1_048_576

_CHUNK = 4 << 20
_OVERLAP = 4096  # a tag split between two chunks is seen whole in the next one
_HEAD = 256 << 10  # how much of a workbook part is read to find its first sheet or its dimension
# XML allows white space around ``=`` and inside the quotes' start: every pattern does too, or a padded
# attribute walks past the guard
_DIMENSION = re.compile(
    rb"""<(?:\w+:)?dimension\s+ref\s*=\s*["']\s*([A-Za-z]{1,3})(\d{1,7})(?::([A-Za-z]{1,3})(\d{1,7}))?"""
)
_ROW = re.compile(rb"""<(?:\w+:)?row\s[^>]{0,2000}?(?<=\s)r\s*=\s*["']\s*(\d{1,12})""")
# only cells past column Z: a key export rarely has them, so a normal sheet costs no Python work per cell
_WIDE_CELL = re.compile(rb"""\sr\s*=\s*["']\s*([A-Za-z]{1,4})(\d{1,12})""")
_TAG = re.compile(rb"<(?:\w+:)?(Relationship|sheet)\s[^>]*>")
_ATTR = re.compile(rb"""([\w:]+)\s*=\s*["']([^"']*)["']""")


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


def _refuse(source: str, why: str) -> InputError:
    return InputError(f"{source}: refused to read this workbook: {why}; save its first sheet as CSV and load that")


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MiB"


def _declared_entries(data: bytes) -> int | None:
    """The entry count of the zip's end record (zip64 too), read before ``zipfile`` builds one object per entry."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if at < 0 or at + 22 > len(data):
        return None
    total: int = struct.unpack_from("<H", data, at + 10)[0]
    if total == 0xFFFF and at >= 20 and data[at - 20 : at - 16] == b"PK\x06\x07":
        offset = struct.unpack_from("<Q", data, at - 12)[0]
        if data[offset : offset + 4] == b"PK\x06\x06" and offset + 40 <= len(data):
            total = struct.unpack_from("<Q", data, offset + 32)[0]
    return total


def _attrs(tag: bytes) -> dict[str, str]:
    return {k.decode("ascii", "replace"): v.decode("utf-8", "replace") for k, v in _ATTR.findall(tag)}


def _head(zf: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        with zf.open(name) as part:
            return part.read(_HEAD)
    except (KeyError, zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
        return None


def _target(zf: zipfile.ZipFile, part: str, predicate: Callable[[dict[str, str]], bool]) -> str | None:
    """The part a relationship of ``part`` points to, chosen by ``predicate(attributes)``."""
    folder, base = posixpath.split(part)
    rels = _head(zf, posixpath.join(folder, "_rels", base + ".rels"))
    for kind, tag in ((m.group(1), m.group(0)) for m in _TAG.finditer(rels or b"")):
        attrs = _attrs(tag)
        if kind == b"Relationship" and predicate(attrs) and attrs.get("Target"):
            target = attrs["Target"]
            return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
    return None


def first_sheet_part(zf: zipfile.ZipFile) -> str | None:
    """The zip name of the first sheet (the one pandas reads), found as openpyxl finds it; None if unclear."""
    workbook = _target(zf, "", lambda a: a.get("Type", "").endswith("/officeDocument")) or "xl/workbook.xml"
    sheet_id = None
    for kind, tag in ((m.group(1), m.group(0)) for m in _TAG.finditer(_head(zf, workbook) or b"")):
        if kind == b"sheet":
            # the relationship id is the one namespaced "id" attribute (r:id); sheetId is another thing
            sheet_id = next((v for k, v in _attrs(tag).items() if k.endswith(":id")), None)
            break
    if sheet_id is None:
        return None
    return _target(zf, workbook, lambda a: a.get("Id") == sheet_id)


def _check_sheet(zf: zipfile.ZipFile, name: str, source: str) -> None:
    """Declared extent first (cheap), then the real one, streamed: rows from ``<row r>``, width from cells."""
    max_row = max_col = 0
    tail = b""
    with zf.open(name) as part:
        first = True
        while chunk := part.read(_CHUNK):
            text = tail + chunk
            if first:
                first = False
                dim = _DIMENSION.search(text[:_HEAD])
                if dim:
                    c1, r1, c2, r2 = dim.groups()
                    rows = abs(int(r2 or r1) - int(r1)) + 1
                    cols = abs(_column_number(c2 or c1) - _column_number(c1)) + 1
                    if rows * cols > MAX_SHEET_CELLS:
                        extent = (c1 + r1 + (b":" + c2 + r2 if c2 and r2 else b"")).decode("ascii")
                        raise _refuse(
                            source,
                            f"its first sheet declares {rows * cols:,} cells ({extent}), more than {MAX_SHEET_CELLS:,}",
                        )
            max_row = max(max_row, max(map(int, _ROW.findall(text)), default=0))
            cells = set(_WIDE_CELL.findall(text))  # a cell's reference names its row too
            max_col = max(max_col, max((_column_number(c) for c, _ in cells), default=0))
            max_row = max(max_row, max((int(r) for _, r in cells), default=0))
            tail = text[-_OVERLAP:]
            if max_row > MAX_SHEET_ROWS:
                raise _refuse(
                    source, f"its first sheet has a row {max_row:,}, past Excel's last row ({MAX_SHEET_ROWS:,})"
                )
            if max_row * max(max_col, 26) > MAX_SHEET_CELLS:
                raise _refuse(
                    source,
                    f"its first sheet spans {max_row:,} rows by {max(max_col, 26):,} columns, "
                    f"more than {MAX_SHEET_CELLS:,} cells",
                )


def check_workbook(data: bytes, source: str) -> None:
    """Raise ``InputError`` when the ``.xlsx`` in ``data`` is too big to read once inflated (see the module)."""
    entries = _declared_entries(data)
    if entries is not None and entries > MAX_ENTRIES:
        raise _refuse(source, f"the zip holds {entries:,} parts, more than {MAX_ENTRIES:,}")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error) as exc:
        raise InputError(f"{source}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise _refuse(source, f"the zip holds {len(infos):,} parts, more than {MAX_ENTRIES:,}")
        total = sum(i.file_size for i in infos)
        if total > MAX_INFLATED_BYTES:
            raise _refuse(source, f"it would inflate to {_mib(total)}, more than {_mib(MAX_INFLATED_BYTES)}")
        for info in infos:
            if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_COMPRESSION_RATIO * info.compress_size:
                ratio = info.file_size // max(info.compress_size, 1)
                raise _refuse(
                    source,
                    f"a part inflates {ratio:,} times ({_mib(info.file_size)}), "
                    f"more than {MAX_COMPRESSION_RATIO} times as a zip bomb does",
                )
        sheet = first_sheet_part(zf)
        if sheet is not None and sheet in zf.NameToInfo:
            try:
                _check_sheet(zf, sheet, source)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
                raise InputError(f"{source}: not a readable .xlsx workbook ({type(exc).__name__})") from None
