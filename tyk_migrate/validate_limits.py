"""Checks of the legacy frame's optional limit columns (``rate``, ``per``, ``quota_*``), for ``validate``.

Both are warnings: a limit is what the planner compares to spot client impact, not what a key needs to
migrate, so a limit that cannot be read keeps its row and only leaves that comparison out. The rules have
``validate``'s shape, ``rule(ctx) -> (mask, messages(rows), values(rows))``; frames without the limit
columns trip neither.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .limits import number

LIMIT_CHECKS: tuple[tuple[str, str, str, str, str], ...] = (
    # name, column, severity, summary, action (validate.Check's fields)
    (
        "limit_unreadable",
        "limits_raw",
        "warning",
        "a rate, period or quota is not a number Tyk uses (-1 or more; whole numbers for quotas)",
        "correct it, or leave it blank when not known: the client impact of that limit is not checked",
    ),
    (
        "rate_period_missing",
        "per",
        "warning",
        "a rate limit has no period (per, in seconds)",
        "fill in per: without it the key's rate cannot be compared with its target plan's",
    ),
)


def _limit_unreadable(ctx: Any) -> tuple[np.ndarray, Callable[..., list[str]], Callable[..., list[str]]]:
    frame: pd.DataFrame = ctx.frame
    if "limits_raw" not in frame.columns:
        return np.zeros(len(frame), dtype=bool), _nothing, _nothing
    raw = frame["limits_raw"]

    def messages(rows: pd.DataFrame) -> list[str]:
        return [
            f"{text} cannot be read as a limit (a number of -1 or more; whole numbers for quotas): the client "
            "impact of that limit is not checked"
            for text in raw.loc[rows.index]
        ]

    def values(rows: pd.DataFrame) -> list[str]:
        return [str(text) for text in raw.loc[rows.index]]

    return raw.notna().to_numpy(dtype=bool), messages, values


def _rate_period_missing(ctx: Any) -> tuple[np.ndarray, Callable[..., list[str]], Callable[..., list[str]]]:
    frame: pd.DataFrame = ctx.frame
    if "rate" not in frame.columns:
        return np.zeros(len(frame), dtype=bool), _nothing, _nothing
    rate = pd.to_numeric(frame["rate"], errors="coerce").astype("float64")
    per = pd.to_numeric(frame["per"], errors="coerce").astype("float64") if "per" in frame else rate * np.nan
    # a rate above 0 limits; without a period above 0 it is not a rate (-1/0 mean "no limit")
    missing = ((rate > 0) & ~(per > 0)).to_numpy(dtype=bool)

    def messages(rows: pd.DataFrame) -> list[str]:
        out = []
        for i in rows.index:
            given = "missing" if pd.isna(per.loc[i]) else number(per.loc[i])
            out.append(f"rate {number(rate.loc[i])} has no period (per is {given}): the rate cannot be compared")
        return out

    def values(rows: pd.DataFrame) -> list[str]:
        return ["" if pd.isna(per.loc[i]) else number(per.loc[i]) for i in rows.index]

    return missing, messages, values


def _nothing(rows: pd.DataFrame) -> list[str]:
    return [""] * len(rows)


LIMIT_RULES: dict[str, Callable[[Any], Any]] = {
    "limit_unreadable": _limit_unreadable,
    "rate_period_missing": _rate_period_missing,
}
