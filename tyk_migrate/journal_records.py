"""The journal's records: what it knows of each app and credential, and the states they move through.

Kept apart from ``Journal`` (the SQLite ledger) so readers of records (ownership, rollback, verify) need not
import the writer; every name here stays importable from ``tyk_migrate.journal``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import TypeGuard

from .vocabulary import CREATED, FAILED, ROLLED_BACK, SKIP_EXISTING

# App states: intent (POST sent, outcome unknown), created (exists, made by ``run_id``), reused (existed
# before the migration: never deleted by it), failed (no app), deleted (removed again by compensation),
# rolled_back (removed by rollback).
# Credential states: intent, created, failed, mismatch (exists but differs from what was asked),
# rolled_back.
# created, failed and rolled_back mean what the run statuses of those names mean (a resumed row's status is
# read from its credential's record: run.triage), so they are the vocabulary's; the others are the journal's own.
APP_STATES = ("intent", CREATED, "reused", FAILED, "deleted", ROLLED_BACK)
# How an app record came to name its app: posted (the POST's answer), adopted (a lookup after an unknown
# outcome found an app the portal did not list before the intent), reused (an app that existed before).
APP_HOWS = ("posted", "adopted", "reused")
CREDENTIAL_STATES = ("intent", CREATED, FAILED, "mismatch", ROLLED_BACK)


def input_identity(fingerprints: Iterable[object]) -> str:
    """Identity of an input: sha256 over its sorted, distinct key fingerprints (order-independent)."""
    distinct = sorted({str(f) for f in fingerprints if isinstance(f, str) and f})
    digest = hashlib.sha256("\n".join(distinct).encode()).hexdigest()
    return f"{len(distinct)}:{digest[:32]}"


@dataclass(slots=True)
class AppRecord:
    user_id: int
    app_name: str
    app_id: int | None
    state: str
    run_id: int | None = None
    how: str | None = None  # one of APP_HOWS
    http_status: int | None = None
    error: str | None = None
    attempts: int = 0
    intent_at: str | None = None
    outcome_at: str | None = None
    # IDs of the apps of this owner and name the portal listed when the last intent was made; None: unknown
    # (a version-1 record, or a caller that did not look), so no app found later can be proven ours
    prior_app_ids: tuple[int, ...] | None = None
    # the random token the last intent's POST wrote into the app's Description (``ownership.app_description``):
    # an app without it is not the one that POST made. None: a record of schema 1 or 2, which sent none
    marker: str | None = None

    def __post_init__(self) -> None:
        self.prior_app_ids = id_tuple(self.prior_app_ids)

    def made_after_intent(self, listed: Iterable[int]) -> list[int]:
        """Apps in ``listed`` (this owner and name, listed now) the portal did not list when the intent was made:
        the only ones the intent's POST can have made. Empty when the record holds no such list to compare with.

        A set, not a highest-ID watermark: the portal API does not promise increasing IDs (databases reuse the
        ID of a deleted last row, or hand out sequence blocks per node), and an ID comparison would then take a
        stranger's app for ours, or ours for a stranger's (a duplicate). Membership needs no order.
        """
        if self.prior_app_ids is None:
            return []
        before = set(self.prior_app_ids)
        return [i for i in listed if i not in before]


@dataclass(slots=True)
class CredentialRecord:
    fingerprint: str
    source_row: int | None
    user_id: int | None
    app_name: str | None
    app_id: int | None
    credential_id: int | None
    state: str
    run_id: int | None = None
    how: str | None = None
    http_status: int | None = None
    error: str | None = None
    attempts: int = 0
    batch: int | None = None
    intent_at: str | None = None
    outcome_at: str | None = None
    # IDs of the credentials in ``app_id`` that already held this key when the last intent was made: none of
    # them can be the one its POST made (another journal or process may have put the same key there). None:
    # a record of schema 1 or 2, which did not look; such a record keeps the old rule (any holder is ours)
    prior_credential_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        self.prior_credential_ids = id_tuple(self.prior_credential_ids)

    def made_after_intent(self, holders: Iterable[int]) -> list[int]:
        """Of the credentials holding this key in the intent's app (``holders``), the ones its POST may have made:
        all of them for a record without a prior list (schema 2: today's rule), else those not listed before."""
        before = set(self.prior_credential_ids or ())
        return [i for i in holders if i not in before]


def id_tuple(value: object) -> tuple[int, ...] | None:
    """A list of IDs as records hold it (a tuple), from the journal's JSON text or any iterable; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = json.loads(value)
    assert isinstance(value, Iterable)
    return tuple(int(i) for i in value)


_clock: tuple[int, str] = (-1, "")  # the last millisecond formatted: a run journals about one record a ms


def record_time() -> str:
    """Now, to the millisecond, as every journal record stores a time (``2026-12-02T04:25:17.868+00:00``)."""
    global _clock
    ms = time.time_ns() // 1_000_000
    last = _clock  # read once: another thread may replace it
    if last[0] == ms:
        return last[1]
    seconds, rest = divmod(ms, 1000)
    text = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest * 1000).isoformat(timespec="milliseconds")
    _clock = (ms, text)
    return text


def id_json(value: tuple[int, ...] | None) -> str | None:
    """How the journal stores a list of IDs (JSON), or NULL for "not known"."""
    if value is None:
        return None
    return json.dumps(list(value)) if value else "[]"  # most records: nothing before them


#: record fields the journal stores as JSON lists of IDs
ID_LIST_FIELDS = ("prior_app_ids", "prior_credential_ids")


def intent_landed(
    rec: CredentialRecord | None, action: str, credential_id: int | None = None
) -> TypeGuard[CredentialRecord]:
    """An open intent on a key the fresh plan already finds in the portal (``skip_existing``): the write whose
    answer was lost did land, so the credential is ours, created (adopted). Runner and verify read it alike.

    ``credential_id``: the credential the plan found; one that already held the key when the intent was made
    (``prior_credential_ids``) is someone else's, so the intent did not land there. Without it (or for a
    schema-2 record, which has no prior list) the old rule holds."""
    if rec is None or rec.state != "intent" or action != SKIP_EXISTING:
        return False
    return credential_id is None or bool(rec.made_after_intent([int(credential_id)]))


APP_COLS = [f.name for f in fields(AppRecord)]
CRED_COLS = [f.name for f in fields(CredentialRecord)]
