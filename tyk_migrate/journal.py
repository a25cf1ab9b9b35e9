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

A journal belongs to one input (the hash of the plan's key fingerprints); another is refused unless forced.

Ownership: an app is the migration's own only when the journal proves it: its POST's answer named it, or it
was not listed before the intent (``prior_app_ids``) and carries the intent's ``marker`` in its Description.
Any other app of that owner and name is "reused": keys go into it, compensation and rollback never delete it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import JournalError
from .journal_bindings import JournalBindings
from .journal_records import (
    APP_COLS,
    APP_HOWS,
    APP_STATES,
    CRED_COLS,
    CREDENTIAL_STATES,
    ID_LIST_FIELDS,
    AppRecord,
    CredentialRecord,
    id_json,
    input_identity,
    intent_landed,
    record_time,
)
from .journal_schema import SCHEMA, SCHEMA_VERSION, upgrade
from .journal_withdraw import JournalWithdraw
from .journal_writer import GroupCommitWriter
from .lock import JournalLock
from .secrets import private_file

# records, states and the schema version live in their own modules; importable from here as before
__all__ = [
    "APP_HOWS",
    "APP_STATES",
    "CREDENTIAL_STATES",
    "SCHEMA_VERSION",
    "AppRecord",
    "CredentialRecord",
    "Journal",
    "input_identity",
    "intent_landed",
]


class Journal(JournalBindings, JournalWithdraw):
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
            self._conn.executescript(SCHEMA)
            for side_file in (f"{self.path}-wal", f"{self.path}-shm"):
                private_file(side_file, create=False)  # SQLite copies the main file's mode; older files may not
            version = self._meta("schema_version")
            if version is None:
                self._set_meta("schema_version", SCHEMA_VERSION)
            elif version != SCHEMA_VERSION:
                self._upgrade(version)
            self._check_fingerprint_secret()
            self._apps = {(r.user_id, r.app_name): r for r in self._load(AppRecord, "apps", APP_COLS)}
            self._creds = {r.fingerprint: r for r in self._load(CredentialRecord, "credentials", CRED_COLS)}
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
        self._writer: GroupCommitWriter | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            try:
                try:
                    self.stop_group_commit()
                finally:  # also after a failed write: a connection left open keeps a stale wal-index alive
                    self._conn.close()
            finally:  # the lock goes last, once nothing of ours writes the file any more
                self._closed = True
                self._lock.release()

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
        self._writer = GroupCommitWriter(self.path)
        self._writer.start()

    def stop_group_commit(self) -> None:
        """Commit what is queued and go back to writing in the caller's thread."""
        writer = self._writer
        if writer is None:
            return
        writer.stop()
        self._writer = None
        if writer.error is not None:
            raise JournalError(f"journal {self.path}: {writer.error}")

    @property
    def write_error(self) -> str | None:
        """Why the group-commit writer stopped committing (e.g. ``database or disk is full``), or None."""
        return None if self._writer is None else self._writer.error

    @property
    def _queue(self) -> Any:
        """The group-commit writer's queue (tests watch how much waits in it)."""
        assert self._writer is not None
        return self._writer.queue

    def durable(self) -> concurrent.futures.Future[None]:
        """A future done when every record made so far is committed (done at once without group commit)."""
        last = self._writer.last if self._writer is not None else None
        if last is None:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            done.set_result(None)
            return done
        return last

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r}, apps={len(self._apps)}, credentials={len(self._creds)})"

    # -- runs -------------------------------------------------------------------------------------
    def begin_run(self, *, dry_run: bool = False) -> int:
        cur = self._exec(
            "INSERT INTO runs (started_at, state, dry_run) VALUES (?, 'running', ?)", (record_time(), int(dry_run))
        )
        return int(cur.lastrowid or 0)

    def end_run(self, run_id: int, state: str) -> None:
        self._write("UPDATE runs SET finished_at = ?, state = ? WHERE run_id = ?", (record_time(), state, run_id))

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
        marker: str | None = None,
    ) -> AppRecord:
        """Before POST /apps: committed, so a crash leaves a question the next run answers by lookup.

        ``prior_app_ids``: the apps of this owner and name a listing made just before showed (usually none).
        Only an app outside that list can be the one this POST made; ``None`` (not looked) proves nothing.
        ``marker``: the token this POST writes into the app's Description (``ownership.app_description``).
        """
        key = (int(user_id), app_name)
        rec = self._apps.get(key)
        if rec is None:
            rec = AppRecord(int(user_id), app_name, None, "intent")
            self._apps[key] = rec
        rec.state, rec.run_id, rec.attempts, rec.intent_at = "intent", run_id, attempts, record_time()
        rec.app_id, rec.how, rec.error = None, None, None
        rec.prior_app_ids = None if prior_app_ids is None else tuple(sorted({int(i) for i in prior_app_ids}))
        rec.marker = marker
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
        rec.state, rec.outcome_at = state, record_time()
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
        prior_credential_ids: Iterable[int] | None = None,
    ) -> CredentialRecord:
        """Before POST .../custom_credentials. ``prior_credential_ids``: the credentials of ``app_id`` that held
        this key before (usually none): a lookup never takes one of them for this POST's; None proves nothing."""
        rec = self._creds.get(fingerprint)
        if rec is None:
            rec = CredentialRecord(fingerprint, source_row, user_id, app_name, int(app_id), None, "intent")
            self._creds[fingerprint] = rec
        rec.source_row, rec.user_id, rec.app_name, rec.app_id = source_row, user_id, app_name, int(app_id)
        rec.state, rec.run_id, rec.attempts, rec.batch, rec.intent_at = "intent", run_id, attempts, batch, record_time()
        rec.credential_id, rec.how, rec.error = None, None, None
        prior = prior_credential_ids
        rec.prior_credential_ids = None if prior is None else tuple(sorted({int(i) for i in prior}))
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
        rec.state, rec.outcome_at = state, record_time()
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
            return pd.DataFrame([{c: getattr(r, c) for c in APP_COLS} for r in self._apps.values()], columns=APP_COLS)
        if kind == "credentials":
            rows = [{c: getattr(r, c) for c in CRED_COLS} for r in self._creds.values()]
            return pd.DataFrame(rows, columns=CRED_COLS)
        if kind == "runs":
            return pd.DataFrame(self.runs())
        raise ValueError("kind must be 'apps', 'credentials' or 'runs'")

    # -- plumbing ---------------------------------------------------------------------------------
    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        """A record write: queued for the group-commit thread when it runs, else executed now."""
        if self._writer is not None:
            self._writer.put(sql, params)
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
        upgrade(self._conn, self.path, version, self._meta)

    def _load(self, cls: Any, table: str, cols: list[str]) -> list[Any]:
        cur = self._conn.execute(f"SELECT {', '.join(cols)} FROM {table}")
        return [cls(*row) for row in cur]

    def _save_app(self, rec: AppRecord) -> None:
        self._write(_SAVE_APP, _stored(rec, APP_COLS))

    def _save_cred(self, rec: CredentialRecord) -> None:
        self._write(_SAVE_CRED, _stored(rec, CRED_COLS))


# built once: four records a key, thousands of keys a run
_SAVE_APP = f"INSERT OR REPLACE INTO apps ({', '.join(APP_COLS)}) VALUES ({', '.join('?' * len(APP_COLS))})"
_SAVE_CRED = f"INSERT OR REPLACE INTO credentials ({', '.join(CRED_COLS)}) VALUES ({', '.join('?' * len(CRED_COLS))})"


def _stored(rec: object, columns: Sequence[str]) -> tuple[Any, ...]:
    """A record's fields as their columns hold them (ID lists as JSON)."""
    return tuple(id_json(getattr(rec, c)) if c in ID_LIST_FIELDS else getattr(rec, c) for c in columns)
