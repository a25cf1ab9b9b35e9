"""The plan's rows as a run holds them: one table with a named column per field, not a frame.

Why not the frame itself: a pandas cell write costs microseconds and copies on some dtypes, and a run writes
several cells per row. Why not an object per row: the outcome columns are copied back into the frame many
times a run (at most every ``flush_interval``), and a list per column copies in one step. So inputs and
outcomes are plain lists by column name, read once from the frame; ``row(pos)`` gives one row's inputs as a
``PlanRow`` (what triage and the workflows read), and ``flush`` writes the outcome columns back in place.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..vocabulary import CREATED, OUTCOME_STATUSES, PENDING, RUN_INPUT_COLUMNS, RUN_OUTCOME_COLUMNS
from ..vocabulary import WRITE_ACTIONS as WRITE_ACTIONS  # re-exported: the run's old name

# the run's own names for the vocabulary's sets (``tyk_migrate.run`` exports them under these names)
PLAN_COLUMNS = RUN_INPUT_COLUMNS
OUTCOME_COLUMNS = RUN_OUTCOME_COLUMNS
STATUSES = OUTCOME_STATUSES

_INT_COLS = ("app_id", "credential_id", "http_status", "attempts", "batch")
_TIME_COLS = ("started_at", "finished_at")
_STR_COLS = ("status", "error")

NAT = np.iinfo(np.int64).min  # pandas' NaT as int64 nanoseconds


def utcnow() -> int:
    """Now as UTC epoch nanoseconds: kept as ints while running, turned into datetimes when flushed."""
    return time.time_ns()


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _ns(value: Any) -> int:
    if _missing(value):
        return NAT
    try:
        return int(pd.Timestamp(value).value)
    except (TypeError, ValueError):
        return NAT


def int_or_none(value: Any) -> int | None:
    if value is None or value is pd.NA:
        return None
    try:
        if isinstance(value, float) and math.isnan(value):
            return None
        return int(value)
    except (TypeError, ValueError):
        return None


def _ids(value: Any) -> list[int]:
    if _missing(value):
        return []
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        return []


def _texts(series: pd.Series) -> list[str | None]:
    return [v if isinstance(v, str) else None for v in series]


def _nullable(series: pd.Series) -> list[Any]:
    return list(series.astype(object).where(series.notna(), None))


class PlanRow(NamedTuple):
    """One row's inputs, as the plan gave them (``app_id``/``credential_id``: what the plan found in the portal)."""

    pos: int
    key: Any
    fingerprint: str | None
    user_id: int | None
    app_name: str | None
    plan_id: int | None
    product_ids: list[int]
    action: str
    app_id: int | None = None
    credential_id: int | None = None
    seen_created: bool = False  # this frame saw the row created (a Continue after Stop)
    reason: str | None = None
    alias: str = ""
    source_row: int | None = None

    @property
    def number(self) -> int:
        """The row's number for messages: its source row, else its 1-based position."""
        return self.source_row or self.pos + 1


def prepare_outcome_columns(plan: pd.DataFrame) -> None:
    """Add the outcome columns a frame lacks (in place); out-of-scope rows keep theirs on a rerun."""
    n = len(plan)
    for col in OUTCOME_COLUMNS:
        if col == "app_id":
            if plan["app_id"].dtype != "Int64":
                plan["app_id"] = pd.array([int_or_none(v) for v in plan["app_id"]], dtype="Int64")
            continue
        if col in plan.columns:
            continue
        if col in _INT_COLS:
            plan[col] = pd.array([None] * n, dtype="Int64")
        elif col in _TIME_COLS:
            plan[col] = pd.Series(pd.NaT, index=plan.index, dtype="datetime64[ns, UTC]")
        elif col == "status":
            plan[col] = pd.Series([PENDING] * n, index=plan.index, dtype="str")
        else:
            plan[col] = pd.Series([None] * n, index=plan.index, dtype="str")
    if "credential_id" in plan.columns and plan["credential_id"].dtype != "Int64":
        plan["credential_id"] = pd.array([int_or_none(v) for v in plan["credential_id"]], dtype="Int64")


class RowTable:
    """Every row of a plan frame: input columns (read once) and outcome columns (``out``, by column name)."""

    def __init__(self, plan: pd.DataFrame, *, flush_interval: float = 0.25) -> None:
        prepare_outcome_columns(plan)
        n = len(plan)
        self.plan = plan
        self.flush_interval = flush_interval
        self.out: dict[str, list[Any]] = {
            "status": _nullable(plan["status"]),
            "app_id": [int_or_none(v) for v in plan["app_id"]],
            "credential_id": [int_or_none(v) for v in plan["credential_id"]],
            "http_status": [int_or_none(v) for v in plan["http_status"]],
            "error": _nullable(plan["error"]),
            "attempts": [int_or_none(v) for v in plan["attempts"]],
            "started_at": [_ns(v) for v in plan["started_at"]],
            "finished_at": [_ns(v) for v in plan["finished_at"]],
            "batch": [int_or_none(v) for v in plan["batch"]],
        }
        self.key = list(plan["key_id"])
        self.fingerprint = [str(v) if isinstance(v, str) else None for v in plan["key_fingerprint"]]
        self.user_id = [int_or_none(v) for v in plan["user_id"]]
        self.app_name = _texts(plan["app_name"])
        self.plan_id = [int_or_none(v) for v in plan["plan_id"]]
        self.product_ids = [_ids(v) for v in plan["product_ids"]]
        self.action = [str(v) if isinstance(v, str) else "" for v in plan["action"]]
        self.plan_app = list(self.out["app_id"])
        self.plan_credential = list(self.out["credential_id"])
        self.seen_created = [status == CREATED for status in self.out["status"]]
        self.reason = _texts(plan["reason"]) if "reason" in plan.columns else [None] * n
        self.alias = [v if isinstance(v, str) else "" for v in plan["alias"]] if "alias" in plan.columns else [""] * n
        self.source_row = [int_or_none(v) for v in plan["source_row"]] if "source_row" in plan.columns else [None] * n
        self.dirty = False
        self._last_flush = 0.0
        self._flush_cost = 0.0

    def reset(self, positions: Iterable[int], batch_size: int) -> None:
        """The rows of this run start over: pending, numbered into batches, the plan's IDs as outcome."""
        out = self.out
        for k, pos in enumerate(positions):
            out["status"][pos] = PENDING
            out["http_status"][pos] = out["error"][pos] = out["attempts"][pos] = None
            out["started_at"][pos] = out["finished_at"][pos] = NAT
            out["batch"][pos] = k // batch_size + 1
            out["app_id"][pos] = self.plan_app[pos]
            out["credential_id"][pos] = self.plan_credential[pos]
        self.dirty = True

    def row(self, pos: int) -> PlanRow:
        return PlanRow(
            pos,
            self.key[pos],
            self.fingerprint[pos],
            self.user_id[pos],
            self.app_name[pos],
            self.plan_id[pos],
            self.product_ids[pos],
            self.action[pos],
            self.plan_app[pos],
            self.plan_credential[pos],
            self.seen_created[pos],
            self.reason[pos],
            self.alias[pos],
            self.source_row[pos],
        )

    def set(self, pos: int, **values: Any) -> None:
        out = self.out
        for name, value in values.items():
            out[name][pos] = value
        self.dirty = True

    def add_note(self, positions: Iterable[int], note: str, **values: Any) -> None:
        """Append ``note`` to the error text of each row (and set ``values``)."""
        errors = self.out["error"]
        for pos in positions:
            self.set(pos, error=(errors[pos] or "") + note, **values)

    def flush(self, force: bool = False) -> None:
        """Copy the outcome lists into the frame's columns (in place): at most every ``flush_interval``."""
        if not self.dirty:
            return
        now = time.perf_counter()
        if not force and now - self._last_flush < max(self.flush_interval, 20 * self._flush_cost):
            return
        plan, cols = self.plan, self.out
        began = time.perf_counter()
        for name in _INT_COLS:
            plan[name] = pd.array(cols[name], dtype="Int64")
        for name in _TIME_COLS:
            values = np.asarray(cols[name], dtype=np.int64).view("datetime64[ns]")
            plan[name] = pd.Series(values, index=plan.index).dt.tz_localize("UTC")
        for name in _STR_COLS:
            plan[name] = pd.Series(cols[name], index=plan.index, dtype="str")
        self._last_flush = time.perf_counter()
        self.dirty = False
        # keep flushing cheap on big frames: at most ~5% of the time goes to copying columns
        self._flush_cost = self._last_flush - began
