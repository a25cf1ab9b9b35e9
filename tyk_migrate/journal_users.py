"""The journal's record of developer accounts a run created or activated (``--create-missing-users``).

A user's identity is its e-mail (trimmed, lower case: what the portal matches and what the planner
resolved); an e-mail is not a secret, so it is stored as is. States:

* ``intent``: ``POST /users`` is about to be sent (committed first): a later run looks the e-mail up;
* ``created``: this migration made the user (the answer named it, or a lookup after a lost answer found an
  e-mail the listing before the intent did not have); only these are ever deleted by ``rollback``;
* ``existing``: the e-mail was in the portal when the run looked (someone else's account): used, never
  deleted;
* ``activating`` / ``activated``: ``PUT /users/{id}`` with ``Active: true`` about to be sent / answered
  (an inactive owner the run switched on; ``rollback`` leaves it active, see docs/running.md);
* ``failed``: the create or activation was refused or gave up (``error``); ``deleted``: rolled back.

The table lives beside the journal's own ones and is created on first use (``CREATE TABLE IF NOT EXISTS``),
so it needs no schema version of its own; records go through the journal's writer (group commit included),
in order with the app and credential records.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from .journal_records import record_time

if TYPE_CHECKING:
    from .journal import Journal

USER_STATES = ("intent", "created", "existing", "activating", "activated", "failed", "deleted")
USER_COLS = [
    "email", "user_id", "state", "run_id", "how", "http_status", "error", "attempts", "listed_before",
    "intent_at", "outcome_at", "sent",
]  # fmt: skip

USERS_TABLE = """
CREATE TABLE IF NOT EXISTS users (
    email TEXT PRIMARY KEY,
    user_id INTEGER,
    state TEXT NOT NULL,
    run_id INTEGER,
    how TEXT,
    http_status INTEGER,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    listed_before INTEGER,
    intent_at TEXT,
    outcome_at TEXT,
    sent TEXT
)
"""
#: columns added since the table's first shape (an older journal's table gets them on open)
_ADDED_COLS = {"sent": "TEXT"}
#: the attribute a journal keeps its ledger under (one per open journal)
_ATTR = "_users_ledger"


def email_key(email: str) -> str:
    """The identity of an account: its e-mail trimmed and in lower case (as the planner and portal match)."""
    return str(email).strip().lower()


@dataclass(slots=True)
class UserRecord:
    email: str
    user_id: int | None
    state: str
    run_id: int | None = None
    how: str | None = None
    http_status: int | None = None
    error: str | None = None
    attempts: int = 0
    #: the listing made just before the intent showed the e-mail (1), did not (0), or nobody looked (None):
    #: only an e-mail absent before the POST can be the user the POST made
    listed_before: int | None = None
    intent_at: str | None = None
    outcome_at: str | None = None
    #: what the POST sent of the proving fields (``run.user_proof.sent_fields``): with ``intent_at``, the
    #: evidence that an account the portal shows is the one we made
    sent: str | None = None

    @property
    def ours(self) -> bool:
        """This migration created the account (rollback may delete it)."""
        return self.state == "created" or (self.state == "deleted" and self.how != "existing")


assert [f.name for f in fields(UserRecord)] == USER_COLS


class UserLedger:
    """The ``users`` records of one open journal: ``users_of(journal)`` gives it."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        journal._exec(USERS_TABLE)
        have = {row[1] for row in journal._conn.execute("PRAGMA table_info(users)")}
        for name, kind in _ADDED_COLS.items():
            if name not in have:
                journal._exec(f"ALTER TABLE users ADD COLUMN {name} {kind}")
        cur = journal._conn.execute(f"SELECT {', '.join(USER_COLS)} FROM users")
        self._recs = {r.email: r for r in (UserRecord(*row) for row in cur)}

    def get(self, email: str) -> UserRecord | None:
        return self._recs.get(email_key(email))

    def all(self) -> list[UserRecord]:
        return list(self._recs.values())

    def created(self) -> list[UserRecord]:
        """Accounts this migration made and has not deleted yet (what rollback removes)."""
        return [r for r in self._recs.values() if r.state == "created" and r.user_id is not None]

    def intent(
        self, email: str, *, run_id: int, attempts: int, listed_before: bool, sent: str | None = None
    ) -> UserRecord:
        """Before ``POST /users``: committed, so a crash leaves a question the next run answers by lookup.

        While the question stays open (a retry, a rerun) ``intent_at`` keeps the first send's time: an
        account that send made may be stamped before a later intent."""
        key = email_key(email)
        rec = self._recs.get(key) or UserRecord(key, None, "intent")
        self._recs[key] = rec
        if rec.state != "intent" or not rec.intent_at:
            rec.intent_at = record_time()
        rec.state, rec.run_id, rec.attempts, rec.sent = "intent", run_id, attempts, sent
        rec.user_id, rec.how, rec.error, rec.http_status = None, None, None, None
        rec.listed_before = int(listed_before)
        self._save(rec)
        return rec

    def before_intent(self, email: str) -> UserRecord | None:
        """A copy of the record as it is now, for ``withdraw``."""
        rec = self._recs.get(email_key(email))
        return None if rec is None else replace(rec)

    def withdraw(self, email: str, before: UserRecord | None) -> None:
        """The intent journalled after ``before`` was never sent (the run stopped first): put it back."""
        key = email_key(email)
        if before is None:
            self._recs.pop(key, None)
            self.journal._write("DELETE FROM users WHERE email = ?", (key,))
            return
        self._recs[key] = replace(before)
        self._save(self._recs[key])

    def outcome(
        self,
        email: str,
        state: str,
        *,
        user_id: int | None = None,
        run_id: int | None = None,
        how: str | None = None,
        http_status: int | None = None,
        error: str | None = None,
        attempts: int | None = None,
    ) -> UserRecord:
        if state not in USER_STATES:
            raise ValueError(f"unknown user state {state!r}")
        key = email_key(email)
        rec = self._recs.get(key) or UserRecord(key, None, state)
        self._recs[key] = rec
        rec.state, rec.outcome_at = state, record_time()
        if user_id is not None:
            rec.user_id = int(user_id)
        if run_id is not None:
            rec.run_id = run_id
        if how is not None:
            rec.how = how
        rec.http_status, rec.error = http_status, error
        if attempts is not None:
            rec.attempts = attempts
        self._save(rec)
        return rec

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{c: getattr(r, c) for c in USER_COLS} for r in self._recs.values()], columns=USER_COLS)

    def _save(self, rec: UserRecord) -> None:
        marks = ", ".join("?" * len(USER_COLS))
        values = tuple(getattr(rec, c) for c in USER_COLS)
        self.journal._write(f"INSERT OR REPLACE INTO users ({', '.join(USER_COLS)}) VALUES ({marks})", values)


def users_of(journal: Journal) -> UserLedger:
    """The journal's user ledger (made, and its table created, on first use)."""
    ledger = getattr(journal, _ATTR, None)
    if ledger is None:
        ledger = UserLedger(journal)
        setattr(journal, _ATTR, ledger)
    return ledger
