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
* Every app intent carries a fresh random **marker**, which its POST writes into the app's ``Description``
  (``app_description``). Since schema 3 an app is adopted after a lost answer, and compensated or rolled back,
  only while it carries its intent's marker: a developer's app of the same owner and name made in the moment
  between the listing and the POST, or an app re-created after a portal reset, has none. A record without a
  marker (schema 1 or 2, whose tools always sent an empty Description) disowns an app with a non-empty one.
* A reopened intent keeps its marker, so a lost POST whose app the listing did not show in time (lag beyond
  ``lookup_patience``) leaves two apps with the same marker: both are the migration's. The runner journals
  the one it settled on, and later lookups of that owner and name never create another; rollback deletes every
  app of the owner and name that carries the journalled marker.
"""

from __future__ import annotations

import secrets as _random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .journal import AppRecord, CredentialRecord
from .plan import oldest_app
from .secrets import fingerprint
from .vocabulary import CREATED

#: credential states of records that may stand for a credential the migration put into an app
OWN_CREDENTIAL_STATES = (CREATED, "mismatch", "intent")
#: what an app the migration creates says in its Description; ``{marker}``: the app intent's random token
APP_DESCRIPTION = "Imported by tyk-migrate (ref {marker})"


def new_marker() -> str:
    """A fresh random token for one app intent (never derived from anything secret or guessable)."""
    return _random.token_hex(8)


def app_description(marker: str) -> str:
    """The Description an app intent's POST sends: it names the tool and carries the intent's marker."""
    return APP_DESCRIPTION.format(marker=marker)


def carries_marker(description: object, marker: str) -> bool:
    """Whether an app's Description carries this intent's marker (the app is the one that POST made)."""
    return isinstance(description, str) and f"(ref {marker})" in description


def disowned(description: object, marker: str | None) -> bool:
    """Whether an app's Description proves it is not the app an intent with this marker made (or, for a record
    without a marker, of schema 1 or 2, the app it journals): since schema 3 it lacks the marker; before, every
    tool version sent an empty Description, so a non-empty one is someone else's (or edited since: not ours to
    delete). ``description`` None: a marker-less record cannot tell."""
    if marker is not None:
        return not carries_marker(description, marker)
    return isinstance(description, str) and description.strip() != ""


def app_descriptions(apps: Iterable[Any]) -> dict[int, object]:
    """Description by app ID, from a listing of apps; an app whose item has no Description field at all (a
    portal that lists less) is left out: ask ``GET /apps/{id}`` for it."""
    out: dict[int, object] = {}
    for app in apps:
        if isinstance(app, Mapping) and "Description" in app:
            try:
                out[int(app["ID"])] = app["Description"]
            except (KeyError, TypeError, ValueError):
                continue
    return out


@dataclass(frozen=True, slots=True)
class AppChoice:
    """``kind``: ``ours`` (journalled created and still listed), ``adopt`` (made by the open intent's POST),
    ``reuse`` (an app that is not provably ours: use it, never delete it) or ``post`` (none: create one)."""

    kind: Literal["ours", "adopt", "reuse", "post"]
    app_id: int | None = None


def choose_app(rec: AppRecord | None, listed: list[int], made: list[int] | None = None) -> AppChoice:
    """What to do for an owner and name, given its journal record and the apps of that owner and name a
    listing made during this run shows. ``made``: those of them an open intent's POST can have made (not
    listed before it and, since schema 3, carrying its marker; ``Apps.made_by``); None: the unmarked rule."""
    if rec is not None and rec.app_id is not None and rec.app_id in listed:
        if rec.state == CREATED:
            return AppChoice("ours", rec.app_id)
        if rec.state == "reused":
            return AppChoice("reuse", rec.app_id)
    if rec is not None and rec.state == "intent":
        adopted = oldest_app(rec.made_after_intent(listed) if made is None else made)
        if adopted is not None:
            return AppChoice("adopt", adopted)
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


def holders_made_after(items: Iterable[Any], rec: CredentialRecord) -> list[int]:
    """IDs of the listed credentials holding ``rec``'s key that its intent's POST can have made: those outside
    its prior list (a record of schema 2, without one, keeps the old rule: every holder)."""
    ids = [
        int(item["ID"])
        for item in items
        if isinstance(item, dict)
        and isinstance(item.get("KeyID"), str)
        and fingerprint(item["KeyID"]) == rec.fingerprint
        and str(item.get("ID", "")).strip().isdigit()
    ]
    return rec.made_after_intent(ids)


def journal_failure_message(path: object, detail: str) -> str:
    """The one line a run ends with when its journal cannot be written."""
    return (
        f"journal {path}: a write failed ({detail}); the run stopped. Nothing is lost: a request whose intent "
        "was not on disk was never sent, and a rerun looks up every write sent whose outcome was not recorded. "
        "Free space, or move the journal file together with its -wal and -shm files to a disk with room, and "
        "rerun the same command with --journal pointing at it"
    )
