"""How commands end: exit codes a script can tell apart, Ctrl-C, ``--json``, ``--quiet``, a closed stdout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from run_helpers import post_count

from tyk_migrate.cli import cli
from tyk_migrate.journal import Journal

SAMPLE = Path(__file__).resolve().parent.parent / "data-samples" / "legacy_keys.csv"
GOOD = "key,email,plan,apis\nGoodKeyValue0001x,a@b.example,p1,x\nGoodKeyValue0002x,c@d.example,p1,x;y\n"
BAD = GOOD + "Short1,e@f.example,p1,x\n"


def env_for(sb: Any) -> dict[str, str]:
    return {"TYK_PORTAL_URL": sb.portal_url, "TYK_PORTAL_TOKEN": sb.token, "TYK_GATEWAY_URL": sb.gateway_url}


def invoke(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
    with pytest.MonkeyPatch.context() as mp:
        if cwd is not None:
            mp.chdir(cwd)
        return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def summary_of(result: Any) -> dict[str, Any]:
    """The whole of stdout is one JSON document (json.loads refuses anything before or after it)."""
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == result.exit_code
    return doc


def test_failed_writes_exit_4_and_rows_only_blocked_or_rejected_exit_1(make_sandbox: Any, tmp_path: Path) -> None:
    strict = make_sandbox(min_key_length=40)  # the portal refuses the sample's 20- and 24-character keys
    args = ["apply", str(SAMPLE), "--journal", str(tmp_path / "a.journal"), "--out", str(tmp_path / "a.csv")]
    result = invoke([*args, "--no-progress", "--json"], env_for(strict))
    doc = summary_of(result)
    assert result.exit_code == 4 and doc["exit_reason"] == "writes_failed", result.output
    assert doc["counts"]["statuses"]["failed"] > 100 and doc["counts"]["statuses"]["created"] > 50
    assert doc["files"]["outcomes"] == str(tmp_path / "a.csv") and (tmp_path / "a.csv").exists()

    lenient = make_sandbox()
    args = ["apply", str(SAMPLE), "--journal", str(tmp_path / "b.journal"), "--out", str(tmp_path / "b.csv")]
    doc = summary_of(result := invoke([*args, "--no-progress", "--json"], env_for(lenient)))
    assert result.exit_code == 1 and doc["exit_reason"] == "rows_blocked"  # the sample's blocked rows, no failure
    assert "failed" not in doc["counts"]["statuses"] and doc["counts"]["rejected"] == 11


def test_ctrl_c_stops_cleanly_writes_the_outcomes_and_exits_130(make_sandbox: Any, tmp_path: Path) -> None:
    slow = make_sandbox(latency_ms=60)
    out = tmp_path / "outcomes.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tyk_migrate.cli", "apply", str(SAMPLE), "--journal", str(tmp_path / "j"),
         "--out", str(out), "--no-progress", "--concurrency", "2"],
        env={**os.environ, **env_for(slow)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while post_count(slow.snapshot()) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stdout + stderr
    assert "stopping: finishing requests in flight" in stderr and "Traceback" not in stderr
    assert "pending" in stdout and f"outcomes written to {out}" in stdout
    assert ",pending," in out.read_text(encoding="utf-8")


def test_every_command_prints_one_json_summary_and_nothing_else_on_stdout(sandbox: Any, tmp_path: Path) -> None:
    env = env_for(sandbox)
    (tmp_path / "keys.csv").write_text(BAD)
    doc = summary_of(invoke(["validate", "keys.csv", "--json"], cwd=tmp_path))
    assert (doc["command"], doc["exit_reason"], doc["counts"]["rejected"]) == ("validate", "rows_rejected", 1)
    assert Path(doc["files"]["rejects"]).exists()

    journal = tmp_path / "run.journal"
    commands = {
        "plan": ["plan", str(SAMPLE), "--out", str(tmp_path / "p.csv")],
        "apply": ["apply", str(SAMPLE), "--journal", str(journal), "--out", str(tmp_path / "o.csv")],
        "verify": ["verify", str(SAMPLE), "--journal", str(journal)],
        "reconcile": ["reconcile", str(SAMPLE), "--html", str(tmp_path / "r.html")],
        "rollback": ["rollback", "--journal", str(journal), "--dry-run"],
    }
    docs = {name: summary_of(invoke([*args, "--json"], env)) for name, args in commands.items()}
    assert {name: d["command"] for name, d in docs.items()} == {name: name for name in commands}
    assert docs["plan"]["counts"]["actions"]["create_app"] > 100 and Path(docs["plan"]["files"]["plan"]).exists()
    assert docs["apply"]["counts"]["statuses"]["created"] > 200
    assert docs["verify"]["exit_reason"] == "ok" and docs["verify"]["counts"]["ok"] > 200
    assert Path(docs["reconcile"]["files"]["report"]).exists()
    rolled = docs["rollback"]
    assert rolled["dry_run"] and rolled["counts"]["apps"] == {"would delete": rolled["counts"]["recorded"]["apps"]}

    failed = invoke(["plan", str(tmp_path / "missing.csv"), "--json"], env)
    doc = summary_of(failed)
    assert (failed.exit_code, doc["exit_reason"]) == (2, "unusable") and "no such file" in doc["error"]
    assert failed.stderr.startswith("error: ")


def test_sandbox_json_is_its_addresses_once_it_listens(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tyk_migrate.cli", "sandbox", "--port", str(port), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert first == {
        "command": "sandbox",
        "listening": True,
        "portal_api": f"http://127.0.0.1:{port}/portal-api",
        "gateway": f"http://127.0.0.1:{port}/gateway",
        "admin": f"http://127.0.0.1:{port}/__sandbox/state",
    }


def test_quiet_prints_nothing_and_the_exit_code_still_says(tmp_path: Path) -> None:
    (tmp_path / "keys.csv").write_text(BAD)
    result = invoke(["validate", "keys.csv", "--quiet"], cwd=tmp_path)
    assert result.exit_code == 1 and result.output == ""
    assert (tmp_path / "keys.rejects.csv").exists()


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_reader_that_left_stdout_ends_the_command_quietly_with_its_files_written(
    sandbox: Any, tmp_path: Path, command: str
) -> None:
    """``tyk-migrate plan … | head -1``: the pipe's read end is closed before the first line is written."""
    (tmp_path / "keys.csv").write_text(BAD)
    out = tmp_path / "report.csv"
    args = ["--rejects", str(out)] if command == "validate" else ["--out", str(out)]
    source = str(tmp_path / "keys.csv") if command == "validate" else str(SAMPLE)
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tyk_migrate.cli", command, source, *args],
            stdout=write, stderr=subprocess.PIPE, text=True, timeout=120, env={**os.environ, **env_for(sandbox)},
        )  # fmt: skip
    finally:
        os.close(write)
    assert done.returncode == 1, done.stderr  # its own code: rows rejected / blocked
    assert done.stderr == "", done.stderr  # no traceback, no "Broken pipe", no "Exception ignored"
    assert out.exists()


def test_verify_no_progress_draws_no_bar(sandbox: Any, tmp_path: Path) -> None:
    journal = tmp_path / "run.journal"
    apply = ["apply", str(SAMPLE), "--journal", str(journal), "--out", str(tmp_path / "o.csv"), "--no-progress"]
    assert invoke(apply, env_for(sandbox)).exit_code == 1
    with_bar = invoke(["verify", str(SAMPLE), "--journal", str(journal)], env_for(sandbox))
    without = invoke(["verify", str(SAMPLE), "--journal", str(journal), "--no-progress"], env_for(sandbox))
    assert with_bar.exit_code == without.exit_code == 0, with_bar.output
    assert "verify: 100%" in with_bar.stderr and "verify:" not in without.stderr
    assert with_bar.stdout == without.stdout


def test_a_journal_failure_mid_run_still_writes_the_summary_and_the_outcomes_then_exits_2(
    sandbox: Any, tmp_path: Path
) -> None:
    from test_run_ownership import _CLI_CHILD

    child = _CLI_CHILD.format(tests=str(Path(__file__).parent))
    out = tmp_path / "o.csv"
    done = subprocess.run(
        [sys.executable, "-c", child, "apply", str(SAMPLE), "--journal", str(tmp_path / "run.journal"),
         "--no-progress", "--out", str(out)],
        env={**os.environ, **env_for(sandbox)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "status  " in done.stdout and f"outcomes written to {out}" in done.stdout
    text = out.read_text(encoding="utf-8")
    assert ",created," in text and ",pending," in text  # what was done, and what the rerun will do
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "database or disk is full" in errors[0]
    with Journal(tmp_path / "run.journal") as jr:  # the rows written as created are the journal's
        created = {c.fingerprint for c in jr.credentials() if c.state == "created"}
    assert created and all(fp in text for fp in created)


def test_the_exit_policy_in_one_table() -> None:
    from tyk_migrate.cli.exits import verdict

    cases = [
        ({}, (0, "ok")),
        ({"rejected": 3}, (1, "rows_rejected")),
        ({"blocked": 1, "rejected": 3}, (1, "rows_blocked")),
        ({"unverified": 2}, (1, "keys_not_verified")),
        ({"missing": 1}, (1, "keys_not_present")),
        ({"unfinished": 5, "blocked": 1}, (4, "unfinished")),
        ({"failed": 1, "unfinished": 5, "blocked": 1}, (4, "writes_failed")),
        ({"interrupted": True, "failed": 1}, (130, "interrupted")),
    ]
    for given, (code, reason) in cases:
        result = verdict(**given)
        assert (int(result.code), result.reason) == (code, reason), given
