"""The journal's group-commit writer after a failed write: it answers every record and still stops."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import pytest

from tyk_migrate.errors import JournalError
from tyk_migrate.journal import Journal


# -- 3. a journal that cannot be written ends the run at once -------------------------------------------------
class _FailingConnection:
    """A writer connection whose writes fail once ``budget`` records went through (a disk filling up)."""

    def __init__(self, conn: sqlite3.Connection, budget: list[int]) -> None:
        self._conn, self._budget = conn, budget

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.startswith(("INSERT", "UPDATE")):
            self._budget[0] -= 1
            if self._budget[0] < 0:
                raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _GatedConnection(_FailingConnection):
    """Every write fails; the first transaction waits at ``gate`` (so the test can queue more meanwhile)."""

    gate = threading.Event()

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "BEGIN":
            self.gate.wait(10)
        return super().execute(sql, *args)


def test_the_group_commit_writer_still_stops_after_a_failed_batch(tmp_path, monkeypatch):
    real = sqlite3.connect
    gate = _GatedConnection.gate = threading.Event()

    def connect(*a: Any, **kw: Any) -> Any:
        conn = real(*a, **kw)
        return _GatedConnection(conn, [0]) if threading.current_thread().name == "tyk-migrate journal" else conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    journal = Journal(tmp_path / "j")
    journal.start_group_commit()
    journal.credential_intent("fp0", app_id=1, run_id=1, attempts=1)
    first = journal.durable()
    stopped: list[BaseException | None] = []

    def stop() -> None:
        try:
            journal.stop_group_commit()
            stopped.append(None)
        except BaseException as exc:
            stopped.append(exc)

    deadline = time.monotonic() + 5
    while journal._queue.qsize() and time.monotonic() < deadline:  # the writer holds fp0, waiting at the gate
        time.sleep(0.005)
    for i in range(1, 5):
        journal.credential_intent(f"fp{i}", app_id=1, run_id=1, attempts=1)
    stopper = threading.Thread(target=stop, daemon=True)
    stopper.start()
    while journal._queue.qsize() < 5 and time.monotonic() < deadline:  # four records and the stop request
        time.sleep(0.005)
    gate.set()  # batch one fails; the next batch holds the stop request and fails too
    stopper.join(5)
    assert not stopper.is_alive(), "stop_group_commit waits forever for a writer that lost its stop sentinel"
    with pytest.raises(JournalError, match="disk is full"):
        first.result(timeout=1)
    assert isinstance(stopped[0], JournalError) and "disk is full" in str(stopped[0])
    journal.close()
