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

import pandas as pd

from .. import ui_format as fmt
from ..plan import reasons as R

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


def _text(value: Any, scrub: fmt.Scrubber | None) -> str:
    text = value if isinstance(value, str) else ""
    return scrub(text) if scrub is not None else text


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series("", index=frame.index, dtype="str")


def _http(value: Any) -> str:
    """``HTTP 422`` for the portal's answer; ``–`` where the runner failed the row without one."""
    if value is None or isinstance(value, str) or pd.isna(value):
        return "–"
    return f"HTTP {int(value)}"


def _masks(plan: pd.DataFrame, scope: pd.Series) -> tuple[pd.Series, pd.Series]:
    keep = scope.to_numpy(bool)
    status = plan["status"].astype(object) if "status" in plan else pd.Series(None, index=plan.index, dtype=object)
    failed = (status == "failed") & keep
    blocked = (plan["action"].astype(object) == "blocked") & keep & ~failed
    return failed, blocked


def _newest_first(failed: pd.DataFrame) -> pd.DataFrame:
    if "finished_at" not in failed or failed.empty:
        return failed
    order = failed["finished_at"].rank(method="first", na_option="bottom", ascending=False)
    return failed.loc[order.sort_values().index]


def _rows(frame: pd.DataFrame, status: str, scrub: fmt.Scrubber | None) -> list[dict[str, Any]]:
    blocked = status == "blocked"
    codes = _column(frame, "reason_code") if blocked else _column(frame, "http_status").map(_http)
    texts = _column(frame, "reason" if blocked else "error")
    return [
        dict(zip(ROW_COLUMNS, (status, fp, alias, owner, code, _text(text, scrub)), strict=True))
        for fp, alias, owner, code, text in zip(
            frame["key_fingerprint"], _column(frame, "alias"), _column(frame, "owner_email"), codes, texts, strict=True
        )
    ]


def _blocked_causes(blocked: pd.DataFrame, scrub: fmt.Scrubber | None) -> list[dict[str, Any]]:
    """Blocked keys per blocking code (a key with several problems counts under each), most first."""
    if "reason_code" not in blocked:  # a hand-made plan: its sentences are all there is
        sentences = blocked.get("reason", pd.Series("", index=blocked.index)).map(lambda v: _text(v, scrub))
        counted = sentences.value_counts().head(CAUSES_SHOWN)
        return [{"status": "blocked", "cause": UNCODED, "rows": int(n), "what it means": t} for t, n in counted.items()]
    keys: Counter[str] = Counter()
    for cell, n in blocked["reason_code"].value_counts(sort=False).items():  # distinct cells: few
        codes = [c for c in R.split_codes(str(cell)) if c in R.BLOCKING_CODES] or [UNCODED]
        for code in dict.fromkeys(codes):
            keys[code] += int(n)
    order = [*R.REASONS, UNCODED]
    ranked = sorted(keys, key=lambda code: (-keys[code], order.index(code)))[:CAUSES_SHOWN]
    return [
        {
            "status": "blocked",
            "cause": code,
            "rows": keys[code],
            "what it means": R.REASONS[code].label if code in R.REASONS else "no registered reason code",
        }
        for code in ranked
    ]


def _failed_causes(failed: pd.DataFrame, scrub: fmt.Scrubber | None) -> list[dict[str, Any]]:
    """Failed rows per (portal answer, error text), most first."""
    pairs = Counter(
        zip(
            _column(failed, "http_status").map(_http),
            _column(failed, "error").map(lambda v: _text(v, scrub)),
            strict=True,
        )
    )
    return [
        {"status": "failed", "cause": cause, "rows": n, "what it means": text}
        for (cause, text), n in pairs.most_common(CAUSES_SHOWN)
    ]


def problems_of(plan: pd.DataFrame, scope: pd.Series, limit: int, scrub: fmt.Scrubber | None = None) -> Problems:
    """The failed and blocked rows of ``plan`` in ``scope``: up to ``limit`` rows and every cause."""
    failed_mask, blocked_mask = _masks(plan, scope)
    failed, blocked = plan.loc[failed_mask.to_numpy(bool)], plan.loc[blocked_mask.to_numpy(bool)]
    limit = max(0, int(limit))
    shown_failed = _newest_first(failed).head(limit)
    shown_blocked = blocked.head(limit - len(shown_failed))
    rows = _rows(shown_failed, "failed", scrub) + _rows(shown_blocked, "blocked", scrub)
    causes = _failed_causes(failed, scrub) + _blocked_causes(blocked, scrub)
    return Problems(
        rows=pd.DataFrame(rows, columns=list(ROW_COLUMNS)),
        causes=pd.DataFrame(causes, columns=list(CAUSE_COLUMNS)),
        failed=len(failed),
        blocked=len(blocked),
    )
