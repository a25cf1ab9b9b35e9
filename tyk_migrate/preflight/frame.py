"""The workbook's preflight step: a recent passing preflight of the portal, or a new one, as a small table.

    preflight_frame(settings)              # the checks as a DataFrame (result, check, saw, meaning)
    preflight_frame(settings, rerun=True)  # run the checks again even if a recent result passes

A new result is written where ``apply`` and the console look (``use.default_result_path``), so the console's
Start below finds it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import Settings
from ..errors import MigrateError
from .result import PreflightResult, write_result
from .run import run_preflight
from .use import default_result_path, find_preflight

COLUMNS = ("result", "check", "saw", "what it means for the migration")


def checks_frame(result: PreflightResult) -> pd.DataFrame:
    """One row per check; ``attrs`` hold ``ok``, ``portal``, ``checked_at`` and the verdict lines."""
    frame = pd.DataFrame(
        [(c.verdict, c.name, c.saw, c.meaning) for c in result.checks], columns=list(COLUMNS), dtype="str"
    )
    frame.attrs.update(
        ok=result.ok, portal=result.portal, checked_at=result.checked_at, verdict=" ".join(result.verdict_lines())
    )
    return frame


def preflight_frame(settings: Settings, *, rerun: bool = False, path: str | Path | None = None) -> pd.DataFrame:
    """The checks of a passing preflight of ``settings``' portal younger than a day (from ``path``, else the
    default file), or of a new preflight (canary developer made and deleted; ``settings.gateway_url`` proves
    the canary keys on the gateway) when there is none or ``rerun``. Prints where it came from and the verdict.
    Settings it cannot work with (a token that may not write...) are one ``error`` row, not an exception: the
    console's Start refuses a portal off this machine without a passing preflight anyway."""
    found = None if rerun else find_preflight(settings.portal_url, path)
    result = found.result if found is not None else None
    if result is None:
        try:
            result = run_preflight(settings, canary_user=None, gateway_url=settings.gateway_url or None)
        except MigrateError as exc:  # one line in the table: the console's Start says what that means
            print(f"preflight could not run: {exc}")
            failed = pd.DataFrame([("error", "preflight", "could not run", str(exc))], columns=list(COLUMNS))
            failed.attrs.update(ok=False, portal=settings.portal_url, checked_at=None, verdict=str(exc))
            return failed
        where = write_result(result, default_result_path(result.portal))
        if path is not None:
            write_result(result, path)
        print(f"preflight run now, written to {where}")
    else:
        print(f"preflight of {result.checked_at} ({found.path if found else ''})")
    frame = checks_frame(result)
    print(frame.attrs["verdict"])
    return frame
