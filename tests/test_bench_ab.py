"""benchmarks/bench_ab.py: each build runs through its own console script entry, interleaved with the other."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.bench_ab import entry_point, main

ROOT = Path(__file__).resolve().parent.parent


def test_a_build_runs_through_the_entry_its_pyproject_names(tmp_path: Path) -> None:
    assert "from tyk_migrate.launch import main; main()" in entry_point(ROOT)
    old = tmp_path / "old"
    old.mkdir()
    scripts = '[project]\nname = "x"\n[project.scripts]\ntyk-migrate = "tyk_migrate.cli:main"\n'
    (old / "pyproject.toml").write_text(scripts)
    assert "from tyk_migrate.cli import main; main()" in entry_point(old)


def test_two_builds_are_run_in_turn_and_summarised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "copy"
    shutil.copytree(ROOT / "tyk_migrate", other / "tyk_migrate", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", other / "pyproject.toml")
    main([str(ROOT), str(other), "--runs", "1", "--keys", "20"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == [f"run 1 {ROOT}", f"run 1 {other}"]
    assert all("median" in line and "portal phase median" in line for line in lines[2:]) and len(lines) == 4
