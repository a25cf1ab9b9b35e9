"""Property tests: whatever bytes or CSV shape arrive, the loader returns a frame or a MigrateError."""

from __future__ import annotations

import csv
import io
import json
import os

import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tyk_migrate.errors import MigrateError
from tyk_migrate.sources import load_keys
from tyk_migrate.validate import validate_keys

FAST = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "30")), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
FORMATS = ["auto", "csv", "tsv", "json", "jsonl", "dashboard", "classic", "excel"]


def load_or_clean_error(data: bytes, fmt: str = "auto") -> pd.DataFrame | None:
    try:
        frame = load_keys(data, format=fmt)
    except MigrateError as exc:
        assert "\n" not in str(exc)
        return None
    validate_keys(frame)  # whatever loaded must also validate without crashing
    return frame


@FAST
@given(st.binary(max_size=400), st.sampled_from(FORMATS))
def test_arbitrary_bytes(data: bytes, fmt: str) -> None:
    load_or_clean_error(data, fmt)


HEADERS = st.sampled_from(["key", "email", "plan", "apis", "expires", "status", "alias", "x", "", "key"])
CELLS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


# Out-of-range expiries once raised OutOfBoundsDatetime from parse_expiry instead of loading.
EXPIRY_HEADER = ["key", "email", "plan", "apis", "expires"]


def expiry_row(value: str) -> list[list[str]]:
    return [["abcdefghijkl", "a@b.example", "p", "x", value]]


@FAST
@example(EXPIRY_HEADER, expiry_row("9999-12-31"), ",", "utf-8")
@example(EXPIRY_HEADER, expiry_row("0001-01-01"), ",", "utf-8")
@example(EXPIRY_HEADER, expiry_row("-2"), ",", "utf-8")
@example(EXPIRY_HEADER, expiry_row("99999999999"), ",", "utf-8")
@example(EXPIRY_HEADER, expiry_row("99999999999999"), ",", "utf-8")
@given(
    st.lists(HEADERS, min_size=1, max_size=7),
    st.lists(st.lists(CELLS, min_size=0, max_size=8), max_size=6),
    st.sampled_from([",", ";", "\t", "|"]),
    st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
)
def test_arbitrary_csv_shapes(header: list[str], rows: list[list[str]], delimiter: str, encoding: str) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    try:
        data = out.getvalue().encode(encoding)
    except UnicodeEncodeError:
        data = out.getvalue().encode("utf-8")
    frame = load_or_clean_error(data, "csv")
    if frame is not None:  # loaded: one canonical row per non-blank record, never more
        assert len(frame) <= len(rows)
        assert list(frame["source_row"]) == list(range(1, len(frame) + 1))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | CELLS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(CELLS, inner, max_size=3),
    max_leaves=8,
)


RECORD = {"key": "abcdefghijkl", "email": "a@b.example", "plan": "p", "apis": "x"}


@FAST
@example([{**RECORD, "expires": -2}])
@example([{**RECORD, "expires": "9999-12-31"}])
@example([{**RECORD, "expires": "0001-01-01"}])
@example([{**RECORD, "expires": 99999999999999}])
@example([{**RECORD, "expires": -(2**63)}])
@given(st.lists(st.dictionaries(HEADERS, JSON_VALUES, max_size=6), max_size=5))
def test_arbitrary_json_records(records: list[dict]) -> None:
    load_or_clean_error(json.dumps(records).encode(), "json")
    load_or_clean_error("\n".join(json.dumps(r) for r in records).encode(), "jsonl")


@FAST
@example({"keys": [{"key_id": "abcdefghijkl", "data": {"expires": -2}}]})
@example({"keys": [{"key_id": "abcdefghijkl", "data": {"expires": 2**63}}]})
@example({"keys": [{"key_id": "abcdefghijkl", "data": {"expires": "9999-12-31"}}]})
@given(st.dictionaries(st.sampled_from(["keys", "pages", "Data", "Pages"]), JSON_VALUES, max_size=3))
def test_arbitrary_dump_shapes(doc: dict) -> None:
    data = json.dumps(doc).encode()
    for fmt in ("auto", "dashboard", "classic"):
        load_or_clean_error(data, fmt)


EXPIRIES = st.one_of(
    st.integers(),
    st.floats(),
    st.datetimes().map(lambda d: d.isoformat()),
    st.dates().map(lambda d: d.strftime("%m/%d/%Y")),
    CELLS,
)


@FAST
@example("9999-12-31")
@example("0001-01-01")
@example(-2)
@example(99999999999)
@example(99999999999999)
@example(2**63)
@example(22621201)  # YYYYMMDD past 2262-04-11: raised OutOfBoundsDatetime
@given(EXPIRIES)
def test_any_expiry_loads_as_a_date_never_or_a_reject(value: object) -> None:
    """Every expiry ends as a timestamp in 1970..2262, as never, or in expires_raw for a reject; no crash."""
    docs = [{**RECORD, "expires": value}]
    dump = {"keys": [{"key_id": "abcdefghijkl", "data": {"expires": value, "apply_policies": ["p", "x"]}}]}
    for data, fmt in ((json.dumps(docs).encode(), "json"), (json.dumps(dump).encode(), "dashboard")):
        frame = load_or_clean_error(data, fmt)
        assert frame is not None
        at, raw = frame.iloc[0]["expires_at"], frame.iloc[0]["expires_raw"]
        assert pd.isna(at) or pd.Timestamp("1970-01-01", tz="UTC") <= at
        assert pd.isna(at) or pd.isna(raw)
