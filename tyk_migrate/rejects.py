"""The rejects report: the catalogue of checks (``CHECKS``), its rows, its summary and its CSV file.

Split from ``validate.py``, which re-exports ``Check``, ``CHECKS``, ``summarize`` and ``write_rejects``.
The report never holds a raw key: the checks put masked values in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import hash_only
from .secrets import private_file
from .validate_checks import RULES
from .validate_limits import LIMIT_CHECKS

if TYPE_CHECKING:
    from .validate_checks import _Context


@dataclass(frozen=True)
class Check:
    name: str
    column: str
    severity: str  # "error" | "warning"
    summary: str
    action: str


CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        Check("key_missing", "key_id", "error", "the key is empty", "find the token in the source system"),
        Check(*hash_only.CHECK),  # a hashed Dashboard's listing: the hash where the key would be
        Check(
            "key_bad_chars",
            "key_id",
            "error",
            'the key contains whitespace, a control or non-ASCII character, or one of " \\ / ? # %',
            "such keys break HTTP headers or Dashboard routes; rotate the key instead of migrating it",
        ),
        Check(
            "key_too_short",
            "key_id",
            "error",
            "the key is shorter than the gateway's min_token_length",
            "rotate the key, or lower --min-key-length only if the gateway really accepts it",
        ),
        Check(
            "key_duplicate",
            "key_id",
            "error",
            "the same key appears on several rows (every copy is rejected)",
            "keep the one right row and delete the others, then validate again",
        ),
        Check(
            "email_missing",
            "owner_email",
            "error",
            "no owner email",
            "fill in the owner's email (Dashboard dumps: --email-field or --developers)",
        ),
        Check(
            "email_malformed",
            "owner_email",
            "error",
            "the owner email is not an address",
            "correct the email so it matches the portal user",
        ),
        Check("plan_missing", "plan", "error", "no plan / policy", "fill in the legacy policy ID or plan name"),
        Check(
            "products_missing",
            "products",
            "error",
            "no products / APIs",
            "fill in the product policy IDs or API names the key grants",
        ),
        Check(
            "expiry_unparseable",
            "expires_at",
            "error",
            "the expiry is not a date, is before 1970, or is a negative or too large number",
            "write it as ISO 8601 (2030-01-31) or unix seconds; blank, 0 or -1 for never",
        ),
        Check(
            "key_looks_hashed",
            "key_id",
            "warning",
            "the key looks like a hash (hex of 16/32/40/64 characters)",
            "make sure it is the token clients send, not a hash from a hashed-keys export",
        ),
        Check(
            "key_long",
            "key_id",
            "warning",
            "the key is longer than 24 characters",
            "multi-data-centre setups on some gateway versions lost such keys: test one first",
        ),
        Check(
            "key_near_duplicate",
            "key_id",
            "warning",
            "the key equals another after trimming or case-folding",
            "confirm both keys are really distinct tokens",
        ),
        Check(
            "expired",
            "expires_at",
            "warning",
            "the key has already expired",
            "decide whether to migrate it; it will stay expired",
        ),
        Check(
            "inactive", "active", "warning", "the key is inactive in the legacy system", "decide whether to migrate it"
        ),
        Check(
            "key_weak",
            "key_id",
            "warning",
            "the key is weak (under 12 characters, or a short pattern repeated)",
            "plan to rotate it after the migration",
        ),
    )
}

CHECKS.update({c[0]: Check(*c) for c in LIMIT_CHECKS})  # the optional limit columns' checks (warnings)

ENTRY_COLUMNS = ("source_row", "key_id", "owner_email", "plan", "products", "expires_at", "expires_raw")
REPORT_COLUMNS = ["source_row", "column", "check", "severity", "message", "value"]


# ---------------------------------------------------------------- report assembly


def _entries(ctx: _Context, check: Check, mask_: np.ndarray, messages: Any, values: Any) -> pd.DataFrame:
    mask_ = np.asarray(mask_, dtype=bool)
    if check.severity == "error":
        ctx.error_mask |= mask_
    rows = ctx.frame.loc[mask_, [c for c in ENTRY_COLUMNS if c in ctx.frame.columns]]
    n = len(rows)
    return pd.DataFrame(
        {
            "source_row": rows["source_row"].to_numpy(dtype="int64"),
            "column": [check.column] * n,
            "check": [check.name] * n,
            "severity": [check.severity] * n,
            "message": pd.Series(messages(rows), dtype="str"),
            "value": pd.Series(values(rows), dtype="str"),
        }
    )


def _report(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(
            {
                "source_row": pd.Series([], dtype="int64"),
                "column": pd.Series([], dtype="str"),
                "check": pd.Series([], dtype="str"),
                "severity": pd.Series([], dtype="str"),
                "message": pd.Series([], dtype="str"),
                "value": pd.Series([], dtype="str"),
            }
        )
    out = pd.concat(parts, ignore_index=True)
    order = {name: i for i, name in enumerate(RULES)}
    out["_o"] = out["check"].map(order)
    out = out.sort_values(["source_row", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)
    for c in ("column", "check", "severity", "message", "value"):
        out[c] = out[c].astype("str")
    return out[REPORT_COLUMNS]


def summarize(rejects: pd.DataFrame) -> pd.DataFrame:
    """Counts per check: ``check, severity, rows``, errors first; for CLI output and notebooks."""
    if not len(rejects):
        return pd.DataFrame({"check": [], "severity": [], "rows": []})
    counts = rejects.groupby(["check", "severity"], sort=False)["source_row"].nunique().reset_index(name="rows")
    counts["_e"] = counts["severity"] != "error"
    counts["_o"] = counts["check"].map({name: i for i, name in enumerate(RULES)})
    return counts.sort_values(["_e", "_o"]).drop(columns=["_e", "_o"]).reset_index(drop=True)


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def write_rejects(rejects: pd.DataFrame, path: str | Path) -> Path:
    """The rejects report as UTF-8 CSV, with text a spreadsheet would run as a formula neutralised."""
    out = rejects[REPORT_COLUMNS].copy()
    for column in ("column", "check", "severity", "message", "value"):
        text = out[column].astype("str").fillna("")
        risky = text.str.startswith(FORMULA_PREFIXES)
        out[column] = text.where(~risky, "'" + text)
    target = private_file(path)  # owner-only before the first byte: values of rejected rows are in it
    out.to_csv(target, index=False, encoding="utf-8", lineterminator="\n")
    return target
