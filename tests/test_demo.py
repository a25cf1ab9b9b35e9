"""``tyk-migrate demo`` end to end, and the promise that none of its files holds a raw key."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tyk_migrate.errors import MigrateError
from tyk_migrate.secrets import SecretKey, reveal

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data-samples"
EXPECTED_FILES = {"plan.csv", "outcomes.csv", "rejects.csv", "reconciliation.csv", "report.html"}


def sample_tokens() -> set[str]:
    """Every raw key value in data-samples/: each export loaded with the package's loaders, plus the seed's."""
    from tyk_migrate.sources import load_keys

    tokens: set[str] = set()
    loaded = 0
    for path in sorted(SAMPLES.iterdir()):
        if path.suffix not in {".csv", ".json", ".jsonl", ".xlsx"} or path.name == "sandbox_seed.json":
            continue
        frame = None
        for mapping in [None, *sorted(SAMPLES.glob("mapping_*.yaml"))]:  # e.g. the AWS export needs its mapping
            try:
                frame = load_keys(path, mapping=mapping)
                break
            except MigrateError:
                continue
        assert frame is not None, f"{path.name}: no loader reads it, so its keys could not be looked for"
        loaded += 1
        tokens.update(reveal(k) for k in frame["key_id"] if isinstance(k, SecretKey) and k)
    seed = json.loads((SAMPLES / "sandbox_seed.json").read_text(encoding="utf-8"))
    tokens.update(c["KeyID"] for c in seed["custom_credentials"] if c.get("KeyID"))
    # keys too short to be meaningful would match by accident anywhere; validation rejects them anyway
    return {t for t in tokens if len(t) >= 8}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("demo") / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "tyk_migrate.cli", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path_factory.getbasetemp(),  # not the repo: the demo must find data-samples/ itself
    )
    return out, proc


@pytest.mark.slow
def test_demo_runs_and_writes_its_files(demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, proc = demo_run
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    assert {p.name for p in out.iterdir()} >= EXPECTED_FILES
    assert "every key that could migrate did" in proc.stdout
    assert "Traceback" not in proc.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<h2>Reconciliation</h2>" in page and "<svg" in page
    with (out / "plan.csv").open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    # a plan for a person with a spreadsheet: names beside the IDs, no empty run columns
    assert {"plan_name", "product_names"} <= set(header) and not {"status", "attempts", "verify_status"} & set(header)


@pytest.mark.slow
def test_demo_files_hold_no_raw_key(demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, proc = demo_run
    tokens = sample_tokens()
    assert len(tokens) > 300
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) >= len(EXPECTED_FILES)
    for path in written:  # CSVs, the HTML report, and the SQLite journal (bytes)
        data = path.read_bytes()
        leaked = [t for t in tokens if t.encode("utf-8") in data]
        assert not leaked, f"{path.name} holds {len(leaked)} raw keys"
    console = (proc.stdout + proc.stderr).encode("utf-8")
    assert not [t for t in tokens if t.encode("utf-8") in console]


@pytest.mark.slow
def test_demo_reconciliation_finds_every_migrated_key(demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, _ = demo_run
    with (out / "outcomes.csv").open(encoding="utf-8", newline="") as handle:
        outcomes = list(csv.DictReader(handle))
    with (out / "reconciliation.csv").open(encoding="utf-8", newline="") as handle:
        recon = {row["key_fingerprint"]: row for row in csv.DictReader(handle)}
    migrated = [row for row in outcomes if row["status"] in ("created", "skipped")]
    assert len(migrated) > 250
    assert all(recon[row["key_fingerprint"]]["recon_status"] == "present" for row in migrated)
    assert all(row["verify_status"] == "200" for row in migrated)
    # the deliberate conflict of the sample portal (a key there on another plan) is reported, not hidden
    assert any(row["recon_status"] == "wrong_plan" for row in recon.values())


def test_include_secrets_export_does_hold_the_keys(tmp_path: Path) -> None:
    from tyk_migrate.report import export_outcomes
    from tyk_migrate.sources import load_keys

    legacy = load_keys(SAMPLES / "legacy_keys.csv")
    raw = [reveal(k) for k in legacy["key_id"] if isinstance(k, SecretKey) and len(reveal(k)) >= 8]
    with pytest.warns(UserWarning, match="raw key"):
        path = export_outcomes(legacy, tmp_path / "with-secrets.csv", include_secrets=True)
    text = path.read_text(encoding="utf-8")
    assert all(k in text for k in raw)
    safe = export_outcomes(legacy, tmp_path / "safe.csv").read_text(encoding="utf-8")
    assert not [k for k in raw if k in safe]
