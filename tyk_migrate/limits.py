"""Tyk's units for rate limits, quotas and key expiry: the one home of how their values are read.

The gateway's rules (TykTechnologies/tyk, ``gateway/session_manager.go`` and ``internal/policy/apply.go``):

- a rate limit is ``rate`` requests per ``per`` seconds; a ``rate`` of 0 or below (the Dashboard's
  "disable rate limiting" writes -1) means no rate limit;
- a quota is ``quota_max`` requests per ``quota_renewal_rate`` seconds; a ``quota_max`` of 0 or -1 means no
  quota; a renewal rate of 0 or below means the quota never renews (a lifetime cap);
- several policies on one key: the higher request rate wins, the larger quota wins (-1 above every number),
  the longer renewal rate wins, and the APIs are the union of the policies' ``access_rights``.

A portal plan (the official portal API's ``Plan``) says the same with ``RateLimit`` per ``Per`` seconds and
``UnlimitedRateLimit``; ``Quota`` per ``QuotaRenewalRate`` seconds and ``UnlimitedQuota``; ``KeyExpiresIn``
seconds, 0 (or below) for keys that never expire.

Vectorised helpers take and give float arrays: ``inf`` is "no limit", ``nan`` is "not known".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

UNLIMITED = math.inf


def _float(value: object) -> float:
    """A number as float; nan for anything else (None, NA, text, bool)."""
    if isinstance(value, bool) or value is None or value is pd.NA:
        return math.nan
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def requests_per_second(rate: object, per: object) -> float:
    """``rate`` requests per ``per`` seconds as requests per second: ``inf`` no limit, ``nan`` not known."""
    r, p = _float(rate), _float(per)
    if math.isnan(r):
        return math.nan
    if r <= 0:
        return UNLIMITED
    return r / p if p > 0 else math.nan


def rates_per_second(rate: Any, per: Any, unlimited: Any = None) -> np.ndarray:
    """``requests_per_second`` over columns; ``unlimited`` (a portal plan's flag) forces ``inf`` where true."""
    r = pd.to_numeric(pd.Series(rate, dtype=object), errors="coerce").to_numpy(dtype=float)
    p = pd.to_numeric(pd.Series(per, dtype=object), errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(r <= 0, UNLIMITED, np.where(p > 0, r / p, math.nan))
    out[np.isnan(r)] = math.nan
    if unlimited is not None:
        out[pd.Series(unlimited, dtype=object).fillna(False).astype(bool).to_numpy()] = UNLIMITED
    return out


def quota_is_unlimited(quota_max: object) -> bool | None:
    """True for no quota (0 or below), False for a cap, None when not known."""
    q = _float(quota_max)
    return None if math.isnan(q) else q <= 0


def renews(renewal_rate: object) -> bool | None:
    """Whether a quota renews (a positive renewal rate); None when not known."""
    r = _float(renewal_rate)
    return None if math.isnan(r) else r > 0


def expires_in(seconds: object) -> float:
    """A plan's ``KeyExpiresIn`` in seconds: ``inf`` for never (0 or below), ``nan`` when not known."""
    s = _float(seconds)
    if math.isnan(s):
        return math.nan
    return UNLIMITED if s <= 0 else s


def combine_policies(policies: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What several Tyk policies on one key add up to, by the gateway's rules (module docstring).

    Returns ``rate``, ``per``, ``quota_max``, ``quota_renewal_rate`` (None where no policy has the field) and
    ``api_ids`` (the union of the policies' ``access_rights``, in order). Partitions and per-API limits
    are not modelled: every policy's own values count.
    """
    best_rps, rate, per = -1.0, None, None
    rate_given = False
    quota: float | None = None
    renewal: float | None = None
    api_ids: list[str] = []
    for policy in policies:
        r, p = _float(policy.get("rate")), _float(policy.get("per"))
        rate_given = rate_given or not math.isnan(r)
        if not math.isnan(r) and r != 0 and (r < 0 or p > 0):  # 0, or a rate without a period, sets nothing
            rps = requests_per_second(r, p)
            if rps > best_rps:
                best_rps, rate, per = rps, r, p
        q = _float(policy.get("quota_max"))
        if not math.isnan(q) and (quota is None or (quota != -1 and (q == -1 or q > quota))):
            quota = q
        qr = _float(policy.get("quota_renewal_rate"))
        if not math.isnan(qr) and (renewal is None or qr > renewal):
            renewal = qr
        api_ids.extend(a for a in access_api_ids(policy.get("access_rights")) if a not in api_ids)
    if rate is None and rate_given:  # policies that all leave the rate empty: the gateway applies none
        rate, per = 0.0, 0.0
    return {"rate": rate, "per": per, "quota_max": quota, "quota_renewal_rate": renewal, "api_ids": api_ids}


def access_api_ids(access_rights: object) -> list[str]:
    """The gateway API IDs of a Tyk ``access_rights`` object (``{api_id: {"api_id": ..., ...}}``), in order."""
    ids: list[str] = []
    for api_id, right in access_rights.items() if isinstance(access_rights, Mapping) else ():
        value = str((right.get("api_id") if isinstance(right, Mapping) else None) or api_id).strip()
        if value and value not in ids:
            ids.append(value)
    return ids


def number(value: float) -> str:
    """A number for a sentence as an export writes it: whole numbers plainly (``31536000``), others to 6 digits."""
    v = float(value)
    return f"{v:.0f}" if v.is_integer() and abs(v) < 1e15 else f"{v:.6g}"


def period(seconds: float) -> str:
    """A period for a sentence: ``30d``, ``1h``, ``5min`` when exact, else seconds (``90s``)."""
    s = float(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size and s % size == 0:
            return f"{number(s / size)}{unit}"
    return f"{number(s)}s"
