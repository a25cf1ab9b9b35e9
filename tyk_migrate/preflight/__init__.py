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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names as their modules type them
    from .frame import preflight_frame
    from .ledger import Ledger, default_ledger_path
    from .result import Check, PreflightResult, load_preflight, write_result
    from .run import run_preflight
    from .session import Waits

#: where each public name lives: imported when first asked for, so that ``apply`` (which needs ``use`` alone)
#: does not import the checks, the canary session and the cleanup (36 ms of a command's start-up)
_HOMES = {
    "Check": "result",
    "PreflightResult": "result",
    "load_preflight": "result",
    "write_result": "result",
    "Ledger": "ledger",
    "default_ledger_path": "ledger",
    "run_preflight": "run",
    "Waits": "session",
    "preflight_frame": "frame",  # pandas only when the workbook asks for the table
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


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
