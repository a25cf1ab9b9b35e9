"""Which rows need no request, decided from the row, its journal record and the plan alone (pure functions).

A row is settled without a request when the plan blocks it, when it cannot be sent (no fingerprint, a key
seen earlier in the plan, an incomplete row, an unknown action), when the plan skips it, when the journal
already knows its credential, or in a dry run. Everything else is sent (``Decision.status is None``).

"created" in the journal settles a row only when the fresh plan agrees the key is there (any action but a
write), or when this frame saw that very credential created; otherwise the plan still asks for the write
because the credential was deleted since (or never landed), and the credential workflow looks it up first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..journal import AppRecord, CredentialRecord, intent_landed
from ..secrets import KeyValue, fingerprint, is_key
from ..vocabulary import BLOCKED, CREATED, DRY_RUN, FAILED, SKIP_EXISTING, SKIPPED, WRITE_ACTIONS
from .rows import PlanRow


@dataclass(frozen=True, slots=True)
class Adoption:
    """An open intent whose key the fresh plan finds in the portal: journal it created (adopted) by its run."""

    credential_id: int
    app_id: int | None
    run_id: int | None
    attempts: int


@dataclass(frozen=True, slots=True)
class Decision:
    """``status``: the row's final status, or None when it needs a request. ``values``: the outcome columns to
    write with it (others keep what the run prepared). ``adopt``: a journal record to write first.
    ``claims_key``: the row now owns its key fingerprint (a later row with it is a duplicate)."""

    status: str | None
    values: Mapping[str, Any] = field(default_factory=dict)
    adopt: Adoption | None = None
    claims_key: bool = True


SEND = Decision(None)
_DRY_RUN = Decision(DRY_RUN, {"error": None})


def triage(
    row: PlanRow,
    rec: CredentialRecord | None,
    *,
    first_seen: int | None,
    dry_run: bool,
    fingerprint: Callable[[KeyValue], str] = fingerprint,
) -> Decision:
    """What to do with a row before any request. ``rec``: the journal's record of its key; ``first_seen``:
    the number of an earlier row of the plan with the same key, if any. ``fingerprint``: the key's
    fingerprint function (``secrets.fingerprinter`` for many rows: the secret looked up once)."""
    return (
        _unsendable(row, first_seen)
        or _known(row, rec, dry_run)
        or _not_a_write(row)
        or _incomplete(row, fingerprint)
        or (_DRY_RUN if dry_run else SEND)
    )


def _unsendable(row: PlanRow, first_seen: int | None) -> Decision | None:
    """Blocked by the plan, no fingerprint, or a key an earlier row already has: the key stays unclaimed."""
    if row.action == BLOCKED:
        return Decision(BLOCKED, {"error": row.reason or "blocked by the plan"}, claims_key=False)
    if row.fingerprint is None:
        return Decision(FAILED, {"error": "the row has no key fingerprint"}, claims_key=False)
    if first_seen is not None:
        error = f"the same key appears twice in the plan (first at row {first_seen})"
        return Decision(FAILED, {"error": error}, claims_key=False)
    return None


def _known(row: PlanRow, rec: CredentialRecord | None, dry_run: bool) -> Decision | None:
    """The journal already settles the row: created (and confirmed), a mismatch, or an intent that landed."""
    if rec is None:
        return None
    confirmed = row.action not in WRITE_ACTIONS or (row.seen_created and row.credential_id == rec.credential_id)
    recorded = {
        "app_id": rec.app_id,
        "credential_id": rec.credential_id,
        "http_status": rec.http_status,
        "attempts": rec.attempts,
    }
    if rec.state == CREATED and confirmed:
        return Decision(CREATED, {**recorded, "error": rec.error})
    if rec.state == "mismatch":
        return Decision(FAILED, {**recorded, "error": rec.error or "the credential read back differs from the request"})
    if row.credential_id is not None and intent_landed(rec, row.action, row.credential_id):
        # our write whose answer was lost (the planner now sees the key, in a credential that did not hold it
        # when the intent was made): it is ours, adopt it
        adopt = None if dry_run else Adoption(row.credential_id, row.app_id, rec.run_id, rec.attempts)
        return Decision(CREATED, {"credential_id": row.credential_id, "attempts": rec.attempts}, adopt=adopt)
    return None


def _not_a_write(row: PlanRow) -> Decision | None:
    if row.action == SKIP_EXISTING:
        return Decision(SKIPPED, {"error": None, "http_status": None})
    if row.action not in WRITE_ACTIONS:
        return Decision(FAILED, {"error": f"unknown plan action {row.action!r}"})
    return None


def _incomplete(row: PlanRow, fingerprint: Callable[[KeyValue], str]) -> Decision | None:
    problems = []
    if row.user_id is None:
        problems.append("no portal user")
    if row.plan_id is None:
        problems.append("no plan")
    if not row.product_ids:
        problems.append("no products")
    if row.app_id is None and not row.app_name:
        problems.append("no app name")
    key = row.key
    if not is_key(key) or not key:
        problems.append("no key value")
    elif fingerprint(key) != row.fingerprint:
        problems.append("key_fingerprint does not match key_id")
    if problems:
        return Decision(FAILED, {"error": "incomplete plan row: " + ", ".join(problems)})
    return None


def settle_app_intent(row: PlanRow, rec: AppRecord | None) -> str | None:
    """An app intent left open (killed after its POST, before the outcome) whose app the plan now names.

    ``created``: the portal did not list that app when the intent was made, so the POST made it (journal it
    created by that run: rollback then removes it). ``reused``: a version-1 intent, which cannot tell its
    POST's app from someone else's. None: nothing to settle, or the plan names an app that was there before
    the intent (the intent stays open for rollback; an app listed before is never taken for ours).
    """
    if row.app_id is None or row.action == BLOCKED or rec is None or rec.state != "intent":
        return None
    if rec.made_after_intent([row.app_id]):
        return CREATED
    if rec.prior_app_ids is None:
        return "reused"
    return None
