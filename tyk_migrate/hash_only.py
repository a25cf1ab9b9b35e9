"""Keys a Dashboard holds only as hashes: kept in the legacy frame, and rejected by validation with what to do.

With ``hash_keys`` on, Tyk cannot give back a key's value: its key listings hold the hash where the key would
be (``key_id`` equal to ``key_hash``). Such a row cannot be migrated by value, since the portal imports a key by
its exact token and there is no import by hash, but dropping it would lose a client from the migration
without a word. So the Dashboard loader marks it (``key_hash_only``) and ``validate_keys`` turns the mark into
one ``error`` row of the rejects report per key (check ``key_hash_only``), with the way out.

The rule is exact, not a guess from the value's shape: a raw key of 32 hex digits is a common custom key, and
the ``key_looks_hashed`` warning already covers hash-shaped values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .secrets import mask, reveal

COLUMN = "key_hash_only"
#: Tyk's hash lengths in hex digits (``tyk_hash``): which function made a hash, for the message.
FUNCTION_BY_LENGTH = {8: "murmur32", 16: "murmur64", 32: "murmur128", 64: "sha256"}
#: validate.Check's fields: name, column, severity, summary, action
CHECK = (
    COLUMN,
    "key_id",
    "error",
    "the Dashboard holds only the key's hash (key hashing is on), not the token its clients send",
    "get the token from the system that issued it or from its owner, list it in a file (the key, and any column "
    "you know) and complete that file from the Dashboard (enrich_from_dashboard / --dashboard-url); or give the "
    "client a new key in the portal",
)


def mark_hash_only(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``key_hash_only`` (True where the row's ``key_id`` is its ``source_id``, the listing's ``key_hash``);
    the frame is returned as given when no row is such."""
    keys = [reveal(k) if k is not None else None for k in frame["key_id"].tolist()]
    hashes = frame["source_id"].tolist()
    flags = np.array([bool(k) and isinstance(h, str) and k == h for k, h in zip(keys, hashes, strict=True)], bool)
    if not flags.any():
        return frame
    out = frame.assign(**{COLUMN: flags})
    out.attrs = dict(frame.attrs)
    return out


def _message(value: object) -> str:
    raw = reveal(value) if value is not None else ""  # type: ignore[arg-type]
    function = FUNCTION_BY_LENGTH.get(len(raw))
    made = f" ({len(raw)} hex digits: a {function} hash)" if function else ""
    return (
        f"the Dashboard lists only this key's hash{made}, not the token its clients send: the portal imports keys "
        "by value, so it cannot be migrated from here. " + CHECK[4][0].upper() + CHECK[4][1:]
    )


def rule(ctx: Any) -> tuple[np.ndarray, Callable[[pd.DataFrame], list[str]], Callable[[pd.DataFrame], list[str]]]:
    """validate's rule shape: ``(mask, messages(rows), values(rows))``; frames without the column trip nothing."""
    frame: pd.DataFrame = ctx.frame
    if COLUMN not in frame.columns:
        hit = np.zeros(len(frame), dtype=bool)
    else:
        hit = frame[COLUMN].fillna(False).to_numpy(dtype=bool)

    def messages(rows: pd.DataFrame) -> list[str]:
        return [_message(k) for k in rows["key_id"]]

    def values(rows: pd.DataFrame) -> list[str]:
        return [mask(k) for k in rows["key_id"]]

    return hit, messages, values
