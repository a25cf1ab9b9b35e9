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

import contextlib
import functools
import hashlib
import hmac
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, TypeAlias, TypeGuard

from . import fingerprint_key

MASK_CHAR = "…"
#: ``(shortest length, characters shown at each end)``, longest first. A mask shows at most a quarter of a key
#: and at most 8 characters; a key under 12 characters, or one repeating a short pattern, shows none (``………``).
MASK_TIERS = ((32, 4), (24, 3), (16, 2), (12, 1))
#: What the journal records to say which fingerprint secret wrote it (see ``fingerprint_key_id``).
_KEY_ID_LABEL = b"tyk-migrate fingerprint key id v1"


@functools.lru_cache(maxsize=8)
def _pads(secret: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's inner and outer hashes with the key already absorbed (RFC 2104): per value, two copies
    and one short update each, about 1.5x a plain SHA-256 instead of 3x for ``hmac.new``."""
    key = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
    key = key.ljust(64, b"\0")
    return hashlib.sha256(bytes(b ^ 0x36 for b in key)), hashlib.sha256(bytes(b ^ 0x5C for b in key))


def fingerprinter() -> Callable[[str], str]:
    """A function ``raw key -> fingerprint`` bound to the current secret, for loops over many keys."""
    inner, outer = _pads(fingerprint_key.secret())
    new_inner, new_outer = inner.copy, outer.copy

    def fp(value: str) -> str:
        h = new_inner()
        h.update(str.encode(value, "utf-8", "surrogatepass"))  # str.encode: a SecretKey's raw value, not its mask
        o = new_outer()
        o.update(h.digest())
        return o.digest()[:8].hex()

    return fp


def fingerprint(value: str | SecretKey) -> str:
    """Stable id of a key that only the holder of the fingerprint secret can check a guess against:
    ``HMAC-SHA256(secret, key)``, first 16 hex digits. The secret is per user or ``TYK_MIGRATE_FINGERPRINT_KEY``
    (see ``fingerprint_key``); it is in no exported file."""
    return fingerprinter()(reveal(value))


def fingerprint_key_id() -> str:
    """Which secret makes this process's fingerprints: 16 hex digits, an HMAC of a fixed label.

    Two processes with equal ids compute equal fingerprints. A journal records it when created and refuses to
    be continued under another id (the rows could not be matched); it reveals nothing about the secret.
    """
    return hmac.new(fingerprint_key.secret(), _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


def private_file(path: str | Path, *, create: bool = True) -> Path:
    """Make ``path`` readable and writable by its owner only (0600) before anything is written to it.

    Creates the file (and its folder) when missing, unless ``create=False``; an existing regular file is
    chmodded (writing into it later keeps that mode). Use it for every file that holds fingerprints, keys or
    masks: exports, reports, journals, the sandbox database. Not-regular files (``/dev/stdout``) are left alone.
    """
    target = Path(path)
    try:
        info = target.stat()
    except FileNotFoundError:
        if not create:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # created owner-only, so no byte is ever readable by others
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        info = target.stat()
    if stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) != 0o600:
        # by path, never by opening it: closing any descriptor of a file drops this process's POSIX locks on
        # it, and SQLite's locks on a live database's -shm file are what keep another process from resetting it
        os.chmod(target, 0o600)
    return target


def mask_shown(length: int) -> int:
    """How many characters a mask shows at each end of a key of ``length`` characters (see ``MASK_TIERS``)."""
    return next((shown for shortest, shown in MASK_TIERS if length >= shortest), 0)


def pattern_period_max(length: int) -> int:
    """The longest repeated pattern a mask of a key of ``length`` characters could show whole: both its ends."""
    return max(1, 2 * mask_shown(length))


#: A key off its pattern in at most one place per this many characters still "repeats" it: ``a*46+b``,
#: ``0*28+1234``, ``test*8+1``. A mask's ends show the pattern, and a few breaks of it are few guesses.
NEAR_REPEAT_SPAN = 8


def near_repeat_allowance(length: int) -> int:
    """How many breaks of its pattern (``raw[i] != raw[i + p]``) a key of ``length`` characters may have and
    still count as repeating it: one per ``NEAR_REPEAT_SPAN`` characters. A random key breaks nearly
    everywhere (a hex key at 15 of 16 places), so this never touches one; a key this regular is weak."""
    return length // NEAR_REPEAT_SPAN


def low_entropy(raw: str) -> bool:
    """True for a key that is (nearly) a short pattern repeated (``zzzz…``, ``abab…``, ``aaaa…aaab``): with
    a period up to ``pattern_period_max``, so its mask's ends would show the pattern whole, and at most
    ``near_repeat_allowance`` breaks of it. Its mask shows nothing, and no validate message states its
    length, since the pattern and the length are (nearly) the whole key."""
    n = len(raw)
    allowed = near_repeat_allowance(n)
    longest = min(pattern_period_max(n), n - 1)
    if len(set(raw)) > longest + allowed:
        return False  # a period p with b breaks has at most p + b distinct characters: no period fits
    for p in range(1, longest + 1):
        breaks = 0
        for a, b in zip(raw, raw[p:], strict=False):
            if a != b:
                breaks += 1
                if breaks > allowed:  # a random key gets here within a few characters: 10x faster than counting all
                    break
        else:
            return True
    return False


def mask(value: object) -> str:
    """``abcd…wxyz`` for keys of 32+ characters, fewer shown for shorter keys, ``………`` under 12 or for a
    low-entropy key (``low_entropy``: its ends would give the whole key away)."""
    if value is None:
        return ""
    raw = reveal(value) if is_key(value) else str(value)
    shown = mask_shown(len(raw))
    if shown and not low_entropy(raw):
        return f"{raw[:shown]}{MASK_CHAR}{raw[-shown:]}"
    return MASK_CHAR * 3 if raw else ""


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
    """``fingerprint`` of each string (None for anything else), with the secret looked up once; inlined, as the
    loader calls it once per row of an export."""
    inner, outer = _pads(fingerprint_key.secret())
    new_inner, new_outer = inner.copy, outer.copy
    out: list[str | None] = []
    append = out.append
    for value in values:
        if is_key(value):
            h = new_inner()
            h.update(str.encode(reveal(value), "utf-8", "surrogatepass"))
            o = new_outer()
            o.update(h.digest())
            append(o.digest()[:8].hex())
        else:
            append(None)
    return out


def masks(values: Iterable[object]) -> list[str]:
    return [mask(v) if is_key(v) else "" for v in values]


def reveal_all(values: Iterable[object]) -> list[str | None]:
    """Raw values of a key column for vectorised checks (``None`` for missing values)."""
    return [v._raw if isinstance(v, SecretKey) else (v if isinstance(v, str) else None) for v in values]


def secret_series(values: Iterable[object], index: object = None, name: str = "key_id") -> Any:
    """An object-dtype Series of ``SecretKey`` (the key column of every frame the package returns)."""
    import pandas as pd

    return pd.Series(wrap_keys(values), index=index, dtype=object, name=name)  # type: ignore[call-overload]
