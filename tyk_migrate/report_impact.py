"""Keys whose clients would notice the migration, by kind: the one table the CLI, the workbook and the report show.

``impact_by_kind(frame)`` reads a plan or outcome frame (or the CSV of either: ``client_impact``,
``client_impact_detail``, ``action``, ``reason``) and answers one row per kind of client impact found
(``plan.IMPACT_KINDS`` order): how many rows have it, what the setting does (``warn``, ``block``,
``block_other_owner``), how many rows it blocked and how many it only warned about, and one example sentence
with its numbers. A row with several kinds counts under each. Which kinds blocked a row is read from the
row's ``client_impact_blocked`` reason, which names them, so a ``block_other_owner`` kind is split exactly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .plan.impact import DEFAULT_POLICY, DETAIL_SEPARATOR, IMPACT_KINDS, split_kinds
from .plan.reasons import CLIENT_IMPACT_BLOCKED
from .vocabulary import BLOCKED

#: the table's count columns: rows with the kind, rows it blocked (the ``blocked`` column), rows it only warned
COUNT_COLUMNS = ("rows", BLOCKED, "warned")
IMPACT_TABLE_COLUMNS = ["kind", "rows", "setting", BLOCKED, "warned", "example"]
#: "clients would notice (rate_tighter, api_lost): ..." -> the kinds that blocked the row
_BLOCKED_KINDS = re.compile(re.escape(CLIENT_IMPACT_BLOCKED.template.split("{kinds}")[0]) + r"([a-z_, ]+)\)")


def blocking_kinds(reason: object) -> set[str]:
    """The kinds a row's ``reason`` cell says blocked it (empty when none did)."""
    if not isinstance(reason, str):
        return set()
    found = _BLOCKED_KINDS.search(reason)
    return {k.strip() for k in found.group(1).split(",")} & set(IMPACT_KINDS) if found else set()


def impact_by_kind(frame: pd.DataFrame, settings: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per kind found: ``kind, rows, setting, blocked, warned, example`` (module docstring).

    ``settings``: what each kind does, shown as ``setting``; default the plan's own (``attrs["client_impact"]``)
    or ``DEFAULT_POLICY``. A frame without ``client_impact`` (a plan from before issue 17) gives no rows.
    """
    policy = {**DEFAULT_POLICY, **dict(settings or frame.attrs.get("client_impact") or {})}
    empty = pd.DataFrame({c: pd.Series(dtype="int64" if c in COUNT_COLUMNS else "str")
                          for c in IMPACT_TABLE_COLUMNS})  # fmt: skip
    if "client_impact" not in frame.columns or not len(frame):
        return empty
    cells = frame["client_impact"].fillna("").astype(str)
    hit = frame[cells != ""]
    if not len(hit):
        return empty
    detail = hit["client_impact_detail"] if "client_impact_detail" in hit else pd.Series("", index=hit.index)
    reason = hit["reason"] if "reason" in hit else pd.Series("", index=hit.index)
    action = hit["action"] if "action" in hit else pd.Series("", index=hit.index)
    distinct = pd.DataFrame(
        {"kinds": cells[hit.index], "detail": detail.fillna("").astype(str), "reason": reason, "action": action}
    ).value_counts(sort=False, dropna=False)  # distinct cells: few, however many rows
    rows: dict[str, int] = {}
    blocked: dict[str, int] = {}
    example: dict[str, str] = {}
    for cells_of, count in distinct.items():
        values: tuple[Any, ...] = tuple(cells_of)  # type: ignore[arg-type]
        kinds_cell, detail_cell, reason_cell, action_cell = values
        kinds = split_kinds(str(kinds_cell))
        sentences = str(detail_cell).split(DETAIL_SEPARATOR)
        stopped = blocking_kinds(reason_cell) if action_cell == BLOCKED else set()
        for i, kind in enumerate(kinds):
            rows[kind] = rows.get(kind, 0) + int(count)
            blocked[kind] = blocked.get(kind, 0) + (int(count) if kind in stopped else 0)
            if kind not in example and i < len(sentences) and len(sentences) == len(kinds):
                example[kind] = sentences[i]
    table = pd.DataFrame(
        [
            (kind, rows[kind], policy.get(kind, ""), blocked[kind], rows[kind] - blocked[kind], example.get(kind, ""))
            for kind in IMPACT_KINDS
            if kind in rows
        ],
        columns=IMPACT_TABLE_COLUMNS,
    )
    return table.astype(dict.fromkeys(COUNT_COLUMNS, "int64"))


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The table's rows as dicts (typed plainly, for the presenters)."""
    return [{str(k): v for k, v in row.items()} for row in table.to_dict("records")]


def impact_breakdown(table: pd.DataFrame) -> str:
    """``rate_tighter 3, api_lost 1 (blocked), live_key_overwritten 4 (2 blocked)``: one line of the table."""
    parts = []
    for row in records(table):
        kind, rows, blocked = str(row["kind"]), int(row["rows"]), int(row[BLOCKED])
        if blocked and blocked == rows:
            parts.append(f"{kind} {rows} (blocked)")
        elif blocked:
            parts.append(f"{kind} {rows} ({blocked} blocked)")
        else:
            parts.append(f"{kind} {rows}")
    return ", ".join(parts)
