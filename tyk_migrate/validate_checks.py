"""The individual checks of ``validate_keys``: one vectorised rule per check over the whole frame.

Each rule takes the shared ``_Context`` and returns ``(mask, messages, values)``: which rows it hits, and
callables that word the message and the (masked) value for just those rows. ``RULES`` is their order in a
report. Split from ``validate.py``, which re-exports ``masks_of``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import hash_only
from .secrets import MASK_CHAR, MASK_TIERS, low_entropy, near_repeat_allowance, pattern_period_max, reveal, reveal_all
from .sources.canonical import expiry_problems
from .validate_limits import LIMIT_RULES

#: The one home of the key charset rule. A key travels in the ``Authorization`` header, which clients (httpx
#: among them) send as ASCII: a non-ASCII key has no byte form they agree on. It also travels in Dashboard
#: ``/api/keys/{id}`` paths, which split at ``/ ? # %`` and choke on quotes and backslashes. So anything outside
#: ``!``..``~`` (whitespace, controls, formatting characters, every non-ASCII letter), and those six, is an
#: error at validate time, not a vague failure at verify.
BAD_CHARS_RE = r'[^\x21-\x7E]|["\\/?#%]'
HASH_RE = r"^(?:[0-9a-fA-F]{16}|[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$"
EMAIL_RE = r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$"
LONG_KEY = 24
WEAK_LENGTH = 12


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
        # keys whose pattern and length are the whole key: masked to nothing, and no message states a length
        self.low_entropy = low_entropy_of(self.keys).to_numpy(zero_copy_only=False)
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
    """Vectorised ``secrets.mask``: ``MASK_TIERS`` from the longest down, ``………`` below and for low-entropy
    keys, ``""`` for empty/none."""
    n = pc.fill_null(pc.utf8_length(keys), 0)
    out = pc.if_else(pc.greater(n, 0), pa.scalar(MASK_CHAR * 3), pa.scalar(""))
    for shortest, shown in reversed(MASK_TIERS):  # shortest tier first: each longer tier overrides it
        ends = pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(keys, 0, shown), pc.utf8_slice_codeunits(keys, -shown), MASK_CHAR
        )
        out = pc.if_else(pc.greater_equal(n, shortest), ends, out)
    out = pc.if_else(low_entropy_of(keys), pa.scalar(MASK_CHAR * 3), out)
    return pc.fill_null(out, "")


def low_entropy_of(keys: pa.Array) -> pa.Array:
    """Vectorised ``secrets.low_entropy``: a pattern of at most ``pattern_period_max`` characters, broken at
    most ``near_repeat_allowance`` times. All keys' code points in one array: per period, a running count of
    the places where a character differs from the one ``p`` later gives each key's count in two lookups."""
    values = [v or "" for v in keys.to_pylist()]
    n = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    flat = np.frombuffer("".join(values).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    flat = flat.astype(np.uint8) if flat.size and flat.max() < 256 else flat  # a quarter of the memory to compare
    starts, count_type = np.cumsum(n) - n, np.int32 if flat.size < 2**31 else np.int64
    period_max = np.ones(len(n), dtype=np.int64)
    for shortest, _ in reversed(MASK_TIERS):  # a step function of the length, as the tiers are
        period_max[n >= shortest] = pattern_period_max(shortest)
    lengths, where = np.unique(n, return_inverse=True)
    allowed = np.array([near_repeat_allowance(int(x)) for x in lengths], dtype=np.int64)[where]
    out = np.zeros(len(n), dtype=bool)
    for p in range(1, int(period_max.max(initial=1)) + 1):
        running = np.concatenate(([0], np.cumsum(flat[:-p] != flat[p:], dtype=count_type)))
        applies = (p <= period_max) & (n > p)
        first, last = np.where(applies, starts, 0), np.where(applies, starts + n - p, 0)  # raw[i] vs raw[i+p], i<n-p
        out |= applies & (running[last] - running[first] <= allowed)
    return pa.array(out, pa.bool_())


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
        elif not ch.isascii():
            what = "a non-ASCII character"
        else:
            continue
        if what not in found:
            found.append(what)
    return ", ".join(found) or "a character the gateway cannot take"


def _bad_chars_of(raw: str) -> str:
    # a low-entropy key made of the character named would be named whole (``////////////``)
    return "a character the gateway cannot take" if low_entropy(raw) else _describe_bad_chars(raw)


def _key_bad_chars(ctx: _Context) -> Any:
    bad = ctx.bool_of(pc.match_substring_regex(ctx.keys, BAD_CHARS_RE))

    def messages(rows: pd.DataFrame) -> list[str]:
        return [
            f"key contains {_bad_chars_of(reveal(k))}: such keys break HTTP headers or the "
            "Dashboard's /api/keys/{id} routes"
            for k in rows["key_id"]
        ]

    return bad, messages, _masked_values


def _raw_and_weak(rows: pd.DataFrame) -> list[tuple[str, bool]]:
    """Each row's key and whether it is low-entropy (no message states its length: with its pattern that is the
    key), for all rows at once: one ``low_entropy`` call per key cost 5 s a 100,000 long keys."""
    raws = [reveal(k) or "" for k in rows["key_id"]]
    return list(zip(raws, low_entropy_of(pa.array(raws, type=pa.string())).to_pylist(), strict=True))


def _key_too_short(ctx: _Context) -> Any:
    short = ctx.present & (ctx.lengths < ctx.min_len)

    def messages(rows: pd.DataFrame) -> list[str]:
        return [
            f"key is shorter than your gateway's minimum of {ctx.min_len} (min_key_length)"
            if weak
            else f"key is {len(raw)} characters; your gateway's minimum is {ctx.min_len} (min_key_length)"
            for raw, weak in _raw_and_weak(rows)
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
    # a low-entropy hex value (``0000…``) is no hash, and "N hex characters" would give it away; key_weak warns
    hashed = ctx.bool_of(pc.match_substring_regex(ctx.keys, HASH_RE)) & ~ctx.low_entropy
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
            f"key is {f'over {LONG_KEY}' if weak else len(raw)} characters; some gateway versions lost custom keys "
            f"over {LONG_KEY} characters in multi-data-centre setups: test one key first"
            for raw, weak in _raw_and_weak(rows)
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
    short = (ctx.lengths >= ctx.min_len) & (ctx.lengths < WEAK_LENGTH)
    weak = ctx.present & (ctx.low_entropy | short)

    def messages(rows: pd.DataFrame) -> list[str]:
        out = []
        for k in rows["key_id"]:
            raw = reveal(k)
            if low_entropy(raw):  # neither its length nor its pattern: together they are the key
                out.append("key repeats a short pattern: trivial to guess; rotate it after the migration")
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
