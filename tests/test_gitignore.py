"""Every file the tool writes by default is ignored by git, and the defaults in the code are the listed ones."""

from __future__ import annotations

import inspect
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tyk_migrate import outputs

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "tyk_migrate"


def _git_ignored(paths: list[str]) -> set[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    found = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=REPO,
        input="\n".join(paths),
        capture_output=True,
        text=True,
    )
    assert found.returncode in (0, 1), found.stderr
    return set(found.stdout.splitlines())


def test_git_ignores_every_default_output() -> None:
    paths = outputs.default_output_paths()
    assert len(paths) > 20 and "outputs/migration.journal-wal" in paths and "legacy_keys.plan.csv" in paths
    assert sorted(set(paths) - _git_ignored(paths)) == []


def test_git_still_sees_the_project() -> None:
    """The patterns are not so broad that they hide the code, the samples or the notebooks."""
    kept = ["tyk_migrate/journal.py", "data-samples/legacy_keys.csv", "notebooks/migration_workbook.ipynb"]
    kept += ["tests/test_journal.py", "README.md"]
    assert _git_ignored(kept) == set()


def _parameters(notebook: str) -> dict[str, object]:
    """The values of a notebook's ``parameters`` cell (simple assignments only)."""
    document = json.loads((REPO / "notebooks" / notebook).read_text(encoding="utf-8"))
    cell = next(c for c in document["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    values: dict[str, object] = {}
    for line in "".join(cell["source"]).splitlines():
        match = re.match(r'^(\w+) = "([^"]*)"', line)
        if match:
            values[match[1]] = match[2]
    return values


def test_the_code_writes_only_the_listed_defaults() -> None:
    """Each default spelled out elsewhere (CLI, notebooks, console) is one ``outputs`` names."""
    suffixes = set()
    for path in PACKAGE.rglob("*.py"):
        suffixes.update(re.findall(r'default_output\([^()]*,\s*"([^"]+)"\)', path.read_text(encoding="utf-8")))
    assert suffixes and suffixes <= set(outputs.CLI_REPORT_SUFFIXES)
    assert re.search(rf'default="{re.escape(outputs.PREFLIGHT_REPORT)}"', (PACKAGE / "preflight_cli.py").read_text())

    workbook = _parameters("migration_workbook.ipynb")
    assert workbook["output_dir"] == outputs.WORKBOOK_OUTPUT_DIR
    assert workbook["journal_path"] == outputs.WORKBOOK_JOURNAL
    assert _parameters("reconciliation_report.ipynb")["output_dir"] == outputs.WORKBOOK_OUTPUT_DIR

    from tyk_migrate.cli import cli
    from tyk_migrate.ui import MigrationConsole

    assert inspect.signature(MigrationConsole).parameters["journal"].default == outputs.CONSOLE_JOURNAL
    demo = cli.commands["demo"]
    assert next(p.default for p in demo.params if p.name == "out") == outputs.DEMO_OUTPUT_DIR
