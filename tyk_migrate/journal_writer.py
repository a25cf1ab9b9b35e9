"""The journal's group-commit writer: one thread commits queued records in order, many per transaction.

Why a thread: the runner's event loop must never block on disk. Record methods queue their write and return;
the thread takes everything waiting at that moment into one transaction. After one failed transaction nothing
more is committed (the file then holds a prefix of the records, never a later outcome without the records
before it), but every future is still answered and a stop request is never lost.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Any

from .errors import JournalError
from .journal_wal import WalGuard

# one record write: its SQL, its parameters, and the future answered once it is committed (or is not)
_Item = tuple[str, tuple[Any, ...], concurrent.futures.Future[None]]


class GroupCommitWriter:
    """The background writer of one journal file; ``None`` on the queue asks it to stop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self.last: concurrent.futures.Future[None] | None = None
        self.error: str | None = None
        self._wal = WalGuard(path)
        self._thread = threading.Thread(target=self._write_loop, name="tyk-migrate journal", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, sql: str, params: tuple[Any, ...]) -> None:
        fut: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.last = fut
        self.queue.put((sql, params, fut))

    def stop(self) -> None:
        """Commit what is queued, then end the thread (returns once it has ended)."""
        self.queue.put(None)
        self._thread.join()

    def _write_loop(self) -> None:
        conn = self._connect()
        try:
            stop = False
            while not stop:  # also after a failed batch: a stop request must never be lost (stop() joins)
                batch, stop = self._next_batch()
                if batch:
                    self._commit(conn, batch)
                    self._answer(batch)
        finally:
            if conn is not None:
                conn.close()

    def _connect(self) -> sqlite3.Connection | None:
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            self._watch(conn)  # the first look: the -wal file SQLite has open now is the run's
        except sqlite3.Error as exc:  # every record then fails: the loop still answers each future, and stops
            self.error = str(exc)
        return conn

    def _next_batch(self) -> tuple[list[_Item], bool]:
        """The next record (waiting for it) and everything already waiting behind it; True if told to stop."""
        item = self.queue.get()
        stop = item is None
        batch = [] if item is None else [item]
        while True:  # everything already waiting goes into the same transaction
            try:
                more = self.queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                stop = True
            else:
                batch.append(more)
        return batch, stop

    def _commit(self, conn: sqlite3.Connection | None, batch: list[_Item]) -> None:
        # after one failed transaction nothing more is committed: the file then holds a prefix of the records
        if self.error is not None or conn is None:
            return
        if self._watch(conn, quick=True):  # damaged while idle: another commit would write past the hole
            return
        try:
            conn.execute("BEGIN")
            for sql, params, _ in batch:
                conn.execute(sql, params)
            conn.execute("COMMIT")
        except Exception as exc:  # any failure: a dead writer thread would leave futures unanswered
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            self.error = str(exc) or type(exc).__name__
            return
        self._watch(conn)  # damaged during the commit: the batch is not safely on disk, so it fails too

    def _watch(self, conn: sqlite3.Connection, *, quick: bool = False) -> bool:
        """Look at the -wal file; if it is no longer safe, record why (nothing more is committed)."""
        problem = self._wal.check(conn, quick=quick)
        if problem is not None:
            self.error = problem
        return problem is not None

    def _answer(self, batch: list[_Item]) -> None:
        for _, _, fut in batch:
            if self.error is None:
                fut.set_result(None)
            else:
                fut.set_exception(JournalError(f"journal {self.path}: {self.error}"))
