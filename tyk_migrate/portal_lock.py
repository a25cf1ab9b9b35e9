"""One run per portal per machine and user (the lock is in the user's tyk-migrate folder, ``TYK_MIGRATE_HOME``):
a run that writes holds an exclusive lock keyed by the portal's URL.

Why: the journal lock (``lock``) keeps two runs off one journal, but two runs with *different* journals against
the same portal at the same time each see the other's apps and credentials as someone else's, or as missing:
they double app names, and one can take the other's credential of a shared key for its own (a write of its
whose answer was lost) and roll it back later. Nothing in the portal tells the two apart, so the second run on
this machine is refused instead, with one line naming the holder (pid, host, program, start, its journal).

What: ``fcntl.flock`` on ``locks/portal-<sha256 of the portal>.lock`` in the user's tyk-migrate folder, beside
the journals' inode locks, taken the same way (``lock.lock_file``: a killed holder's lock goes with it, the
file is overwritten by the next holder, never deleted). The key is the portal's API base normalised: scheme
and host lower-cased, the port spelled out (``https://Portal:443/`` and ``https://portal`` are one portal),
the path without its trailing slash. Different names for one host (an IP address, an alias) are not found
out: they are different keys.

Who takes it: ``Migration`` (``tyk-migrate apply``, the console's Start; account steps run inside it), from
before its first request until it has ended. Not a dry run (it sends no write), and not rollback: rollback
creates nothing and deletes only what its journal proves its own, keeping an app that holds a credential it
did not make, so it cannot double or take over another run's objects; and a rollback must stay possible
while a stuck run elsewhere holds the portal. ``TYK_ALLOW_CONCURRENT_RUNS=1`` (``Settings.
allow_concurrent_runs``) switches the lock off for those who know their runs write disjoint keys and apps.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from urllib.parse import urlsplit

from .config import ALLOW_CONCURRENT_RUNS_ENV, Settings, portal_api_base
from .errors import PortalLocked
from .lock import (
    LOCK_SUFFIX,
    fcntl,
    holder_info,
    is_this_process,
    journal_holder_line,
    lock_file,
    locks_folder,
    read_holder,
    unlock,
)

_DEFAULT_PORTS = {"http": 80, "https": 443}


def portal_identity(url: str) -> str:
    """The portal a URL names, normalised: ``scheme://host:port/path`` of its API base (``…/portal-api``)."""
    parts = urlsplit(portal_api_base(url))
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower().rstrip(".")  # portal.example.com. too
    port = parts.port or _DEFAULT_PORTS.get(scheme)
    shown = f"[{host}]" if ":" in host else host  # an IPv6 literal
    return f"{scheme}://{shown}:{port}{parts.path.rstrip('/')}"


def portal_lock_path(url: str) -> Path:
    """The lock file of a portal: named by a hash of its identity (no URL in a file name)."""
    digest = hashlib.sha256(portal_identity(url).encode()).hexdigest()[:32]
    return locks_folder() / f"portal-{digest}{LOCK_SUFFIX}"


def _holder_line(raw: bytes, portal: str, journal: Path) -> str:
    """The refusal: which run holds the portal, as far as its lock file says, and what to do. A holder with the
    refused run's own journal is refused as the journal's lock would (apply takes this lock first)."""
    info = read_holder(raw)
    if info is not None and info.get("journal") == str(journal):
        return journal_holder_line(raw, journal)
    if info is None:
        who = "another run on this machine"
    else:
        program = f", {info['program']}" if info.get("program") else ""
        theirs = f", journal {info['journal']}" if info.get("journal") else ""
        where = "another run of this process" if is_this_process(info) else "another run on this machine"
        who = f"{where} (pid {info.get('pid')} on {info.get('host')}{program}, since {info.get('started_at')}{theirs})"
    return (
        f"portal {portal} is in use by {who}: one run per portal at a time, since two runs with different "
        "journals cannot tell each other's apps and credentials from their own; wait for it to end or stop it "
        f"(to go on with its keys, rerun with its journal), or set {ALLOW_CONCURRENT_RUNS_ENV}=1 if the runs "
        "write disjoint keys and apps"
    )


class PortalLock:
    """The exclusive lock of one portal on this machine, held by a run writing to it with ``journal``.
    ``acquire()`` raises ``PortalLocked`` naming the holder; ``release()`` gives it back (also on garbage
    collection). Without ``fcntl`` (Windows) it holds nothing, as the journal lock."""

    def __init__(self, portal_url: str, journal: str | Path) -> None:
        self.portal = portal_identity(portal_url)
        self.journal = Path(journal).resolve()
        self._fd: int | None = None
        self._url = portal_url
        #: ``time.perf_counter()`` when it was taken (inf while not held): no other run on this machine has
        #: written to the portal since, so a listing begun after it is as good as one begun by the run itself
        self.acquired_at = math.inf
        self._claimed_by: object | None = None  # the one run writing under it (``claim``)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None or fcntl is None:
            return
        data = holder_info(journal=str(self.journal), portal=self.portal)
        self._fd = lock_file(portal_lock_path(self._url), data, refused=self._refused, what=f"portal {self.portal}")
        self.acquired_at = time.perf_counter()

    def claim(self, run: object, portal_url: str, journal: str | Path) -> bool:
        """Let ``run`` write under this lock, taken by its caller: only while held, for that portal, and by one
        run at a time (a second one then takes a lock of its own, and is refused). A lock of this portal taken
        for another journal refuses the run: it would be refused by it anyway, in words that would not say why."""
        if not self.held or self._claimed_by not in (None, run) or self.portal != portal_identity(portal_url):
            return False
        if not _same_journal(self.journal, Path(journal)):
            raise PortalLocked(
                f"the portal lock handed to this run was taken for journal {self.journal}, not for its journal "
                f"{Path(journal).resolve()}: take it for the run's journal, or let the run take its own"
            )
        self._claimed_by = run
        return True

    def _refused(self, raw: bytes) -> PortalLocked:
        return PortalLocked(_holder_line(raw, self.portal, self.journal))

    def release(self, *, by: object | None = None) -> None:
        """Give the lock back. While a run has claimed it, only that run's release does (``by``: the run):
        the caller's (its ``with`` block ending while the run still writes) waits for the run's end."""
        if self._claimed_by is not None and by is not self._claimed_by:
            return
        self._drop()

    def _drop(self) -> None:
        fd, self._fd = self._fd, None
        self.acquired_at, self._claimed_by = math.inf, None
        if fd is not None:
            unlock(fd)

    def __del__(self) -> None:  # a run dropped without ending (a notebook variable rebound) frees its portal
        self._drop()

    def __enter__(self) -> PortalLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _same_journal(ours: Path, theirs: Path) -> bool:
    """One journal file under two spellings (relative, a symlink, a hard link): by inode once it exists."""
    try:
        return ours.samefile(theirs)
    except OSError:  # not made yet: by its resolved path
        return ours == theirs.resolve()


def take_portal_lock(settings: Settings, portal_url: str, journal: str | Path) -> PortalLock | None:
    """The portal's lock, taken for a run that writes with ``journal``; None when the settings allow
    concurrent runs (``TYK_ALLOW_CONCURRENT_RUNS=1``)."""
    if settings.allow_concurrent_runs:
        return None
    lock = PortalLock(portal_url, journal)
    lock.acquire()
    return lock
