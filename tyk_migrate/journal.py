"""The journal: a durable SQLite ledger of every write a migration makes, so a run is exactly-once.

Why: a POST whose answer was lost may still have been applied, and a kernel can die between any two
lines. So the runner writes an *intent* (committed) before each write and the *outcome* after it. On any
later run an intent without an outcome means "look the object up in the portal before doing anything":
adopt it if it is there, write it again if not. Outcomes say what exists and which run created it, which
is all ``rollback`` needs to delete what a migration made and nothing else.

Identities are stable across runs and never secret: an app is ``(user_id, app_name)``, a credential is
the key's fingerprint. Raw keys never reach this file.

The file runs in WAL mode with ``synchronous=NORMAL``: every committed record survives a killed process
(only a power loss may drop the last few commits, and then the runner's lookups settle them). One commit
per record costs tens of microseconds, well below one HTTP exchange.

A journal belongs to one input: the hash of the plan's key fingerprints is stored on first use and a
different input is refused (``JournalError``) unless forced.

Ownership: an app is the migration's own ("created") only when the journal can prove it: the answer of its
POST named it, or it is an app of that owner and name the portal did not list when the intent was made
(``prior_app_ids``, recorded with every app intent). An app of that owner and name that already existed is
"reused": credentials go into it, but neither compensation nor rollback may ever delete it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

from .errors import JournalError
from .lock import JournalLock
from .secrets import fingerprint_key_id, private_file

SCHEMA_VERSION = "2"

# App states: intent (POST sent, outcome unknown), created (exists, made by ``run_id``), reused (existed
# before the migration: never deleted by it), failed (no app), deleted (removed again by compensation),
# rolled_back (removed by rollback).
# Credential states: intent, created, failed, mismatch (exists but differs from what was asked),
# rolled_back.
APP_STATES = ("intent", "created", "reused", "failed", "deleted", "rolled_back")
# How an app record came to name its app: posted (the POST's answer), adopted (a lookup after an unknown
# outcome found an app the portal did not list before the intent), reused (an app that existed before).
APP_HOWS = ("posted", "adopted", "reused")
CREDENTIAL_STATES = ("intent", "created", "failed", "mismatch", "rolled_back")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    state TEXT NOT NULL,
    dry_run INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS apps (
    user_id INTEGER NOT NULL,
    app_name TEXT NOT NULL,
    app_id INTEGER,
    state TEXT NOT NULL,
    run_id INTEGER,
    how TEXT,
    http_status INTEGER,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    intent_at TEXT,
    outcome_at TEXT,
    prior_app_ids TEXT,
    PRIMARY KEY (user_id, app_name)
);
CREATE TABLE IF NOT EXISTS credentials (
    fingerprint TEXT PRIMARY KEY,
    source_row INTEGER,
    user_id INTEGER,
    app_name TEXT,
    app_id INTEGER,
    credential_id INTEGER,
    state TEXT NOT NULL,
    run_id INTEGER,
    how TEXT,
    http_status INTEGER,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    batch INTEGER,
    intent_at TEXT,
    outcome_at TEXT
);
"""

# Version upgrades, each run in one transaction on a file of the version before: columns are only ever added,
# so an upgraded file keeps every record; an older tool refuses the newer file (its version check).
_UPGRADES: dict[str, tuple[str, ...]] = {
    # 1 -> 2: the IDs of the owner's apps of that name the portal listed when an app intent was made (JSON
    # list); NULL on every record written by version 1, which did not look: such an intent proves nothing.
    "1": ("ALTER TABLE apps ADD COLUMN prior_app_ids TEXT",),
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def input_identity(fingerprints: Iterable[object]) -> str:
    """Identity of an input: sha256 over its sorted, distinct key fingerprints (order-independent)."""
    distinct = sorted({str(f) for f in fingerprints if isinstance(f, str) and f})
    digest = hashlib.sha256("\n".join(distinct).encode()).hexdigest()
    return f"{len(distinct)}:{digest[:32]}"


@dataclass(slots=True)
class AppRecord:
    user_id: int
    app_name: str
    app_id: int | None
    state: str
    run_id: int | None = None
    how: str | None = None  # one of APP_HOWS
    http_status: int | None = None
    error: str | None = None
    attempts: int = 0
    intent_at: str | None = None
    outcome_at: str | None = None
    # IDs of the apps of this owner and name the portal listed when the last intent was made; None: unknown
    # (a version-1 record, or a caller that did not look), so no app found later can be proven ours
    prior_app_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.prior_app_ids, str):  # as stored: a JSON list
            self.prior_app_ids = tuple(int(i) for i in json.loads(self.prior_app_ids))

    def made_after_intent(self, listed: Iterable[int]) -> list[int]:
        """Apps in ``listed`` (this owner and name, listed now) the portal did not list when the intent was made:
        the only ones the intent's POST can have made. Empty when the record holds no such list to compare with.

        A set, not a highest-ID watermark: the portal API does not promise increasing IDs (databases reuse the
        ID of a deleted last row, or hand out sequence blocks per node), and an ID comparison would then take a
        stranger's app for ours, or ours for a stranger's (a duplicate). Membership needs no order.
        """
        if self.prior_app_ids is None:
            return []
        before = set(self.prior_app_ids)
        return [i for i in listed if i not in before]


@dataclass(slots=True)
class CredentialRecord:
    fingerprint: str
    source_row: int | None
    user_id: int | None
    app_name: str | None
    app_id: int | None
    credential_id: int | None
    state: str
    run_id: int | None = None
    how: str | None = None
    http_status: int | None = None
    error: str | None = None
    attempts: int = 0
    batch: int | None = None
    intent_at: str | None = None
    outcome_at: str | None = None


def intent_landed(rec: CredentialRecord | None, action: str) -> TypeGuard[CredentialRecord]:
    """An open intent on a key the fresh plan already finds in the portal (``skip_existing``): the write whose
    answer was lost did land, so the credential is ours, created (adopted). Runner and verify read it alike."""
    return rec is not None and rec.state == "intent" and action == "skip_existing"


_APP_COLS = [f.name for f in fields(AppRecord)]
_CRED_COLS = [f.name for f in fields(CredentialRecord)]


class Journal:
    """``with Journal("run.journal") as j: …``. Records are cached in memory and written through.

    Not thread-safe: one runner (one event loop) owns it at a time. Opening it takes the journal's lock
    (``tyk_migrate.lock``) until ``close()``: another Journal of that path, in this process or another, is
    refused (``JournalLocked``), so one run or rollback at a time writes a journal.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # one run per journal: taken before the first read, held until close() (``JournalLocked`` if taken)
        self._lock = JournalLock(self.path)
        try:
            private_file(self.path)  # owner-only before SQLite writes a byte, and an identity for the lock
        except OSError as exc:
            raise JournalError(f"journal {self.path} is not usable: {exc.strerror or exc}") from None
        self._lock.acquire()
        try:
            self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(_SCHEMA)
            for side_file in (f"{self.path}-wal", f"{self.path}-shm"):
                private_file(side_file, create=False)  # SQLite copies the main file's mode; older files may not
            version = self._meta("schema_version")
            if version is None:
                self._set_meta("schema_version", SCHEMA_VERSION)
            elif version != SCHEMA_VERSION:
                self._upgrade(version)
            self._check_fingerprint_secret()
            self._apps = {(r.user_id, r.app_name): r for r in self._load(AppRecord, "apps", _APP_COLS)}
            self._creds = {r.fingerprint: r for r in self._load(CredentialRecord, "credentials", _CRED_COLS)}
        except sqlite3.DatabaseError as exc:
            self._release_on_failure()
            raise JournalError(f"journal {self.path} is not usable: {exc}") from None
        except OSError as exc:  # a folder, a missing parent, no permission
            self._release_on_failure()
            raise JournalError(f"journal {self.path} is not usable: {exc.strerror or exc}") from None
        except BaseException:
            self._release_on_failure()
            raise
        self._closed = False
        self._writer: threading.Thread | None = None
        self._writer_error: str | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            try:
                self.stop_group_commit()
                self._conn.close()
            finally:  # the lock goes last, once nothing of ours writes the file any more
                self._closed = True
                self._lock.release()

    def _check_fingerprint_secret(self) -> None:
        """Rows are matched to records by keyed fingerprint: a journal written under another fingerprint secret
        (another user, another ``TYK_MIGRATE_FINGERPRINT_KEY``, or a journal from before keyed fingerprints)
        would match nothing and re-create everything, so it is refused."""
        mine = fingerprint_key_id()
        recorded = self._meta("fingerprint_key_id")
        if recorded is None:
            if self._creds_present():
                raise JournalError(
                    f"journal {self.path} holds fingerprints made without a fingerprint secret (an older tool "
                    "version): finish or roll it back with that version, or start a new journal"
                )
            self._set_meta("fingerprint_key_id", mine)
        elif recorded != mine:
            raise JournalError(
                f"journal {self.path} was written under another fingerprint secret (id {recorded}, this process "
                f"has {mine}): set TYK_MIGRATE_FINGERPRINT_KEY or TYK_MIGRATE_HOME as in the run that wrote it"
            )

    def _creds_present(self) -> bool:
        return self._exec("SELECT 1 FROM credentials LIMIT 1").fetchone() is not None

    def _release_on_failure(self) -> None:
        """A journal that could not be opened holds nothing: neither its connection nor its lock."""
        conn = getattr(self, "_conn", None)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._lock.release()

    # -- group commit -----------------------------------------------------------------------------
    def start_group_commit(self) -> None:
        """Write records from a background thread, many per transaction (a runner under load).

        Record methods then return at once (the in-memory state is updated immediately) and the writes
        are committed in order by one thread, all records waiting at that moment in one transaction.
        ``durable()`` gives a future that resolves once everything recorded so far is committed: the
        runner awaits it after an intent, before sending the write, and never waits for outcomes (an
        outcome lost in a crash only costs a lookup on the next run). The event loop never blocks on disk.
        """
        if self._writer is not None:
            return
        self._queue: queue.SimpleQueue[tuple[str, tuple[Any, ...], concurrent.futures.Future[None]] | None]
        self._queue = queue.SimpleQueue()
        self._last: concurrent.futures.Future[None] | None = None
        self._writer = threading.Thread(target=self._write_loop, name="tyk-migrate journal", daemon=True)
        self._writer.start()

    def stop_group_commit(self) -> None:
        """Commit what is queued and go back to writing in the caller's thread."""
        if self._writer is None:
            return
        self._queue.put(None)
        self._writer.join()
        self._writer = None
        if self._writer_error is not None:
            error, self._writer_error = self._writer_error, None
            raise JournalError(f"journal {self.path}: {error}")

    @property
    def write_error(self) -> str | None:
        """Why the group-commit writer stopped committing (e.g. ``database or disk is full``), or None."""
        return self._writer_error

    def durable(self) -> concurrent.futures.Future[None]:
        """A future done when every record made so far is committed (done at once without group commit)."""
        last = self._last if self._writer is not None else None
        if last is None:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            done.set_result(None)
            return done
        return last

    def _write_loop(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
        except sqlite3.Error as exc:  # every record then fails: the loop still answers each future, and stops
            self._writer_error = str(exc)
        try:
            while True:
                item = self._queue.get()
                stop = item is None
                batch = [] if item is None else [item]
                while True:  # everything already waiting goes into the same transaction
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                    else:
                        batch.append(more)
                if batch:
                    # after one failed transaction nothing more is committed: the file then holds a prefix of
                    # the records, never a later outcome without the records before it
                    if self._writer_error is None and conn is not None:
                        try:
                            conn.execute("BEGIN")
                            for sql, params, _ in batch:
                                conn.execute(sql, params)
                            conn.execute("COMMIT")
                        except Exception as exc:  # any failure: a dead writer thread would leave futures unanswered
                            with contextlib.suppress(sqlite3.Error):
                                conn.execute("ROLLBACK")
                            self._writer_error = str(exc) or type(exc).__name__
                    for _, _, fut in batch:
                        if self._writer_error is None:
                            fut.set_result(None)
                        else:
                            fut.set_exception(JournalError(f"journal {self.path}: {self._writer_error}"))
                if stop:  # also after a failed batch: a stop request must never be lost (stop_group_commit joins)
                    return
        finally:
            if conn is not None:
                conn.close()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r}, apps={len(self._apps)}, credentials={len(self._creds)})"

    # -- identity ---------------------------------------------------------------------------------
    @property
    def input_id(self) -> str | None:
        return self._meta("input_id")

    def bind(self, input_id: str, *, force: bool = False) -> None:
        """Tie the journal to one input; refuse another unless ``force`` (which re-ties it)."""
        current = self.input_id
        if current == input_id:
            return
        if current is not None and not force:
            have = current.split(":", 1)[0]
            got = input_id.split(":", 1)[0]
            raise JournalError(
                f"journal {self.path} belongs to another input ({have} keys; this input has {got}): use a new "
                "journal file, or force it (--force-journal) if the input only grew or shrank on purpose"
            )
        self._set_meta("input_id", input_id)

    @property
    def portal_url(self) -> str | None:
        return self._meta("portal_url")

    def bind_portal(self, portal_url: str, *, force: bool = False) -> None:
        """Tie the journal to one portal. Its "created" records and IDs mean nothing on another portal:
        a rerun there would skip keys that do not exist, and a rollback would delete someone else's apps."""
        current = self.portal_url
        if current == portal_url:
            return
        if current is not None and not force:
            raise JournalError(
                f"journal {self.path} records a migration into {current}, not {portal_url}: use a new journal "
                "file for another portal"
            )
        self._set_meta("portal_url", portal_url)

    # -- runs -------------------------------------------------------------------------------------
    def begin_run(self, *, dry_run: bool = False) -> int:
        cur = self._exec(
            "INSERT INTO runs (started_at, state, dry_run) VALUES (?, 'running', ?)", (_now(), int(dry_run))
        )
        return int(cur.lastrowid or 0)

    def end_run(self, run_id: int, state: str) -> None:
        self._write("UPDATE runs SET finished_at = ?, state = ? WHERE run_id = ?", (_now(), state, run_id))

    def runs(self) -> list[dict[str, Any]]:
        cur = self._conn.execute("SELECT run_id, started_at, finished_at, state, dry_run FROM runs ORDER BY run_id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    # -- apps -------------------------------------------------------------------------------------
    def app(self, user_id: int, app_name: str) -> AppRecord | None:
        return self._apps.get((int(user_id), app_name))

    def apps(self) -> list[AppRecord]:
        return list(self._apps.values())

    def app_intent(
        self,
        user_id: int,
        app_name: str,
        *,
        run_id: int,
        attempts: int,
        prior_app_ids: Iterable[int] | None = None,
    ) -> AppRecord:
        """Before POST /apps: committed, so a crash leaves a question the next run answers by lookup.

        ``prior_app_ids``: the apps of this owner and name a listing made just before showed (usually none).
        Only an app outside that list can be the one this POST made; ``None`` (not looked) proves nothing.
        """
        key = (int(user_id), app_name)
        rec = self._apps.get(key)
        if rec is None:
            rec = AppRecord(int(user_id), app_name, None, "intent")
            self._apps[key] = rec
        rec.state, rec.run_id, rec.attempts, rec.intent_at = "intent", run_id, attempts, _now()
        rec.app_id, rec.how, rec.error = None, None, None
        rec.prior_app_ids = None if prior_app_ids is None else tuple(sorted({int(i) for i in prior_app_ids}))
        self._save_app(rec)
        return rec

    def app_outcome(
        self,
        user_id: int,
        app_name: str,
        state: str,
        *,
        app_id: int | None = None,
        run_id: int | None = None,
        how: str | None = None,
        http_status: int | None = None,
        error: str | None = None,
        attempts: int | None = None,
    ) -> AppRecord:
        if state not in APP_STATES:
            raise ValueError(f"unknown app state {state!r}")
        if how is not None and how not in APP_HOWS:
            raise ValueError(f"unknown app origin {how!r}")
        key = (int(user_id), app_name)
        rec = self._apps.get(key) or AppRecord(int(user_id), app_name, None, state)
        self._apps[key] = rec
        rec.state, rec.outcome_at = state, _now()
        if app_id is not None:
            rec.app_id = int(app_id)
        if run_id is not None:
            rec.run_id = run_id
        if how is not None:
            rec.how = how
        rec.http_status, rec.error = http_status, error
        if attempts is not None:
            rec.attempts = attempts
        self._save_app(rec)
        return rec

    # -- credentials ------------------------------------------------------------------------------
    def credential(self, fingerprint: str) -> CredentialRecord | None:
        return self._creds.get(fingerprint)

    def credentials(self) -> list[CredentialRecord]:
        return list(self._creds.values())

    def credential_intent(
        self,
        fingerprint: str,
        *,
        app_id: int,
        run_id: int,
        attempts: int,
        source_row: int | None = None,
        user_id: int | None = None,
        app_name: str | None = None,
        batch: int | None = None,
    ) -> CredentialRecord:
        rec = self._creds.get(fingerprint)
        if rec is None:
            rec = CredentialRecord(fingerprint, source_row, user_id, app_name, int(app_id), None, "intent")
            self._creds[fingerprint] = rec
        rec.source_row, rec.user_id, rec.app_name, rec.app_id = source_row, user_id, app_name, int(app_id)
        rec.state, rec.run_id, rec.attempts, rec.batch, rec.intent_at = "intent", run_id, attempts, batch, _now()
        rec.credential_id, rec.how, rec.error = None, None, None
        self._save_cred(rec)
        return rec

    def credential_outcome(
        self,
        fingerprint: str,
        state: str,
        *,
        credential_id: int | None = None,
        app_id: int | None = None,
        run_id: int | None = None,
        how: str | None = None,
        http_status: int | None = None,
        error: str | None = None,
        attempts: int | None = None,
    ) -> CredentialRecord:
        if state not in CREDENTIAL_STATES:
            raise ValueError(f"unknown credential state {state!r}")
        rec = self._creds.get(fingerprint) or CredentialRecord(fingerprint, None, None, None, None, None, state)
        self._creds[fingerprint] = rec
        rec.state, rec.outcome_at = state, _now()
        if credential_id is not None:
            rec.credential_id = int(credential_id)
        if app_id is not None:
            rec.app_id = int(app_id)
        if run_id is not None:
            rec.run_id = run_id
        if how is not None:
            rec.how = how
        rec.http_status, rec.error = http_status, error
        if attempts is not None:
            rec.attempts = attempts
        self._save_cred(rec)
        return rec

    def credentials_of_app(self, app_id: int) -> Iterator[CredentialRecord]:
        return (r for r in self._creds.values() if r.app_id == app_id)

    # -- inspection -------------------------------------------------------------------------------
    def frame(self, kind: str = "credentials") -> Any:
        """The journal's ``apps`` or ``credentials`` as a DataFrame (fingerprints only, never keys)."""
        import pandas as pd

        if kind == "apps":
            return pd.DataFrame([{c: getattr(r, c) for c in _APP_COLS} for r in self._apps.values()], columns=_APP_COLS)
        if kind == "credentials":
            rows = [{c: getattr(r, c) for c in _CRED_COLS} for r in self._creds.values()]
            return pd.DataFrame(rows, columns=_CRED_COLS)
        if kind == "runs":
            return pd.DataFrame(self.runs())
        raise ValueError("kind must be 'apps', 'credentials' or 'runs'")

    # -- plumbing ---------------------------------------------------------------------------------
    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        """A record write: queued for the group-commit thread when it runs, else executed now."""
        if self._writer is not None:
            fut: concurrent.futures.Future[None] = concurrent.futures.Future()
            self._last = fut
            self._queue.put((sql, params, fut))
            return
        self._exec(sql, params)

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        if getattr(self, "_closed", False):
            raise JournalError(f"journal {self.path} is closed")
        for attempt in range(20):
            try:
                return self._conn.execute(sql, params)
            except sqlite3.OperationalError as exc:  # locked by another process: brief wait
                if "locked" not in str(exc) or attempt == 19:
                    raise JournalError(f"journal {self.path}: {exc}") from None
                time.sleep(0.05)
        raise AssertionError("unreachable")

    def _upgrade(self, version: str) -> None:
        """Bring a file of an older schema version to this one, in place (one transaction per step)."""
        while version != SCHEMA_VERSION:
            steps = _UPGRADES.get(version)
            if steps is None:
                raise JournalError(f"journal {self.path}: schema version {version}, this tool writes {SCHEMA_VERSION}")
            following = str(int(version) + 1)
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if self._meta("schema_version") == version:  # not upgraded meanwhile by another process
                    for sql in steps:
                        self._conn.execute(sql)
                    self._conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (following,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            version = following

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _load(self, cls: Any, table: str, cols: list[str]) -> list[Any]:
        cur = self._conn.execute(f"SELECT {', '.join(cols)} FROM {table}")
        return [cls(*row) for row in cur]

    def _save_app(self, rec: AppRecord) -> None:
        values = tuple(
            (None if rec.prior_app_ids is None else json.dumps(list(rec.prior_app_ids)))
            if c == "prior_app_ids"
            else getattr(rec, c)
            for c in _APP_COLS
        )
        marks = ", ".join("?" * len(_APP_COLS))
        self._write(f"INSERT OR REPLACE INTO apps ({', '.join(_APP_COLS)}) VALUES ({marks})", values)

    def _save_cred(self, rec: CredentialRecord) -> None:
        values = tuple(getattr(rec, c) for c in _CRED_COLS)
        marks = ", ".join("?" * len(_CRED_COLS))
        self._write(f"INSERT OR REPLACE INTO credentials ({', '.join(_CRED_COLS)}) VALUES ({marks})", values)
