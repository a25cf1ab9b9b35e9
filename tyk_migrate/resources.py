"""Where the files that ship with tyk-migrate are: sample exports, the sandbox seed, the notebooks.

One home for these paths. In a clone they are the project's own folders (``data-samples/``,
``notebooks/``); an installed wheel carries copies under ``tyk_migrate/data/`` (``setup.py`` copies
them at build time, so the clone's folders stay the only ones anybody edits).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CLONE = PACKAGE.parent
#: the folders as named in a clone, and under ``tyk_migrate/data/`` in a wheel
SAMPLES_FOLDER = "data-samples"
NOTEBOOKS_FOLDER = "notebooks"
PACKAGED = PACKAGE / "data"
#: which files of each folder a wheel ships (``setup.py`` reads these)
SHIPPED = {
    SAMPLES_FOLDER: ("*.csv", "*.json", "*.jsonl", "*.xlsx", "*.yaml"),
    NOTEBOOKS_FOLDER: ("*.ipynb",),
}


def from_clone() -> bool:
    """True when running from a checkout (``make``, tests, an editable install), not an installed wheel."""
    return (CLONE / "pyproject.toml").is_file() and (CLONE / SAMPLES_FOLDER).is_dir()


def folder(name: str) -> Path:
    """``data-samples`` or ``notebooks``: the clone's folder, else the copy inside the installed package."""
    if name not in SHIPPED:
        raise ValueError(f"not a shipped folder: {name!r}")
    return CLONE / name if from_clone() else PACKAGED / name


SAMPLES = folder(SAMPLES_FOLDER)
NOTEBOOKS = folder(NOTEBOOKS_FOLDER)
LEGACY_KEYS = SAMPLES / "legacy_keys.csv"
SEED = SAMPLES / "sandbox_seed.json"
WORKBOOK = NOTEBOOKS / "migration_workbook.ipynb"
