"""Optional SQLite persistence for the sandbox: write-through of every mutation.

One table of JSON documents keyed by (kind, id) plus a small meta table for the ID counters. Each
mutation is one short transaction in WAL mode, so a sandbox killed at any moment restarts with every
write it acknowledged (and, like the real portal, possibly one whose answer was lost).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..secrets import private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, id INTEGER NOT NULL, body TEXT NOT NULL,
                                    PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class SqliteStore:
    """Documents by kind; the in-memory state stays the source of truth while running."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        in_memory = str(path) in {":memory:", ""}
        try:
            if not in_memory:
                private_file(self.path)  # the documents hold raw keys: owner-only before SQLite writes a page
            self.conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise InputError(f"sandbox db {self.path}: {exc}") from None
        except OSError as exc:
            raise InputError(f"sandbox db {self.path}: {exc.strerror or exc}") from None
        if not in_memory:
            # SQLite gives -wal and -shm the database file's mode; chmod them anyway in case they predate it
            for suffix in ("-wal", "-shm"):
                private_file(f"{self.path}{suffix}", create=False)

    def is_empty(self) -> bool:
        return self.conn.execute("SELECT 1 FROM meta WHERE key = 'initialised'").fetchone() is None

    def load(self) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
        objects: dict[str, list[dict[str, Any]]] = {}
        for kind, body in self.conn.execute("SELECT kind, body FROM objects ORDER BY kind, id"):
            objects.setdefault(kind, []).append(json.loads(body))
        next_ids = {
            key[len("next_id:") :]: int(value)
            for key, value in self.conn.execute("SELECT key, value FROM meta WHERE key LIKE 'next_id:%'")
        }
        return objects, next_ids

    def replace_all(self, objects: dict[str, list[dict[str, Any]]], next_ids: dict[str, int]) -> None:
        with self._tx() as cur:
            cur.execute("DELETE FROM objects")
            cur.execute("DELETE FROM meta")
            cur.executemany(
                "INSERT INTO objects (kind, id, body) VALUES (?, ?, ?)",
                [(kind, o["ID"], json.dumps(o)) for kind, items in objects.items() for o in items],
            )
            self._write_ids(cur, next_ids)
            cur.execute("INSERT INTO meta (key, value) VALUES ('initialised', '1')")

    def apply(
        self,
        puts: list[tuple[str, dict[str, Any]]] = (),  # type: ignore[assignment]
        deletes: list[tuple[str, int]] = (),  # type: ignore[assignment]
        next_ids: dict[str, int] | None = None,
    ) -> None:
        """One transaction: upsert ``puts``, remove ``deletes``, store the ID counters."""
        with self._tx() as cur:
            if puts:
                cur.executemany(
                    "INSERT OR REPLACE INTO objects (kind, id, body) VALUES (?, ?, ?)",
                    [(kind, o["ID"], json.dumps(o)) for kind, o in puts],
                )
            if deletes:
                cur.executemany("DELETE FROM objects WHERE kind = ? AND id = ?", deletes)
            if next_ids:
                self._write_ids(cur, next_ids)

    @staticmethod
    def _write_ids(cur: sqlite3.Cursor, next_ids: dict[str, int]) -> None:
        cur.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            [(f"next_id:{kind}", str(n)) for kind, n in next_ids.items()],
        )

    def _tx(self) -> _Tx:
        return _Tx(self.conn)

    def close(self) -> None:
        self.conn.close()


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Cursor:
        self.cur = self.conn.cursor()
        self.cur.execute("BEGIN")
        return self.cur

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.cur.execute("ROLLBACK" if exc_type else "COMMIT")
        self.cur.close()
