"""One run per journal: an exclusive lock on a file beside it (``run.journal`` -> ``run.journal.lock``).

Why: two runs on one journal (two ``apply`` processes, or two notebook cells in one kernel) each see the
other's apps as missing and make them again, and the journal can then no longer say what a rollback must
undo. So every ``Journal`` takes this lock when it opens and gives it back when it closes.

How: ``fcntl.flock(LOCK_EX | LOCK_NB)`` on a file descriptor of our own. flock locks belong to the open
file description, so a second ``Journal`` of the same path in the *same* process is refused too (POSIX
``fcntl``/``lockf`` locks would not refuse it). The kernel drops the lock when its holder dies, however it
dies, so a lock file left by a killed process is simply taken over: once we hold the lock, whatever the file
says is stale and is overwritten. The file is never deleted: deleting it would let a process still holding
the old file's descriptor and a process creating a new one both "hold" the lock.

What the file says (pid, host, program name, start time) is only read to name the holder in the refusal.
Platforms without ``fcntl`` (Windows) run without the lock. The same machinery (``lock_file``,
``holder_info``) keeps one run per portal per machine (``portal_lock``).

One journal, many names: the lock beside it is named after the journal's *resolved* path (a symlink or a
relative path finds the same lock), and a second lock is keyed by the journal file's device and inode in the
user's tyk-migrate folder (``locks/``), so a hard link to the journal, or a lock file deleted while held, does
not let a second run in. The journal file itself is never locked: closing a descriptor of it would drop the
POSIX locks SQLite holds on it in this process.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import JournalError, JournalLocked, MigrateError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; runs there are not guarded
    fcntl = None  # type: ignore[assignment]

LOCK_SUFFIX = ".lock"


def lock_path(journal: str | Path) -> Path:
    """Where the lock of a journal lives: beside the file it resolves to, its name plus ``.lock``."""
    path = Path(journal).resolve()
    return path.with_name(path.name + LOCK_SUFFIX)


def locks_folder() -> Path:
    """``locks/`` in the user's tyk-migrate folder (beside the fingerprint key), made owner-only if missing."""
    from .fingerprint_key import key_file_path

    folder = key_file_path().parent / "locks"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def inode_lock_path(journal: str | Path) -> Path:
    """The second lock, keyed by the journal file's identity rather than its name (hard links, deleted lock)."""
    info = os.stat(journal)
    return locks_folder() / f"{info.st_dev}-{info.st_ino}{LOCK_SUFFIX}"


def holder_info(**extra: str) -> bytes:
    """What a lock file says about its holder: pid, host, start, program name (never its arguments), and
    ``extra`` (a portal lock adds the holder's journal)."""
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "program": os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python",
        **extra,
    }
    return (json.dumps(info) + "\n").encode()


def read_holder(raw: bytes) -> dict[str, Any] | None:
    """A lock file's holder record, or None (the holder has locked but not yet written, or wrote something else)."""
    try:
        info: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def is_this_process(info: dict[str, Any]) -> bool:
    return info.get("pid") == os.getpid() and info.get("host") == socket.gethostname()


def lock_file(path: Path, data: bytes, *, refused: Callable[[bytes], MigrateError], what: str) -> int:
    """Take the exclusive flock of ``path`` (created if missing) on a descriptor of our own and write ``data``
    into it; return the descriptor (closing it releases the lock). Held by someone alive: ``refused(what the
    file says)`` is raised. ``what`` names the lock in the error when the file cannot be opened."""
    try:
        # a descriptor (and open file description) of our own: never shared with another holder in this process
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        raise JournalError(f"{what}: cannot open its lock file {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # EWOULDBLOCK: held by someone alive (a dead holder's lock is gone with it)
        raw = b""
        with contextlib.suppress(OSError):
            raw = os.pread(fd, 4096, 0)
        os.close(fd)
        raise refused(raw) from None
    try:  # we hold it: what the file says is stale (a dead holder's), overwrite it in place
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    except OSError:
        pass  # the holder's name is a courtesy; the lock itself is what guards
    return fd


def unlock(fd: int) -> None:
    """Give a lock of ``lock_file`` back; the file stays (see the module docstring)."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)  # nobody holds it now
    os.close(fd)  # closing the last descriptor of the description drops the flock


def journal_holder_line(raw: bytes, journal: Path) -> str:
    """The refusal: who holds the journal, as far as its lock file says."""
    info = read_holder(raw)
    if info is None:
        who = "another run"
    else:
        pid, host, since = info.get("pid"), info.get("host"), info.get("started_at")
        same = is_this_process(info)
        who = "another Journal of this process (a run still going, or a Journal not closed)" if same else "another run"
        program = f", {info['program']}" if info.get("program") else ""
        who += f" (pid {pid} on {host}{program}, since {since})"
    return (
        f"journal {journal} is in use by {who}: one run or rollback at a time per journal; wait for it to end "
        "or stop it"
    )


class JournalLock:
    """The exclusive lock of one journal. ``acquire()`` raises ``JournalLocked`` naming the holder."""

    def __init__(self, journal: str | Path) -> None:
        self.journal = Path(journal)
        self.path = lock_path(self.journal)
        self._fds: list[int] = []

    @property
    def held(self) -> bool:
        return bool(self._fds)

    def acquire(self) -> None:
        if self._fds or fcntl is None:
            return
        try:
            # the file's identity, when it has one (``Journal`` creates its file first; a file replaced whole
            # on every write, like the preflight ledger, is guarded by the named lock alone)
            paths = [self.path, *([inode_lock_path(self.journal)] if self.journal.exists() else [])]
        except OSError as exc:
            raise JournalError(f"journal {self.journal} is not usable: {exc.strerror or exc}") from None
        data = holder_info()
        try:
            for path in paths:
                fd = lock_file(path, data, refused=self._refused, what=f"journal {self.journal}")
                self._fds.append(fd)
        except BaseException:
            self.release()
            raise

    def _refused(self, raw: bytes) -> JournalLocked:
        return JournalLocked(journal_holder_line(raw, self.journal))

    def release(self) -> None:
        fds, self._fds = self._fds, []
        for fd in reversed(fds):
            unlock(fd)

    def __del__(self) -> None:  # a Journal dropped unclosed (a notebook variable rebound) frees its journal
        self.release()

    def __enter__(self) -> JournalLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
