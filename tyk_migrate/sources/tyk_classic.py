"""Tyk Classic Portal developer dump (the answer of ``GET /api/portal/developers``) into the canonical frame.

``{"Data": [developer, ...], "Pages": N}``; one row per key of each developer, from ``keys``
(``{key: [policy_id, ...]}``) and ``subscriptions`` (``{policy_id: key}``). With key hashing on (the
usual production setting) these keys are hashes, not tokens: validation warns strongly about that.
The dump holds no limits and no expiry: given the Dashboard's policies (``policies=``), each key's rate,
quota and API IDs are what its policies add up to (``tyk_migrate.limits.combine_policies``); its expiry
stays unknown (``expires_known`` False).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..errors import InputError
from ..limits import combine_policies
from . import canonical
from .limits import LIMIT_COLUMNS
from .policies import split_policies


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def policy_index(doc: Any, source: str = "policies") -> dict[str, Mapping[str, Any]]:
    """``{policy id: policy}`` from a Dashboard policy list (``GET /api/portal/policies``: ``{"Data": [...]}``),
    a bare list, or the gateway's ``policies.json`` (``{id: policy}``); each policy under its ``id`` and ``_id``."""
    items = doc.get("Data", doc.get("data")) if isinstance(doc, dict) and ("Data" in doc or "data" in doc) else doc
    if isinstance(items, dict):
        items = [{**p, "id": p.get("id") or k} for k, p in items.items() if isinstance(p, dict)]
    if not isinstance(items, list):
        raise InputError(f'{source}: expected a Dashboard policy list {{"Data": [...]}} or a policies.json object')
    index: dict[str, Mapping[str, Any]] = {}
    for p in items:
        for field in ("id", "_id"):
            if isinstance(p, dict) and p.get(field):
                index.setdefault(str(p[field]), p)
    return index


def _limits(policy_ids: list[object], policies: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The key's limits from its policies; all unknown when one of them is not in the policy list."""
    found = [policies.get(str(p).strip()) for p in policy_ids if p is not None and str(p).strip()]
    if not found or any(p is None for p in found):
        return dict.fromkeys(LIMIT_COLUMNS)
    return combine_policies(p for p in found if p is not None)


def load_classic(
    doc: Any,
    *,
    source: str,
    policies: Mapping[str, Mapping[str, Any]] | None = None,
    report: list | None = None,
) -> pd.DataFrame:
    """``policies`` (``policy_index``): the Dashboard's policies, for the keys' limits and API IDs today."""
    devs = doc.get("Data", doc.get("data")) if isinstance(doc, dict) else doc
    if not isinstance(devs, list):
        raise InputError(f'{source}: expected a Classic Portal developer dump {{"Data": [...]}}')
    names = ("source_id", "key_id", "owner_email", "plan", "products", "active", "org", "app_name")
    cols: dict[str, list[Any]] = {c: [] for c in (*names, *(LIMIT_COLUMNS if policies is not None else ()))}
    for i, dev in enumerate(devs):
        if not isinstance(dev, dict):
            raise InputError(f"{source}: Data[{i}] is a {type(dev).__name__}, expected an object")
        per_key: dict[str, list[object]] = {}
        keys = _obj(dev.get("keys"))
        for key, listed in keys.items():
            per_key.setdefault(str(key), []).extend(listed if isinstance(listed, list) else [listed])
        subs = _obj(dev.get("subscriptions"))
        for policy, key in subs.items():
            if key is not None:
                per_key.setdefault(str(key), []).append(policy)
        fields = _obj(dev.get("fields"))
        for key, policies_of_key in per_key.items():
            plan, products = split_policies(policies_of_key)
            cols["source_id"].append(dev.get("id"))
            cols["key_id"].append(key)
            cols["owner_email"].append(dev.get("email"))
            cols["plan"].append(plan)
            cols["products"].append(products)
            cols["active"].append(not bool(dev.get("inactive")))
            cols["org"].append(dev.get("org_id"))
            cols["app_name"].append(fields.get("app_name") or fields.get("App") or None)
            if policies is not None:
                for name, value in _limits(policies_of_key, policies).items():
                    cols[name].append(value)
    column_map = {
        "key_id": "Data[].keys / subscriptions",
        "source_id": "Data[].id",
        "owner_email": "Data[].email",
        "plan": "first policy of the key",
        "products": "other policies of the key",
        "active": "Data[].inactive (inverted)",
        "org": "Data[].org_id",
        "app_name": "Data[].fields.app_name",
        **({c: "the key's policies (policies=)" for c in LIMIT_COLUMNS} if policies is not None else {}),
    }
    frame = canonical.build_frame(len(cols["key_id"]), cols, fmt="classic", column_map=column_map)
    if report is not None:
        report.append(f"Classic Portal dump: {len(devs)} developer(s), {len(frame)} key(s)")
    return frame
