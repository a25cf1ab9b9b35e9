"""Tyk Classic Portal developer dump (the answer of ``GET /api/portal/developers``) into the canonical frame.

``{"Data": [developer, ...], "Pages": N}``; one row per key of each developer, from ``keys``
(``{key: [policy_id, ...]}``) and ``subscriptions`` (``{policy_id: key}``). With key hashing on (the
usual production setting) these keys are hashes, not tokens: validation warns strongly about that.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import InputError
from . import canonical
from .policies import split_policies


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def load_classic(doc: Any, *, source: str, report: list | None = None) -> pd.DataFrame:
    devs = doc.get("Data", doc.get("data")) if isinstance(doc, dict) else doc
    if not isinstance(devs, list):
        raise InputError(f'{source}: expected a Classic Portal developer dump {{"Data": [...]}}')
    cols: dict[str, list[Any]] = {
        c: [] for c in ("source_id", "key_id", "owner_email", "plan", "products", "active", "org", "app_name")
    }
    for i, dev in enumerate(devs):
        if not isinstance(dev, dict):
            raise InputError(f"{source}: Data[{i}] is a {type(dev).__name__}, expected an object")
        per_key: dict[str, list[object]] = {}
        keys = _obj(dev.get("keys"))
        for key, policies in keys.items():
            per_key.setdefault(str(key), []).extend(policies if isinstance(policies, list) else [policies])
        subs = _obj(dev.get("subscriptions"))
        for policy, key in subs.items():
            if key is not None:
                per_key.setdefault(str(key), []).append(policy)
        fields = _obj(dev.get("fields"))
        for key, policies in per_key.items():
            plan, products = split_policies(policies)
            cols["source_id"].append(dev.get("id"))
            cols["key_id"].append(key)
            cols["owner_email"].append(dev.get("email"))
            cols["plan"].append(plan)
            cols["products"].append(products)
            cols["active"].append(not bool(dev.get("inactive")))
            cols["org"].append(dev.get("org_id"))
            cols["app_name"].append(fields.get("app_name") or fields.get("App") or None)
    column_map = {
        "key_id": "Data[].keys / subscriptions",
        "source_id": "Data[].id",
        "owner_email": "Data[].email",
        "plan": "first policy of the key",
        "products": "other policies of the key",
        "active": "Data[].inactive (inverted)",
        "org": "Data[].org_id",
        "app_name": "Data[].fields.app_name",
    }
    frame = canonical.build_frame(len(cols["key_id"]), cols, fmt="classic", column_map=column_map)
    if report is not None:
        report.append(f"Classic Portal dump: {len(devs)} developer(s), {len(frame)} key(s)")
    return frame
