"""Run All before Start: the workbook stops at its guard with one line, not a red traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_notebooks import SCOPE, execute, kernel_env  # noqa: F401  (kernel_env is a fixture)


@pytest.mark.slow
def test_run_all_before_start_stops_at_the_guard_in_one_line(kernel_env: Any, tmp_path: Path) -> None:  # noqa: F811
    papermill = pytest.importorskip("papermill")
    with pytest.raises(papermill.PapermillExecutionError) as stopped:
        execute(
            "migration_workbook",
            tmp_path,
            journal_path=str(tmp_path / "workbook.journal"),
            output_dir=str(tmp_path / "out"),
            scope=SCOPE,
            auto_start=False,  # what Run All does: nobody pressed Start
        )
    assert stopped.value.ename == "NotReady"
    notebook = json.loads((tmp_path / "migration_workbook.executed.ipynb").read_text(encoding="utf-8"))
    errors = [
        (cell, output)
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert len(errors) == 1
    cell, error = errors[0]
    assert "console.require_finished()" in "".join(cell["source"])  # the guard, not a later cell
    assert error["traceback"] == [
        "NotReady: no finished run yet: press Start in the console above and wait for 'finished'"
    ]
