"""tyk-migrate: move existing API keys into the Tyk Developer Portal, from notebooks or the command line.

The public functions are imported lazily so ``import tyk_migrate`` stays fast and a notebook only pays
for what it uses.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "MigrateError": "errors",
    "Settings": "config",
    "fingerprint": "secrets",
    "mask": "secrets",
    "SecretKey": "secrets",
    "load_keys": "sources",
    "validate_keys": "validate",
    "PortalClient": "portal",
    "AsyncPortalClient": "portal",
    "fetch_snapshot": "snapshot",
    "PortalSnapshot": "snapshot",
    "PlanSettings": "plan",
    "build_plan": "plan",
    "prepare": "pipeline",
    "Prepared": "pipeline",
    "Journal": "journal",
    "Migration": "run",
    "apply_plan": "run",
    "verify_access": "verify",
    "reconcile": "reconcile",
    "export_outcomes": "report",
    "write_report": "report_html",
    "MigrationConsole": "ui",
    "file_links": "links",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tyk_migrate' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """What ``tm.<Tab>`` offers: the lazy exports too, not only what is already imported."""
    return sorted({*globals(), *__all__})
