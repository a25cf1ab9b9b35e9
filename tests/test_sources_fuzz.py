"""Property tests: whatever bytes or CSV shape arrive, the loader returns a frame or a MigrateError."""

from __future__ import annotations

import csv
import io
import json
import os

import pandas as pd
from hypothesis import HealthCheck, given, settings
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


@FAST
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


@FAST
@given(st.lists(st.dictionaries(HEADERS, JSON_VALUES, max_size=6), max_size=5))
def test_arbitrary_json_records(records: list[dict]) -> None:
    load_or_clean_error(json.dumps(records).encode(), "json")
    load_or_clean_error("\n".join(json.dumps(r) for r in records).encode(), "jsonl")


@FAST
@given(st.dictionaries(st.sampled_from(["keys", "pages", "Data", "Pages"]), JSON_VALUES, max_size=3))
def test_arbitrary_dump_shapes(doc: dict) -> None:
    data = json.dumps(doc).encode()
    for fmt in ("auto", "dashboard", "classic"):
        load_or_clean_error(data, fmt)
