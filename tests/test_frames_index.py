"""A loaded, validated or planned frame's index is its ``source_row``: ``legacy.loc[12]`` is row 12 of the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tyk_migrate import (
    MigrationConsole,
    Settings,
    apply_plan,
    build_plan,
    export_outcomes,
    fetch_snapshot,
    load_keys,
    reconcile,
    validate_keys,
    verify_access,
)

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


def labelled_by_source_row(frame: pd.DataFrame) -> bool:
    return frame.index.equals(pd.Index(frame["source_row"])) and frame.index.name is None


def test_the_plan_and_every_frame_after_it_keep_the_source_row_labels(make_sandbox: Any, tmp_path: Path) -> None:
    valid, _ = validate_keys(load_keys(SAMPLES / "legacy_keys.csv"))
    valid = valid.iloc[:40]
    assert 5 not in valid.index and valid.index[4] == 6  # row 5 of the file is rejected: labels are not positions
    sandbox = make_sandbox()
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    plan, _ = build_plan(valid, fetch_snapshot(settings, progress=False))
    assert labelled_by_source_row(plan) and plan.index.equals(valid.index)
    assert plan.loc[6, "key_fingerprint"] == valid.loc[6, "key_fingerprint"]  # plan.loc[6] is row 6 of the file

    results = apply_plan(plan, settings, tmp_path / "journal")
    assert results is plan and labelled_by_source_row(results) and set(results["status"]) >= {"created"}
    console = MigrationConsole(plan, settings, tmp_path / "journal")
    assert labelled_by_source_row(console.results)

    after = fetch_snapshot(settings, progress=False)
    verified = verify_access(results, sandbox.gateway_url, snapshot=after)
    assert labelled_by_source_row(verified) and verified["verify_status"].notna().any()
    written = pd.read_csv(export_outcomes(verified, tmp_path / "outcomes.csv"))
    assert list(written["source_row"]) == list(verified.index)

    recon = reconcile(valid, after, plan=results)
    assert labelled_by_source_row(recon.rows) and recon.rows.index.equals(valid.index)
    assert recon.rows.loc[6, "key_fingerprint"] == valid.loc[6, "key_fingerprint"]
