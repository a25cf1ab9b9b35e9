"""The journal: durable intents and outcomes, input identity, no secrets."""

from __future__ import annotations

import sqlite3

import pytest

from tyk_migrate.errors import JournalError
from tyk_migrate.journal import Journal, input_identity


def test_intent_and_outcome_survive_reopen(tmp_path):
    path = tmp_path / "run.journal"
    with Journal(path) as journal:
        run = journal.begin_run()
        journal.app_intent(5, "Mobile", run_id=run, attempts=1)
        journal.app_outcome(5, "Mobile", "created", app_id=42, run_id=run, how="posted", http_status=200)
        journal.credential_intent("fp-a", app_id=42, run_id=run, attempts=1, source_row=3, user_id=5)
        journal.credential_intent("fp-b", app_id=42, run_id=run, attempts=2)
        journal.credential_outcome("fp-a", "created", credential_id=7, http_status=201)
        journal.end_run(run, "finished")
    with Journal(path) as again:
        app = again.app(5, "Mobile")
        assert app is not None and (app.state, app.app_id, app.run_id, app.how) == ("created", 42, run, "posted")
        a, b = again.credential("fp-a"), again.credential("fp-b")
        assert a is not None and (a.state, a.credential_id, a.app_id, a.source_row) == ("created", 7, 42, 3)
        assert b is not None and (b.state, b.attempts, b.credential_id) == ("intent", 2, None)
        assert [r["state"] for r in again.runs()] == ["finished"]
        assert set(again.frame("credentials")["fingerprint"]) == {"fp-a", "fp-b"}


def test_a_new_intent_clears_the_last_outcome(tmp_path):
    with Journal(tmp_path / "j") as journal:
        journal.credential_intent("fp", app_id=1, run_id=1, attempts=1)
        journal.credential_outcome("fp", "failed", error="boom", http_status=500)
        rec = journal.credential_intent("fp", app_id=1, run_id=2, attempts=1)
        assert (rec.state, rec.error, rec.run_id) == ("intent", None, 2)


def test_unknown_states_are_refused(tmp_path):
    with Journal(tmp_path / "j") as journal, pytest.raises(ValueError):
        journal.credential_outcome("fp", "done")


def test_input_identity_is_order_free_and_tells_inputs_apart():
    assert input_identity(["b", "a", "a"]) == input_identity(["a", "b"])
    assert input_identity(["a", "b"]) != input_identity(["a", "c"])
    assert input_identity(["a", "b"]).startswith("2:")


def test_journal_of_another_input_is_refused_unless_forced(tmp_path):
    path = tmp_path / "j"
    with Journal(path) as journal:
        journal.bind(input_identity(["a", "b"]))
        journal.bind(input_identity(["b", "a"]))  # same input: fine
        with pytest.raises(JournalError, match="another input") as info:
            journal.bind(input_identity(["a", "b", "c"]))
        assert "\n" not in str(info.value)
        journal.bind(input_identity(["a", "b", "c"]), force=True)
        assert journal.input_id == input_identity(["c", "b", "a"])


def test_a_file_that_is_not_a_journal_is_one_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not sqlite " * 100)
    with pytest.raises(JournalError, match="not usable"):
        Journal(path)


def test_wal_mode_so_commits_survive_a_killed_process(tmp_path):
    path = tmp_path / "j"
    with Journal(path) as journal:
        journal.credential_intent("fp", app_id=1, run_id=1, attempts=1)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_thousands_of_records_per_second(tmp_path):
    import time

    with Journal(tmp_path / "j") as journal:
        started = time.perf_counter()
        for i in range(500):
            journal.credential_intent(f"fp{i}", app_id=1, run_id=1, attempts=1)
            journal.credential_outcome(f"fp{i}", "created", credential_id=i)
        rate = 1000 / (time.perf_counter() - started)
    assert rate > 1000, f"{rate:.0f} journal writes/s"


def test_group_commit_makes_intents_durable_before_the_caller_goes_on(tmp_path):
    path = tmp_path / "j"
    journal = Journal(path)
    journal.start_group_commit()
    for i in range(50):
        journal.credential_intent(f"fp{i}", app_id=1, run_id=1, attempts=1)
    journal.durable().result(timeout=10)
    # another connection (another process, after a crash) sees every record once durable() resolved
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM credentials WHERE state = 'intent'").fetchone()[0] == 50
    journal.credential_outcome("fp0", "created", credential_id=9)
    assert journal.credential("fp0").state == "created"  # memory is current at once
    journal.close()  # drains the queue
    assert conn.execute("SELECT state FROM credentials WHERE fingerprint = 'fp0'").fetchone()[0] == "created"
    conn.close()
