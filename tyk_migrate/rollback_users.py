"""Undo the developer accounts a migration created (``--create-missing-users``), after their apps.

Only accounts the journal shows the migration *created* go (state ``created``; an ``intent`` whose e-mail the
portal lists now and did not list before the POST is ours too, when ``run.user_proof`` proves the account the
one that POST sent: same fields, created after the intent; an account a run *adopted* after a lost answer is
proven again the same way, so one a colleague made after a failed POST stays). Each is read first, by
e-mail, from a fresh ``GET /users``: it goes only while that e-mail still has the journalled ID, and only
when it owns no app any more: ``DELETE /users/{id}`` removes a user's apps and credentials with it, so an
account holding anything the app rollback kept (someone's own credential, an app a person added since)
stays, with the reason.

Accounts the run merely used (``existing``) are never touched. Activation is not reversed: switching a
developer off again could lock out someone who has started using the portal since, and an inactive owner was
a blocker the analyst chose to lift; the summary counts the activated accounts left active.

``rollback_users(journal, settings)`` runs after ``rollback.rollback`` (the CLI does both) and returns one
row per account (``USER_ROLLBACK_COLUMNS``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from .aio import run_sync
from .config import Settings
from .errors import NotFound, PortalError
from .journal import Journal
from .journal_users import UserLedger, UserRecord, email_key, users_of
from .portal import AsyncPortalClient
from .rollback import apps_to_undo
from .run.protocol import error_text
from .run.user_calls import delete_user, show_user
from .run.user_proof import proven_ours
from .run.users import users_by_email

USER_ROLLBACK_COLUMNS = ("kind", "user_id", "email", "result", "reason", "detail")
#: Why an account was kept, in words a person reads in the rollback summary.
USER_KEPT_REASONS = {
    "id_reused": "the e-mail now belongs to another account than the one the migration made",
    "owns_apps": "the account owns apps the rollback did not delete (someone's own, or kept)",
    "unproven": "an account with that e-mail exists, but the journal cannot prove the migration made it",
}


def users_to_undo(journal: Journal) -> list[UserRecord]:
    """Accounts the migration created, or may have (an open intent: looked up by e-mail)."""
    return [r for r in users_of(journal).all() if r.state in ("created", "intent")]


def users_activated(journal: Journal) -> list[UserRecord]:
    """Accounts a run activated (left active by a rollback)."""
    return [r for r in users_of(journal).all() if r.state == "activated"]


def rollback_users(
    journal: Journal | str | Path, client: AsyncPortalClient | Settings | None, *, dry_run: bool = False
) -> pd.DataFrame:
    """Delete the accounts the migration created and that own nothing now (sync; works in Jupyter too)."""
    return run_sync(lambda: rollback_users_async(journal, client, dry_run=dry_run))


async def rollback_users_async(
    journal: Journal | str | Path, client: AsyncPortalClient | Settings | None, *, dry_run: bool = False
) -> pd.DataFrame:
    own_journal = not isinstance(journal, Journal)
    jr = journal if isinstance(journal, Journal) else Journal(journal)
    own_client = not isinstance(client, AsyncPortalClient)
    try:
        todo = users_to_undo(jr)
        if not todo:
            return pd.DataFrame(columns=list(USER_ROLLBACK_COLUMNS))
        api = client if isinstance(client, AsyncPortalClient) else AsyncPortalClient(
            settings=client if isinstance(client, Settings) else Settings.from_env()
        )  # fmt: skip
        try:
            going = {r.app_id for r in apps_to_undo(jr) if r.app_id is not None}
            rows = [row async for row in _undo(users_of(jr), api, todo, dry_run, going)]
        finally:
            if own_client:
                await api.aclose()
    finally:
        if own_journal:
            jr.close()
    return pd.DataFrame(rows, columns=list(USER_ROLLBACK_COLUMNS))


async def _undo(
    ledger: UserLedger, api: AsyncPortalClient, todo: list[UserRecord], dry_run: bool, going: set[int]
) -> AsyncIterator[dict[str, Any]]:
    """``going``: app IDs a dry run counts as deleted by the app rollback (a real one has deleted them)."""
    try:
        listed = users_by_email(await api.list_users())
        owners = {a.get("UserID") for a in await api.list_apps() if not (dry_run and a.get("ID") in going)}
    except PortalError as exc:
        for rec in todo:
            yield _row(rec, "failed", None, f"the portal's users or apps could not be listed: {error_text(exc)}")
        return
    for rec in todo:
        user_id = listed.get(email_key(rec.email))
        if user_id is None:
            if not dry_run and rec.state == "created":
                ledger.outcome(rec.email, "deleted", user_id=rec.user_id, how=rec.how)
            yield _row(rec, "gone", None, "not in the portal any more")
            continue
        if rec.state == "intent" and rec.listed_before != 0:
            yield _row(rec, "kept", "unproven", f"user {user_id} has the e-mail; the intent proves nothing")
            continue
        if rec.state == "created" and rec.user_id != user_id:
            yield _row(rec, "kept", "id_reused", f"the e-mail is user {user_id}, the migration made {rec.user_id}")
            continue
        if (rec.state == "intent" or rec.how == "adopted") and not await _proven(api, rec, user_id):
            yield _row(rec, "kept", "unproven", f"user {user_id} is not provably the account the POST sent")
            continue
        if user_id in owners:
            yield _row(rec, "kept", "owns_apps", f"user {user_id} still owns apps", user_id)
            continue
        if dry_run:
            yield _row(rec, "would delete", None, "", user_id)
            continue
        try:
            with contextlib.suppress(NotFound):  # gone meanwhile: the same end
                await delete_user(api, user_id)
        except PortalError as exc:
            yield _row(rec, "failed", None, error_text(exc), user_id)
            continue
        ledger.outcome(rec.email, "deleted", user_id=user_id, how=rec.how or "adopted")
        yield _row(rec, "deleted", None, "", user_id)


async def _proven(api: AsyncPortalClient, rec: UserRecord, user_id: int) -> bool:
    """An intent's (or an adoption's) account is ours only with the run's proof (``run.user_proof``)."""
    try:
        shown = await show_user(api, user_id)
    except PortalError:
        return False  # unreadable: not proven, so kept (a rerun of rollback tries again)
    return proven_ours(shown, rec.sent, rec.intent_at)


def _row(rec: UserRecord, result: str, reason: str | None, detail: str, user_id: int | None = None) -> dict[str, Any]:
    return {
        "kind": "user",
        "user_id": user_id if user_id is not None else rec.user_id,
        "email": rec.email,
        "result": result,
        "reason": reason,
        "detail": detail,
    }


def user_rollback_lines(report: pd.DataFrame, activated: int, *, dry_run: bool) -> Iterator[str]:
    """The accounts' part of the rollback summary."""
    counts = report["result"].value_counts().to_dict() if len(report) else {}
    done = "would delete" if dry_run else "deleted"
    parts = [f"users {done}: {int(counts.get(done, 0))}"]
    parts += [f"{what}: {int(counts[what])}" for what in ("kept", "gone", "failed") if counts.get(what)]
    yield "  " + ", ".join(parts)
    for _, row in report[report["result"] == "kept"].iterrows():
        yield f"  kept user {row['user_id']} {row['email']!r}: {USER_KEPT_REASONS.get(str(row['reason']), '')}"
    for _, row in report[report["result"] == "failed"].head(5).iterrows():
        yield f"  user {row['email']!r} not deleted: {row['detail']}"
    if activated:
        yield f"  users activated by the migration and left active: {activated}"
