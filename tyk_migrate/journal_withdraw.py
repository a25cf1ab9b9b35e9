"""Taking back an intent that was journalled but never sent (a mixin of ``Journal``).

The runner journals a write's intent while the write still waits for its place under the concurrency
limit, so the commit overlaps the wait instead of holding the place (``run/protocol.py``). When the run
stops before that place comes, nothing was sent: the record goes back to what it was before the intent
(or goes, if there was none), so a rerun or a rollback has no open question to look up. A run killed in
that wait leaves the intent open; the next run looks it up, which is slower but never wrong.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from .journal_records import AppRecord, CredentialRecord


def _restore(live: Any, before: Any) -> None:
    for field in dataclasses.fields(before):
        setattr(live, field.name, getattr(before, field.name))


class JournalWithdraw:
    _apps: dict[tuple[int, str], AppRecord]
    _creds: dict[str, CredentialRecord]

    if TYPE_CHECKING:

        def _write(self, sql: str, params: tuple[Any, ...]) -> None: ...
        def _save_app(self, rec: AppRecord) -> None: ...
        def _save_cred(self, rec: CredentialRecord) -> None: ...

    def app_before_intent(self, user_id: int, app_name: str) -> AppRecord | None:
        """A copy of the app's record as it is now, for ``withdraw_app_intent``."""
        rec = self._apps.get((int(user_id), app_name))
        return None if rec is None else dataclasses.replace(rec)

    def withdraw_app_intent(self, user_id: int, app_name: str, before: AppRecord | None) -> None:
        """The intent journalled after ``before`` was never sent: put the record back as it was."""
        key = (int(user_id), app_name)
        live = self._apps.get(key)
        if before is None:
            if live is not None:
                live.state = "withdrawn"  # anyone still holding the object must not read it as an open intent
                del self._apps[key]
            self._write("DELETE FROM apps WHERE user_id = ? AND app_name = ?", key)
            return
        if live is None:
            self._apps[key] = live = dataclasses.replace(before)
        _restore(live, before)
        self._save_app(live)

    def credential_before_intent(self, fingerprint: str) -> CredentialRecord | None:
        rec = self._creds.get(fingerprint)
        return None if rec is None else dataclasses.replace(rec)

    def withdraw_credential_intent(self, fingerprint: str, before: CredentialRecord | None) -> None:
        """The credential intent journalled after ``before`` was never sent: put the record back as it was."""
        live = self._creds.get(fingerprint)
        if before is None:
            if live is not None:
                live.state = "withdrawn"
                del self._creds[fingerprint]
            self._write("DELETE FROM credentials WHERE fingerprint = ?", (fingerprint,))
            return
        if live is None:
            self._creds[fingerprint] = live = dataclasses.replace(before)
        _restore(live, before)
        self._save_cred(live)
