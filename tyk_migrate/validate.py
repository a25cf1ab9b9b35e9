"""Validate the canonical legacy frame: which rows can be migrated, and what is wrong with the others.

``validate_keys(frame) -> (valid, rejects)``. Every check runs on the whole frame at once (lazily: all
problems of all rows are collected, not just the first) with vectorised pandas / pyarrow kernels, so a
million rows validate in seconds. The frame's shape is checked with the pandera models in ``schemas.py``
at the boundary: ``LegacyKeys`` on the way in, ``ValidLegacyKeys`` and ``Rejects`` on the way out.

A row with an ``error`` is rejected; a ``warning`` keeps the row and is listed in its ``warnings`` column.
The rejects report never holds a raw key: key values appear masked (``abcd…wxyz``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors as pa_errors
import pyarrow as pa
import pyarrow.compute as pc

from . import hash_only
from .errors import InputError, MissingColumnsError
from .schemas import LegacyKeys, Rejects, ValidLegacyKeys
from .secrets import MASK_CHAR, MASK_TIERS, SecretKey, private_file, reveal, reveal_all, wrap_keys
from .sources.canonical import expiry_problems
from .validate_limits import LIMIT_CHECKS, LIMIT_RULES


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
            'the key contains whitespace, a control character, or one of " \\ / ? # %',
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
            "the key is weak (under 12 characters, or one repeated character)",
            "plan to rotate it after the migration",
        ),
    )
}

CHECKS.update({c[0]: Check(*c) for c in LIMIT_CHECKS})  # the optional limit columns' checks (warnings)

BAD_CHARS_RE = r'[\s\p{Z}\p{Cc}\p{Cf}"\\/?#%]'
HASH_RE = r"^(?:[0-9a-fA-F]{16}|[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$"
EMAIL_RE = r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$"
LONG_KEY = 24
WEAK_LENGTH = 12
ENTRY_COLUMNS = ("source_row", "key_id", "owner_email", "plan", "products", "expires_at", "expires_raw")
REPORT_COLUMNS = ["source_row", "column", "check", "severity", "message", "value"]


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


class _Context:
    """Shared, lazily computed views of the frame (raw keys as Arrow strings, lengths, ...)."""

    def __init__(self, frame: pd.DataFrame, min_len: int, now: pd.Timestamp) -> None:
        self.frame = frame
        self.min_len = min_len
        self.now = now
        self.classic = frame.attrs.get("format") == "classic"
        # the key checks (length, charset, duplicates) look at the raw values, revealed here only
        self.keys = pa.array(reveal_all(frame["key_id"]), type=pa.string())
        self.lengths = pc.fill_null(pc.utf8_length(self.keys), 0).to_numpy(zero_copy_only=False)
        self.present = self.lengths > 0
        self.error_mask = np.zeros(len(frame), dtype=bool)
        self.key_ids: np.ndarray | None = None

    def key_str(self) -> pd.Series:
        return (
            pd.Series(pd.arrays.ArrowStringArray(self.keys), index=self.frame.index)
            if len(self.keys)
            else pd.Series([], dtype="str")
        )

    def bool_of(self, arr: Any) -> np.ndarray:
        return pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool)


Rule = Callable[[_Context], tuple[np.ndarray, Callable[[pd.DataFrame], list[str]], Callable[[pd.DataFrame], list[str]]]]


def _masked_values(rows: pd.DataFrame) -> list[str]:
    """``secrets.mask`` of each key, computed with Arrow kernels (hundreds of thousands of warned rows)."""
    keys = pa.array(reveal_all(rows["key_id"]), type=pa.string())
    return masks_of(keys).to_pylist()


def masks_of(keys: pa.Array) -> pa.Array:
    """Vectorised ``secrets.mask``: ``MASK_TIERS`` from the longest down, ``………`` below, ``""`` for empty/none."""
    n = pc.fill_null(pc.utf8_length(keys), 0)
    out = pc.if_else(pc.greater(n, 0), pa.scalar(MASK_CHAR * 3), pa.scalar(""))
    for shortest, shown in reversed(MASK_TIERS):  # shortest tier first: each longer tier overrides it
        ends = pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(keys, 0, shown), pc.utf8_slice_codeunits(keys, -shown), MASK_CHAR
        )
        out = pc.if_else(pc.greater_equal(n, shortest), ends, out)
    return pc.fill_null(out, "")


def _column_values(column: str) -> Callable[[pd.DataFrame], list[str]]:
    def values(rows: pd.DataFrame) -> list[str]:
        out = []
        for v in rows[column]:
            if isinstance(v, list):
                out.append(";".join(map(str, v)))
            elif v is None or (not isinstance(v, str) and pd.isna(v)):
                out.append("")
            else:
                out.append(str(v))
        return out

    return values


def _const(text: str) -> Callable[[pd.DataFrame], list[str]]:
    return lambda rows: [text] * len(rows)


# ---------------------------------------------------------------- the checks (errors first)


def _key_missing(ctx: _Context) -> Any:
    return ~ctx.present, _const("key is empty: there is no token value to migrate"), _const("")


def _describe_bad_chars(raw: str) -> str:
    found: list[str] = []
    for ch in raw:
        if ch.isspace() or ch in "\u200b\u2060\ufeff":
            what = "whitespace"
        elif ord(ch) < 32 or ord(ch) == 127 or 0x80 <= ord(ch) < 0xA0:
            what = "a control character"
        elif ch in '"\\/?#%':
            what = f"'{ch}'"
        elif not ch.isprintable():
            what = "an invisible formatting character"
        else:
            continue
        if what not in found:
            found.append(what)
    return ", ".join(found) or "a character the gateway cannot take"


def _key_bad_chars(ctx: _Context) -> Any:
    bad = ctx.bool_of(pc.match_substring_regex(ctx.keys, BAD_CHARS_RE))

    def messages(rows: pd.DataFrame) -> list[str]:
        return [
            f"key contains {_describe_bad_chars(reveal(k))}: such keys break HTTP headers or the "
            "Dashboard's /api/keys/{id} routes"
            for k in rows["key_id"]
        ]

    return bad, messages, _masked_values


def _key_too_short(ctx: _Context) -> Any:
    short = ctx.present & (ctx.lengths < ctx.min_len)

    def messages(rows: pd.DataFrame) -> list[str]:
        return [
            f"key is {len(reveal(k))} characters; your gateway's minimum is {ctx.min_len} (min_key_length)"
            for k in rows["key_id"]
        ]

    return short, messages, _masked_values


def _others(groups: dict[str, list[int]], key: str, me: int, limit: int = 10) -> str:
    rows = [r for r in groups[key] if r != me]
    text = ", ".join(map(str, rows[:limit]))
    return text + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def _group_ids(arr: Any) -> np.ndarray:
    """Integer id per row, equal for equal values (Arrow hash kernel; nulls get -1)."""
    enc = pc.dictionary_encode(arr).indices if len(arr) else pa.array([], pa.int32())
    return pc.fill_null(enc, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _key_duplicate(ctx: _Context) -> Any:
    ids = _group_ids(ctx.keys)
    counts = np.bincount(ids[ids >= 0], minlength=1) if len(ids) else np.zeros(1, np.int64)
    dup = ctx.present & (ids >= 0) & (counts[np.maximum(ids, 0)] > 1)
    ctx.key_ids = ids

    def messages(rows: pd.DataFrame) -> list[str]:
        raw = [reveal(k) for k in rows["key_id"]]
        groups: dict[str, list[int]] = {}
        for k, r in zip(raw, rows["source_row"], strict=True):
            groups.setdefault(k, []).append(int(r))
        return [
            f"the same key is also on row(s) {_others(groups, k, int(r))}: a key can be migrated only "
            "once; keep the right row and remove the others"
            for k, r in zip(raw, rows["source_row"], strict=True)
        ]

    return dup, messages, _masked_values


def _email_missing(ctx: _Context) -> Any:
    email = ctx.frame["owner_email"]
    missing = (email.isna() | (email.astype("str").str.strip().str.len() == 0)).fillna(True).to_numpy(dtype=bool)
    return missing, _const("no owner email: the portal user who should own this key is unknown"), _const("")


def _email_malformed(ctx: _Context) -> Any:
    email = pa.array(ctx.frame["owner_email"].astype("str"), type=pa.string(), from_pandas=True)
    present = ctx.bool_of(pc.greater(pc.utf8_length(email), 0))
    bad = present & ~ctx.bool_of(pc.match_substring_regex(email, EMAIL_RE))

    def messages(rows: pd.DataFrame) -> list[str]:
        return [f"owner email {v!r} is not an email address" for v in rows["owner_email"]]

    return bad, messages, _column_values("owner_email")


def _plan_missing(ctx: _Context) -> Any:
    plan = ctx.frame["plan"].astype("str")
    missing = (plan.isna() | (plan.str.strip().str.len() == 0)).fillna(True).to_numpy(dtype=bool)
    return missing, _const("no plan: a portal credential needs exactly one plan (legacy policy ID or name)"), _const("")


def _products_missing(ctx: _Context) -> Any:
    # LegacyKeys has checked that every value is a list
    missing = np.fromiter(map(len, ctx.frame["products"].to_numpy()), dtype=np.int64, count=len(ctx.frame)) == 0
    return (
        missing,
        _const("no products: a portal credential needs at least one product (policy ID or API)"),
        _column_values("products"),
    )


def _expiry_unparseable(ctx: _Context) -> Any:
    raw = ctx.frame["expires_raw"]
    bad = raw.notna().to_numpy(dtype=bool)

    def messages(rows: pd.DataFrame) -> list[str]:
        return expiry_problems(rows["expires_raw"])

    return bad, messages, _column_values("expires_raw")


# ---------------------------------------------------------------- warnings


def _key_looks_hashed(ctx: _Context) -> Any:
    hashed = ctx.bool_of(pc.match_substring_regex(ctx.keys, HASH_RE))
    if ctx.classic:
        text = (
            "Classic Portal dumps hold key HASHES when key hashing is on: this {n}-hex-character value is "
            "almost certainly a hash, not the token clients send; get the real tokens from the source system"
        )
    else:
        text = (
            "key is {n} hex characters, the shape of a key hash; with key hashing on, exports hold hashes: "
            "make sure this is the token clients send"
        )

    def messages(rows: pd.DataFrame) -> list[str]:
        return [text.format(n=len(reveal(k))) for k in rows["key_id"]]

    return hashed, messages, _masked_values


def _key_long(ctx: _Context) -> Any:
    long_ = ctx.lengths > LONG_KEY

    def messages(rows: pd.DataFrame) -> list[str]:
        return [
            f"key is {len(reveal(k))} characters; some gateway versions lost custom keys over {LONG_KEY} characters "
            "in multi-data-centre setups: test one key first"
            for k in rows["key_id"]
        ]

    return long_, messages, _masked_values


def _key_near_duplicate(ctx: _Context) -> Any:
    folded = _group_ids(pc.utf8_lower(pc.utf8_trim_whitespace(ctx.keys)))
    counts = np.bincount(folded[folded >= 0], minlength=1) if len(folded) else np.zeros(1, np.int64)
    candidates = ctx.present & (folded >= 0) & (counts[np.maximum(folded, 0)] > 1)
    near = np.zeros(len(folded), dtype=bool)
    if candidates.any():
        exact = ctx.key_ids if ctx.key_ids is not None else _group_ids(ctx.keys)
        sub = pd.DataFrame({"f": folded[candidates], "k": exact[candidates]})
        near[np.flatnonzero(candidates)] = (sub.groupby("f")["k"].transform("nunique") > 1).to_numpy()

    def messages(rows: pd.DataFrame) -> list[str]:
        raw = [reveal(k) for k in rows["key_id"]]
        groups: dict[str, list[tuple[int, str]]] = {}
        for k, r in zip(raw, rows["source_row"], strict=True):
            groups.setdefault(k.strip().lower(), []).append((int(r), k))
        out = []
        for k in raw:
            others = [row for row, other in groups[k.strip().lower()] if other != k]
            shown = ", ".join(map(str, others[:10])) + (f" and {len(others) - 10} more" if len(others) > 10 else "")
            out.append(
                f"key differs from row(s) {shown} only in case or surrounding spaces; some gateway hash "
                "settings can mix such keys up"
            )
        return out

    return near, messages, _masked_values


def _expired(ctx: _Context) -> Any:
    at = ctx.frame["expires_at"]
    past = (at.notna() & (at < ctx.now)).to_numpy(dtype=bool)

    def messages(rows: pd.DataFrame) -> list[str]:
        return [
            f"key expired on {pd.Timestamp(v):%Y-%m-%d %H:%M} UTC; migrated, it stays expired"
            for v in rows["expires_at"]
        ]

    def values(rows: pd.DataFrame) -> list[str]:
        return [pd.Timestamp(v).isoformat() for v in rows["expires_at"]]

    return past, messages, values


def _inactive(ctx: _Context) -> Any:
    inactive = ~ctx.frame["active"].fillna(True).astype(bool).to_numpy()
    return (
        inactive,
        _const("key is inactive in the legacy system: decide whether it should be migrated"),
        _const("false"),
    )


def _key_weak(ctx: _Context) -> Any:
    keys = ctx.keys
    repeated = ctx.bool_of(pc.equal(pc.utf8_slice_codeunits(keys, 1), pc.utf8_slice_codeunits(keys, 0, -1)))
    repeated &= ctx.lengths >= 2
    short = (ctx.lengths >= ctx.min_len) & (ctx.lengths < WEAK_LENGTH)
    weak = ctx.present & (repeated | short)

    def messages(rows: pd.DataFrame) -> list[str]:
        out = []
        for k in rows["key_id"]:
            raw = reveal(k)
            if len(set(raw)) == 1:
                out.append(
                    f"key is one character repeated {len(raw)} times: trivial to guess; rotate it after the migration"
                )
            else:
                out.append(f"key is only {len(raw)} characters: weak against guessing; rotate it after the migration")
        return out

    return weak, messages, _masked_values


RULES: dict[str, Rule] = {
    "key_missing": _key_missing,
    hash_only.COLUMN: hash_only.rule,
    "key_bad_chars": _key_bad_chars,
    "key_too_short": _key_too_short,
    "key_duplicate": _key_duplicate,
    "email_missing": _email_missing,
    "email_malformed": _email_malformed,
    "plan_missing": _plan_missing,
    "products_missing": _products_missing,
    "expiry_unparseable": _expiry_unparseable,
    "key_looks_hashed": _key_looks_hashed,
    "key_long": _key_long,
    "key_near_duplicate": _key_near_duplicate,
    "expired": _expired,
    "inactive": _inactive,
    "key_weak": _key_weak,
    **LIMIT_RULES,
}


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
