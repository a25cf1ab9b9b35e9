"""Hostile workbooks are refused in about a second with one line, before openpyxl or pandas inflate them."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from xlsx_bombs import ROW, base_members, bomb, cell, sheet_xml, workbook

from tyk_migrate.errors import InputError
from tyk_migrate.sources import load_keys, xlsx_guard


def refused(data: bytes, *, within: float = 1.0) -> str:
    start = time.perf_counter()
    with pytest.raises(InputError) as err:
        load_keys(data, format="excel")
    elapsed = time.perf_counter() - start
    message = str(err.value)
    assert elapsed < within, f"took {elapsed:.1f}s: {message}"
    assert "\n" not in message and "refused to read this workbook" in message, message
    return message


@pytest.mark.timeout(60)  # without the guard openpyxl spends minutes on it (and gigabytes)
def test_a_bomb_past_the_default_size_cap_is_refused_at_once() -> None:
    data = bomb(520)  # 520 MiB of sheet XML, under 2 MB on disk: never inflated by the guard
    assert len(data) < 2 << 20
    message = refused(data)
    assert "would inflate to 520 MiB, more than 512 MiB" in message and "save its first sheet as CSV" in message


@pytest.mark.timeout(60)
def test_a_bomb_under_the_size_cap_is_refused_by_its_compression_ratio() -> None:
    message = refused(bomb(64))  # 64 MiB from about 200 KiB: no key export compresses 300 times
    assert "inflates" in message and "as a zip bomb does" in message


def test_the_size_cap_is_the_module_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    block = ROW * 40_000  # 2 MiB of rows, compressed by zipfile itself
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, part in base_members().items():
            zf.writestr(name, block if name == "xl/worksheets/sheet1.xml" else part)
    monkeypatch.setattr(xlsx_guard, "MAX_INFLATED_BYTES", 1 << 20)
    assert "more than 1 MiB" in refused(buf.getvalue())


def test_a_zip_of_too_many_parts_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, part in base_members().items():
            zf.writestr(name, part)
        for i in range(40):
            zf.writestr(f"xl/media/filler{i}.bin", b"")
    monkeypatch.setattr(xlsx_guard, "MAX_ENTRIES", 30)
    assert "parts, more than 30" in refused(buf.getvalue())


def test_a_declared_sheet_of_too_many_cells_is_refused() -> None:
    header = (
        "<row r='1'>"
        + "".join(cell(f"{c}1", h) for c, h in zip("ABCD", ["key", "email", "plan", "apis"], strict=True))
        + "</row>"
    )
    message = refused(workbook(sheet_xml(header, dimension="A1:XFD1048576")))
    assert "declares 17,179,869,184 cells (A1:XFD1048576" in message


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        # a lying dimension and two cells: pandas pads 1,048,576 rows to 16,384 columns (17 billion cells)
        (f'<row r="1">{cell("A1", "key")}</row><row r="1048576">{cell("XFD1048576", "x")}</row>', "spans"),
        (f'<row r="1">{cell("A1", "key")}</row><row r="1000000">{cell("AN1000000", "x")}</row>', "spans"),
        (f'<row r="1">{cell("A1", "key")}</row><row r="9999999">{cell("A9999999", "x")}</row>', "past Excel's"),
        # legal XML with white space around "=": it walked past the guard into a 7.5 GB MemoryError
        (
            '<row r = "1"><c r = "A1" t="inlineStr"><is><t>key</t></is></c></row>'
            '<row r = "1048576"><c r = "XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>',
            "spans",
        ),
        # a cell far down in a row that names no row number
        (f'<row r="1">{cell("A1", "key")}</row><row>{cell("XFD1048576", "x")}</row>', "spans"),
    ],
)
def test_a_sheet_whose_cells_span_too_many_is_refused_whatever_it_declares(rows: str, why: str) -> None:
    assert why in refused(workbook(sheet_xml(rows, dimension="A1:B2")))


def test_a_wide_sheet_loads() -> None:
    columns = ["A", "B", "C", "D", "AD"]  # past Z: the guard measures its width
    header = "".join(cell(f"{c}1", h) for c, h in zip(columns, ["key", "email", "plan", "apis", "n"], strict=True))
    row = "".join(
        cell(f"{c}2", v) for c, v in zip(columns, ["GoodKeyValue0001x", "a@b.example", "p1", "x", "1"], strict=True)
    )
    frame = load_keys(workbook(sheet_xml(f'<row r="1">{header}</row><row r="2">{row}</row>', "A1:AD2")))
    assert len(frame) == 1 and "n" in frame.attrs["ignored_columns"]


def test_a_full_height_sheet_of_26_columns_passes_the_guard() -> None:
    rows = f'<row r="1">{cell("A1", "key")}</row><row r="1048576">{cell("Z1048576", "x")}</row>'
    xlsx_guard.check_workbook(workbook(sheet_xml(rows, "A1:Z1048576")), "keys.xlsx")  # 27 million cells: allowed


def test_a_real_workbook_names_its_first_sheet() -> None:
    data = workbook()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert xlsx_guard.first_sheet_part(zf) == "xl/worksheets/sheet1.xml"
    assert len(load_keys(data)) == 1
