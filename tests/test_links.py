"""``tm.file_links``: the files the workbook writes display as links that JupyterLab opens."""

from __future__ import annotations

from pathlib import Path

import pytest

import tyk_migrate as tm


def test_links_are_relative_to_the_notebook_folder_and_escaped(tmp_path: Path) -> None:
    notebooks, out = tmp_path / "notebooks", tmp_path / "out puts"
    notebooks.mkdir()
    out.mkdir()
    report = out / "report<1>.html"
    report.write_text("x", encoding="utf-8")
    links = tm.file_links(report, out / "outcomes.csv", start=notebooks)
    page = links._repr_html_()
    assert '<a href="../out%20puts/report%3C1%3E.html" target="_blank">report&lt;1&gt;.html</a>' in page
    assert "outcomes.csv</a>" in page and "(not written)" in page  # a missing file is said so, not hidden
    assert "<1>" not in page
    assert repr(links) == f"{report}\n{out / 'outcomes.csv'}"
    assert list(links) == [report, out / "outcomes.csv"] and len(links) == 2


def test_links_default_to_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert 'href="a.csv"' in tm.file_links(tmp_path / "a.csv")._repr_html_()
