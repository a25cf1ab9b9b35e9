"""Is the journal's ``-wal`` file still the one SQLite writes? (checked by the group-commit writer)

Why: records committed in WAL mode live in the ``-wal`` file until a checkpoint copies them into the main
file. If another process empties, cuts or replaces it under a live run, SQLite does not notice: its
wal-index (in ``-shm``) still lists the lost frames, the next commit writes past a hole, and the next
checkpoint copies that hole into the main file (a malformed journal). So the writer looks before and after
every batch and stops at the first sign, before it writes into a damaged file.

What SQLite itself does to the file, so none of it is flagged (https://www.sqlite.org/walformat.html):

* It appends frames; a restart after a full checkpoint writes from offset 0 again with a new header whose
  salts differ, and leaves the file's size as it was (no ``journal_size_limit`` here).
* ``PRAGMA wal_checkpoint(TRUNCATE)`` (any connection, any process) cuts it to 0 bytes once every frame is
  in the main file; the wal-index then says the log is empty.
* It deletes the file only when the last connection closes, never during a run (ours stay open).

So: the same device and inode for the whole run; with the same salts it never shrinks; a valid header once
it holds a byte; an emptied file is fine only if SQLite agrees the log is empty (``wal_checkpoint`` reports
0 frames, or fails to read frames that are gone, which copies nothing).

The ``-shm`` file is never opened here: closing a descriptor of a file drops every POSIX lock the process
holds on it (SQLite's locks included). SQLite takes no lock on the ``-wal`` file, so reading it is safe.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

WAL_MAGIC = (0x377F0682, 0x377F0683)  # big-endian u32 at offset 0 (the two checksum byte orders)
WAL_HEADER_SIZE = 32


class WalGuard:
    """Watches one journal's ``-wal`` file. ``check(conn)`` returns why it is no longer safe, or None."""

    def __init__(self, journal_path: Path) -> None:
        self.path = Path(f"{journal_path}-wal")
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file SQLite opened
        self._size = 0  # its size at the last look
        self._salts: bytes | None = None  # the header's salts at the last look (None: no valid header)

    def check(self, conn: sqlite3.Connection | None, *, quick: bool = False) -> str | None:
        """Compare the file with the last look and remember this one; ``conn`` asks SQLite when it is empty.

        ``quick`` (before a batch): only SQLite's own commits restart the log or move its header, so between
        commits the same file, not smaller, is enough (one ``stat``); anything else is looked at in full.
        """
        try:
            if quick and self._identity is not None:
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino) == self._identity and st.st_size >= self._size:
                    self._size = st.st_size
                    return None
            st, header = self._look()
        except FileNotFoundError:
            return "its -wal file was deleted under the run" if self._identity is not None else None
        except OSError as exc:
            return f"its -wal file cannot be read ({exc.strerror or exc})"
        identity = (st.st_dev, st.st_ino)
        if self._identity is None:  # the first look: whatever SQLite opened is the file
            self._identity = identity
        elif identity != self._identity:
            return "its -wal file was replaced under the run"
        problem = self._compare(st.st_size, header, conn)
        self._size, self._salts = st.st_size, _salts(header)
        return problem

    def _compare(self, size: int, header: bytes, conn: sqlite3.Connection | None) -> str | None:
        salts = _salts(header)
        if size >= WAL_HEADER_SIZE and salts is None:
            return "its -wal file was overwritten or cut under the run: its start is no WAL header"
        if salts is not None and salts == self._salts and size < self._size:
            return f"its -wal file was cut under the run from {self._size} to {size} bytes"
        if size < WAL_HEADER_SIZE and self._salts is not None and not _log_is_empty(conn):
            return f"its -wal file was emptied under the run (it held {self._size} bytes)"
        return None

    def _look(self) -> tuple[os.stat_result, bytes]:
        """The file now at the path (by path, every time: a replaced file must be the one read) and its header."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            return os.fstat(fd), os.pread(fd, WAL_HEADER_SIZE, 0)
        finally:
            os.close(fd)


def _salts(header: bytes) -> bytes | None:
    """The header's salts (they change at every restart of the log), or None if it is no WAL header."""
    if len(header) < WAL_HEADER_SIZE or int.from_bytes(header[:4], "big") not in WAL_MAGIC:
        return None
    return header[16:24]


def _log_is_empty(conn: sqlite3.Connection | None) -> bool:
    """Does SQLite's wal-index agree the log holds no frame? (after a TRUNCATE checkpoint it does)

    A PASSIVE checkpoint copies frames not yet in the main file and reports how many frames the log holds.
    On an emptied file its first read fails before it writes anything, so asking cannot spread the damage.
    """
    if conn is None:
        return True  # nothing to ask: the writer fails every record anyway
    try:
        row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error:
        return False  # it could not read frames it believes are there: they are gone
    busy, frames = (int(row[0]), int(row[1])) if row else (0, 0)
    return bool(busy) or frames <= 0  # busy: another checkpoint runs; look again after the next batch
