"""A journal whose -wal file is cut, emptied or replaced by another process under a live run stops the run at
once (before another commit writes into the damaged file), while SQLite's own checkpoints and restarts of
the log are never mistaken for it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from run_helpers import make_plan

from tyk_migrate.config import Settings
from tyk_migrate.errors import JournalError
from tyk_migrate.journal import Journal
from tyk_migrate.run import apply_plan


def other_process(code: str, path: Path) -> None:
    """Run ``code`` (with ``p``, the -wal path, and ``j``, the journal path) in another process."""
    prelude = f"import os, sqlite3; j = {str(path)!r}; p = j + '-wal'\n"
    subprocess.run([sys.executable, "-c", prelude + code], check=True, timeout=60)


def write_records(journal: Journal, start: int, n: int) -> None:
    """``n`` credential intents, each in its own batch (the caller waits for each to be committed)."""
    for i in range(start, start + n):
        journal.credential_intent(f"fp{i:05d}" + "x" * 40, app_id=1, run_id=1, attempts=1)
        journal.durable().result(timeout=10)


def integrity(path: Path) -> str:
    conn = sqlite3.connect(str(path))
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


DAMAGE = {
    "emptied": "os.truncate(p, 0)",
    "cut": "os.truncate(p, os.path.getsize(p) // 2)",
    "replaced": "os.rename(p, p + '.old'); open(p, 'wb').close()",
    "deleted": "os.remove(p)",
}


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_a_wal_damaged_by_another_process_fails_the_next_record_and_keeps_the_file_sound(tmp_path, how):
    path = tmp_path / "j"
    journal = Journal(path)
    journal.start_group_commit()
    write_records(journal, 0, 60)  # some frames in the -wal, not yet checkpointed
    other_process(DAMAGE[how], path)
    journal.credential_intent("fp-after" + "x" * 40, app_id=1, run_id=1, attempts=1)
    with pytest.raises(JournalError, match="-wal file was"):
        journal.durable().result(timeout=10)
    assert "-wal file was" in (journal.write_error or "")
    with pytest.raises(JournalError, match="-wal file was"):
        journal.close()
    assert integrity(path) == "ok"  # nothing written past the hole, so no checkpoint copied it into the file


def test_sqlites_own_checkpoints_and_log_restarts_are_not_taken_for_damage(tmp_path):
    path = tmp_path / "j"
    journal = Journal(path)
    journal.start_group_commit()
    write_records(journal, 0, 30)
    other_process("sqlite3.connect(j).execute('PRAGMA wal_checkpoint(TRUNCATE)')", path)  # emptied, legitimately
    assert os.path.getsize(f"{path}-wal") == 0
    write_records(journal, 30, 30)
    other_process("sqlite3.connect(j).execute('PRAGMA wal_checkpoint(RESTART)')", path)  # next commit restarts
    write_records(journal, 60, 30)
    for i in range(90, 1590, 100):  # past 1,000 pages: SQLite checkpoints and restarts the log by itself
        for k in range(i, i + 100):
            journal.credential_intent(f"fp{k:05d}" + "y" * 400, app_id=1, run_id=1, attempts=1)
        journal.durable().result(timeout=10)
    assert journal.write_error is None
    journal.close()
    with Journal(path) as again:
        assert len(again.credentials()) == 1590
    assert integrity(path) == "ok"


def test_a_run_whose_wal_is_emptied_under_it_stops_in_seconds_with_one_line(make_sandbox, tmp_path):
    sb = make_sandbox(latency_ms=10)
    plan = make_plan(150)
    path = tmp_path / "j"
    outcome: dict[str, Any] = {}

    def go() -> None:
        try:
            apply_plan(plan, Settings(portal_url=sb.portal_url, token=sb.token), path, concurrency=2)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=go, daemon=True)
    worker.start()
    deadline = time.monotonic() + 60
    while len(sb.state.credentials) < 20 and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)  # until the run is writing credentials
    assert worker.is_alive(), "the run ended before the -wal file was emptied: make it slower"
    other_process(DAMAGE["emptied"], path)
    emptied = time.monotonic()
    worker.join(20)
    assert not worker.is_alive(), "the run goes on with an emptied -wal file"
    assert time.monotonic() - emptied < 10
    error = outcome.get("error")
    assert isinstance(error, JournalError), repr(error)
    text = str(error)
    assert "-wal file was emptied" in text and "\n" not in text and "the run stopped" in text
    assert "pending" in set(plan["status"]) and set(plan["status"]) <= {"created", "pending"}
    assert integrity(path) == "ok"


_CLI_CHILD = """
import sys
from tyk_migrate.cli import main
sys.argv = ["tyk-migrate", *sys.argv[1:]]
main()
"""


def test_cli_apply_exits_2_with_one_line_when_the_wal_is_cut_under_it(make_sandbox, tmp_path):
    sb = make_sandbox(latency_ms=20)
    sample = Path(__file__).resolve().parent.parent / "data-samples" / "legacy_keys.csv"
    journal = tmp_path / "run.journal"
    args = ["apply", str(sample), "--journal", str(journal), "--no-progress", "--concurrency", "2"]
    env = {**os.environ, "TYK_PORTAL_URL": sb.portal_url, "TYK_PORTAL_TOKEN": sb.token}
    before = len(sb.state.credentials)
    child = subprocess.Popen(
        [sys.executable, "-c", _CLI_CHILD, *args, "--out", str(tmp_path / "o.csv")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while child.poll() is None and len(sb.state.credentials) < before + 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert child.poll() is None, "the run ended before the -wal file was cut: make it slower"
    other_process(DAMAGE["cut"], journal)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 2, out + err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "-wal file was" in lines[0], err
    assert "Traceback" not in err
