"""Developer accounts a run creates or activates before their rows' apps (opt-in: ``--create-missing-users``,
``--activate-users``; the plan says which rows need one in ``user_action``, see ``plan.accounts``).

Every account step is settled before any app or credential is sent (accounts are few beside keys; a row
whose owner could not be made fails with the reason). Creation is exactly-once like apps (``protocol``):

* before a POST the portal's users are listed (``GET /users`` cannot filter by e-mail: TYK-FACTS.md); an
  e-mail that is there is *used* (journalled ``existing``) and never counted as created, so rollback never
  deletes it; one that the journal shows this migration created is ours;
* the intent records whether that listing showed the e-mail, and what was sent; after a lost answer (or a
  "taken" refusal after one) the e-mail, absent before, is adopted as created only when ``GET /users/{id}``
  proves it ours (``user_proof``), else used as ``existing``, as after a "taken" refusal of a first send;
* activation is ``PUT /users/{id}`` with ``{"Active": true}``: idempotent, retried like a read."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import MigrateError, NotFound, PortalError, Rejected
from ..journal_users import UserLedger, email_key, users_of
from ..vocabulary import BLOCKED, CREATED, DRY_RUN, FAILED
from .context import RunContext
from .gate import Stopped
from .protocol import AnswerWithoutId, Outcome, Unresolved, error_text
from .rows import RowTable, int_or_none, utcnow
from .user_calls import create_user, show_user, update_user
from .user_proof import proven_ours, sent_fields

if TYPE_CHECKING:
    from .migration import Migration
    from .schedule import Schedule

#: the plan columns that describe a row's account step (``plan.accounts.USER_COLUMNS``: one home there)
CREATE, ACTIVATE = "create_user", "activate_user"


def users_by_email(users: list[dict[str, Any]]) -> dict[str, int]:
    """E-mail (trimmed, lower case) -> user ID, from a ``GET /users`` listing."""
    index: dict[str, int] = {}
    for user in users:
        uid, email = int_or_none(user.get("ID")), user.get("Email")
        if uid is not None and isinstance(email, str) and email.strip():
            index.setdefault(email_key(email), uid)
    return index


@dataclass(slots=True)
class UserStep:
    """One account to create or activate and the rows (positions) that wait for it."""

    email: str
    action: str
    body: dict[str, Any]
    rows: list[int] = field(default_factory=list)
    user_id: int | None = None
    error: str | None = None
    stopped: bool = False


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def user_steps(plan: pd.DataFrame, positions: list[int]) -> dict[str, UserStep]:
    """The account steps of the rows in ``positions`` (one per e-mail), from the plan's ``user_*`` columns."""
    if "user_action" not in plan.columns:
        return {}
    actions = plan["user_action"].tolist()
    emails = plan["user_email"].tolist()
    steps: dict[str, UserStep] = {}
    for pos in positions:
        action = actions[pos]
        if action not in (CREATE, ACTIVATE) or not _text(emails[pos]):
            continue
        email = email_key(emails[pos])
        step = steps.get(email)
        if step is None:
            step = steps[email] = UserStep(email, action, _body(plan, pos, email, action))
            if action == ACTIVATE:  # the plan found the (inactive) account
                step.user_id = int_or_none(plan["user_id"].iat[pos])
        step.rows.append(pos)
    return steps


def _body(plan: pd.DataFrame, pos: int, email: str, action: str) -> dict[str, Any]:
    """The request body: ``{"Active": true}`` to activate; the ``User-create`` fields the plan gives to create."""
    if action == ACTIVATE:
        return {"Active": True}
    row = plan.iloc[pos]
    body: dict[str, Any] = {"Email": email, "First": _text(row.get("user_first")) or "",
                            "Last": _text(row.get("user_last")) or "", "Role": "consumer-team-member",
                            "Provider": "password"}  # fmt: skip
    org = int_or_none(row.get("user_org_id"))
    if org is not None:
        body["OrganisationID"] = org
    active = row.get("user_active")
    if isinstance(active, bool) or (active is not None and not pd.isna(active)):
        body["Active"] = bool(active)  # absent: the portal's own default
    return body


class Users:
    """The account steps of one run, settled before its rows are sent (``settle``)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.ledger: UserLedger = users_of(ctx.journal)
        self.index: dict[str, int] = {}
        self._listed_at = -math.inf
        self._listing = asyncio.Lock()

    async def settle(self, steps: dict[str, UserStep]) -> None:
        """Create or activate every account (concurrently, under the run's gate); each step's outcome is set."""
        await asyncio.gather(*(self._task(step) for step in steps.values()))

    async def _task(self, step: UserStep) -> None:
        try:
            if step.action == CREATE:
                step.user_id = await self._ensure(step)
            else:
                step.user_id = await self._activate(step)
        except Stopped:
            step.stopped = True
            step.error = "stopped before its owner's account was settled; rerun to resume"
        except Unresolved as exc:
            step.error = f"owner account {step.email!r}: outcome unknown ({exc}); rerun to resolve it"
        except PortalError as exc:
            step.error = f"owner account {step.email!r} not {_past(step.action)}: {error_text(exc)}"
        except Exception as exc:
            step.error = f"owner account {step.email!r} not {_past(step.action)}: {type(exc).__name__}: {exc}"

    async def _ensure(self, step: UserStep) -> int:
        rec = self.ledger.get(step.email)
        listed = (await self.listing(self.ctx.started)).get(step.email)
        if listed is not None:
            if rec is not None and rec.user_id == listed and rec.state == CREATED:
                return listed  # made by this migration (an earlier run, or this one)
            if (
                rec is not None
                and rec.state == "intent"
                and rec.listed_before == 0
                and await self.ours(step.email, listed)
            ):
                # an earlier run's POST whose answer it never got: absent before its intent, there now, and
                # provably the account that POST made (not one a colleague made after a failed or unsent POST)
                self.ledger.outcome(step.email, CREATED, user_id=listed, run_id=rec.run_id, how="adopted")
                return listed
            # someone else's account: used, never adopted as created (rollback never deletes it)
            self.ledger.outcome(step.email, "existing", user_id=listed, run_id=self.ctx.run_id, how="existing")
            return listed
        sent = rec.attempts if rec is not None and rec.state == "intent" else 0
        return await self.ctx.writer.write(UserWrite(self, step), attempts=sent, maybe_landed=sent > 0)

    async def ours(self, email: str, user_id: int) -> bool:
        """Whether the account ``user_id`` is the one the e-mail's journalled intent POSTed (``user_proof``)."""
        rec = self.ledger.get(email)
        if rec is None or rec.state != "intent":
            return False
        try:
            shown = await self.ctx.writer.read(lambda: show_user(self.ctx.client, user_id))
        except NotFound:
            return False
        except PortalError as exc:
            raise Unresolved(f"user {user_id} could not be read: {error_text(exc)}") from exc
        return proven_ours(shown, rec.sent, rec.intent_at)

    async def _activate(self, step: UserStep) -> int:
        user_id = _row_user(step)
        ledger, client = self.ledger, self.ctx.client
        rec = ledger.get(step.email)
        if rec is not None and rec.state == CREATED and rec.user_id == user_id:
            # an account this migration made (inactive, then a rerun activates it): it stays ``created``, so
            # rollback still removes it; the PUT is idempotent, nothing to journal before it
            await self.ctx.writer.read(lambda: update_user(client, user_id, step.body))
            return user_id
        ledger.outcome(step.email, "activating", user_id=user_id, run_id=self.ctx.run_id, how="activated")
        await self.ctx.writer.durable()
        try:
            await self.ctx.writer.read(lambda: update_user(client, user_id, step.body))
        except Stopped:
            raise
        except PortalError as exc:
            ledger.outcome(step.email, FAILED, user_id=user_id, http_status=exc.status, error=error_text(exc))
            raise
        ledger.outcome(step.email, "activated", user_id=user_id, run_id=self.ctx.run_id, how="activated")
        return user_id

    async def listing(self, since: float) -> dict[str, int]:
        """E-mail -> user ID from a listing begun after ``since`` (one walk serves every step waiting)."""
        async with self._listing:
            if self._listed_at < since:
                began = time.perf_counter()
                client = self.ctx.client
                try:
                    self.index = users_by_email(await self.ctx.writer.read(lambda: client.list_users()))
                except PortalError as exc:
                    raise Unresolved(f"the portal's users could not be listed: {error_text(exc)}") from exc
                self._listed_at = began
            return self.index


def _past(action: str) -> str:
    return CREATED if action == CREATE else "activated"


def _row_user(step: UserStep) -> int:
    if step.user_id is None:
        raise MigrateError("the plan names no portal user to activate")
    return step.user_id


class UserWrite:
    """``POST /users`` for one e-mail, as a write kind of the protocol (journal: ``journal_users``)."""

    urgent = True  # the rows' apps wait for it

    def __init__(self, users: Users, step: UserStep) -> None:
        self.users, self.step = users, step
        self.theirs = False  # the lookup found the e-mail, but not provably the account we sent

    def intent(self, attempt: int) -> Callable[[], None]:
        # a POST is only sent after a listing without the e-mail (``Users._ensure``, or a lookup that missed)
        ledger, email, sent = self.users.ledger, self.step.email, sent_fields(self.step.body)
        before = ledger.before_intent(email)
        ledger.intent(email, run_id=self.users.ctx.run_id, attempts=attempt, listed_before=False, sent=sent)
        return lambda: ledger.withdraw(email, before)

    async def send(self) -> int:
        answer = await create_user(self.users.ctx.client, self.step.body)
        user_id = int_or_none(answer.get("ID"))
        if user_id is None:
            raise AnswerWithoutId("the user answer has no ID", method="POST", path="/users")
        return user_id

    async def look_up(self, since: float) -> int | None:
        found = (await self.users.listing(since)).get(self.step.email)
        if found is not None:
            self.theirs = not await self.users.ours(self.step.email, found)
        return found

    async def made_by_another(self) -> int | None:  # nothing sent: resend (an e-mail taken since is refused as
        return None  # taken, and ``settle`` uses it as someone else's, ``existing``, as on a first send)

    def exists(self, refusal: Rejected) -> bool:
        text = str(refusal).lower()
        return refusal.status == 409 or "taken" in text or "exist" in text

    async def settle(self, outcome: Outcome[int]) -> int:
        users, email = self.users, self.step.email
        theirs = outcome.value if outcome.kind == "adopted" and self.theirs else None
        if outcome.kind == "refused" and isinstance(outcome.error, Rejected) and self.exists(outcome.error):
            # refused as taken on a first send: made by someone else (a colleague, another journal's run)
            theirs = (await users.listing(time.perf_counter())).get(email)
        if theirs is not None:
            users.ledger.outcome(email, "existing", user_id=theirs, run_id=users.ctx.run_id, how="existing")
            users.index[email] = theirs
            return theirs
        if outcome.kind in ("posted", "adopted"):
            assert outcome.value is not None
            users.ledger.outcome(
                email, CREATED, user_id=outcome.value, run_id=users.ctx.run_id, how=outcome.kind,
                http_status=200 if outcome.kind == "posted" else outcome.http_status, attempts=outcome.attempts,
            )  # fmt: skip
            users.index[email] = outcome.value
            return outcome.value
        if outcome.kind == "stopped":
            raise Stopped
        if outcome.kind in ("unresolved", "conflict"):
            raise Unresolved(outcome.reason or (error_text(outcome.error) if outcome.error else ""))
        last = outcome.error
        if outcome.kind == "refused":
            assert last is not None
            error = error_text(last)
        else:
            error = f"gave up after {outcome.attempts} attempts: {error_text(last) if last else 'no answer'}"
        users.ledger.outcome(email, FAILED, attempts=outcome.attempts, http_status=outcome.http_status, error=error)
        raise last if last is not None else MigrateError(error)


# -- the rows ---------------------------------------------------------------------------------------------
def apply_outcomes(
    steps: dict[str, UserStep],
    rows: RowTable,
    plan: pd.DataFrame,
    finish: Callable[..., None],
) -> set[int]:
    """The rows' owners from their steps: user IDs into the table (and the frame's ``user_id``); rows whose
    step failed are finished (failed, or pending when stopped) with the reason. Returns their positions."""
    done: set[int] = set()
    owners = [int_or_none(v) for v in plan["user_id"]]
    for step in steps.values():
        if step.user_id is not None and step.error is None:
            for pos in step.rows:
                rows.user_id[pos] = step.user_id
                owners[pos] = step.user_id
            continue
        for pos in step.rows:
            rows.set(pos, started_at=utcnow())
            if step.stopped:
                rows.set(pos, error=step.error)
            else:
                finish(pos, FAILED, error=step.error)
            done.add(pos)
    plan["user_id"] = pd.array(owners, dtype="Int64")  # the frame names the accounts now
    return done


#: why a row whose account step is switched off for the run is blocked
SWITCHED_OFF = {
    CREATE: "owner {email!r} has no portal account, and creating accounts is off for this run: tick 'Create "
    "missing developer accounts' (console) or plan and apply with --create-missing-users",
    ACTIVATE: "portal user {email!r} is inactive, and activating accounts is off for this run: tick 'Activate "
    "inactive owners' (console) or plan and apply with --activate-users",
    "no_org": "the plan creates owner {email!r} in no organisation (user_org_id empty or below 1: a hand-made "
    "plan?), which would make a portal admin, not a developer: plan again with --users-org ID",
}


def switched_off(
    steps: dict[str, UserStep], rows: RowTable, finish: Callable[..., None], *, create: bool, activate: bool
) -> set[int]:
    """Rows whose account step the run may not send are blocked (and their steps dropped from ``steps``)."""
    done: set[int] = set()
    for email, step in list(steps.items()):
        no_org = step.action == CREATE and not (int_or_none(step.body.get("OrganisationID")) or 0) > 0
        if ((step.action == CREATE and create) or (step.action == ACTIVATE and activate)) and not no_org:
            continue
        del steps[email]
        why = SWITCHED_OFF["no_org" if no_org and create else step.action]
        for pos in step.rows:
            rows.set(pos, started_at=utcnow())
            finish(pos, BLOCKED, error=why.format(email=email))
            done.add(pos)
    return done


def dry_run_outcomes(steps: dict[str, UserStep], rows: RowTable, finish: Callable[..., None]) -> set[int]:
    """A dry run sends nothing: rows whose owner would be created first end ``dry_run`` with a note."""
    done: set[int] = set()
    for step in steps.values():
        if step.action != CREATE:
            continue
        for pos in step.rows:
            rows.set(pos, started_at=utcnow())
            finish(pos, DRY_RUN, error=f"would create the owner's account {step.email!r} first")
            done.add(pos)
    return done


async def settle_owners(m: Migration, schedule: Schedule) -> None:
    """Create or activate the owners the plan asks for before any row is sent; rows whose owner failed end
    here (the schedule no longer holds them). Nothing to do for a plan without ``user_action``."""
    rows = m.rows
    assert rows is not None
    steps = user_steps(m.plan, schedule.positions)
    if not steps:
        return
    off = switched_off(steps, rows, schedule.finish, create=m.create_users, activate=m.activate_users)
    if m.dry_run:
        done = dry_run_outcomes(steps, rows, schedule.finish)
    else:
        assert m.context is not None
        await Users(m.context).settle(steps)
        done = apply_outcomes(steps, rows, m.plan, schedule.finish)
    done |= off
    schedule.positions = [p for p in schedule.positions if p not in done]
