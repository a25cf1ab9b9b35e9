"""Optional parts of tyk-migrate and the extra that installs each: a missing one is one line, not a traceback.

The base install (``pip install tyk-migrate``) is what ``validate``, ``plan``, ``apply``, ``verify`` and
``reconcile`` need on a headless server. The rest comes with an extra:

    lab       JupyterLab, the widgets console and a kernel (and the report and sandbox extras: the workbook
              draws charts, ``tyk-migrate lab`` starts the sandbox)
    sandbox   the local portal + gateway emulator (``tyk-migrate sandbox``, ``tyk-migrate demo``)
    report    the charts of the HTML report and of ``Reconciliation.charts()``
    all       every one of them

``pyproject.toml``'s ``[project.optional-dependencies]`` is the list of packages; ``tests/test_extras.py``
checks that it and ``EXTRAS`` name the same modules.
"""

from __future__ import annotations

import importlib.util

from .errors import MigrateError

#: extra -> the modules it brings that the code imports (import names, not distribution names)
EXTRAS: dict[str, tuple[str, ...]] = {
    "lab": ("jupyterlab", "ipywidgets", "ipykernel"),
    "sandbox": ("starlette", "uvicorn"),
    "report": ("matplotlib",),
}


class MissingExtra(MigrateError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def install_hint(extra: str) -> str:
    return f"pip install 'tyk-migrate[{extra}]'"


def missing(extra: str, *modules: str) -> list[str]:
    """The modules of ``extra`` (all of them, or those named) that cannot be imported."""
    absent = []
    for name in modules or EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a parent package missing, or a module set to None in sys.modules
            found = False
        if not found:
            absent.append(name)
    return absent


def require(extra: str, *modules: str, needed_for: str = "") -> None:
    """Raise ``MissingExtra`` (one line naming the extra) unless ``modules`` of ``extra`` are importable."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}")
    absent = missing(extra, *modules)
    if absent:
        what = needed_for or f"this part of tyk-migrate ({extra})"
        raise MissingExtra(f"{what} needs {', '.join(absent)}, which is not installed: {install_hint(extra)}")
