"""What a journal is bound to: one input, one portal, one fingerprint secret (its ``meta`` table).

A mixin of ``Journal``, kept apart so the ledger module stays small; the methods are ``Journal``'s own.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import JournalError
from .secrets import fingerprint_key_id


class JournalBindings:
    path: Path
    _conn: sqlite3.Connection

    if TYPE_CHECKING:

        def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor: ...

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
        from .portal_lock import portal_identity  # here: portal_lock imports the lock module, which needs us

        # kept normalised: one portal however it is spelled, and never a password given in the URL
        current, portal = self.portal_url, portal_identity(portal_url)
        if current is not None and portal_identity(current) != portal and not force:
            raise JournalError(
                f"journal {self.path} records a migration into {portal_identity(current)}, not {portal}: use a new "
                "journal file for another portal"
            )
        if current != portal:
            self._set_meta("portal_url", portal)

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

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
