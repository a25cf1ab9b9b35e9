"""``build_plan``: the planner as a pipeline of named steps (each in its own module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import MissingColumnsError
from ..schemas import PlanFrame
from ..snapshot import PortalSnapshot
from .decide import Decision, decide
from .mapping import PlanMapping, load_mapping
from .naming import PlanSettings, app_names, naming_fields
from .resolvers import OwnerIndex, Resolver
from .rows import Resolved, int64, resolve_rows
from .scope import check_scope, scope_mask
from .summary import unresolved

LEGACY_REQUIRED = ("source_row", "key_id", "key_fingerprint", "owner_email", "app_name", "alias", "plan", "products")
#: The columns the plan adds after the legacy ones, in this order.
PLAN_COLUMNS = (
    "legacy_app_name", "user_id", "plan_id", "product_ids", "app_id", "action", "reason", "reason_code",
    "credential_id",
)  # fmt: skip


def _require_columns(valid_keys: pd.DataFrame) -> None:
    missing = [c for c in LEGACY_REQUIRED if c not in valid_keys.columns]
    if missing:
        raise MissingColumnsError(missing, list(valid_keys.columns), "legacy frame")


def _name_apps(rows: Resolved, snapshot: PortalSnapshot, settings: PlanSettings) -> pd.Series:
    fields = naming_fields(rows.frame, snapshot, rows.emails, rows.user_id(), rows.plan_id(), rows.org_ids)
    return app_names(rows.frame, settings, fields)


def _assemble(
    rows: Resolved, decision: Decision, legacy_columns: list[str], snapshot: PortalSnapshot, out_of_scope: int
) -> pd.DataFrame:
    """The plan frame: the legacy columns, then ``PLAN_COLUMNS``; checked by ``schemas.PlanFrame``."""
    frame, index = rows.frame, rows.frame.index
    reason, reason_code = decision.reasons()
    plan = frame[legacy_columns].copy()
    plan["app_name"] = pd.Series(decision.app_name, index=index, dtype=object)
    plan["legacy_app_name"] = frame["app_name"].astype(object)
    plan["user_id"] = rows.user_id()
    plan["plan_id"] = rows.plan_id()
    plan["product_ids"] = rows.product_ids()
    plan["app_id"] = int64(decision.app_id, index)
    plan["action"] = pd.Series(decision.action, index=index, dtype="str")
    plan["reason"] = pd.Series(reason, index=index, dtype="str")
    plan["reason_code"] = pd.Series(reason_code, index=index, dtype="str")
    plan["credential_id"] = int64(decision.credential_id, index)
    plan.attrs["out_of_scope"] = out_of_scope
    plan.attrs["portal_url"] = snapshot.portal_url
    plan.attrs["snapshot_fetched_at"] = snapshot.fetched_at.isoformat()
    if len(plan):
        PlanFrame.validate(plan)
    return plan


def build_plan(
    valid_keys: pd.DataFrame,
    snapshot: PortalSnapshot,
    mapping: PlanMapping | dict[str, Any] | str | Path | None = None,
    *,
    settings: PlanSettings | None = None,
    scope: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Plan every valid legacy key against the snapshot: returns ``(plan, unresolved)``.

    ``plan`` keeps the legacy columns (``app_name`` becomes the final portal app name; the legacy value
    moves to ``legacy_app_name``) and adds ``user_id, plan_id, product_ids, app_id, action, reason,
    reason_code, credential_id``. ``unresolved`` lists legacy owners and policies that matched nothing,
    with row counts and close matches. ``scope`` (``owners``/``plans``/``products``/``orgs`` lists) keeps
    only matching rows; how many were left out is in ``plan.attrs["out_of_scope"]``.
    """
    settings = settings or PlanSettings()
    settings.check()
    plan_mapping = load_mapping(mapping)
    scope_values = check_scope(scope)
    _require_columns(valid_keys)

    resolver = Resolver(snapshot, plan_mapping, settings.suggestions)
    owners = OwnerIndex(snapshot.users, settings.suggestions)
    every_row = resolve_rows(valid_keys, owners, resolver, plan_mapping)
    keep = scope_mask(every_row, resolver, scope_values)
    rows = every_row.subset(keep)
    decision = decide(rows, _name_apps(rows, snapshot, settings), snapshot, resolver)
    plan = _assemble(rows, decision, list(valid_keys.columns), snapshot, out_of_scope=int((~keep).sum()))
    return plan, unresolved(rows, owners, resolver)
