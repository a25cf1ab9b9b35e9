"""Which keys are live in the gateway today, and what importing them changes for their clients.

Moving from the Classic Portal or a bare Dashboard to the new portal on the same Tyk installation, the keys
to migrate usually work in the gateway today, and creating a custom credential with such a KeyID replaces
the key's session (TYK-FACTS "Duplicate KeyID": the gateway overwrites) with the one the portal makes from
the plan and products: policies, rate limit, quota, expiry, metadata. ``live_keys(settings, frame)`` asks
the Dashboard about each key of a frame (legacy, valid or plan) and answers one row per key fingerprint:

=============================  ===============================================================================
``key_fingerprint``            the key (as in every frame)
``live``                       the Dashboard found the key: it opens the gateway today (or did: see active)
``lookup``                     how it was asked: ``key`` (by value), ``hash`` (by its hash), ``""`` not found
``live_owner_email``           the live session's owner (``meta_data`` email or Classic Portal developer)
``live_policies``              its ``apply_policies`` (list)
``live_rate``, ``live_per``    its rate limit: ``rate`` requests per ``per`` seconds (Float64; 0 = none)
``live_quota_max``,            its quota: ``quota_max`` requests per ``quota_renewal_rate`` seconds
``live_quota_renewal_rate``    (Int64; -1 = unlimited)
``live_api_ids``               the gateway API IDs of its ``access_rights`` (list; None when not live)
``live_expires_at``            its expiry (UTC; NaT = never or not live)
``live_active``                not ``is_inactive`` (boolean; NA when not live)
``live_changes``               what the import changes for the key's clients, in words ("" when not live)
=============================  ===============================================================================

Values are the Dashboard's as stored (Tyk's units: ``tyk_migrate.limits`` where the planner reads them).
``live_keys_hook(live)`` gives the frame a planner's live-key hook takes (``build_plan(live_keys=...)``):
live rows only, with ``key_fingerprint`` and ``owner_email``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .concurrency import AdaptiveReads
from .config import Settings
from .dashboard import AsyncDashboardClient, KeyLookup, Lookup, developers_by_id, list_developers, lookup_sessions
from .dashboard import with_client as dashboard_client
from .dashboard_enrich import sessions_frame, shown
from .errors import InputError
from .sources.canonical import DT_DTYPE

LIVE_COLUMNS = [
    "key_fingerprint",
    "live",
    "lookup",
    "live_owner_email",
    "live_policies",
    "live_rate",
    "live_per",
    "live_quota_max",
    "live_quota_renewal_rate",
    "live_api_ids",
    "live_expires_at",
    "live_active",
    "live_changes",
]
#: session field -> (column, dtype) of the numbers copied as the Dashboard stores them
NUMBERS = {
    "rate": ("live_rate", "Float64"),
    "per": ("live_per", "Float64"),
    "quota_max": ("live_quota_max", "Int64"),
    "quota_renewal_rate": ("live_quota_renewal_rate", "Int64"),
}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return float(value)


def _api_ids(access_rights: object) -> list[str]:
    if not isinstance(access_rights, dict):
        return []
    ids = [str((r.get("api_id") if isinstance(r, dict) else None) or k).strip() for k, r in access_rights.items()]
    return list(dict.fromkeys(i for i in ids if i))


def _policies(data: dict[str, Any]) -> list[str]:
    listed = data.get("apply_policies") or ([data["apply_policy_id"]] if data.get("apply_policy_id") else [])
    return [str(p).strip() for p in (listed if isinstance(listed, list) else [listed]) if str(p).strip()]


def _limits_text(data: dict[str, Any]) -> str:
    parts = []
    rate, per = _number(data.get("rate")), _number(data.get("per"))
    if rate is not None and rate > 0:
        parts.append(f"rate {shown(rate)}/{shown(per)}s")
    quota, renews = _number(data.get("quota_max")), _number(data.get("quota_renewal_rate"))
    if quota is not None and quota > 0:
        parts.append(f"quota {shown(quota)}" + (f" per {shown(renews)}s" if renews and renews > 0 else ""))
    return ", ".join(parts)


def _changes(row: pd.Series, data: dict[str, Any], live: pd.Series) -> str:
    """What creating the custom credential changes for the key's clients, from the live session and the row."""
    out = []
    owner, live_owner = row.get("owner_email"), live.get("owner_email")
    if isinstance(owner, str) and isinstance(live_owner, str) and owner.strip().lower() != live_owner:
        out.append(f"owner {live_owner} -> {owner.strip().lower()}")
    wanted = [p for p in [row.get("plan"), *(row.get("products") or [])] if isinstance(p, str) and p]
    policies = _policies(data)
    if wanted and set(wanted) != set(policies):
        out.append(f"policies {shown(policies) or 'none'} -> {shown(wanted)}")
    today = [t for t in [_limits_text(data)] if t]
    expiry = live.get("expires_at")
    if not pd.isna(expiry):
        today.append(f"expiry {pd.Timestamp(expiry):%Y-%m-%d}")
    said = ", ".join(today) if today else "no rate limit, quota or expiry"
    out.append(f"today {said}: the import applies the target plan's instead")
    if data.get("is_inactive"):
        out.append("inactive today: the imported key is active")
    return "; ".join(out)


def _frame(frame: pd.DataFrame, lookups: list[Lookup], developers: dict[str, dict[str, Any]] | None) -> pd.DataFrame:
    sessions = sessions_frame(lookups, developers)
    at = np.cumsum([lk.found for lk in lookups]) - 1  # row of each found lookup in ``sessions``
    n = len(frame)
    cols: dict[str, list[Any]] = {c: [] for c in LIVE_COLUMNS}
    for i, (lk, (_, row)) in enumerate(zip(lookups, frame.iterrows(), strict=True)):
        data = (lk.entry or {}).get("data") or {}
        live = sessions.iloc[at[i]] if lk.found else pd.Series(dtype=object)
        cols["key_fingerprint"].append(row["key_fingerprint"])
        cols["live"].append(lk.found)
        cols["lookup"].append(lk.via)
        cols["live_owner_email"].append(live.get("owner_email") if lk.found else None)
        cols["live_policies"].append(_policies(data) if lk.found else [])
        for field, (column, _) in NUMBERS.items():
            cols[column].append(_number(data.get(field)))
        cols["live_api_ids"].append(_api_ids(data.get("access_rights")) if lk.found else None)
        cols["live_expires_at"].append(live.get("expires_at") if lk.found else pd.NaT)
        cols["live_active"].append(bool(live.get("active")) if lk.found else None)
        cols["live_changes"].append(_changes(row, data, live) if lk.found else "")
    out = pd.DataFrame(
        {
            "key_fingerprint": pd.Series(cols["key_fingerprint"], dtype="str"),
            "live": pd.Series(cols["live"], dtype=bool),
            "lookup": pd.Series(cols["lookup"], dtype="str"),
            "live_owner_email": pd.Series(cols["live_owner_email"], dtype="str"),
            "live_policies": pd.Series(cols["live_policies"], dtype=object),
            **{column: pd.Series(cols[column], dtype=dtype) for column, dtype in NUMBERS.values()},
            "live_api_ids": pd.Series(cols["live_api_ids"], dtype=object),
            "live_expires_at": pd.Series(pd.to_datetime(cols["live_expires_at"], utc=True), dtype=DT_DTYPE),
            "live_active": pd.Series(cols["live_active"], dtype="boolean"),
            "live_changes": pd.Series(cols["live_changes"], dtype="str"),
        },
        index=pd.RangeIndex(n),
    )
    return out[LIVE_COLUMNS]


async def live_keys_async(
    frame: pd.DataFrame,
    client: AsyncDashboardClient,
    *,
    hash_function: str | None = None,
    org_id: str | None = None,
    concurrency: int = 16,
) -> pd.DataFrame:
    """``live_keys`` with a client of the caller's (left open)."""
    if not isinstance(frame, pd.DataFrame) or not {"key_id", "key_fingerprint"} <= set(frame.columns):
        raise InputError("live_keys needs a frame with key_id and key_fingerprint (a legacy or plan frame)")
    rows = frame.drop_duplicates("key_fingerprint").reset_index(drop=True)  # one answer per key
    how = KeyLookup(hash_function, org_id)
    async with AdaptiveReads(client, concurrency=concurrency) as reads:
        lookups, developers = await reads.gather(
            lookup_sessions(reads, rows["key_id"].tolist(), how, workers=concurrency), list_developers(reads)
        )
    return _frame(rows, lookups, developers_by_id(developers))


def live_keys(
    settings: Settings | None,
    frame: pd.DataFrame,
    *,
    hash_function: str | None = None,
    org_id: str | None = None,
    concurrency: int = 16,
) -> pd.DataFrame:
    """One row per key of ``frame``: is it live in the gateway today, and what would the import change
    (module docstring). Lookups as ``enrich_from_dashboard``'s (by value, or by hash with ``hash_function``
    and ``org_id``). Blocking; safe in a notebook cell."""
    KeyLookup(hash_function, org_id)  # a bad hash setting is one line before any request

    async def run(client: AsyncDashboardClient) -> pd.DataFrame:
        return await live_keys_async(frame, client, hash_function=hash_function, org_id=org_id, concurrency=concurrency)

    return dashboard_client(settings, run)


def live_keys_hook(live: pd.DataFrame) -> pd.DataFrame:
    """The live keys as a planner's live-key hook takes them: live rows, ``key_fingerprint`` and ``owner_email``."""
    rows = live.loc[live["live"].astype(bool), ["key_fingerprint", "live_owner_email"]]
    return rows.rename(columns={"live_owner_email": "owner_email"}).reset_index(drop=True)
