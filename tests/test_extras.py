"""A headless install has no JupyterLab, sandbox or charts: the base commands work, the rest says which extra.

Each subprocess here hides the optional packages (``sys.modules[name] = None`` makes an import fail as if
the package were absent) and then runs tyk-migrate as a user of the base install would.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tyk_migrate.extras import EXTRAS, MissingExtra, install_hint, require

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data-samples" / "legacy_keys.csv"
OPTIONAL = sorted({m for modules in EXTRAS.values() for m in modules} | {"IPython"})


def headless(code: str, hidden: list[str] = OPTIONAL) -> str:
    """``code`` prefixed with the hiding of ``hidden`` modules (and of anything importing them later)."""
    return f"import sys\nfor name in {hidden!r}:\n    sys.modules[name] = None\n{code}"


def run(code: str, *args: str, hidden: list[str] = OPTIONAL, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", headless(code, hidden), *args], capture_output=True, text=True, timeout=120, **kw
    )


CLI = "from tyk_migrate.cli import main; main()"


def test_pyproject_extras_install_what_extras_py_names() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower() for r in requirements}

    for extra, modules in EXTRAS.items():
        assert set(modules) <= names(extras[extra]), extra
    assert names(project["dependencies"]).isdisjoint(OPTIONAL)  # the base install pulls none of them
    assert "tyk-migrate[all]" in extras["dev"]  # make demo / make test install everything
    assert set(EXTRAS) <= set(re.findall(r"\w+", extras["all"][0].split("[")[1]))


def test_require_names_the_extra_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    require("report")  # installed here
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtra) as missing:
        require("report", needed_for="the charts")
    assert str(missing.value) == f"the charts needs matplotlib, which is not installed: {install_hint('report')}"
    assert isinstance(missing.value, ImportError)  # code that expects an ImportError still catches it
    assert install_hint("lab") == "pip install 'tyk-migrate[lab]'"


@pytest.mark.parametrize(
    ("code", "extra"),
    [
        ("import tyk_migrate as tm; tm.MigrationConsole", "lab"),
        ("import tyk_migrate.sandbox", "sandbox"),
        ("from tyk_migrate.reconcile_charts import status_charts; status_charts(None, None)", "report"),
        ("import tyk_migrate as tm; tm.write_report('x.html')", "report"),
    ],
)
def test_an_optional_part_fails_with_one_line_naming_its_extra(code: str, extra: str, tmp_path: Path) -> None:
    probe = f"from tyk_migrate.extras import MissingExtra\ntry:\n    {code}\nexcept MissingExtra as e:\n    print(e)"
    done = run(probe, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(install_hint(extra)) and done.stdout.count("\n") == 1
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize(
    ("command", "extra"), [("demo", "sandbox"), ("demo", "report"), ("lab", "lab"), ("sandbox", "sandbox")]
)
def test_a_command_that_needs_an_extra_exits_2_in_one_line(command: str, extra: str, tmp_path: Path) -> None:
    done = run(CLI, command, cwd=tmp_path, hidden=[*EXTRAS[extra]])
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert done.stderr.rstrip().endswith(install_hint(extra))
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.slow
def test_the_base_commands_work_without_any_extra(tmp_path: Path, sandbox: Any) -> None:
    """validate, plan, apply, verify, reconcile: what a headless server runs, with no optional package."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "TYK_MIGRATE_HOME": str(tmp_path / "home"),
        "TYK_PORTAL_URL": sandbox.portal_url,
        "TYK_PORTAL_TOKEN": sandbox.token,
        "TYK_GATEWAY_URL": sandbox.gateway_url,
    }
    journal = str(tmp_path / "run.journal")
    steps = [
        ["validate", str(SAMPLE), "--rejects", "rejects.csv"],
        ["plan", str(SAMPLE), "--out", "plan.csv", "--plan", "Free"],
        ["apply", str(SAMPLE), "--journal", journal, "--out", "outcomes.csv"],
        ["verify", str(SAMPLE), "--journal", journal, "--out", "verified.csv"],
        ["reconcile", str(SAMPLE), "--out", "recon.csv"],
    ]
    for step in steps:
        done = run(CLI, *step, cwd=tmp_path, env=env)
        assert done.returncode in (0, 1), (step[0], done.returncode, done.stderr[-2000:])
        assert "Traceback" not in done.stderr
    assert {p.name for p in tmp_path.iterdir()} >= {"rejects.csv", "plan.csv", "outcomes.csv", "recon.csv"}
