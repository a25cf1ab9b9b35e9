"""Hostile ``.xlsx`` files built in well under a second: zip bombs and sheets with a forged extent.

A bomb's sheet is made of one deflated block of XML rows repeated: each block is compressed once and
ended with a full flush (byte-aligned, no reference to earlier data), so the same bytes can follow each
other any number of times and still inflate, correctly and with a true CRC, to the block repeated.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

import pandas as pd

ROW = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'
SHEET_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
)
SHEET_NAME = "xl/worksheets/sheet1.xml"


@functools.cache
def base_members() -> dict[str, bytes]:
    """The parts of a real one-sheet workbook (written by pandas/openpyxl) with a key header and one row."""
    import zipfile

    buf = io.BytesIO()
    pd.DataFrame([["GoodKeyValue0001x", "a@b.example", "p1", "x"]], columns=["key", "email", "plan", "apis"]).to_excel(
        buf, index=False
    )
    with zipfile.ZipFile(buf) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _deflate(data: bytes) -> bytes:
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    return co.compress(data) + co.flush()


def write_zip(members: dict[str, tuple[bytes, int, int]]) -> bytes:
    """A zip of ``{name: (raw deflate stream, crc32, inflated size)}``, written by hand so that a member's
    compressed bytes can be ones ``zipfile`` would take minutes to produce."""
    out = io.BytesIO()
    central = []
    for name, (raw, crc, size) in members.items():
        encoded = name.encode()
        offset = out.tell()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(raw), size, len(encoded), 0))
        out.write(encoded)
        out.write(raw)
        central.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                8,
                0,
                0,
                crc,
                len(raw),
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    start = out.tell()
    for record in central:
        out.write(record)
    size_cd = out.tell() - start
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(central), len(central), size_cd, start, 0))
    return out.getvalue()


def workbook(sheet: bytes | None = None, **raw_sheet: object) -> bytes:
    """A real workbook whose first sheet is ``sheet`` (plain XML), or the raw deflated sheet given."""
    members = {name: (_deflate(data), zlib.crc32(data), len(data)) for name, data in base_members().items()}
    if sheet is not None:
        members[SHEET_NAME] = (_deflate(sheet), zlib.crc32(sheet), len(sheet))
    if raw_sheet:
        members[SHEET_NAME] = (raw_sheet["raw"], raw_sheet["crc"], raw_sheet["size"])  # type: ignore[assignment]
    return write_zip(members)


def bomb(mib: int) -> bytes:
    """A workbook whose first sheet is valid XML of about ``mib`` MiB of rows, a few KiB per MiB on disk."""
    block = ROW * ((1 << 20) // len(ROW))
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = SHEET_HEAD + b"<sheetData>"
    tail = b"</sheetData></worksheet>"
    flushed = co.compress(head) + co.flush(zlib.Z_FULL_FLUSH)
    repeated = co.compress(block) + co.flush(zlib.Z_FULL_FLUSH)
    raw = flushed + repeated * mib + co.compress(tail) + co.flush()
    crc = crc32_combine(
        crc32_combine(zlib.crc32(head), repeated_crc32(block, mib), len(block) * mib), zlib.crc32(tail), len(tail)
    )
    return workbook(raw=raw, crc=crc, size=len(head) + len(block) * mib + len(tail))


# CRC-32 of concatenations without reading them: zlib's crc32_combine (multiplication modulo the
# reflected polynomial), which Python's zlib does not expose; hashing 520 MiB would take half a second.
_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x2nmodp(n: int, k: int) -> int:
    """x^(n * 2^k) modulo the polynomial."""
    p, square = 1 << 31, 1 << 30
    for _ in range(k):
        square = _multmodp(square, square)
    while n:
        if n & 1:
            p = _multmodp(square, p)
        n >>= 1
        square = _multmodp(square, square)
    return p


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """``crc32(a + b)`` from ``crc32(a)``, ``crc32(b)`` and ``len(b)``."""
    return _multmodp(_x2nmodp(len2, 3), crc1) ^ crc2


def repeated_crc32(block: bytes, times: int) -> int:
    """``crc32(block * times)`` by doubling."""
    crc, run, run_len = 0, zlib.crc32(block), len(block)
    while times:
        if times & 1:
            crc = crc32_combine(crc, run, run_len)
        times >>= 1
        run, run_len = crc32_combine(run, run, run_len), run_len * 2
    return crc


def sheet_xml(rows: str, dimension: str | None = None) -> bytes:
    """Sheet XML with the given ``<row>`` elements and, if given, a declared ``<dimension ref>``."""
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return SHEET_HEAD + f"{dim}<sheetData>{rows}</sheetData></worksheet>".encode()


def cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'
