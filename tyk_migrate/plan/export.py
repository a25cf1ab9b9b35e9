"""``plan.csv`` for a person with a spreadsheet: the portal's plan and product names beside their IDs, and
only the columns a plan has.

A plan frame written as an outcome log carries every run column (``status``, ``attempts``, ``verify_*``…)
empty: noise for whoever reviews the plan before the run. ``export_plan`` writes the plan's own columns, in a
fixed order, with ``plan_name`` after ``plan_id`` and ``product_names`` after ``product_ids``, keys masked as
every export (``report.export_frame``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..report import LIST_SEPARATOR, OUTCOME_COLUMNS, export_frame
from .accounts import USER_COLUMNS

#: plan.csv's columns, in this order (absent ones left out); other columns of the frame follow, sorted.
PLAN_EXPORT_COLUMNS = (
    "source_row", "source_id", "key_fingerprint", "key_masked", "owner_email", "legacy_app_name", "app_name",
    "alias", "plan", "products", "expires_at", "active", "user_id", "plan_id", "plan_name", "product_ids",
    "product_names", "action", *USER_COLUMNS, "reason", "reason_code", "client_impact",
    "client_impact_detail", "app_id", "credential_id",
)  # fmt: skip
#: Outcome-log columns a plan does not have yet (a run or verify fills them): never in plan.csv.
RUN_ONLY_COLUMNS = tuple(c for c in OUTCOME_COLUMNS if c not in PLAN_EXPORT_COLUMNS)


def _names(frame: Any, id_column: str) -> dict[int, str]:
    if frame is None or id_column not in frame or "name" not in frame:
        return {}
    return {int(i): str(n) for i, n in zip(frame[id_column], frame["name"], strict=True) if pd.notna(i)}


def _ids(value: Any) -> list[Any]:
    if isinstance(value, list | tuple) or hasattr(value, "tolist"):
        return list(value.tolist() if hasattr(value, "tolist") else value)
    return []


def plan_for_export(plan: pd.DataFrame, snapshot: Any = None) -> pd.DataFrame:
    """``plan`` without run columns, with ``plan_name`` and ``product_names`` from ``snapshot`` (a
    ``PortalSnapshot``; without one the names are left out)."""
    out = plan.drop(columns=[c for c in RUN_ONLY_COLUMNS if c in plan.columns])
    if snapshot is None:
        return out
    plan_names = _names(getattr(snapshot, "plans", None), "plan_id")
    product_names = _names(getattr(snapshot, "products", None), "product_id")
    if "plan_id" in out:
        out["plan_name"] = [plan_names.get(int(p), "") if pd.notna(p) else "" for p in out["plan_id"]]
    if "product_ids" in out:
        out["product_names"] = [
            LIST_SEPARATOR.join(product_names.get(int(p), str(p)) for p in _ids(ids)) for ids in out["product_ids"]
        ]
    return out


def export_plan(plan: pd.DataFrame, path: str | Path, snapshot: Any = None) -> Path:
    """Write ``plan`` as plan.csv (``plan_for_export``; keys masked, formulas neutralised, lists joined)."""
    return export_frame(plan_for_export(plan, snapshot), path, PLAN_EXPORT_COLUMNS)
