"""Build the canonical legacy frame from raw per-column values, whatever loader produced them.

Every loader ends here, so the column contract (DESIGN.md, "Frames") is enforced in one place: the
same trimming, lower-casing, list splitting, expiry and status parsing for CSV, Excel, JSON and Tyk
dumps. The work is vectorised (pandas / pyarrow string kernels) because a 1,000,000-row export must load
in seconds; only key wrapping and fingerprints are per-row Python, and they are cheap.

Nothing here rejects a row: values that cannot be understood are kept as they are (or as missing) and
``tyk_migrate.validate`` reports them with the row number and a sentence the analyst can act on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..secrets import SecretKey, fingerprints, reveal

#: Canonical legacy columns, in order. ``org`` and ``expires_raw`` are this project's additions:
#: ``org`` is the owner's organisation when the source has one; ``expires_raw`` holds the source's
#: expiry text only where it could not be parsed (so validation can name it), else missing.
COLUMNS: tuple[str, ...] = (
    "source_row",
    "source_id",
    "key_id",
    "key_fingerprint",
    "owner_email",
    "app_name",
    "alias",
    "plan",
    "products",
    "expires_at",
    "active",
    "org",
    "expires_raw",
)
REQUIRED: tuple[str, ...] = ("key_id", "owner_email", "plan", "products")

NEVER_EXPIRES = frozenset({"", "0", "-1", "0.0", "-1.0", "never", "none", "null", "nan", "nat", "n/a", "na", "-"})
FALSE_WORDS = frozenset(
    {
        "false",
        "f",
        "no",
        "n",
        "0",
        "0.0",
        "off",
        "inactive",
        "disabled",
        "revoked",
        "suspended",
        "blocked",
        "deleted",
        "expired",
    }
)
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0", "on"})
PRODUCT_SEPARATORS = r"\s*[;,|]\s*"
_SEP = re.compile(PRODUCT_SEPARATORS)
DT_DTYPE = pd.DatetimeTZDtype("ns", "UTC")


def as_text(values: Any, index: pd.Index | None = None) -> pd.Series:
    """A ``str``-dtype Series of the values as written: numbers without a trailing ``.0``, NA kept."""
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if index is not None:
        s.index = index
    if isinstance(s.dtype, pd.StringDtype):
        return s
    return pd.Series([_one_text(v) for v in s], index=s.index, dtype="str")


def _one_text(v: object) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, SecretKey):
        return reveal(v)  # a frame of keys loaded again: str() would give the mask
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e18:
        return str(int(v))
    if isinstance(v, pd.Timestamp | np.datetime64):
        return pd.Timestamp(v).isoformat()
    if hasattr(v, "isoformat"):
        return v.isoformat()  # datetime.datetime / date from Excel or JSON decoders
    if isinstance(v, list | tuple):
        return ";".join(t for t in (_one_text(x) for x in v) if t)
    return str(v)


def clean_text(values: pd.Series) -> pd.Series:
    """Trimmed text; blanks become missing."""
    s = as_text(values).str.strip()
    return s.where(s.str.len() > 0)


def parse_products(values: pd.Series) -> pd.Series:
    """``list[str]`` per row from lists or from strings separated by ``;`` ``,`` or ``|``."""
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if not isinstance(s.dtype, pd.StringDtype):
        # JSON / DataFrame sources: lists or strings per row; per-row Python is fine at their sizes
        return pd.Series([_products_of(v) for v in s], index=s.index, dtype=object)
    import pyarrow as pa
    import pyarrow.compute as pc

    # Parse each distinct spelling once (exports repeat the same few product lists), with pyarrow
    # kernels (RE2) instead of pandas' per-row fallbacks; every row still gets its own list object.
    codes, uniques = pd.factorize(as_text(s), use_na_sentinel=True)
    arr = pa.array(uniques, type=pa.string(), from_pandas=True)
    arr = pc.utf8_trim_whitespace(arr)
    bracketed = pc.fill_null(pc.starts_with(arr, "["), False)
    if pc.any(bracketed).as_py():
        arr = pc.if_else(bracketed, pc.replace_substring_regex(arr, r"[\[\]\"']", ""), arr)
    arr = pc.replace_substring_regex(arr, PRODUCT_SEPARATORS, "|")
    arr = pc.utf8_trim(pc.replace_substring_regex(arr, r"\|{2,}", "|"), "|")
    arr = pc.if_else(pc.equal(pc.utf8_length(arr), 0), pa.scalar(None, pa.string()), arr)
    parsed = [v if v is not None else [] for v in pc.split_pattern(arr, "|").to_pylist()]
    parsed.append([])  # code -1 (missing) -> the last entry
    return pd.Series([parsed[c].copy() for c in codes.tolist()], index=s.index, dtype=object)


def _products_of(v: object) -> list[str]:
    if isinstance(v, list | tuple | np.ndarray):
        items = [_one_text(x) for x in v]
        return [t.strip() for t in items if t and t.strip()]
    t = (_one_text(v) or "").strip()
    if t.startswith("["):
        t = re.sub(r"[\[\]\"']", "", t)
    return [p for p in (x.strip() for x in _SEP.split(t)) if p]


#: The expiry range the canonical ``datetime64[ns]`` column holds. Later than ``LATEST`` (2262-04-11, the
#: last nanosecond timestamp) means "never": such dates are "no end" sentinels (9999-12-31 is the largest
#: date of SQL, .NET and Excel) or 240+ years away, never in practice either way; clamping to 2262 instead
#: would show a made-up date. Earlier than ``EPOCH`` is rejected: no API key expired before 1970, so such a
#: date is a placeholder (Go's zero time 0001-01-01, Excel's 1900-01-01) whose meaning only the analyst knows.
EPOCH = pd.Timestamp(0, tz="UTC")
LATEST = pd.Timestamp.max.tz_localize("UTC")
LATEST_SECONDS = LATEST.timestamp()
#: Numbers at or above this are neither unix seconds nor milliseconds (see ``parse_expiry``).
MAX_EPOCH_NUMBER = 1e14
_EXPIRY_FIX = "use ISO 8601 (2030-01-31) or unix seconds; blank, 0 or -1 for never"


def parse_expiry(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``(expires_at, expires_raw)``: UTC timestamps (NaT = never) and the text of unusable values.

    Accepted: blank / 0 / -1 / "never" (no expiry); unix seconds (milliseconds from 10^12); 8-digit
    YYYYMMDD numbers as dates; ISO 8601
    dates and date-times (naive ones are taken as UTC); other common date spellings via pandas' parser
    (month first when ambiguous). Dates after 2262-04-11 mean never (see ``LATEST``). Kept in
    ``expires_raw`` (and so rejected): text that is not a date, dates before 1970, numbers of 10^14 or more,
    and negative numbers other than -1 (outside a Tyk dump, which ``tyk_dashboard`` maps by Tyk's own rule,
    a ``-2`` has no agreed meaning: it may be a typo or a days-left formula, and reading it as "never"
    would widen a key's access on a guess).
    """
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.DatetimeTZDtype | np.dtypes.DateTime64DType):
        return _settle(pd.to_datetime(values, utc=True), as_text(values))
    text = as_text(values).str.strip()
    index = text.index
    at = pd.Series(pd.NaT, index=index, dtype=DT_DTYPE)
    never = text.isna() | text.str.lower().isin(NEVER_EXPIRES)
    pending = ~never
    if pending.any():
        numbers = pd.to_numeric(text[pending], errors="coerce")
        numeric = numbers.notna() & np.isfinite(numbers) & (numbers > 0) & (numbers < MAX_EPOCH_NUMBER)
        if numeric.any():
            n = numbers[numeric]
            # 20300131 is a spreadsheet's date, not a moment of August 1970; 20301399 is neither, so rejected
            compact = n[(n >= 19700101) & (n <= 22621231) & (n % 1 == 0)].astype("int64").astype("str")
            dates = pd.to_datetime(compact, format="%Y%m%d", utc=True, errors="coerce")
            # pandas holds these in seconds: 22620412..22621231 is past LATEST and stays NaT (never)
            near_date = (dates <= LATEST).to_numpy(dtype=bool)
            at[dates.index[near_date]] = dates[near_date].astype(DT_DTYPE)
            numeric[dates.index[dates.isna()]] = False
            n = n.drop(compact.index)
            # Milliseconds from 10^12 (September 2001) up: below that, milliseconds would be an expiry before
            # 2001 while seconds are years past 5000, so 253402300799 (9999-12-31 in seconds) means never.
            seconds = n.where(n < 1e12, n / 1000.0)
            near = seconds <= LATEST_SECONDS
            at[seconds.index[near]] = pd.to_datetime(seconds[near], unit="s", utc=True).astype(DT_DTYPE)
        pending[numbers.index[numeric | numbers.isin([0, -1])]] = False
        # Every other number stays unusable without the date parser, whose ISO 8601 reads "-2" as year -2.
        rest = text[pending].loc[numbers.isna()]
        if len(rest):
            parsed = _parse_dates(rest)
            settled, unusable = _settle(parsed, rest)
            at[rest.index] = settled
            pending[rest.index] = unusable.notna()
    raw = text.where(pending)
    return at.astype(DT_DTYPE), raw


def _parse_dates(text: pd.Series) -> pd.Series:
    """ISO 8601 first, then pandas' other spellings, both held in microseconds: a nanosecond value in the
    column (Go's RFC 3339 with 9 digits) would make pandas convert a later date past 2262 and raise."""
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601").dt.as_unit("us")
    missed = parsed.isna()
    if missed.any():
        parsed[missed] = pd.to_datetime(text[missed], utc=True, errors="coerce", format="mixed").dt.as_unit("us")
    return parsed


def _settle(parsed: pd.Series, text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parsed timestamps (any unit, NaT where unparsed) into ``(expires_at, expires_raw)`` by the range rule.

    ``parsed`` may hold dates outside the nanosecond range (pandas parses text in microseconds): they are
    compared first and only in-range values are converted, so nothing raises ``OutOfBoundsDatetime``.
    """
    far = (parsed > LATEST).to_numpy(dtype=bool)
    early = (parsed < EPOCH).to_numpy(dtype=bool)
    usable = parsed.notna().to_numpy(dtype=bool) & ~far & ~early
    at = pd.Series(pd.NaT, index=parsed.index, dtype=DT_DTYPE)
    at[usable] = parsed[usable].astype(DT_DTYPE)
    unusable = ~usable & ~far
    return at, text.where(pd.Series(unusable, index=text.index)).astype("str")


def expiry_problems(raw: pd.Series) -> list[str]:
    """Why each ``expires_raw`` value was not understood: one sentence per value for the rejects report."""
    text = as_text(raw).fillna("")
    numbers = pd.to_numeric(text, errors="coerce")
    dates = _parse_dates(text)
    out = []
    for value, number, date in zip(text, numbers, dates, strict=True):
        if pd.notna(number) and number < 0:
            out.append(f"expiry {value!r} is negative: only 0 and -1 mean never; write 0 or -1 for never, or the date")
        elif pd.notna(number) and number >= MAX_EPOCH_NUMBER:
            out.append(f"expiry {value!r} is too large for unix seconds or milliseconds: {_EXPIRY_FIX}")
        elif pd.notna(date) and date < EPOCH:
            out.append(
                f"expiry {value!r} is before 1970, so a placeholder (0001-01-01 often means 'no date'), not a "
                f"real expiry: {_EXPIRY_FIX}"
            )
        else:
            out.append(f"expiry {value!r} is not a date: {_EXPIRY_FIX}")
    return out


def parse_active(values: pd.Series | None, index: pd.Index, *, inverted: bool = False) -> pd.Series:
    """Bool per row; blank means active. ``inverted`` for ``is_inactive``-style columns."""
    if values is None:
        return pd.Series(True, index=index, dtype=bool)
    text = as_text(values).str.strip().str.lower().fillna("")
    if inverted:
        return pd.Series(~text.isin(TRUE_WORDS | {"inactive", "disabled", "revoked"}).to_numpy(), index=index)
    return pd.Series(~text.isin(FALSE_WORDS).to_numpy(), index=index)


def key_values(values: Any, index: pd.Index) -> tuple[pd.Series, pd.Series]:
    """``(key_id, key_fingerprint)``: SecretKey objects (raw value untouched: no trimming) and fingerprints."""
    raw = as_text(values, index)
    items = raw.to_list()
    if not raw.hasnans:
        keys: list[object] = list(map(SecretKey, items))
    else:
        keys = [SecretKey(v) if isinstance(v, str) else None for v in items]
    fps = fingerprints(items)  # secrets.fingerprint, the secret looked up once: the per-row hot spot
    return (
        pd.Series(keys, index=index, dtype=object, name="key_id"),
        pd.Series(fps, index=index, dtype="str", name="key_fingerprint"),
    )


def build_frame(
    n: int,
    columns: Mapping[str, Any],
    *,
    fmt: str,
    column_map: Mapping[str, str] | None = None,
    source_row: Sequence[int] | Iterable[int] | None = None,
    inverted_active: bool = False,
) -> pd.DataFrame:
    """The canonical frame from raw values per canonical column (any missing optional column is NA)."""
    index = pd.RangeIndex(n)

    def col(name: str) -> pd.Series | None:
        v = columns.get(name)
        if v is None:
            return None
        s = v if isinstance(v, pd.Series) else pd.Series(list(v), dtype=object)
        return s.reset_index(drop=True)

    def text(name: str) -> pd.Series:
        s = col(name)
        return pd.Series(pd.NA, index=index, dtype="str") if s is None else clean_text(s)

    keys = col("key_id")
    key_id, key_fp = key_values(keys if keys is not None else [None] * n, index)
    email = text("owner_email").str.lower()
    products = col("products")
    expires = col("expires_at")
    if expires is None:
        expires_at = pd.Series(pd.NaT, index=index, dtype=DT_DTYPE)
        expires_raw = pd.Series(pd.NA, index=index, dtype="str")
    else:
        expires_at, expires_raw = parse_expiry(expires)
    rows = (
        pd.Series(list(source_row), dtype="int64")
        if source_row is not None
        else pd.Series(np.arange(1, n + 1, dtype="int64"))
    )
    frame = pd.DataFrame(
        {
            "source_row": rows.to_numpy(),
            "source_id": text("source_id"),
            "key_id": key_id,
            "key_fingerprint": key_fp,
            "owner_email": email,
            "app_name": text("app_name"),
            "alias": text("alias"),
            "plan": text("plan"),
            "products": parse_products(products)
            if products is not None
            else pd.Series([[] for _ in range(n)], index=index, dtype=object),
            "expires_at": expires_at.set_axis(index),
            "active": parse_active(col("active"), index, inverted=inverted_active),
            "org": text("org"),
            "expires_raw": expires_raw.set_axis(index),
        },
        index=index,
    )
    frame["expires_at"] = frame["expires_at"].astype(DT_DTYPE)
    frame["expires_raw"] = frame["expires_raw"].astype("str")
    from .limits import limit_columns  # imported here: limits builds on this module's parsers

    limits = limit_columns(columns, n)
    if limits is not None:
        frame = frame.assign(**{name: values.set_axis(index) for name, values in limits.items()})
    known = expires_known(columns, expires is not None, n)
    if known is not None:
        frame["expires_known"] = known.set_axis(index)
    frame.attrs["format"] = fmt
    frame.attrs["column_map"] = dict(column_map or {})
    return frame


def by_source_row(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` indexed by its ``source_row`` column, so a label and the row number in the file never disagree.

    Every frame built from it keeps those labels (``validate_keys``' valid rows are a subset); positions
    (``iloc``) work as before. The index is unnamed: a level named like the column would make
    ``groupby("source_row")`` ambiguous.
    """
    if "source_row" in frame.columns and len(frame):
        frame.index = pd.Index(frame["source_row"].to_numpy())
    return frame


def by_unique_source_row(frame: pd.DataFrame) -> pd.DataFrame:
    """``by_source_row`` for frames derived from one export (the plan, reconciliation rows): only when every
    row has a distinct ``source_row``; otherwise (several exports concatenated) the index is left as it is."""
    if "source_row" in frame.columns and frame["source_row"].notna().all() and frame["source_row"].is_unique:
        return by_source_row(frame)
    return frame


def expires_known(columns: Mapping[str, Any], has_expiry: bool, n: int) -> pd.Series | None:
    """The optional ``expires_known`` column: False where the source does not say when a key expires.

    A source with no expiry at all (a flat file without an expiry column, a Classic Portal dump) gives NaT
    in ``expires_at`` for "not known", which must not read as "never expires"; a loader may also pass
    per-row flags as ``columns["expires_known"]``. None (no column) when every row's expiry is known.
    """
    given = columns.get("expires_known")
    if given is not None:
        flags = pd.Series(list(given), dtype=bool)
    elif has_expiry:
        return None
    else:
        flags = pd.Series(False, index=pd.RangeIndex(n), dtype=bool)
    return None if n == 0 or bool(flags.all()) else flags.reset_index(drop=True)


def empty_frame(fmt: str) -> pd.DataFrame:
    return build_frame(0, {}, fmt=fmt)
