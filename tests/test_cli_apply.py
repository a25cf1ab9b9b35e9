"""``tyk-migrate apply`` and ``rollback`` on the sample export against the sandbox."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from run_helpers import post_count

from tyk_migrate.cli import cli

SAMPLE = Path(__file__).resolve().parent.parent / "data-samples" / "legacy_keys.csv"


@pytest.fixture
def env(sandbox):
    return {"TYK_PORTAL_URL": sandbox.portal_url, "TYK_PORTAL_TOKEN": sandbox.token}


def run(args, env, input=None):
    return CliRunner().invoke(cli, args, env=env, input=input, catch_exceptions=False)


def test_apply_then_rerun_then_rollback(sandbox, env, tmp_path):
    journal, out = tmp_path / "run.journal", tmp_path / "outcomes.csv"
    seed_keys = {c["KeyID"] for c in sandbox.snapshot()["custom_credentials"]}
    result = run(["apply", str(SAMPLE), "--journal", str(journal), "--out", str(out), "--no-progress"], env)
    assert result.exit_code == 1, result.output  # the sample has rejected and blocked rows on purpose
    assert "created" in result.output and "outcomes written" in result.output
    state = sandbox.snapshot()
    created = len(state["custom_credentials"]) - len(seed_keys)
    assert created > 200
    text = out.read_text(encoding="utf-8")
    for cred in state["custom_credentials"]:
        assert cred["KeyID"] not in text  # keys masked in the outcome log
    assert text.count(",created,") == created

    posts = post_count(state)
    again = run(["apply", str(SAMPLE), "--journal", str(journal), "--out", str(out), "--no-progress"], env)
    assert again.exit_code == 1 and f"{created} created" in again.output
    assert post_count(sandbox.snapshot()) == posts  # a rerun after success writes nothing

    refused = run(["rollback", "--journal", str(journal)], env, input="n\n")
    assert refused.exit_code != 0 and len(sandbox.snapshot()["custom_credentials"]) == len(seed_keys) + created
    done = run(["rollback", "--journal", str(journal), "--yes"], env)
    assert done.exit_code == 0, done.output
    assert "deleted" in done.output
    assert {c["KeyID"] for c in sandbox.snapshot()["custom_credentials"]} == seed_keys


def test_dry_run_writes_nothing(sandbox, env, tmp_path):
    result = run(
        [
            "apply",
            str(SAMPLE),
            "--journal",
            str(tmp_path / "j"),
            "--dry-run",
            "--no-progress",
            "--out",
            str(tmp_path / "o.csv"),
        ],
        env,
    )
    assert "dry_run" in result.output
    assert post_count(sandbox.snapshot()) == 0


def test_usage_and_input_errors_are_one_line_exit_2(sandbox, env, tmp_path):
    bad = run(["apply", str(SAMPLE), "--journal", str(tmp_path / "j"), "--concurrency", "lots"], env)
    assert bad.exit_code == 2 and "--concurrency" in bad.output
    missing = run(["apply", str(tmp_path / "nope.csv"), "--journal", str(tmp_path / "j")], env)
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    not_journal = tmp_path / "notes.txt"
    not_journal.write_text("hello " * 200)
    broken = run(["apply", str(SAMPLE), "--journal", str(not_journal), "--no-progress"], env)
    assert broken.exit_code == 2 and "journal" in broken.output and "Traceback" not in broken.output


def test_apply_copies_outcomes_into_the_frame_at_its_end_not_every_quarter_second(sandbox, env, tmp_path, monkeypatch):
    """Nothing reads the plan frame while a command runs; copying it mid-run was CPU taken from the requests.
    The outcome file still holds every row's outcome (the run copies it at its end)."""
    from tyk_migrate.run import rows

    copies: list[bool] = []
    flush = rows.RowTable.flush

    def counted(self, force=False):
        if self.dirty and (force or time.perf_counter() - self._last_flush >= self.flush_interval):
            copies.append(force)
        flush(self, force)

    monkeypatch.setattr(rows.RowTable, "flush", counted)
    sandbox.set_faults("", latency_ms=5)  # a run of a second or more: long enough for quarter-second copies
    out = tmp_path / "outcomes.csv"
    result = run(["apply", str(SAMPLE), "--journal", str(tmp_path / "j"), "--out", str(out), "--no-progress"], env)
    assert result.exit_code == 1, result.output
    assert copies and all(copies)  # forced copies only: at the start and the end
    assert out.read_text(encoding="utf-8").count(",created,") > 200


def test_a_ctrl_c_that_cuts_the_ends_copy_short_still_leaves_the_outcomes_whole(sandbox, tmp_path, monkeypatch):
    """The second Ctrl-C is Python's KeyboardInterrupt, wherever it lands: inside the run's last copy of the
    outcomes into the frame, it left some columns copied and others not, and the summary and the outcome CSV
    are written from that frame (review break-18). The command now copies it again, Ctrl-C ignored."""
    import pandas as pd
    from run_helpers import make_plan

    from tyk_migrate.cli.running import ProgressBar, run_migration
    from tyk_migrate.config import Settings
    from tyk_migrate.journal import Journal
    from tyk_migrate.run import rows

    flush, calls = rows.RowTable.flush, []

    def cut_short(self, force=False):
        if force and self.dirty and self.out["status"].count("created") == len(self.plan):
            calls.append(force)
            if len(calls) == 1:  # the schedule's copy at its end: left for the run's last copy
                return
            if len(calls) == 2:  # the run's last copy: one column copied, then the interrupt
                self.plan["status"] = pd.Series(self.out["status"], index=self.plan.index, dtype="str")
                raise KeyboardInterrupt
        flush(self, force)

    monkeypatch.setattr(rows.RowTable, "flush", cut_short)
    plan = make_plan(12, keys_per_app=3)
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    ended = run_migration(plan, settings, str(tmp_path / "j"), bar=ProgressBar(len(plan), "apply", False))
    assert len(calls) >= 2 and ended.interrupted
    assert set(plan["status"]) == {"created"}
    assert plan["credential_id"].notna().all() and plan["finished_at"].notna().all()  # copied whole after all
    # and the rest of the run's close was not skipped (review break-60): the journal committed what it had
    # queued, recorded the run's end and was closed, so it opens again in this very process
    journal = Journal(tmp_path / "j")
    try:
        assert [r["finished_at"] is not None for r in journal.runs()] == [True]
        assert sum(1 for c in journal.credentials() if c.credential_id is not None) == len(plan)
    finally:
        journal.close()


def test_run_migration_runs_off_the_main_thread_where_ctrl_c_cannot_be_handled(sandbox, tmp_path):
    """uvloop refuses a signal handler off the main thread with a ValueError (review break-60)."""
    import threading

    from run_helpers import make_plan

    from tyk_migrate.cli.running import ProgressBar, run_migration
    from tyk_migrate.config import Settings

    plan = make_plan(6, keys_per_app=3)
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    box: dict = {}

    def work() -> None:
        try:
            box["ended"] = run_migration(plan, settings, str(tmp_path / "j"), bar=ProgressBar(6, "apply", False))
        except BaseException as exc:  # the test reports whatever escaped
            box["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert "error" not in box, box
    assert set(plan["status"]) == {"created"}


def test_a_ctrl_c_while_the_summary_and_outcomes_are_written_does_not_lose_them(sandbox, env, tmp_path, monkeypatch):
    """After a graceful stop the second Ctrl-C is Python's; landing after the run, it cut the summary and
    the outcome CSV, the run's record, short (exit 130, no file: review break-60). They are written whole."""
    import os
    import signal

    from tyk_migrate import report

    export = report.export_outcomes

    def interrupted_export(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # the Ctrl-C lands while the file is being written
        time.sleep(0.05)
        return export(*args, **kwargs)

    monkeypatch.setattr(report, "export_outcomes", interrupted_export)
    out = tmp_path / "outcomes.csv"
    result = run(["apply", str(SAMPLE), "--journal", str(tmp_path / "j"), "--out", str(out), "--no-progress"], env)
    assert result.exit_code == 1, result.output  # the sample's rejected and blocked rows, as ever
    assert out.exists() and "outcomes written to" in result.output
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C is Python's again after
