"""``tyk-migrate preflight``: before a real migration, prove what this portal does, with throwaway objects.

    from tyk_migrate.preflight import run_preflight, load_preflight
    result = run_preflight(Settings.from_env(), canary_user=None)   # a canary developer made and deleted
    print(result.table()); result.ok; result.to_json()
    later = load_preflight("preflight.json", portal_url)          # None when missing, stale or another portal
    preflight_frame(settings)                                     # the workbook's step: a recent one, or run now

Parts: ``run`` (the order of the checks), ``reads`` (checks that only read), ``writes`` (checks with canary
credentials), ``session`` (every create, journalled first), ``ledger`` (the file of the preflight's own
writes), ``cleanup`` (delete and prove gone), ``client`` (HTTP), ``result`` (findings, table, JSON), ``use``
(how apply and the console find and use a passing one), ``frame`` (the workbook's table).
docs/running.md, "Preflight", says what each check means for a migration.
"""

from __future__ import annotations

from typing import Any

from .ledger import Ledger, default_ledger_path
from .result import Check, PreflightResult, load_preflight, write_result
from .run import run_preflight
from .session import Waits


def __getattr__(name: str) -> Any:
    if name == "preflight_frame":  # pandas only when the workbook asks for the table
        from .frame import preflight_frame

        return preflight_frame
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Check",
    "Ledger",
    "PreflightResult",
    "Waits",
    "default_ledger_path",
    "load_preflight",
    "preflight_frame",
    "run_preflight",
    "write_result",
]
