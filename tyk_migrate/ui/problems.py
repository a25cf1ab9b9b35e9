"""The rows in scope that failed or are blocked, with why: the console's "Failed and blocked rows" table.

Keys appear only as their fingerprint (with the row's alias and owner), never as ``key_id``, not even
masked; reasons and errors go through the console's scrubber. Blocked rows are grouped by their
``reason_code`` (labelled from the planner's registry, as the plan summary counts them), failed rows by
the portal's answer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import ui_format as fmt
from ..plan import reasons as R
from ..vocabulary import BLOCKED, FAILED

ROW_COLUMNS = ("status", "key_fingerprint", "alias", "owner", "code", "reason")
CAUSE_COLUMNS = ("status", "cause", "rows", "what it means")
UNCODED = "uncoded"
CAUSES_SHOWN = 20  # per status: errors that name IDs would otherwise make one cause per row


@dataclass(frozen=True)
class Problems:
    """``rows``: up to the limit, failed (newest first) then blocked (plan order); ``causes``: rows per cause."""

    rows: pd.DataFrame
    causes: pd.DataFrame
    failed: int
    blocked: int

    @property
    def title(self) -> str:
        shown = f" (the first {len(self.rows):,} below)" if len(self.rows) < self.failed + self.blocked else ""
        return f"Failed and blocked rows in scope: {self.failed:,} failed, {self.blocked:,} blocked{shown}"


_NONE = Problems(pd.DataFrame(columns=list(ROW_COLUMNS)), pd.DataFrame(columns=list(CAUSE_COLUMNS)), 0, 0)


def _text(value: Any, scrub: fmt.Scrubber | None) -> str:
    text = value if isinstance(value, str) else ""
    return scrub(text) if scrub is not None else text


def _values(plan: pd.DataFrame, name: str, at: np.ndarray) -> list[Any]:
    """Column ``name`` at positions ``at`` (blanks when the frame has no such column): one column, not the frame."""
    return plan[name].iloc[at].tolist() if name in plan else [""] * len(at)


def _http(value: Any) -> str:
    """``HTTP 422`` for the portal's answer; ``–`` where the runner failed the row without one."""
    if value is None or isinstance(value, str) or pd.isna(value):
        return "–"
    return f"HTTP {int(value)}"


def _positions(plan: pd.DataFrame, scope: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the failed rows (newest first) and of the blocked ones (plan order) in scope."""
    keep = scope.to_numpy(bool)
    failed = plan["status"].eq(FAILED).to_numpy(bool) & keep if "status" in plan else np.zeros(len(plan), bool)
    blocked = np.flatnonzero(plan["action"].eq(BLOCKED).to_numpy(bool) & keep & ~failed)
    at = np.flatnonzero(failed)
    if len(at) > 1 and "finished_at" in plan:
        newest = plan["finished_at"].iloc[at].rank(method="first", na_option="bottom", ascending=False)
        at = at[np.argsort(newest.to_numpy(), kind="stable")]
    return at, blocked


def _rows(plan: pd.DataFrame, at: np.ndarray, status: str, scrub: fmt.Scrubber | None) -> list[dict[str, Any]]:
    blocked = status == BLOCKED
    codes = _values(plan, "reason_code", at) if blocked else list(map(_http, _values(plan, "http_status", at)))
    texts = _values(plan, "reason" if blocked else "error", at)
    return [
        dict(zip(ROW_COLUMNS, (status, fp, alias, owner, code, _text(text, scrub)), strict=True))
        for fp, alias, owner, code, text in zip(
            _values(plan, "key_fingerprint", at),
            _values(plan, "alias", at),
            _values(plan, "owner_email", at),
            codes,
            texts,
            strict=True,
        )
    ]


def _blocked_causes(plan: pd.DataFrame, at: np.ndarray, scrub: fmt.Scrubber | None) -> list[dict[str, Any]]:
    """Blocked keys per blocking code (a key with several problems counts under each), most first."""
    if "reason_code" not in plan:  # a hand-made plan: its sentences are all there is
        sentences = Counter(_text(v, scrub) for v in _values(plan, "reason", at))
        return [
            {"status": BLOCKED, "cause": UNCODED, "rows": n, "what it means": text}
            for text, n in sentences.most_common(CAUSES_SHOWN)
        ]
    keys: Counter[str] = Counter()
    for cell, n in Counter(_values(plan, "reason_code", at)).items():  # distinct cells: few
        codes = [c for c in R.split_codes(str(cell)) if c in R.BLOCKING_CODES] or [UNCODED]
        for code in dict.fromkeys(codes):
            keys[code] += n
    order = [*R.REASONS, UNCODED]
    ranked = sorted(keys, key=lambda code: (-keys[code], order.index(code)))[:CAUSES_SHOWN]
    return [
        {
            "status": BLOCKED,
            "cause": code,
            "rows": keys[code],
            "what it means": R.REASONS[code].label if code in R.REASONS else "no registered reason code",
        }
        for code in ranked
    ]


def _failed_causes(plan: pd.DataFrame, at: np.ndarray, scrub: fmt.Scrubber | None) -> list[dict[str, Any]]:
    """Failed rows per (portal answer, error text), most first."""
    answers = map(_http, _values(plan, "http_status", at))
    pairs = Counter(zip(answers, (_text(v, scrub) for v in _values(plan, "error", at)), strict=True))
    return [
        {"status": FAILED, "cause": cause, "rows": n, "what it means": text}
        for (cause, text), n in pairs.most_common(CAUSES_SHOWN)
    ]


def problems_of(plan: pd.DataFrame, scope: pd.Series, limit: int, scrub: fmt.Scrubber | None = None) -> Problems:
    """The failed and blocked rows of ``plan`` in ``scope``: up to ``limit`` rows and every cause."""
    failed, blocked = _positions(plan, scope)
    if not len(failed) and not len(blocked):  # the common case while a clean run goes: no frame work at all
        return _NONE
    shown_failed = failed[: max(0, int(limit))]
    shown_blocked = blocked[: max(0, int(limit)) - len(shown_failed)]
    rows = _rows(plan, shown_failed, FAILED, scrub) + _rows(plan, shown_blocked, BLOCKED, scrub)
    causes = _failed_causes(plan, failed, scrub) + _blocked_causes(plan, blocked, scrub)
    return Problems(
        rows=pd.DataFrame(rows, columns=list(ROW_COLUMNS)),
        causes=pd.DataFrame(causes, columns=list(CAUSE_COLUMNS)),
        failed=len(failed),
        blocked=len(blocked),
    )
