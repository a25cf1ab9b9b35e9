"""The package itself: lazy exports complete in a notebook (``tm.<Tab>``) and each one resolves."""

from __future__ import annotations

import subprocess
import sys

import tyk_migrate


def test_dir_lists_every_lazy_export_and_each_resolves() -> None:
    names = dir(tyk_migrate)
    exported = set(tyk_migrate._EXPORTS)
    assert exported <= set(names)
    assert "__version__" in names
    for name in sorted(exported):
        assert getattr(tyk_migrate, name) is not None, name


def test_dir_works_before_anything_is_imported() -> None:
    """Tab completion is asked on a fresh import, before any lazy name was touched."""
    probe = "import tyk_migrate as tm; print(' '.join(dir(tm)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert {"load_keys", "MigrationConsole", "build_plan", "apply_plan"} <= set(out)
