"""Which portal apps rollback deletes for the journal's app records, from one listing of ``/apps``.

* An open intent (the run died after its POST) is settled by an app of its owner and name the listing before
  it did not show; since schema 3 only one carrying its marker, and then by every app of the owner and name
  that carries it (a reopened intent keeps its marker: a listing lag beyond ``lookup_patience`` can leave two).
  An old record without a marker settles on the oldest such app whose Description does not disown it
  (``ownership.disowned``: every tool before schema 3 sent an empty one).
* A ``created`` record with a marker also owns every other app of its owner and name carrying that marker:
  the app of a lost POST that a lagging listing did not show in time, before a second POST made the one
  journalled.

An app listed without a Description is a candidate (an intent's only if made after it): ``one_app`` reads it by
ID and keeps it unless its Description says it is ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .journal import AppRecord
from .ownership import disowned
from .plan import oldest_app
from .run.rows import int_or_none


@dataclass
class FoundApps:
    """``primary``: the app each settled intent names (journalled as rolled back with it); ``extra``: further
    apps carrying a record's marker (deleted, the record's journal entry left to its primary app);
    ``never``: intents whose POST made nothing; ``unproven``: old intents an app of the name exists for."""

    primary: dict[int, AppRecord] = field(default_factory=dict)
    extra: dict[int, AppRecord] = field(default_factory=dict)
    never: list[AppRecord] = field(default_factory=list)
    unproven: list[AppRecord] = field(default_factory=list)


def find_apps(
    intents: Iterable[AppRecord],
    created: Iterable[AppRecord],
    index: Mapping[tuple[int, str], list[int]],
    descriptions: Mapping[int, object],
) -> FoundApps:
    """The apps a listing (``index`` by owner and name, ``descriptions`` by ID) shows for these records."""
    found = FoundApps()

    def candidates(ids: list[int], marker: str | None, fresh: Iterable[int]) -> list[int]:
        """``ids`` not disowned by their listed Description; one listed without it only if in ``fresh``."""
        unseen = set(fresh)
        return [i for i in ids if (not disowned(descriptions[i], marker) if i in descriptions else i in unseen)]

    for rec in intents:
        listed = index.get((rec.user_id, rec.app_name), [])
        fresh = rec.made_after_intent(listed)
        if rec.marker is not None:  # the marker proves it: every app carrying it, listed before the intent or not
            marked = candidates(listed, rec.marker, fresh)
        else:  # only an app that was not there when the intent was written can be ours, and only the oldest
            first = oldest_app(candidates(fresh, None, fresh))
            marked = [] if first is None else [first]
        first = oldest_app(marked)
        if first is None:
            # an intent from before the prior list was recorded proves nothing: no app is deleted for it
            (found.unproven if rec.prior_app_ids is None and listed else found.never).append(rec)
            continue
        found.primary[first] = rec
        found.extra.update((i, rec) for i in marked if i != first)
    for rec in created:
        if rec.marker is not None:
            listed = index.get((rec.user_id, rec.app_name), [])
            found.extra.update((i, rec) for i in candidates(listed, rec.marker, listed) if i != rec.app_id)
    return found


def not_ours(app: Mapping[str, Any], rec: AppRecord) -> tuple[str, str] | None:
    """Why an app, read by ID, is not (any more) the one ``rec`` journals: ``(reason, detail)``, or None."""
    owner, name = int_or_none(app.get("UserID")), app.get("Name")
    if (owner, name) != (rec.user_id, rec.app_name):  # the ID was reused: someone else's app now
        why = f"is now {name!r} of user {owner}, not ours ({rec.app_name!r} of user {rec.user_id})"
        return "id_reused", why + ": kept with everything in it"
    if not disowned(app.get("Description"), rec.marker):
        return None
    if rec.marker is not None:
        why = "does not carry the marker the migration wrote into its Description (re-created after a portal reset?)"
        return "not_marked", f"{name!r} of user {owner} {why}: kept"
    why = "has a Description, which the tool version that wrote this journal never sent"
    return "described", f"{name!r} of user {owner} {why}: kept"


#: an open credential intent whose key no record of its app held: what the rollback row says (a half-done create,
#: ``partial-create``, may have left the key in the gateway, which the portal API cannot remove)
NO_RECORD = (
    "no portal record held this key (its create's outcome was never known); if the portal half-made it, the "
    "gateway may still serve the key: `tyk-migrate verify` calls it, the Dashboard can delete it"
)
