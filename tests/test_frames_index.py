"""A loaded or validated frame's index is its ``source_row``: ``legacy.loc[12]`` is row 12 of the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tyk_migrate import load_keys, validate_keys

SAMPLES = Path(__file__).resolve().parent.parent / "data-samples"


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("legacy_keys.csv", {}),
        ("legacy_keys_semicolon.csv", {}),
        ("legacy_keys.json", {}),
        ("legacy_keys.jsonl", {}),
        ("legacy_keys.xlsx", {}),
        ("dashboard_keys.json", {"developers": SAMPLES / "classic_developers.json"}),
        ("classic_developers.json", {"policies": SAMPLES / "dashboard_policies.json"}),
        ("aws_api_keys.csv", {"mapping": SAMPLES / "mapping_aws.yaml"}),
    ],
)
def test_index_is_source_row_on_every_format(name: str, extra: dict[str, Path]) -> None:
    legacy = load_keys(SAMPLES / name, **extra)  # type: ignore[arg-type]
    assert len(legacy) and legacy.index.equals(pd.Index(legacy["source_row"]))
    assert legacy.index.is_unique and legacy.index.name is None  # no clash with the column in groupby
    valid, rejects = validate_keys(legacy)
    assert valid.index.equals(pd.Index(valid["source_row"]))
    # the rejects report (one row per problem) points at the loaded rows by label
    assert set(rejects["source_row"]) <= set(legacy.index)
    assert legacy.groupby("source_row").size().eq(1).all()  # the unnamed index does not shadow the column


def test_a_frame_source_and_positions_still_work() -> None:
    given = pd.DataFrame({"key_id": ["Abcdefgh12345678", "Zyxwvuts87654321"], "owner_email": ["a@x.io", "b@x.io"]})
    legacy = load_keys(given, required=("key_id", "owner_email"))
    assert list(legacy.index) == list(legacy["source_row"]) == [1, 2]
    assert legacy.iloc[0]["owner_email"] == "a@x.io" and legacy.loc[2, "owner_email"] == "b@x.io"
