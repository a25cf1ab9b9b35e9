"""Complete a file of raw keys from the Dashboard: each key's live session fills what the file does not say.

A hashed Dashboard cannot give keys back, but it can describe a key given to it. So the raw values come from
outside Tyk (the issuing system, a non-hashed store: TYK-FACTS "Raw keys and hashing") in a file that may hold
nothing else (``load_keys(path, required=("key_id",))``), and ``enrich_from_dashboard`` asks the Dashboard for
each key's session, key by key and concurrently (``dashboard.lookup_sessions``), and reads it with the
Dashboard-dump loader (``sources.tyk_dashboard``): owner (``meta_data`` email, or the Classic Portal
developer of ``tyk_developer_id``), plan and products (``apply_policies``), expiry, status, alias, app name,
and the limits and API IDs where the loader reads them.

What the file says wins. A column the file has is a statement even where a cell says "never" or "active" by
being blank (``expires_at``, ``active``); for the other columns an empty cell is "not known" and the
Dashboard's value fills it. Every value the file and the Dashboard both give and disagree on is one row of
``Enrichment.disagreements``; keys the Dashboard does not know are in ``Enrichment.lookups`` (``found`` False)
and keep the file's values only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .concurrency import AdaptiveReads
from .config import Settings
from .dashboard import AsyncDashboardClient, KeyLookup, Lookup, developers_by_id, list_developers, lookup_sessions
from .dashboard import with_client as _with_client
from .errors import InputError
from .sources.tyk_dashboard import load_dashboard

#: Columns a file states even by a blank cell (blank expiry = never; no status column = active by default),
#: each with the column whose presence in the file makes the statement (``expires_known``, "does the source say
#: when the key expires", goes with the expiry).
STATED_BY_COLUMN = {"expires_at": "expires_at", "active": "active", "expires_known": "expires_at"}
#: Filled but never reported as a disagreement: a file's ``org`` is the owner's company, a Dashboard's is Tyk's
#: org ID (they differ by meaning, not by a mistake); the other two are bookkeeping of columns compared already.
NOT_COMPARED = frozenset({"org", "expires_known", "limits_raw"})
#: The canonical columns the Dashboard's session can fill, in frame order; optional columns join when the
#: Dashboard loader gives them (the limits: ``rate``, ``per``, ``quota_max``, ``quota_renewal_rate``, ``api_ids``).
FILLED = ("owner_email", "app_name", "alias", "plan", "products", "expires_at", "active", "org")
NEVER_FILLED = frozenset({"source_row", "source_id", "key_id", "key_fingerprint", "expires_raw", "key_hash_only"})
DISAGREEMENT_COLUMNS = ["source_row", "key_fingerprint", "column", "file_value", "dashboard_value"]
LOOKUP_COLUMNS = ["source_row", "key_fingerprint", "found", "lookup"]


@dataclass
class Enrichment:
    """``frame``: the file's rows completed; ``disagreements``: one row per value the two disagree on (the
    file's kept); ``lookups``: per row whether the Dashboard knew the key and how it was asked (key / hash)."""

    frame: pd.DataFrame
    disagreements: pd.DataFrame
    lookups: pd.DataFrame


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, list | tuple | np.ndarray):
        return len(value) == 0
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _same(a: Any, b: Any) -> bool:
    """Equal as a person reads them: lists as sets, times to the second, numbers within float noise."""
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        return set(map(str, a or ())) == set(map(str, b or ()))
    if isinstance(a, pd.Timestamp) or isinstance(b, pd.Timestamp):
        if _missing(a) or _missing(b):
            return _missing(a) and _missing(b)
        return abs((pd.Timestamp(a) - pd.Timestamp(b)).total_seconds()) < 1
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    if _missing(a) and _missing(b):
        return True
    return bool(a == b)


def shown(value: Any) -> str:
    """A value as the disagreement report writes it (never a key: key columns are never compared)."""
    if isinstance(value, list | tuple):
        return ";".join(map(str, value))
    if isinstance(value, pd.Timestamp):
        return "never" if pd.isna(value) else value.isoformat()
    if _missing(value):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # 60, not 60.0: limits are whole numbers as Tyk writes them
    return str(value)


def _stated(frame: pd.DataFrame, column: str) -> bool:
    """Whether the file gave ``column`` (its loader matched a header to it); frames of unknown origin: yes."""
    column_map = frame.attrs.get("column_map")
    return column in column_map if isinstance(column_map, dict) else column in frame.columns


def sessions_frame(lookups: list[Lookup], developers: dict[str, dict[str, Any]] | None) -> pd.DataFrame:
    """The found sessions read as a Dashboard dump (one row per found lookup, in order)."""
    entries = [{**(lk.entry or {}), "key_id": None} for lk in lookups if lk.found]  # the key is the file's
    frame = load_dashboard({"keys": entries}, source="Dashboard sessions", developers=developers)
    if "expires_known" not in frame.columns:  # a session always says its expiry (0: never): a file may not
        frame["expires_known"] = True
    return frame


def merge(file: pd.DataFrame, dashboard: pd.DataFrame, found: np.ndarray) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The file's frame with the Dashboard's values where the file says nothing, and the disagreements."""
    out = file.copy()
    rows = file.index[found]
    dashboard = dashboard.set_axis(rows)
    disagreements: list[dict[str, Any]] = []
    source_rows, fingerprints = file.loc[rows, "source_row"].tolist(), file.loc[rows, "key_fingerprint"].tolist()
    columns = [c for c in (*FILLED, *dashboard.columns) if c in dashboard.columns and c not in NEVER_FILLED]
    column_map = dict(file.attrs.get("column_map") or {})
    for column in dict.fromkeys(columns):
        new = dashboard[column]
        if column not in out.columns:  # an optional column only the Dashboard has: rows it does not know get none
            if new.dtype == object:
                out[column] = pd.Series([None] * len(out), index=out.index, dtype=object)
                _assign(out, rows, column, new)
            else:
                out[column] = new.reindex(out.index, fill_value=False if new.dtype == bool else None)
            column_map[column] = "the Dashboard's session"
            continue
        current = out.loc[rows, column]
        if column in STATED_BY_COLUMN and not _stated(file, STATED_BY_COLUMN[column]):
            take = np.ones(len(rows), dtype=bool)
        else:
            take = np.array([_missing(v) for v in current.tolist()], dtype=bool)
        for i in map(int, np.flatnonzero(~take) if column not in NOT_COMPARED else ()):
            a, b = current.iloc[i], new.iloc[i]
            if not _missing(b) and not _same(a, b):
                disagreements.append(
                    {
                        "source_row": int(source_rows[i]),
                        "key_fingerprint": str(fingerprints[i]),
                        "column": column,
                        "file_value": shown(a),
                        "dashboard_value": shown(b),
                    }
                )
        if take.any():
            _assign(out, rows[take], column, new[take])
            before = column_map.get(column)
            column_map[column] = f"{before} (else the Dashboard's session)" if before else "the Dashboard's session"
    out.attrs = {**file.attrs, "column_map": column_map, "enriched_from": "dashboard"}
    return out, disagreements


def _assign(out: pd.DataFrame, rows: pd.Index, column: str, values: pd.Series) -> None:
    if out[column].dtype == object:  # lists per cell: set one by one, pandas would broadcast a list
        for row, value in zip(rows, values.tolist(), strict=True):
            out.at[row, column] = value
    else:
        out.loc[rows, column] = values.to_numpy()


def _frames(file: pd.DataFrame, lookups: list[Lookup], dashboard: pd.DataFrame) -> Enrichment:
    found = np.array([lk.found for lk in lookups], dtype=bool)
    merged, rows = merge(file, dashboard, found)
    disagreements = pd.DataFrame(rows, columns=DISAGREEMENT_COLUMNS).astype(
        {"source_row": "int64", **{c: "str" for c in DISAGREEMENT_COLUMNS[1:]}}
    )
    report = pd.DataFrame(
        {
            "source_row": file["source_row"].to_numpy(dtype="int64"),
            "key_fingerprint": file["key_fingerprint"].astype("str").to_numpy(),
            "found": found,
            "lookup": pd.Series([lk.via for lk in lookups], dtype="str").to_numpy(),
        },
        columns=LOOKUP_COLUMNS,
    )
    return Enrichment(merged, disagreements, report)


async def enrich_from_dashboard_async(
    frame: pd.DataFrame,
    client: AsyncDashboardClient,
    *,
    hash_function: str | None = None,
    org_id: str | None = None,
    concurrency: int = 16,
) -> Enrichment:
    """``enrich_from_dashboard`` with a client of the caller's (left open)."""
    if not isinstance(frame, pd.DataFrame) or "key_id" not in frame.columns:
        raise InputError("enrich_from_dashboard needs the legacy frame of a file of keys (load_keys)")
    how = KeyLookup(hash_function, org_id)
    async with AdaptiveReads(client, concurrency=concurrency) as reads:
        lookups, developers = await reads.gather(
            lookup_sessions(reads, frame["key_id"].tolist(), how, workers=concurrency), list_developers(reads)
        )
    return _frames(frame, lookups, sessions_frame(lookups, developers_by_id(developers)))


def enrich_from_dashboard(
    frame: pd.DataFrame,
    settings: Settings | None = None,
    *,
    hash_function: str | None = None,
    org_id: str | None = None,
    concurrency: int = 16,
) -> Enrichment:
    """Complete ``frame`` (a file of raw keys, ``load_keys(..., required=("key_id",))``) from each key's session.

    Keys are looked up by value (``GET /api/keys/{key}``), or by hash when ``hash_function`` names the
    gateway's ``hash_key_function`` (``tyk_hash.HASH_SETTINGS``; then ``org_id``, the Dashboard's org, is
    needed): no raw key in a URL then. At most ``concurrency`` requests in flight, fewer when the Dashboard
    answers 429/503. Blocking; safe in a notebook cell.
    """
    KeyLookup(hash_function, org_id)  # a bad hash setting is one line before any request

    async def run(client: AsyncDashboardClient) -> Enrichment:
        return await enrich_from_dashboard_async(
            frame, client, hash_function=hash_function, org_id=org_id, concurrency=concurrency
        )

    return _with_client(settings, run)
