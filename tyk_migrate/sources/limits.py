"""A key's rate limit, quota and API access today: the canonical frame's optional limit columns.

Loaders hand over raw values per column (numbers, text, lists, None) and ``limit_columns`` types them:

- ``rate``, ``per`` (Float64): ``rate`` requests per ``per`` seconds;
- ``quota_max``, ``quota_renewal_rate`` (Int64): ``quota_max`` requests per ``quota_renewal_rate`` seconds;
- ``api_ids`` (object): the list of gateway API IDs the key may call today, or None where the source does
  not say (``[]`` is a key that may call none);
- ``limits_raw`` (str): the text of values that could not be read (``rate='ten'``), for validation's
  ``limit_unreadable`` warning; NA where every value was read.

NA means "not known", never "unlimited": Tyk's own spellings of "no limit" (``-1``, ``0``) are kept as
numbers and read by ``tyk_migrate.limits``. Flat files may also write ``unlimited`` (-1) in ``rate`` and
``quota_max``. The columns are added only when the source has at least one of them, so an export without
limits keeps the exact canonical columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..secrets import mask
from .canonical import as_text, parse_products

LIMIT_COLUMNS: tuple[str, ...] = ("rate", "per", "quota_max", "quota_renewal_rate", "api_ids")
#: The limit columns plus the loader's leftovers, in the order the frame holds them.
FRAME_COLUMNS: tuple[str, ...] = (*LIMIT_COLUMNS, "limits_raw")
DTYPES: dict[str, Any] = {"rate": "Float64", "per": "Float64", "quota_max": "Int64", "quota_renewal_rate": "Int64"}
#: Header names recognised per limit column (``headers.SYNONYMS`` appends these after the core columns, so a
#: lone ``api_ids`` header still means ``products``, as it always did).
LIMIT_SYNONYMS: dict[str, tuple[str, ...]] = {
    "rate": ("rate", "rate_limit", "rate_limit_rate", "throttle_rate"),
    "per": ("per", "rate_per", "rate_limit_per", "per_seconds", "rate_period", "rate_limit_period"),
    "quota_max": ("quota_max", "quota", "quota_limit", "max_quota"),
    "quota_renewal_rate": ("quota_renewal_rate", "quota_renewal", "quota_renews_every", "quota_period"),
    "api_ids": ("api_ids", "gateway_api_ids", "tyk_api_ids", "allowed_api_ids"),
}
MAX_SHOWN = 12
_BLANK = frozenset({"", "nan", "none", "null", "n/a", "na", "-"})
_UNLIMITED_WORDS = frozenset({"unlimited", "no limit", "infinite"})
_MAY_SAY_UNLIMITED = frozenset({"rate", "quota_max"})


def _number(values: pd.Series, name: str, n: int) -> tuple[pd.Series, list[str | None]]:
    """The typed column and, per row, the unreadable text (None where read or blank)."""
    text = as_text(values.reset_index(drop=True)).str.strip()
    lower = text.str.lower()
    blank = (text.isna() | lower.isin(_BLANK)).to_numpy(dtype=bool)
    if name in _MAY_SAY_UNLIMITED:
        text = text.mask(lower.isin(_UNLIMITED_WORDS), "-1")
    numbers = pd.to_numeric(text.where(~blank), errors="coerce").astype("float64")
    ok = np.isfinite(numbers.to_numpy()) & (numbers.to_numpy() >= -1)
    if DTYPES[name] == "Int64":
        ok &= numbers.fillna(0.5).to_numpy() % 1 == 0
    bad = ~blank & ~ok
    column = pd.Series(numbers.where(ok).to_numpy(), index=pd.RangeIndex(n)).astype(DTYPES[name])
    raw = [f"{name}={_shown(t)!r}" if b else None for t, b in zip(text.tolist(), bad.tolist(), strict=True)]
    return column, raw


def _shown(text: str) -> str:
    """A limit is a short number: longer text (a key in the wrong column?) is shown masked, never whole."""
    return text if len(text) <= MAX_SHOWN else mask(text)


def _api_ids(values: pd.Series, n: int) -> pd.Series:
    """Lists of API IDs (split like products); None where the source gave nothing for the row."""
    values = values.reset_index(drop=True)
    parsed = parse_products(values)
    missing = [
        v is None or (not isinstance(v, list | tuple | np.ndarray) and (pd.isna(v) or not str(v).strip()))
        for v in values.tolist()
    ]
    return pd.Series([None if m else p for p, m in zip(parsed, missing, strict=True)], index=pd.RangeIndex(n))


def limit_columns(columns: Mapping[str, Any], n: int) -> dict[str, pd.Series] | None:
    """``FRAME_COLUMNS`` from the loader's raw values, or None when the source has none of the limits."""
    given = {c: columns[c] for c in LIMIT_COLUMNS if columns.get(c) is not None}
    if not given or n == 0:  # an export without records gives the bare canonical frame, whatever its format
        return None
    index = pd.RangeIndex(n)
    out: dict[str, pd.Series] = {}
    problems: list[list[str]] = [[] for _ in range(n)]
    for name in LIMIT_COLUMNS:
        raw = given.get(name)
        series = None if raw is None else raw if isinstance(raw, pd.Series) else pd.Series(list(raw), dtype=object)
        if name == "api_ids":
            out[name] = pd.Series([None] * n, index=index, dtype=object) if series is None else _api_ids(series, n)
            continue
        if series is None:
            out[name] = pd.Series(pd.NA, index=index, dtype=DTYPES[name])
            continue
        out[name], unread = _number(series, name, n)
        for i in (i for i, u in enumerate(unread) if u):
            problems[i].append(str(unread[i]))
    out["limits_raw"] = pd.Series(["; ".join(p) if p else None for p in problems], index=index, dtype="str")
    return out
