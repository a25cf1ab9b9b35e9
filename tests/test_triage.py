"""Triage of rows that need no request: every branch, as a table of (row, journal record, plan) -> decision.

No portal and no journal file: ``triage`` and ``settle_app_intent`` are pure functions of their inputs.
"""

from __future__ import annotations

from typing import Any

import pytest

from tyk_migrate.journal import AppRecord, CredentialRecord
from tyk_migrate.run.rows import PlanRow
from tyk_migrate.run.triage import SEND, Adoption, Decision, settle_app_intent, triage
from tyk_migrate.secrets import SecretKey, fingerprint

KEY = SecretKey("triage-key-0001-abcdefabcdef")
FP = fingerprint(KEY)
OTHER_FP = fingerprint("another-key-0002-abcdefabcdef")


def row(**kw: Any) -> PlanRow:
    """A complete add_credential row (row 5 of its source) into a new app; ``kw`` changes fields."""
    fields: dict[str, Any] = {
        "pos": 4,
        "key": KEY,
        "fingerprint": FP,
        "user_id": 2,
        "app_name": "an app",
        "plan_id": 7,
        "product_ids": [1, 3],
        "action": "add_credential",
        "source_row": 5,
    }
    fields.update(kw)
    return PlanRow(**fields)


def cred(state: str, **kw: Any) -> CredentialRecord:
    fields: dict[str, Any] = {
        "fingerprint": FP,
        "source_row": 5,
        "user_id": 2,
        "app_name": "an app",
        "app_id": 40,
        "credential_id": 400,
        "state": state,
        "run_id": 3,
        "http_status": 201,
        "attempts": 2,
    }
    fields.update(kw)
    return CredentialRecord(**fields)


JOURNAL_VALUES = {"app_id": 40, "credential_id": 400, "http_status": 201, "attempts": 2}

CASES: list[tuple[str, PlanRow, CredentialRecord | None, int | None, bool, Decision]] = [
    # the plan blocks the row: nothing else is looked at, not even a duplicate key
    (
        "blocked, with the plan's reason",
        row(action="blocked", reason="owner not found"),
        None,
        None,
        False,
        Decision("blocked", {"error": "owner not found"}, claims_key=False),
    ),
    (
        "blocked, no reason given",
        row(action="blocked"),
        None,
        3,
        False,
        Decision("blocked", {"error": "blocked by the plan"}, claims_key=False),
    ),
    (
        "no key fingerprint",
        row(fingerprint=None),
        None,
        None,
        False,
        Decision("failed", {"error": "the row has no key fingerprint"}, claims_key=False),
    ),
    (
        "the key of an earlier row",
        row(),
        cred("created"),
        3,
        False,
        Decision("failed", {"error": "the same key appears twice in the plan (first at row 3)"}, claims_key=False),
    ),
    # the journal settles the row
    (
        "created, and the plan sees it (skip_existing)",
        row(action="skip_existing", credential_id=400),
        cred("created", error="created, but the read-back failed: x"),
        None,
        False,
        Decision("created", {**JOURNAL_VALUES, "error": "created, but the read-back failed: x"}),
    ),
    (
        "created, and this frame saw that credential created",
        row(seen_created=True, credential_id=400),
        cred("created"),
        None,
        False,
        Decision("created", {**JOURNAL_VALUES, "error": None}),
    ),
    ("created, but the plan asks for the write again (deleted since?)", row(), cred("created"), None, False, SEND),
    (
        "created, the frame names that credential but did not see it created",
        row(credential_id=400),
        cred("created"),
        None,
        False,
        SEND,
    ),
    (
        "created, and this frame saw another credential created",
        row(seen_created=True, credential_id=401),
        cred("created"),
        None,
        False,
        SEND,
    ),
    (
        "a mismatch, with its error",
        row(),
        cred("mismatch", error="credential 400 read back differs"),
        None,
        False,
        Decision("failed", {**JOURNAL_VALUES, "error": "credential 400 read back differs"}),
    ),
    (
        "a mismatch, no error recorded",
        row(),
        cred("mismatch"),
        None,
        False,
        Decision("failed", {**JOURNAL_VALUES, "error": "the credential read back differs from the request"}),
    ),
    (
        "an open intent the plan finds landed: adopted",
        row(action="skip_existing", app_id=40, credential_id=400),
        cred("intent", credential_id=None, http_status=None),
        None,
        False,
        Decision("created", {"credential_id": 400, "attempts": 2}, adopt=Adoption(400, 40, 3, 2)),
    ),
    (
        "an open intent the plan finds landed, in a dry run: nothing journalled",
        row(action="skip_existing", app_id=40, credential_id=400),
        cred("intent", credential_id=None),
        None,
        True,
        Decision("created", {"credential_id": 400, "attempts": 2}),
    ),
    (
        "an open intent, skip_existing without a credential ID",
        row(action="skip_existing"),
        cred("intent"),
        None,
        False,
        Decision("skipped", {"error": None, "http_status": None}),
    ),
    ("an open intent on a write: looked up before sending", row(), cred("intent"), None, False, SEND),
    ("a failed record: sent again", row(), cred("failed"), None, False, SEND),
    (
        "a rolled-back record the plan skips",
        row(action="skip_existing", credential_id=400),
        cred("rolled_back"),
        None,
        False,
        Decision("skipped", {"error": None, "http_status": None}),
    ),
    # the plan alone
    (
        "skip_existing",
        row(action="skip_existing", credential_id=9),
        None,
        None,
        False,
        Decision("skipped", {"error": None, "http_status": None}),
    ),
    (
        "an unknown action",
        row(action="frobnicate"),
        None,
        None,
        False,
        Decision("failed", {"error": "unknown plan action 'frobnicate'"}),
    ),
    (
        "no portal user",
        row(user_id=None),
        None,
        None,
        False,
        Decision("failed", {"error": "incomplete plan row: no portal user"}),
    ),
    ("no plan", row(plan_id=None), None, None, False, Decision("failed", {"error": "incomplete plan row: no plan"})),
    (
        "no products",
        row(product_ids=[]),
        None,
        None,
        False,
        Decision("failed", {"error": "incomplete plan row: no products"}),
    ),
    (
        "a new app without a name",
        row(app_name=None),
        None,
        None,
        False,
        Decision("failed", {"error": "incomplete plan row: no app name"}),
    ),
    ("an existing app needs no name", row(app_name=None, app_id=40), None, None, False, SEND),
    (
        "no key value",
        row(key=None),
        None,
        None,
        False,
        Decision("failed", {"error": "incomplete plan row: no key value"}),
    ),
    (
        "an empty key",
        row(key=""),
        None,
        None,
        False,
        Decision("failed", {"error": "incomplete plan row: no key value"}),
    ),
    (
        "a fingerprint of another key",
        row(fingerprint=OTHER_FP),
        None,
        None,
        False,
        Decision("failed", {"error": "incomplete plan row: key_fingerprint does not match key_id"}),
    ),
    (
        "everything missing, said at once",
        row(user_id=None, plan_id=None, product_ids=[], app_name=None, key=None),
        None,
        None,
        False,
        Decision(
            "failed", {"error": "incomplete plan row: no portal user, no plan, no products, no app name, no key value"}
        ),
    ),
    ("a complete row in a dry run", row(), None, None, True, Decision("dry_run", {"error": None})),
    ("a complete row: sent", row(), None, None, False, SEND),
    ("a complete create_app row: sent", row(action="create_app"), None, None, False, SEND),
]


@pytest.mark.parametrize(
    ("plan_row", "rec", "first_seen", "dry_run", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_triage_decides_each_row_from_its_inputs_alone(
    plan_row: PlanRow, rec: CredentialRecord | None, first_seen: int | None, dry_run: bool, expected: Decision
) -> None:
    assert triage(plan_row, rec, first_seen=first_seen, dry_run=dry_run) == expected


def test_triage_never_puts_a_key_into_a_decision() -> None:
    for _, plan_row, rec, first_seen, dry_run, _ in CASES:
        decision = triage(plan_row, rec, first_seen=first_seen, dry_run=dry_run)
        assert KEY.reveal() not in repr(decision)


def test_a_row_is_named_by_its_source_row_else_its_position() -> None:
    assert row(source_row=12).number == 12
    assert row(source_row=None, pos=0).number == 1


def app_intent(prior: tuple[int, ...] | None, state: str = "intent") -> AppRecord:
    return AppRecord(2, "an app", None, state, run_id=3, attempts=1, prior_app_ids=prior)


@pytest.mark.parametrize(
    ("plan_row", "rec", "expected"),
    [
        (row(app_id=40), app_intent((7,)), "created"),  # the portal did not list 40 before the POST: ours
        (row(app_id=40), app_intent((7, 40)), None),  # 40 was there before: never ours, the intent stays open
        (row(app_id=40), app_intent(()), "created"),
        (row(app_id=40), app_intent(None), "reused"),  # a version-1 intent proves nothing
        (row(app_id=40), app_intent((7,), state="created"), None),
        (row(app_id=40), None, None),
        (row(app_id=None), app_intent((7,)), None),  # the plan names no app
        (row(app_id=40, action="blocked"), app_intent((7,)), None),
    ],
    ids=["made after", "listed before", "none before", "version 1", "not an intent", "no record", "no app", "blocked"],
)
def test_an_open_app_intent_is_settled_only_by_an_app_it_can_have_made(
    plan_row: PlanRow, rec: AppRecord | None, expected: str | None
) -> None:
    assert settle_app_intent(plan_row, rec) == expected
