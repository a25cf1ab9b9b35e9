"""Deleting what a preflight made, and proving it: by ID (404) and by listing, for every ledger entry.

Used twice: first for the entries an earlier, interrupted preflight left (its canaries are deleted before this
one writes anything), then for this preflight's own, also after Ctrl-C or a failure halfway. An entry leaves
the ledger only once its object is proven gone (or, for an intent whose answer never came, once the listings
show it was never made); whatever cannot be deleted stays in the ledger and counts as a leftover.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..errors import NotFound, PortalError
from ..secrets import SecretKey, fingerprint
from .ledger import Entry
from .session import Session, poll
from .writes import NOT_AUTHORISED


@dataclass
class CleanupReport:
    removed: int = 0  # objects deleted and proven gone
    leftovers: list[str] = field(default_factory=list)  # what is still there, one line each
    unsafe: bool = False  # an app, credential or live canary key is left (a user alone is only clutter)
    kept: int = 0  # ledger entries kept for the next preflight


def _age(entry: Entry) -> float:
    try:
        return (datetime.now(UTC) - datetime.fromisoformat(entry.at)).total_seconds()
    except ValueError:
        return float("inf")


def _resolve(session: Session, entries: list[Entry]) -> None:
    """Give intents without an ID the ID the listings show (an app by owner and name, a user by email); an intent
    still unseen once a listing could have caught up was never made, and is forgotten."""
    open_apps = [e for e in entries if e.kind == "app" and e.id is None]
    open_users = [e for e in entries if e.kind == "user" and e.id is None]
    if not (open_apps or open_users):
        return
    wait = max(0.0, max(session.waits.listing - _age(e) for e in open_apps + open_users))

    def look() -> bool | None:
        if open_apps:
            by_name = {(a.get("Name"), a.get("UserID")): a for a in session.client.walk("/apps")}
            for e in open_apps:
                found = by_name.get((e.name, e.user_id))
                if found is not None and e.id is None:
                    session.ledger.created(e, int(found["ID"]))
        if open_users:
            by_email = {str(u.get("Email", "")).strip().casefold(): u for u in session.client.walk("/users")}
            for e in open_users:
                found = by_email.get(e.name.strip().casefold())
                if found is not None and e.id is None:
                    session.ledger.created(e, int(found["ID"]))
        return True if all(e.id is not None for e in open_apps + open_users) else None

    poll(look, wait, 0.1)
    for e in open_apps + open_users:
        if e.id is None:
            session.ledger.forget(e)
            entries.remove(e)


def _delete(session: Session, entry: Entry) -> str | None:
    """Delete one object; None when it is gone (also when it already was), else why not."""
    client = session.client
    try:
        if entry.kind == "credential" and entry.id is not None and entry.app_id is not None:
            client.delete_credential(entry.app_id, entry.id)
        elif entry.kind == "app" and entry.id is not None:
            client.delete_app(entry.id)
        elif entry.kind == "user" and entry.id is not None:
            client.delete_user(entry.id)
    except NotFound:
        return None
    except PortalError as exc:
        if entry.kind == "user" and exc.status in (403, 405, 501):
            return f"the portal does not allow deleting users ({exc.status}): delete it in the portal's admin UI"
        return str(exc)
    return None


def _gone(session: Session, entry: Entry, apps_gone: set[int]) -> bool:
    """Proven gone by ID: a 404 (a credential also when its app is gone: an app's deletion takes its credentials)."""
    client = session.client
    if entry.kind == "credential" and entry.app_id in apps_gone:
        return True
    if entry.id is None or (entry.kind == "credential" and entry.app_id is None):
        return False
    try:
        if entry.kind == "credential":
            client.get_credential(int(entry.app_id or 0), entry.id)
        elif entry.kind == "app":
            client.get_app(entry.id)
        else:
            client.get_user(entry.id)
    except NotFound:
        return True
    except PortalError:  # no proof either way: it stays in the ledger
        return False
    return False


def _listed(session: Session, entries: list[Entry]) -> set[int]:
    """IDs of ``entries`` (apps, users) the listings still show."""
    shown: set[int] = set()
    apps = {e.id for e in entries if e.kind == "app"}
    users = {e.id for e in entries if e.kind == "user"}
    emails = {e.name.strip().casefold() for e in entries if e.kind == "user"}
    if apps:
        shown |= {int(a["ID"]) for a in session.client.walk("/apps") if a.get("ID") in apps}
    if users:
        for u in session.client.walk("/users"):
            if u.get("ID") in users or str(u.get("Email", "")).strip().casefold() in emails:
                shown.add(int(u["ID"]))
    return shown


def clean(
    session: Session, entries: Iterable[Entry], keys: Iterable[SecretKey] = (), target: str | None = None
) -> CleanupReport:
    """Delete ``entries`` (credentials, then apps, then users), prove each gone, forget the proven ones."""
    todo = list(entries)
    _resolve(session, todo)
    order = {"credential": 0, "app": 1, "user": 2}
    todo.sort(key=lambda e: (order[e.kind], e.at))
    report = CleanupReport()
    why: dict[int, str] = {}
    for entry in todo:
        problem = _delete(session, entry)
        if problem is not None:
            why[id(entry)] = problem
    apps_gone = {int(e.id) for e in todo if e.kind == "app" and e.id is not None and _gone(session, e, set())}

    still_listed: set[int] = set()

    def settled() -> bool | None:  # deletions may leave a listing late too (listing lag): bounded wait
        nonlocal still_listed
        still_listed = _listed(session, [e for e in todo if e.kind in ("app", "user")])
        return None if still_listed else True

    poll(settled, session.waits.listing, 0.1)
    for entry in todo:
        gone = _gone(session, entry, apps_gone) and (entry.kind == "credential" or entry.id not in still_listed)
        if gone:
            session.ledger.forget(entry)
            report.removed += entry.id is not None
            continue
        report.leftovers.append(entry.describe() + (f": {why[id(entry)]}" if id(entry) in why else ": still there"))
        report.unsafe |= entry.kind != "user"
        report.kept += 1
    _prove_keys_closed(session, list(keys), target, report)
    return report


def _prove_keys_closed(session: Session, keys: list[SecretKey], target: str | None, report: CleanupReport) -> None:
    """Canary keys of this run must not open the gateway any more (revocation can lag: bounded wait)."""
    if session.gateway is None or target is None or not keys:
        return
    deadline = time.monotonic() + session.waits.gateway
    for key in keys:

        def closed(key: SecretKey = key) -> bool | None:
            status = session.gateway_status(target, key)
            return True if status in NOT_AUTHORISED else None

        done, _ = poll(closed, max(0.0, deadline - time.monotonic()), 0.1)
        if not done:
            report.leftovers.append(
                f"canary key {fingerprint(key)} (fingerprint) still opens the gateway at {target}: revoke it in the "
                "Dashboard (it has no portal record left to delete)"
            )
            report.unsafe = True
