"""``build_plan``: the planner as a pipeline of named steps (each in its own module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import MissingColumnsError
from ..schemas import PlanFrame
from ..snapshot import PortalSnapshot
from ..sources.canonical import by_unique_source_row
from .accounts import account_columns, lift_owner_blocks, restore_blocked
from .decide import Decision, decide
from .impact import Impact, LiveKeys, assess, impact_policy
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
    "client_impact", "client_impact_detail", "credential_id",
)  # fmt: skip


def _require_columns(valid_keys: pd.DataFrame) -> None:
    missing = [c for c in LEGACY_REQUIRED if c not in valid_keys.columns]
    if missing:
        raise MissingColumnsError(missing, list(valid_keys.columns), "legacy frame")


def _name_apps(rows: Resolved, snapshot: PortalSnapshot, settings: PlanSettings) -> pd.Series:
    fields = naming_fields(rows.frame, snapshot, rows.emails, rows.user_id(), rows.plan_id(), rows.org_ids)
    return app_names(rows.frame, settings, fields)


def _assess(rows: Resolved, snapshot: PortalSnapshot, policy: dict[str, str], live_keys: LiveKeys) -> Impact:
    """Client impact of every row whose plan and products resolved (``impact.assess``)."""
    clean = np.array([not r.findings for r in rows.results], dtype=bool)
    resolved = clean[rows.combo_of_row] if len(rows.results) else np.zeros(0, dtype=bool)
    per_combo = [tuple(r.product_ids) for r in rows.results]
    product_ids = [per_combo[c] for c in rows.combo_of_row.tolist()]  # shared tuples: no copy per row
    return assess(
        rows.frame, rows.plan_id(), product_ids, resolved, snapshot, policy, owners=rows.emails, live_keys=live_keys
    )


def _assemble(
    rows: Resolved,
    decision: Decision,
    impact: Impact,
    legacy_columns: list[str],
    snapshot: PortalSnapshot,
    out_of_scope: int,
    accounts: dict[str, pd.Series] | None = None,
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
    plan["client_impact"], plan["client_impact_detail"] = impact.columns(index)
    plan["credential_id"] = int64(decision.credential_id, index)
    for name, column in (accounts or {}).items():  # only with an account setting on (plan.accounts)
        plan[name] = column
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
    live_keys: LiveKeys = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Plan every valid legacy key against the snapshot: returns ``(plan, unresolved)``.

    ``plan`` keeps the legacy columns (``app_name`` becomes the final portal app name; the legacy value
    moves to ``legacy_app_name``) and adds ``user_id, plan_id, product_ids, app_id, action, reason,
    reason_code, credential_id``. ``unresolved`` lists legacy owners and policies that matched nothing,
    with row counts and close matches. ``scope`` (``owners``/``plans``/``products``/``orgs`` lists) keeps
    only matching rows; how many were left out is in ``plan.attrs["out_of_scope"]``.
    ``client_impact`` names what the key's clients would notice (``impact``; kinds joined by ``;``) and
    ``client_impact_detail`` says it with numbers; a kind set to block (``settings.client_impact``, the
    mapping's ``client_impact:``) blocks the row. ``live_keys``: keys live in the gateway today
    (``impact.live_key_overwrites``); the effective settings are in ``plan.attrs["client_impact"]``.
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
    policy = impact_policy(plan_mapping.client_impact, settings.client_impact)
    impact = _assess(rows, snapshot, policy, live_keys)
    # owners the run may create or activate (opt-in) are decided as usable, then put back where still blocked
    deciding, lifted = lift_owner_blocks(rows, settings.accounts)
    decision = decide(deciding, _name_apps(rows, snapshot, settings), snapshot, resolver, impact.findings())
    restore_blocked(lifted, decision.action, decision.findings)
    accounts = account_columns(rows, lifted, settings.accounts, plan_mapping.new_users)
    out_of_scope = int((~keep).sum())
    plan = _assemble(rows, decision, impact, list(valid_keys.columns), snapshot, out_of_scope, accounts)
    plan.attrs["client_impact"] = policy
    # one export: plan.loc[12] is row 12 of the file, as in the legacy frame (resolve_rows numbers from 0)
    return by_unique_source_row(plan), unresolved(rows, owners, resolver)
