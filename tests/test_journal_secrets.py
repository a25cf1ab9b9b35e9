"""The journal's own secrets rules: owner-only files, and fingerprints that match only under the secret that
wrote them."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from tyk_migrate.errors import JournalError
from tyk_migrate.fingerprint_key import KEY_ENV
from tyk_migrate.journal import Journal


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_journal_and_its_side_files_are_owner_only(tmp_path):
    path = tmp_path / "run.journal"
    with Journal(path) as jr:
        jr.credential_intent("fp" * 8, source_row=1, user_id=1, app_name="a", app_id=5, run_id=1, attempts=1)
        side = [p for p in (tmp_path / "run.journal-wal", tmp_path / "run.journal-shm") if p.exists()]
        assert side, "WAL mode leaves -wal/-shm files while open"
        assert {_mode(p) for p in [path, *side]} == {0o600}


def test_an_existing_loose_journal_is_tightened_on_open(tmp_path):
    path = tmp_path / "run.journal"
    Journal(path).close()
    path.chmod(0o644)
    Journal(path).close()
    assert _mode(path) == 0o600


def test_a_journal_written_under_another_fingerprint_secret_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "run.journal"
    Journal(path).close()
    monkeypatch.setenv(KEY_ENV, "another secret of at least sixteen bytes")
    with pytest.raises(JournalError, match="another fingerprint secret"):
        Journal(path)


def test_a_journal_from_before_keyed_fingerprints_is_refused(tmp_path):
    path = tmp_path / "run.journal"
    with Journal(path) as jr:
        jr.credential_intent("fp" * 8, source_row=1, user_id=1, app_name="a", app_id=5, run_id=1, attempts=1)
    with sqlite3.connect(path) as conn:  # what an older tool version left: records, no secret id
        conn.execute("DELETE FROM meta WHERE key = 'fingerprint_key_id'")
    with pytest.raises(JournalError, match="without a fingerprint secret"):
        Journal(path)


def test_tightening_an_existing_file_never_opens_it(tmp_path, monkeypatch):
    """Closing any descriptor of a file drops this process's POSIX locks on it: opening a live journal's -shm
    file to chmod it let another process reset the shared memory under the runner (SIGBUS in a test)."""
    import os

    from tyk_migrate.secrets import private_file

    shm = tmp_path / "run.journal-shm"
    shm.write_bytes(b"\0" * 32)
    shm.chmod(0o644)

    def no_open(*args, **kwargs):
        raise AssertionError("private_file opened an existing file")

    monkeypatch.setattr(os, "open", no_open)
    private_file(shm, create=False)
    private_file(shm)
    assert _mode(shm) == 0o600
