"""``pip install tyk-migrate`` from a wheel, in a new virtual environment: the base install is headless,
``tyk-migrate demo`` works once the extras it names are installed, and the lab finds its notebooks.

Builds the wheel from a copy of the working tree (build isolation: pip fetches what ``[build-system]``
requires, whatever this venv's setuptools is), installs it into a venv without system site packages and
runs the installed command from a folder outside the clone. Most of its time is pip's, so pip does not
byte-compile what it installs (Python compiles what the commands import): 70 s alone on a slow 2-core
machine, where compiling pandas, numpy and the rest at install had made it 93 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tyk_migrate.extras import install_hint

REPO = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "demo-output")


def sh(*argv: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}  # not the clone's code
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_an_installed_wheel_runs_the_demo(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=SKIP)
    built = sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ".", cwd=source)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("tyk_migrate-*.whl")

    venv.create(tmp_path / "venv", with_pip=True, system_site_packages=False)
    bin_dir = tmp_path / "venv" / "bin"
    work = tmp_path / "work"
    work.mkdir()
    base = sh(bin_dir / "pip", "install", "-q", "--no-compile", wheel, cwd=work)
    assert base.returncode == 0, base.stderr[-3000:]
    headless = sh(bin_dir / "python", "-c", "import importlib.util as u; print(u.find_spec('jupyterlab'))", cwd=work)
    assert headless.stdout.strip() == "None"  # the base install pulls no JupyterLab

    checked = sh(bin_dir / "tyk-migrate", "validate", source / "data-samples" / "legacy_keys.csv", cwd=work)
    assert checked.returncode == 1 and "Traceback" not in checked.stderr, checked.stderr  # rows rejected: exit 1
    refused = sh(bin_dir / "tyk-migrate", "demo", "--out", work / "demo", cwd=work)
    assert refused.returncode == 2 and refused.stderr.strip().endswith(install_hint("sandbox")), refused.stderr

    extras = sh(bin_dir / "pip", "install", "-q", "--no-compile", f"{wheel}[sandbox,report]", cwd=work)
    assert extras.returncode == 0, extras.stderr[-3000:]
    demo = sh(bin_dir / "tyk-migrate", "demo", "--out", work / "demo", cwd=work)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "done: every key that could migrate did" in demo.stdout
    assert (work / "demo" / "report.html").stat().st_size > 1000

    lab = sh(
        bin_dir / "python",
        "-c",
        "from pathlib import Path; from tyk_migrate.lab import lab_root; lab_root(Path('lab'))",
        cwd=work,
    )
    assert lab.returncode == 0, lab.stderr
    assert (work / "lab" / "notebooks" / "migration_workbook.ipynb").exists()
    assert (work / "lab" / "data-samples" / "sandbox_seed.json").exists()
