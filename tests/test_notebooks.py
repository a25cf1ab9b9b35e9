"""The notebooks run top to bottom headless (papermill), as a scheduled run would, against the sandbox.

Each run gets small parameters (one plan's keys) so it stays well under a minute, its own output folder,
and a kernel that is this test's own Python (a private kernelspec pointing at ``sys.executable``). After
each run: the portal holds what the notebook says, every migrated key reconciles as ``present``, and no
raw key of any sample export (nor the portal token) appears anywhere in the executed notebook.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from run_helpers import refuse_writes

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
SAMPLES = REPO / "data-samples"
SCOPE = {"plans": ["Free"]}  # about a fifth of the sample keys: enough to show every step, fast to run
KERNEL = "tyk-migrate-test"


def sample_raw_keys() -> set[str]:
    """Every raw key of every sample export (as the loaders read them) and of the sandbox seed."""
    from tyk_migrate.secrets import SecretKey, reveal
    from tyk_migrate.sources import load_keys

    keys: set[str] = set()
    for path in sorted(SAMPLES.iterdir()):
        if path.suffix not in {".csv", ".json", ".jsonl", ".xlsx"} or path.name == "sandbox_seed.json":
            continue
        mapping = SAMPLES / "mapping_aws.yaml" if path.name.startswith("aws") else None
        frame = load_keys(path, mapping=mapping)
        keys.update(reveal(k) for k in frame["key_id"] if isinstance(k, SecretKey))
    seed = json.loads((SAMPLES / "sandbox_seed.json").read_text(encoding="utf-8"))
    keys.update(c["KeyID"] for c in seed["custom_credentials"])
    keys.discard("")
    assert len(keys) > 300  # the samples were read (a scan for nothing would prove nothing)
    return keys


@pytest.fixture(scope="module")
def raw_keys() -> set[str]:
    return sample_raw_keys()


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: Any) -> Any:
    """A kernelspec for this Python, and the sandbox's address and token in the kernel's environment."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "tyk-migrate tests", "language": "python"}), encoding="utf-8"
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("TYK_PORTAL_URL", sandbox.portal_url)
    monkeypatch.setenv("TYK_PORTAL_TOKEN", sandbox.token)
    monkeypatch.setenv("TYK_GATEWAY_URL", sandbox.gateway_url)
    monkeypatch.setenv("MPLBACKEND", "agg")
    return sandbox


def execute(name: str, tmp_path: Path, **parameters: Any) -> dict[str, Any]:
    """Run ``notebooks/<name>.ipynb`` with papermill; returns the executed notebook as a dict."""
    papermill = pytest.importorskip("papermill")
    out = tmp_path / f"{name}.executed.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(out),
        parameters={"repo_dir": str(REPO), **parameters},
        kernel_name=KERNEL,
        cwd=str(tmp_path),
        progress_bar=False,
        execution_timeout=120,
    )
    return json.loads(out.read_text(encoding="utf-8"))


def leaked(notebook_file: Path, secrets: set[str]) -> list[str]:
    """Masks of the secrets found in the executed notebook: its file text and every output decoded."""
    from tyk_migrate.secrets import mask

    document = json.loads(notebook_file.read_text(encoding="utf-8"))
    texts = [notebook_file.read_text(encoding="utf-8"), json.dumps(document.get("metadata", {}), ensure_ascii=False)]
    for cell in document["cells"]:
        for output in cell.get("outputs", []):
            texts.append(json.dumps(output, ensure_ascii=False))
            for value in [output.get("text"), *output.get("data", {}).values()]:
                texts.append("".join(value) if isinstance(value, list) else str(value or ""))
    blob = "\n".join(texts)
    # a sample key of a few characters (the export's "12345", refused as too short) also occurs in ordinary
    # text (a port, a duration): only keys of 8 or more characters say something when found
    return sorted(mask(s) for s in secrets if len(s.strip()) >= 8 and s in blob)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def no_errors(notebook: dict[str, Any]) -> None:
    errors = [o for c in notebook["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, [f"{e['ename']}: {e['evalue']}" for e in errors]


def cell_text(notebook: dict[str, Any], starts_with: str) -> str:
    """The stream output of the code cell whose source starts with ``starts_with``."""
    cell = next(c for c in notebook["cells"] if "".join(c["source"]).startswith(starts_with))
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def committed_notebooks() -> list[Path]:
    """Every notebook git tracks (the folder's notebooks when this is not a git checkout)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", "*.ipynb"], cwd=REPO, capture_output=True, check=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return sorted(NOTEBOOKS.glob("*.ipynb"))
    return [REPO / name for name in listed.split("\0") if name]


def test_committed_notebooks_hold_no_outputs() -> None:
    """Outputs can hold portal URLs, masked keys and run results: notebooks are committed clean."""
    notebooks = committed_notebooks()
    assert NOTEBOOKS / "migration_workbook.ipynb" in notebooks
    dirty = []
    for path in notebooks:
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            if cell.get("outputs") or cell.get("execution_count") is not None:
                dirty.append(f"{path.relative_to(REPO)} cell {i}")
    assert dirty == [], "clear them: .venv/bin/jupyter nbconvert --clear-output --inplace <notebook>"


@pytest.mark.slow
def test_migration_workbook_runs_headless(kernel_env: Any, tmp_path: Path, raw_keys: set[str]) -> None:
    sandbox = kernel_env
    out = tmp_path / "out"
    notebook = execute(
        "migration_workbook",
        tmp_path,
        input_path="data-samples/legacy_keys.csv",
        journal_path=str(tmp_path / "workbook.journal"),
        output_dir=str(out),
        scope=SCOPE,
        batch_size=10,
        concurrency=8,
        verify_sample=None,
        auto_start=True,
    )
    no_errors(notebook)
    summary = cell_text(notebook, "# Scheduled")  # no frontend draws the widget: the run prints its summary
    assert "Key migration console" in summary and "finished |" in summary and "results in scope" in summary
    results = json.loads((out / "workbook_results.json").read_text(encoding="utf-8"))
    assert Path(results["python"]).resolve() == Path(sys.executable).resolve()  # the kernel is this venv
    impact = next(c for c in notebook["cells"] if "impact_by_kind(plan)" in "".join(c["source"]))
    shown = "".join("".join(o.get("data", {}).get("text/plain", "")) for o in impact["outputs"])
    assert "kind" in shown and "rate_tighter" in shown and "quota_lower" in shown  # the Free plan's keys show both

    outcomes = read_csv(out / "outcomes.csv")
    created = {r["key_fingerprint"] for r in outcomes if r["status"] == "created"}
    migrated = {r["key_fingerprint"] for r in outcomes if r["status"] in ("created", "skipped")}
    assert created and not [r for r in outcomes if r["status"] in ("pending", "failed")]
    assert results["statuses"] == {s: sum(r["status"] == s for r in outcomes) for s in results["statuses"]}

    # the portal agrees: one credential per created key, and the reconciliation finds every migrated key
    from tyk_migrate.secrets import fingerprint

    in_portal = [fingerprint(c["KeyID"]) for c in sandbox.snapshot()["custom_credentials"]]
    assert all(in_portal.count(fp) == 1 for fp in created)
    recon = {r["key_fingerprint"]: r["recon_status"] for r in read_csv(out / "reconciliation.csv")}
    assert {fp: recon.get(fp) for fp in migrated} == dict.fromkeys(migrated, "present")
    assert results["verified_ok"] == len(migrated)  # every migrated key opens its API on the gateway

    assert (out / "report.html").stat().st_size > 1000
    shown = [o for c in notebook["cells"] if "".join(c["source"]).startswith("report = ") for o in c["outputs"]]
    assert any('<a href="out/report.html"' in "".join(o.get("data", {}).get("text/html", "")) for o in shown)
    executed = tmp_path / "migration_workbook.executed.ipynb"
    assert leaked(executed, raw_keys) == []
    assert sandbox.token not in executed.read_text(encoding="utf-8")


@pytest.mark.slow
def test_migration_workbook_fails_in_one_line_when_the_portal_refuses_the_token(
    kernel_env: Any, tmp_path: Path, raw_keys: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduled run whose token the portal refuses must fail, not "succeed" with nothing migrated."""
    papermill = pytest.importorskip("papermill")
    sandbox = kernel_env
    refuse_writes(sandbox, monkeypatch)  # reads pass (snapshot, plan); every write gets a 403
    out = tmp_path / "out"
    with pytest.raises(papermill.PapermillExecutionError) as failed:
        execute(
            "migration_workbook",
            tmp_path,
            journal_path=str(tmp_path / "workbook.journal"),
            output_dir=str(out),
            scope=SCOPE,
            auto_start=True,
        )
    assert failed.value.ename == "AuthError"
    assert failed.value.evalue.startswith("stopped: the portal refused the token (") and "403" in failed.value.evalue
    assert "\n" not in failed.value.evalue
    executed = tmp_path / "migration_workbook.executed.ipynb"
    notebook = json.loads(executed.read_text(encoding="utf-8"))
    assert "stopped |" in cell_text(notebook, "# Scheduled")  # the summary is in the record of the run
    assert not (out / "outcomes.csv").exists()  # nothing after the run cell was executed
    assert leaked(executed, raw_keys) == []
    assert sandbox.token not in executed.read_text(encoding="utf-8")


@pytest.mark.slow
def test_reconciliation_report_runs_headless(kernel_env: Any, tmp_path: Path, raw_keys: set[str]) -> None:
    """After a migration (made here with the library), the report finds each migrated key present."""
    from tyk_migrate import apply_plan, build_plan, fetch_snapshot, load_keys, validate_keys
    from tyk_migrate.config import Settings

    sandbox = kernel_env
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token, gateway_url=sandbox.gateway_url)
    valid, _ = validate_keys(load_keys(SAMPLES / "legacy_keys.csv"))
    plan, _ = build_plan(valid, fetch_snapshot(settings, progress=False), scope=SCOPE)
    outcomes = apply_plan(plan, settings, tmp_path / "setup.journal", concurrency=8)
    migrated = set(outcomes.loc[outcomes["status"].isin(["created", "skipped"]), "key_fingerprint"])
    assert migrated

    out = tmp_path / "out"
    notebook = execute(
        "reconciliation_report",
        tmp_path,
        input_path=str(SAMPLES / "legacy_keys.csv"),
        output_dir=str(out),
        report_name="recon",
    )
    no_errors(notebook)
    rows = read_csv(out / "recon.csv")
    status = {r["key_fingerprint"]: r["recon_status"] for r in rows}
    assert {fp: status.get(fp) for fp in migrated} == dict.fromkeys(migrated, "present")
    assert len(rows) == len(valid)  # every valid legacy key is reported, migrated or not
    results = json.loads((out / "recon_results.json").read_text(encoding="utf-8"))
    assert results["reconciliation"]["present"] == sum(s == "present" for s in status.values())
    assert "<svg" in (out / "recon.html").read_text(encoding="utf-8")  # the charts made it into the report

    executed = tmp_path / "reconciliation_report.executed.ipynb"
    assert leaked(executed, raw_keys) == []
    assert sandbox.token not in executed.read_text(encoding="utf-8")
