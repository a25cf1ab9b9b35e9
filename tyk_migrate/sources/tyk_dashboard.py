"""Tyk Dashboard key dump (the answer of ``GET /api/keys/detailed``) into the canonical frame.

``{"keys": [{"key_id", "key_hash", "data": SessionState, "api_model"}], "pages"}``. Plan and products
come from ``data.apply_policies`` by the rule in ``policies.py``; the owner's email from a ``meta_data``
field, or through ``meta_data.tyk_developer_id`` from a Classic Portal developer dump given beside it.
With key hashing on, ``key_id`` is a hash, not the token: validation warns about hash-looking values.
The key's limits today come from the SessionState (``rate``, ``per``, ``quota_max``, ``quota_renewal_rate``,
``access_rights`` -> ``api_ids``), as the Dashboard stored them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..errors import InputError
from ..hash_only import mark_hash_only
from ..limits import access_api_ids
from . import canonical, jsontext
from .encoding import decode
from .limits import LIMIT_COLUMNS
from .policies import split_policies

EMAIL_FIELDS = ("email", "developer_email", "owner_email", "user_email")


def parse_json(data: bytes, source: str, what: str = "JSON") -> Any:
    text, _ = decode(data, source)
    try:
        return jsontext.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = (
            f" ({exc.msg} at line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else " (nested too deeply)"
        )
        raise InputError(f"{source}: not valid JSON{where}; expected {what}") from None


def developer_index(doc: Any, source: str = "developers") -> dict[str, dict[str, Any]]:
    """``{developer id: developer}`` from a Classic Portal developer dump (``{"Data": [...]}`` or a list)."""
    devs = doc.get("Data", doc.get("data")) if isinstance(doc, dict) else doc
    if not isinstance(devs, list):
        raise InputError(f'{source}: expected a Classic Portal developer dump {{"Data": [...]}}')
    out: dict[str, dict[str, Any]] = {}
    for d in devs:
        if isinstance(d, dict) and d.get("id") is not None:
            out[str(d["id"])] = d
    return out


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def tyk_expires(value: object) -> object:
    """``data.expires`` as the gateway reads it: a key expires only when ``expires >= 1`` (unix seconds).

    Tyk treats 0, -1 and every other value below 1 as "never expires", so a dump's -2 is never too. Seconds
    past 2262 are never in practice (``canonical.LATEST``), and must not reach ``parse_expiry``, whose
    milliseconds rule would read 253402300799 (9999-12-31 in seconds) as a date in 1978.
    """
    if value is None or value is False:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value  # text or other JSON: parse_expiry judges it like any export's expiry
    if value != value or value < 1 or value > canonical.LATEST_SECONDS:  # NaN compares unequal to itself
        return ""
    return value


def load_dashboard(
    doc: Any,
    *,
    source: str,
    developers: Mapping[str, Mapping[str, Any]] | None = None,
    email_field: str = "email",
    report: list | None = None,
) -> pd.DataFrame:
    if not isinstance(doc, dict) or not isinstance(doc.get("keys", []), list | type(None)):
        raise InputError(f'{source}: expected a Dashboard key dump {{"keys": [...]}}')
    entries = doc.get("keys") or []
    fields = (email_field, *[f for f in EMAIL_FIELDS if f != email_field])
    cols: dict[str, list[Any]] = {
        c: []
        for c in (
            "source_id",
            "key_id",
            "owner_email",
            "alias",
            "plan",
            "products",
            "expires_at",
            "active",
            "org",
            "app_name",
            *LIMIT_COLUMNS,
            "expires_known",
        )
    }
    joined = unmatched = 0
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InputError(f"{source}: keys[{i}] is a {type(entry).__name__}, expected an object")
        data = _obj(entry.get("data"))
        meta = _obj(data.get("meta_data"))
        email = next((meta[f] for f in fields if isinstance(meta.get(f), str) and meta[f].strip()), None)
        dev_id = meta.get("tyk_developer_id")
        if email is None and developers is not None and dev_id is not None:
            dev = developers.get(str(dev_id))
            if dev is not None:
                email = dev.get("email")
                joined += 1
            else:
                unmatched += 1
        rights = _obj(data.get("access_rights"))
        policies = data.get("apply_policies") or ([data["apply_policy_id"]] if data.get("apply_policy_id") else [])
        plan, products = split_policies(policies if isinstance(policies, list) else [policies], rights)
        expires = data.get("expires")
        cols["source_id"].append(entry.get("key_hash") or None)
        cols["key_id"].append(entry.get("key_id"))
        cols["owner_email"].append(email)
        cols["alias"].append(data.get("alias"))
        cols["plan"].append(plan)
        cols["products"].append(products)
        cols["expires_at"].append(tyk_expires(expires))
        cols["active"].append(not bool(data.get("is_inactive")))
        cols["org"].append(data.get("org_id"))
        cols["app_name"].append(meta.get("app_name") or meta.get("app") or None)
        for field in ("rate", "per", "quota_max", "quota_renewal_rate"):
            cols[field].append(data.get(field))
        cols["api_ids"].append(access_api_ids(rights) if isinstance(data.get("access_rights"), dict) else None)
        cols["expires_known"].append("expires" in data)
    column_map = {
        "key_id": "keys[].key_id",
        "source_id": "keys[].key_hash",
        "owner_email": f"data.meta_data.{'|'.join(fields)}"
        + (" or tyk_developer_id -> developers" if developers is not None else ""),
        "alias": "data.alias",
        "plan": "data.apply_policies[0]",
        "products": "data.apply_policies[1:] (else access_rights API names)",
        "expires_at": "data.expires",
        "active": "data.is_inactive (inverted)",
        "org": "data.org_id",
        "app_name": "data.meta_data.app_name",
        **{c: f"data.{c}" for c in ("rate", "per", "quota_max", "quota_renewal_rate")},
        "api_ids": "data.access_rights (API IDs)",
    }
    frame = canonical.build_frame(len(entries), cols, fmt="dashboard", column_map=column_map)
    frame = mark_hash_only(frame)  # a hashed Dashboard lists hashes: kept, and rejected by validate with the why
    if report is not None:
        report.append(f"Dashboard dump: {len(entries)} key(s)")
        if developers is not None:
            report.append(f"owner emails joined through tyk_developer_id: {joined}; developer not found: {unmatched}")
    return canonical.by_source_row(frame)  # a live Dashboard read is labelled like a file of its answer
