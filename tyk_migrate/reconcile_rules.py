"""The per-row comparison behind ``reconcile``: coercions, portal lookups, and the status of one legacy row.

Split from ``reconcile.py``; pure functions, no key values. The statuses are ``vocabulary.RECON_STATUSES``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from .vocabulary import PRESENT, WRONG_OWNER, WRONG_PLAN, WRONG_PRODUCTS

if TYPE_CHECKING:
    from .snapshot import PortalSnapshot


def _as_list(value: object) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist") and not isinstance(value, str):
        out = value.tolist()
        return list(out) if isinstance(out, list) else [out]
    return []


def _ints(value: object) -> list[int]:
    out = []
    for v in _as_list(value):
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            continue
    return out


def _nullable_int(value: Any) -> int | None:
    if value is None or isinstance(value, (list, tuple, str)) or value is pd.NA or value != value:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in rec.items()} for rec in frame.to_dict("records")]


# -- the comparison --------------------------------------------------------------------------------------


def _lookups(snapshot: PortalSnapshot) -> dict[str, dict[int, Any]]:
    users = snapshot.users
    apps = snapshot.apps
    return {
        "email": dict(zip(users["user_id"].astype(int), users["email"], strict=True)),
        "app_name": dict(zip(apps["app_id"].astype(int), apps["name"], strict=True)),
        "plan": dict(zip(snapshot.plans["plan_id"].astype(int), snapshot.plans["name"], strict=True)),
        "product": dict(zip(snapshot.products["product_id"].astype(int), snapshot.products["name"], strict=True)),
    }


def _names(ids: Iterable[int], names: Mapping[int, Any]) -> list[str]:
    return [str(names.get(i, f"#{i}")) for i in ids]


def _portal_fields(cred: Mapping[str, Any], look: dict[str, dict[int, Any]]) -> dict[str, Any]:
    user_id = _nullable_int(cred.get("user_id"))
    plan_id = _nullable_int(cred.get("plan_id"))
    product_ids = sorted(set(_ints(cred.get("product_ids"))))
    app_id = _nullable_int(cred.get("app_id"))
    return {
        "credential_id": _nullable_int(cred.get("credential_id")),
        "app_id": app_id,
        "portal_app_name": look["app_name"].get(app_id) if app_id is not None else None,
        "portal_user_id": user_id,
        "portal_owner_email": look["email"].get(user_id) if user_id is not None else None,
        "portal_plan_id": plan_id,
        "portal_plan": look["plan"].get(plan_id) if plan_id is not None else None,
        "portal_product_ids": product_ids,
        "portal_products": _names(product_ids, look["product"]),
        "portal_alias": cred.get("alias"),
    }


def _judge(row: dict[str, Any]) -> tuple[str, str]:
    """The status of one legacy row that has exactly one credential, and every difference found."""
    found: list[tuple[str, str]] = []
    legacy_email = str(row.get("owner_email") or "").strip().lower()
    portal_email = str(row.get("portal_owner_email") or "").strip().lower()
    expected_user = row.get("expected_user_id")
    # the planner's user (owner mapping applied) decides; the e-mail only when the owner did not resolve
    if (expected_user is not None and row["portal_user_id"] != expected_user) or (
        expected_user is None and portal_email != legacy_email
    ):
        found.append((WRONG_OWNER, f"owner is {portal_email or 'unknown user'}, legacy owner {legacy_email}"))
    expected_plan = row.get("expected_plan_id")
    if expected_plan is None:
        found.append(("", f"plan not checked: legacy plan {row.get('legacy_plan')!s} does not resolve"))
    elif row["portal_plan_id"] != expected_plan:
        found.append((WRONG_PLAN, f"plan is {row.get('portal_plan')}, expected {row.get('expected_plan')}"))
    expected_products = row.get("expected_product_ids") or []
    if not expected_products:
        found.append(("", "products not checked: legacy products do not resolve"))
    elif sorted(row["portal_product_ids"]) != sorted(expected_products):
        found.append(
            (
                WRONG_PRODUCTS,
                f"products are {', '.join(row['portal_products']) or 'none'}, "
                f"expected {', '.join(row['expected_products'])}",
            )
        )
    statuses = [s for s, _ in found if s]
    return (statuses[0] if statuses else PRESENT), "; ".join(d for _, d in found)
