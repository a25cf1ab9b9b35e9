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


# -- own14: schema 3 (app markers, prior credential holders) ------------------------------------------------
def _version_2_journal(path) -> None:
    """A file as schema 2 wrote it: apps have prior_app_ids, no marker; credentials have no prior holders."""
    from tyk_migrate.secrets import fingerprint_key_id

    conn = sqlite3.connect(path)
    conn.executescript(
        f"""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL,
            finished_at TEXT, state TEXT NOT NULL, dry_run INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE apps (user_id INTEGER NOT NULL, app_name TEXT NOT NULL, app_id INTEGER, state TEXT NOT NULL,
            run_id INTEGER, how TEXT, http_status INTEGER, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,
            intent_at TEXT, outcome_at TEXT, prior_app_ids TEXT, PRIMARY KEY (user_id, app_name));
        CREATE TABLE credentials (fingerprint TEXT PRIMARY KEY, source_row INTEGER, user_id INTEGER,
            app_name TEXT, app_id INTEGER, credential_id INTEGER, state TEXT NOT NULL, run_id INTEGER, how TEXT,
            http_status INTEGER, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, batch INTEGER, intent_at TEXT,
            outcome_at TEXT);
        INSERT INTO meta VALUES ('schema_version', '2');
        INSERT INTO meta VALUES ('fingerprint_key_id', '{fingerprint_key_id()}');
        INSERT INTO runs (started_at, state) VALUES ('2024-01-01T00:00:00+00:00', 'stopped');
        INSERT INTO apps (user_id, app_name, app_id, state, run_id, how, attempts, prior_app_ids)
            VALUES (5, 'Mobile', 42, 'created', 1, 'posted', 1, '[]'), (6, 'Open', NULL, 'intent', 1, NULL, 1, '[3]');
        INSERT INTO credentials (fingerprint, app_id, credential_id, state, run_id, attempts)
            VALUES ('fp-a', 42, 7, 'created', 1, 1), ('fp-b', 42, NULL, 'intent', 1, 2);
        """
    )
    conn.commit()
    conn.close()


def test_a_version_2_journal_upgrades_in_place_keeping_every_record(tmp_path):
    from tyk_migrate.journal import SCHEMA_VERSION

    path = tmp_path / "v2.journal"
    _version_2_journal(path)
    with Journal(path) as journal:
        assert SCHEMA_VERSION == "3"
        mobile, open_ = journal.app(5, "Mobile"), journal.app(6, "Open")
        assert mobile is not None and (mobile.state, mobile.app_id, mobile.prior_app_ids, mobile.marker) == (
            "created",
            42,
            (),
            None,
        )
        assert open_ is not None and (open_.state, open_.prior_app_ids, open_.marker) == ("intent", (3,), None)
        a, b = journal.credential("fp-a"), journal.credential("fp-b")
        assert a is not None and (a.state, a.credential_id, a.prior_credential_ids) == ("created", 7, None)
        assert b is not None and (b.state, b.attempts, b.prior_credential_ids) == ("intent", 2, None)
        assert [r["state"] for r in journal.runs()] == ["stopped"]
        # new records carry the new columns, through a reopen
        journal.app_intent(7, "New", run_id=2, attempts=1, prior_app_ids=[], marker="00ff00ff00ff00ff")
        journal.credential_intent("fp-c", app_id=42, run_id=2, attempts=1, prior_credential_ids=[9, 8])
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "3"
    conn.close()
    with Journal(path) as journal:
        assert journal.app(7, "New").marker == "00ff00ff00ff00ff"
        assert journal.credential("fp-c").prior_credential_ids == (8, 9)
        assert journal.credential("fp-a").prior_credential_ids is None  # schema 2: the old rules hold


def test_an_open_credential_intent_landed_only_in_a_credential_made_after_it(tmp_path):
    from tyk_migrate.journal import intent_landed

    with Journal(tmp_path / "j") as journal:
        rec = journal.credential_intent("fp", app_id=1, run_id=1, attempts=1, prior_credential_ids=[5])
        assert not intent_landed(rec, "skip_existing", 5)  # it held the key before: someone else's
        assert intent_landed(rec, "skip_existing", 6)
        old = journal.credential_intent("fp-old", app_id=1, run_id=1, attempts=1)  # no prior list: the old rule
        assert intent_landed(old, "skip_existing", 5) and intent_landed(old, "skip_existing")
        assert not intent_landed(rec, "add_credential", 6)


def test_record_time_is_now_to_the_millisecond_as_iso_text():
    """Cached per millisecond (a run journals about one record a ms): never behind or ahead of the clock."""
    from datetime import UTC, datetime

    from tyk_migrate.journal_records import record_time

    stamps = set()
    for _ in range(3000):
        before = datetime.now(UTC).isoformat(timespec="milliseconds")
        stamp = record_time()
        after = datetime.now(UTC).isoformat(timespec="milliseconds")
        assert before <= stamp <= after
        stamps.add(stamp)
    assert len(stamps) > 1 and all(s.endswith("+00:00") and len(s) == 29 for s in stamps)
