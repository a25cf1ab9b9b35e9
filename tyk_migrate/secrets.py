"""Key values in memory only: fingerprints and masks everywhere else.

``SecretKey`` holds a key's raw value and shows only its mask (``str``, ``repr``, ``format``). It is
deliberately *not* a ``str`` subclass: pandas' C writers (``to_csv``, ``to_json``), pyarrow
(``to_parquet``) and ``json.dumps`` read a ``str`` subclass's character data directly, without calling
``__str__``, and ``.str.len()`` told a key's length. A plain object in an object-dtype column instead is
safe under every writer, checked one by one (tests/test_secrets_pandas.py): text writers (``to_csv``,
``to_html``, ``to_string``, ``to_markdown``, ``to_excel``, ``astype(str)``) call ``str()`` and write the
mask; ``to_json`` writes ``{}`` (pass ``default_handler=str`` for masks); ``json.dumps``, ``to_parquet``
and other Arrow writers refuse it (``TypeError``/``ArrowInvalid`` naming only the mask); ``.str``
methods give NaN. A pandas ExtensionArray could make Arrow writers emit masks, but it protects only
while the column keeps its dtype: ``tolist()``, ``to_numpy()``, ``astype(object)`` or a concat with an
object column would hand out raw ``str`` again, while the protection of a ``SecretKey`` travels with the
value. For a file with masks, use ``report.frame_for_export``.

The raw value comes out only through an explicit ``reveal(key)`` / ``key.reveal()``: the request body sent
to the portal, the gateway header, key checks, and exports where the user asked for secrets. Equality and
hashing are those of the raw value (a ``SecretKey`` equals its plain ``str``); there is no ``len()``.
Pickling keeps the raw value, so copies and worker processes get working keys: a pickle is as sensitive
as the legacy export.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, NoReturn, TypeAlias, TypeGuard

MASK_CHAR = "…"


def fingerprint(value: str | SecretKey) -> str:
    """Stable, non-reversible id of a key: first 16 hex digits of its SHA-256."""
    return hashlib.sha256(str.encode(reveal(value), "utf-8", "surrogatepass")).hexdigest()[:16]


def mask(value: object) -> str:
    """``abcd…wxyz`` for long keys; shorter keys show less, so a mask never reveals most of a key."""
    if value is None:
        return ""
    raw = reveal(value) if is_key(value) else str(value)
    n = len(raw)
    if n >= 16:
        return f"{raw[:4]}{MASK_CHAR}{raw[-4:]}"
    if n >= 8:
        return f"{raw[:2]}{MASK_CHAR}{raw[-2:]}"
    return MASK_CHAR * 3 if n else ""


def reveal(value: str | SecretKey) -> str:
    """The raw value of a key, as a plain ``str`` (use only to send it to the portal or gateway)."""
    if isinstance(value, SecretKey):
        return value._raw
    return str.__str__(value)


def is_key(value: object) -> TypeGuard[str | SecretKey]:
    """True for a key value, wrapped (``SecretKey``) or raw (``str``); False for None/NaN/other."""
    return isinstance(value, (SecretKey, str))


class SecretKey:
    """A key value that prints as its mask. Equality and hashing are those of the raw value."""

    __slots__ = ("_raw",)
    _raw: str

    def __init__(self, value: object = "") -> None:
        raw = value._raw if isinstance(value, SecretKey) else value
        object.__setattr__(self, "_raw", str.__str__(raw) if isinstance(raw, str) else str(raw))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("SecretKey is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("SecretKey is immutable")

    def __repr__(self) -> str:
        return f"SecretKey({mask(self)!r})"

    def __str__(self) -> str:
        return mask(self)

    def __format__(self, spec: str) -> str:
        return format(mask(self), spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SecretKey):
            return self._raw == other._raw
        if isinstance(other, str):
            return self._raw == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._raw)

    def __bool__(self) -> bool:
        return bool(self._raw)

    def reveal(self) -> str:
        return self._raw

    def __reduce__(self) -> tuple[Any, ...]:
        return (SecretKey, (self._raw,))


#: A key as the package accepts it: wrapped, or a raw ``str`` from the caller.
KeyValue: TypeAlias = str | SecretKey


def wrap_keys(values: Iterable[object]) -> list[object]:
    """Turn raw strings into ``SecretKey``; leaves ``SecretKey`` and missing values (None/NaN) as they are."""
    return [SecretKey(v) if isinstance(v, str) else v for v in values]


def fingerprints(values: Iterable[object]) -> list[str | None]:
    return [fingerprint(v) if is_key(v) else None for v in values]


def masks(values: Iterable[object]) -> list[str]:
    return [mask(v) if is_key(v) else "" for v in values]


def reveal_all(values: Iterable[object]) -> list[str | None]:
    """Raw values of a key column for vectorised checks (``None`` for missing values)."""
    return [v._raw if isinstance(v, SecretKey) else (v if isinstance(v, str) else None) for v in values]


def secret_series(values: Iterable[object], index: object = None, name: str = "key_id") -> Any:
    """An object-dtype Series of ``SecretKey`` (the key column of every frame the package returns)."""
    import pandas as pd

    return pd.Series(wrap_keys(values), index=index, dtype=object, name=name)  # type: ignore[call-overload]
