"""Which portal app a migration may call its own, and when it may delete one.

The rule (issue: never adopt, change or delete an app it cannot prove it made):

* An app is the migration's own ("created") only if the answer of its POST named it, or if a lookup after an
  unknown outcome finds an app of that owner and name the portal did not list when the intent was made
  (``AppRecord.made_after_intent``).
* Any other app of that owner and name (a developer's, another journal's, one a version-1 intent cannot tell
  apart) is "reused": the plan's keys go into it, because a second app of the same name is a duplicate, but
  compensation and rollback never delete it.
* Compensation deletes an app of its own only after listing its credentials: if any is not one the journal
  records for that app (a key someone added, or one whose key cannot be read), the app stays.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from .journal import AppRecord, CredentialRecord
from .plan import oldest_app
from .secrets import fingerprint

#: credential states of records that may stand for a credential the migration put into an app
OWN_CREDENTIAL_STATES = ("created", "mismatch", "intent")


@dataclass(frozen=True, slots=True)
class AppChoice:
    """``kind``: ``ours`` (journalled created and still listed), ``adopt`` (made by the open intent's POST),
    ``reuse`` (an app that is not provably ours: use it, never delete it) or ``post`` (none: create one)."""

    kind: Literal["ours", "adopt", "reuse", "post"]
    app_id: int | None = None


def choose_app(rec: AppRecord | None, listed: list[int]) -> AppChoice:
    """What to do for an owner and name, given its journal record and the apps of that owner and name a
    listing made during this run shows."""
    if rec is not None and rec.app_id is not None and rec.app_id in listed:
        if rec.state == "created":
            return AppChoice("ours", rec.app_id)
        if rec.state == "reused":
            return AppChoice("reuse", rec.app_id)
    if rec is not None and rec.state == "intent":
        made = oldest_app(rec.made_after_intent(listed))
        if made is not None:
            return AppChoice("adopt", made)
    if listed:
        return AppChoice("reuse", oldest_app(listed))
    return AppChoice("post")


def foreign_credentials(items: Iterable[Any], ours: Iterable[CredentialRecord]) -> int:
    """How many of an app's listed credentials are not the migration's own (unreadable keys count as foreign)."""
    mine = {r.fingerprint for r in ours if r.state in OWN_CREDENTIAL_STATES}
    count = 0
    for item in items:
        key = item.get("KeyID") if isinstance(item, dict) else None
        if not (isinstance(key, str) and key and fingerprint(key) in mine):
            count += 1
    return count


def journal_failure_message(path: object, detail: str) -> str:
    """The one line a run ends with when its journal cannot be written."""
    return (
        f"journal {path}: a write failed ({detail}); the run stopped. Nothing is lost: a request whose intent "
        "was not on disk was never sent, and a rerun looks up every write sent whose outcome was not recorded. "
        "Free space, or move the journal file together with its -wal and -shm files to a disk with room, and "
        "rerun the same command with --journal pointing at it"
    )
