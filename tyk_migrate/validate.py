"""Validate the canonical legacy frame: which rows can be migrated, and what is wrong with the others.

``validate_keys(frame) -> (valid, rejects)``. Every check runs on the whole frame at once (lazily: all
problems of all rows are collected, not just the first) with vectorised pandas / pyarrow kernels, so a
million rows validate in seconds. The frame's shape is checked with the pandera models in ``schemas.py``
at the boundary: ``LegacyKeys`` on the way in, ``ValidLegacyKeys`` and ``Rejects`` on the way out.

A row with an ``error`` is rejected; a ``warning`` keeps the row and is listed in its ``warnings`` column.
The rejects report never holds a raw key: key values appear masked (``abcd…wxyz``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pandera.errors as pa_errors

from .errors import InputError, MissingColumnsError
from .rejects import (
    CHECKS,
    ENTRY_COLUMNS,
    FORMULA_PREFIXES,
    REPORT_COLUMNS,
    Check,
    _entries,
    _report,
    summarize,
    write_rejects,
)
from .schemas import LegacyKeys, Rejects, ValidLegacyKeys
from .secrets import SecretKey, wrap_keys
from .validate_checks import (
    BAD_CHARS_RE,
    EMAIL_RE,
    HASH_RE,
    LONG_KEY,
    RULES,
    WEAK_LENGTH,
    Rule,
    _Context,
    masks_of,
)

#: The checks live in ``validate_checks``, the report in ``rejects``; these names stay importable from here.
__all__ = [
    "BAD_CHARS_RE",
    "CHECKS",
    "EMAIL_RE",
    "ENTRY_COLUMNS",
    "FORMULA_PREFIXES",
    "HASH_RE",
    "LONG_KEY",
    "REPORT_COLUMNS",
    "RULES",
    "WEAK_LENGTH",
    "Check",
    "Rule",
    "masks_of",
    "summarize",
    "validate_keys",
    "write_rejects",
]


def validate_keys(
    frame: pd.DataFrame, *, min_key_length: int = 8, now: datetime | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(valid, rejects)``: rows without errors (plus a ``warnings`` column) and the rejects report."""
    frame = _prepare(frame)
    now_ts = pd.Timestamp(now or datetime.now(UTC))
    now_ts = now_ts.tz_localize("UTC") if now_ts.tzinfo is None else now_ts.tz_convert("UTC")
    ctx = _Context(frame, max(1, int(min_key_length)), now_ts)
    found: list[pd.DataFrame] = []
    acc = np.full(len(frame), "", dtype=object)  # "check;check;" per row, warnings only
    for name, run in RULES.items():
        mask_, messages, values = run(ctx)
        mask_ = np.asarray(mask_, dtype=bool)
        if mask_.any():
            found.append(_entries(ctx, CHECKS[name], mask_, messages, values))
            if CHECKS[name].severity == "warning":
                hit = np.flatnonzero(mask_)
                acc[hit] = acc[hit] + (name + ";")
    rejects = _report(found)
    errors = ctx.error_mask
    warnings = pd.Series(acc, index=frame.index, dtype="str").str.rstrip(";")
    valid = frame.loc[~errors].copy()
    valid["warnings"] = warnings[~errors]
    valid.attrs = dict(frame.attrs)
    try:
        ValidLegacyKeys.validate(valid, lazy=True)
        Rejects.validate(rejects, lazy=True)
    except pa_errors.SchemaErrors as exc:  # a bug here, not bad input: say where without values
        raise AssertionError(f"validate_keys produced a frame off its contract: {_schema_summary(exc)}") from None
    return valid, rejects


# ---------------------------------------------------------------- preparation and context


def _schema_summary(exc: pa_errors.SchemaErrors) -> str:
    cases = exc.failure_cases
    parts = sorted({f"{c}: {k}" for c, k in zip(cases["column"].astype(str), cases["check"].astype(str), strict=False)})
    return "; ".join(parts[:8])


def _prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Check the frame's shape (pandera ``LegacyKeys``) after fixing what is safe to fix."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"validate_keys needs a DataFrame, got {type(frame).__name__}")
    required = [c for c in ("source_row", "key_id", "owner_email", "plan", "products") if c not in frame]
    if required:
        raise MissingColumnsError(required, [str(c) for c in frame.columns], "frame")
    frame = frame.copy()
    key = frame["key_id"]
    if key.dtype != object or not all(isinstance(v, SecretKey) or v is None for v in key.head(100)):
        frame["key_id"] = pd.Series(wrap_keys(key.tolist()), index=frame.index, dtype=object)
    if "expires_raw" not in frame:
        frame["expires_raw"] = pd.Series(pd.NA, index=frame.index, dtype="str")
    try:
        LegacyKeys.validate(frame, lazy=True)
    except pa_errors.SchemaErrors as exc:
        raise InputError(
            f"frame does not match the legacy key schema ({_schema_summary(exc)}); load it with tyk_migrate.load_keys"
        ) from None
    return frame
