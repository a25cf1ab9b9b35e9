"""Key values in memory only: fingerprints and masks everywhere else.

``SecretKey`` is a ``str`` whose ``repr``/``str``/``format`` show the mask, so a DataFrame of keys can be
displayed in a notebook or logged without leaking tokens, while ``json.dumps`` and ``reveal`` still give the
real value to the one place that needs it (the request body sent to the portal, the gateway header).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

MASK_CHAR = "…"


def fingerprint(value: str) -> str:
    """Stable, non-reversible id of a key: first 16 hex digits of its SHA-256."""
    return hashlib.sha256(str.encode(reveal(value), "utf-8", "surrogatepass")).hexdigest()[:16]


def mask(value: object) -> str:
    """``abcd…wxyz`` for long keys; shorter keys show less, so a mask never reveals most of a key."""
    if value is None:
        return ""
    raw = reveal(value) if isinstance(value, str) else str(value)
    n = len(raw)
    if n >= 16:
        return f"{raw[:4]}{MASK_CHAR}{raw[-4:]}"
    if n >= 8:
        return f"{raw[:2]}{MASK_CHAR}{raw[-2:]}"
    return MASK_CHAR * 3 if n else ""


def reveal(value: str) -> str:
    """The raw value of a key, as a plain ``str`` (use only to send it to the portal or gateway)."""
    return str.__str__(value)


class SecretKey(str):
    """A key value that prints as its mask. Equality and hashing are those of the raw value."""

    __slots__ = ()

    def __new__(cls, value: object = "") -> SecretKey:
        # str(other_secret_key) is its mask: take the raw value, or wrapping a SecretKey would mask it
        return super().__new__(cls, reveal(value) if isinstance(value, str) else value)

    def __repr__(self) -> str:
        return f"SecretKey({mask(self)!r})"

    def __str__(self) -> str:
        return mask(self)

    def __format__(self, spec: str) -> str:
        return format(mask(self), spec)

    def reveal(self) -> str:
        return reveal(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (SecretKey, (reveal(self),))


def wrap_keys(values: Iterable[object]) -> list[object]:
    """Turn raw strings into ``SecretKey``; leaves missing values (None/NaN) as they are."""
    return [SecretKey(v) if isinstance(v, str) else v for v in values]


def fingerprints(values: Iterable[object]) -> list[str | None]:
    return [fingerprint(v) if isinstance(v, str) else None for v in values]


def masks(values: Iterable[object]) -> list[str]:
    return [mask(v) if isinstance(v, str) else "" for v in values]


def secret_series(values: Iterable[object], index: object = None, name: str = "key_id") -> Any:
    """An object-dtype Series of ``SecretKey`` (pandas 3 would otherwise coerce them to plain ``str``)."""
    import pandas as pd

    return pd.Series(wrap_keys(values), index=index, dtype=object, name=name)  # type: ignore[call-overload]
