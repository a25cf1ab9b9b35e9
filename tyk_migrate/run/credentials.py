"""The credential workflow: each row's key becomes one custom credential in its app, exactly once
(``protocol.ExactlyOnce``), and is read back: a credential that differs from the request (e.g. a portal that
issued its own key) fails the row loudly and is deleted again.

A credential's identity is its key's fingerprint in the target app: after a lost answer it is looked up
there, and a "key exists" refusal after a send that may have landed is looked up too (it may be ours).
Another journal or process may have put the same key into the same app, so each intent journals the IDs of the
credentials that already held the key there (``prior_credential_ids``: none for an app this run created, else
from one listing of the app per run, taken before its first credential POST); a lookup adopts only a holder
outside that list, and never one of several. A lookup after a lost answer lists again (listing lag) until the
settings' ``lookup_patience`` since the send is used up before it says "not there".

A POST that sent nothing (no connection was made: ``PortalConnectionError.sent`` False) cannot have landed, so
while no other send of the key can have landed either, a holder of the key found after it is another client's
(another journal, a notebook in the same kernel): the row goes the way of a key held before the POST
(``held.settle_held_key``), and the intent is closed as not made, so no rerun or rollback takes that holder
for ours. What stays unprovable: after an *ambiguous* failure (the request may have reached the portal, no
answer came back) in an app this run created, a holder of the key is adopted as our landed write, the common
case. Another client writing the same key into that app in that moment would be adopted (and rolled back)
as ours. On this machine the per-portal lock (``portal_lock``) keeps a second run out; a process on another
machine, or a developer in the portal UI, is not kept out by anything the migration can see.

A credential that comes back with a key the portal generated (a portal ignoring the AuthTokenType the run
sends) is deleted and stops the run at once: every further write would do the same.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import CredentialMismatch, NotFound, PortalError, Rejected
from ..journal import CredentialRecord
from ..secrets import fingerprint
from ..vocabulary import CREATED, FAILED, PENDING
from .context import RunContext
from .credential_answers import compare_credential, issued_key_stop, key_exists, token_type_hint
from .groups import AppGroup, patiently
from .held import settle_held_key
from .protocol import Outcome, Unresolved, error_text
from .readback import ReadBackPolicy
from .rows import PlanRow, int_or_none, utcnow

#: finish(pos, status, group, *, unresolved=False, **outcome columns): report a row done (or left pending)
Finish = Callable[..., None]
#: credential IDs by key fingerprint, from one listing of an app's credentials
Holders = dict[str, list[int]]
SEVERAL_HOLDERS = "several credentials hold this key; cannot tell which is ours"


class Credentials:
    """Credentials of one run; rows are reported done through ``finish``."""

    def __init__(
        self, ctx: RunContext, *, verify_readback: bool, finish: Finish, read_back: ReadBackPolicy | None = None
    ) -> None:
        self.ctx, self.verify_readback, self.finish = ctx, verify_readback, finish
        self.read_back = read_back or ReadBackPolicy("all")  # which posted credentials get a GET
        self._holders: dict[int, asyncio.Task[Holders]] = {}  # app ID -> its one listing of this run

    async def write(self, pos: int, app_id: int, group: AppGroup | None) -> None:
        """Create the row's credential in ``app_id`` (or settle an earlier run's write of it)."""
        row = self.ctx.rows.row(pos)
        fp = row.fingerprint
        assert fp is not None
        self.ctx.rows.set(pos, started_at=utcnow(), app_id=app_id)
        rec = self.ctx.journal.credential(fp)
        # an intent (outcome unknown) or a "created" the plan contradicts: either way, look it up before a write
        unknown = rec is not None and rec.state in ("intent", CREATED) and rec.app_id is not None
        doubted = unknown  # some earlier write of this key may have landed: a "key exists" answer is then ours
        if rec is not None and unknown and rec.app_id is not None and rec.app_id != app_id:
            # an earlier run wrote to another app (the plan changed since): settle it there first
            found = await self.find(rec.app_id, fp, rec.prior_credential_ids)
            if found is not None:
                await self.accept(row, rec.app_id, found, rec.attempts, group, how="adopted", status=None)
                return
            unknown = False
        try:
            prior = await self.prior_holders(app_id, fp, group)
        except Unresolved as exc:
            # nothing sent, nothing journalled: an open intent stays open for the rerun (or rollback) to settle
            error = f"not sent: the credentials of app {app_id} could not be listed to tell ours apart ({exc}); rerun"
            self.finish(row.pos, FAILED, group, unresolved=True, error=error)
            return
        if prior and not self._maybe_ours(rec, app_id, prior, unknown):
            await settle_held_key(self.ctx, row, app_id, prior, group, self.finish)  # never a second credential
            return
        sent = rec.attempts if unknown and rec is not None else 0
        kind = CredentialWrite(self, row, app_id, group, prior=prior)
        sent_at = self.ctx.latest_send(rec.intent_at) if unknown and rec is not None else None
        await self.ctx.writer.write(kind, attempts=sent, look_up_first=unknown, maybe_landed=doubted, sent_at=sent_at)

    @staticmethod
    def _maybe_ours(rec: CredentialRecord | None, app_id: int, holders: list[int], unknown: bool) -> bool:
        """Whether a holder of the key can be an earlier write of this journal (then the lookup settles it)."""
        if not unknown or rec is None or rec.app_id != app_id:
            return False
        return rec.prior_credential_ids is None or bool(set(holders) - set(rec.prior_credential_ids))

    async def prior_holders(self, app_id: int, fp: str, group: AppGroup | None) -> list[int]:
        """The credentials of ``app_id`` that hold this key before this run's POST: none in an app this run
        created (nobody else knew it), else from the app's one listing of this run (``Unresolved`` if it fails)."""
        if group is not None and group.created_here and group.app_id == app_id:
            return []
        task = self._holders.get(app_id)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._holders[app_id] = asyncio.create_task(self._list_holders(app_id))
        return list((await asyncio.shield(task)).get(fp, []))

    async def _list_holders(self, app_id: int) -> Holders:
        client, holders = self.ctx.client, Holders()
        try:
            items = await self.ctx.writer.read(lambda: client.list_credentials(app_id))
        except NotFound:
            return {}
        except PortalError as exc:
            raise Unresolved(error_text(exc)) from exc
        for item in items:
            key, cred_id = (item.get("KeyID"), int_or_none(item.get("ID"))) if isinstance(item, dict) else (None, None)
            if isinstance(key, str) and key and cred_id is not None:
                holders.setdefault(fingerprint(key), []).append(cred_id)
        return holders

    def fail(self, row: PlanRow, group: AppGroup | None, *, attempts: int, http_status: int | None, error: str) -> None:
        """Journal and report a credential row that failed."""
        assert row.fingerprint is not None
        self.ctx.journal.credential_outcome(
            row.fingerprint, FAILED, attempts=attempts, http_status=http_status, error=error
        )
        self.finish(row.pos, FAILED, group, attempts=attempts, http_status=http_status, error=error)

    async def accept(
        self,
        row: PlanRow,
        app_id: int,
        body: Any,
        attempts: int,
        group: AppGroup | None,
        *,
        how: str,
        status: int | None,
    ) -> None:
        """Journal a credential that exists, read it back, and fail the row loudly if it differs."""
        journal, fp = self.ctx.journal, row.fingerprint
        assert fp is not None
        cred_id = int_or_none(body.get("ID")) if isinstance(body, dict) else None
        if cred_id is None:
            error = "the portal answered the create without a credential ID"
            self.fail(row, group, attempts=attempts, http_status=status, error=error)
            return
        journal.credential_outcome(
            fp,
            CREATED,
            credential_id=cred_id,
            app_id=app_id,
            run_id=self.ctx.run_id,
            how=how,
            http_status=status,
            attempts=attempts,
        )
        note = None
        if self.verify_readback:
            problems, note = await self._read_back(row, app_id, cred_id, body, how)
            if problems:
                await self._mismatch(row, app_id, cred_id, attempts, status, problems, group)
                return
        if note:
            journal.credential_outcome(fp, CREATED, http_status=status, error=note)
        values = {"app_id": app_id, "credential_id": cred_id, "http_status": status, "attempts": attempts}
        self.finish(row.pos, CREATED, group, **values, error=note)

    async def _read_back(
        self, row: PlanRow, app_id: int, cred_id: int, body: dict[str, Any], how: str
    ) -> tuple[list[str], str | None]:
        """How the credential differs from the request (from the answer, then a GET), and a note if unreadable."""
        assert row.fingerprint is not None and row.plan_id is not None
        fp, plan_id, products = row.fingerprint, int(row.plan_id), row.product_ids
        problems = (
            compare_credential(body, key_fingerprint=fp, plan_id=plan_id, product_ids=products)
            if how == "adopted" or "KeyID" in body
            else []
        )
        if problems or how != "posted" or not self.read_back.wants(body):
            return problems, None
        client = self.ctx.client
        try:
            answer = await self.ctx.writer.read(lambda: client.get_credential(app_id, cred_id))
        except PortalError as exc:
            return [], f"created, but the read-back failed: {error_text(exc)}"
        problems = compare_credential(answer, key_fingerprint=fp, plan_id=plan_id, product_ids=products)
        self.read_back.saw(problems)
        return problems, None

    async def _mismatch(
        self,
        row: PlanRow,
        app_id: int,
        cred_id: int,
        attempts: int,
        status: int | None,
        problems: list[str],
        group: AppGroup | None,
    ) -> None:
        journal, client, fp = self.ctx.journal, self.ctx.client, row.fingerprint
        assert fp is not None
        err = CredentialMismatch(f"credential {cred_id} read back differs from the request: " + "; ".join(problems))
        error = str(err)
        if any("issued its own key" in p for p in problems):
            error += token_type_hint(client.settings)
            # every further write would be given a key of the portal's own: stop sending now, before this
            # deletion frees a place for the next write; rows not yet sent stay pending for the rerun
            self.ctx.gate.fatal(issued_key_stop(client.settings, cred_id))
        try:
            await self.ctx.writer.delete(lambda: client.delete_credential(app_id, cred_id))
            error += "; the credential was deleted"
            journal.credential_outcome(fp, FAILED, attempts=attempts, http_status=status, error=error)
            cred: int | None = None
        except PortalError as exc:
            error += f"; deleting it failed ({error_text(exc)}): rollback removes it"
            journal.credential_outcome(fp, "mismatch", attempts=attempts, http_status=status, error=error)
            cred = cred_id
        values = {"app_id": app_id, "credential_id": cred, "http_status": status, "attempts": attempts}
        self.finish(row.pos, FAILED, group, **values, error=error)

    async def find(self, app_id: int, fp: str, prior: Iterable[int] | None) -> dict[str, Any] | None:
        """The credential of this key fingerprint in the app that an intent made, or None; ``Unresolved`` if it
        cannot be listed, or if several credentials made after the intent hold the key.

        ``prior``: the credentials that held the key when the intent was made, never ours. None (a record of
        schema 1 or 2, which did not record them) keeps the old rule: the first credential holding the key."""
        client = self.ctx.client
        try:
            items = await self.ctx.writer.read(lambda: client.list_credentials(app_id))
        except NotFound:
            return None
        except PortalError as exc:
            raise Unresolved(error_text(exc)) from exc
        holding = [
            item
            for item in items
            if isinstance(item, dict)
            and isinstance(item.get("KeyID"), str)
            and item["KeyID"]
            and fingerprint(item["KeyID"]) == fp
        ]
        if prior is None:
            return holding[0] if holding else None
        before = set(prior)
        made = [item for item in holding if int_or_none(item.get("ID")) not in before]
        if len(made) > 1:
            raise Unresolved(SEVERAL_HOLDERS)
        return made[0] if made else None


class CredentialWrite:
    """``POST /apps/{id}/custom_credentials`` for one row, as a write kind of the protocol."""

    urgent = False

    def __init__(
        self, creds: Credentials, row: PlanRow, app_id: int, group: AppGroup | None, *, prior: list[int]
    ) -> None:
        self.creds, self.row, self.app_id, self.group = creds, row, app_id, group
        self.prior = prior  # the credentials of the app holding this key before the POST: never ours
        self.held: list[int] = []  # holders another client made while our POST sent nothing (``made_by_another``)

    def intent(self, attempt: int) -> Callable[[], None]:
        row, journal, fp = self.row, self.creds.ctx.journal, self.row.fingerprint
        assert fp is not None
        before = journal.credential_before_intent(fp)
        journal.credential_intent(
            fp,
            app_id=self.app_id,
            run_id=self.creds.ctx.run_id,
            attempts=attempt,
            source_row=row.source_row,
            user_id=row.user_id,
            app_name=row.app_name,
            batch=self.creds.ctx.rows.out["batch"][row.pos],
            prior_credential_ids=self.prior,
        )
        return lambda: journal.withdraw_credential_intent(fp, before)

    async def send(self) -> Any:
        row, client = self.row, self.creds.ctx.client
        assert row.plan_id is not None
        settings = client.settings
        return await client.create_credential(
            self.app_id,
            key_id=row.key,
            plan_id=int(row.plan_id),
            product_ids=row.product_ids,
            alias=row.alias,
            auth_token_type=settings.auth_token_type,
            authentication_method=settings.authentication_method,
        )

    async def look_up(self, since: float) -> dict[str, Any] | None:
        """The credential the intent's POST made, listed again (listing lag) until a listing begun once the patience
        since the send was used up. The prior list is the journalled intent's (an earlier run's, for a rerun)."""
        fp, creds = self.row.fingerprint, self.creds
        assert fp is not None
        rec = creds.ctx.journal.credential(fp)
        prior = rec.prior_credential_ids if rec is not None and rec.app_id == self.app_id else self.prior
        deadline = since + creds.ctx.client.settings.lookup_patience
        while True:
            begun = time.perf_counter()  # "not there" only from a listing begun after the lag:
            if (found := await creds.find(self.app_id, fp, prior)) is not None or begun >= deadline:
                return found
            await patiently(creds.ctx.gate, since, deadline - since)

    async def made_by_another(self) -> dict[str, Any] | None:
        """Our POST sent nothing, and no send of ours can have landed: a holder of the key in the app now is
        another client's (another journal, a notebook in the same kernel, a developer), come since the app's
        holders were listed (an app this run created is not listed). Found, the row goes the way of a key held
        before the POST (``settle_held_key``): never adopted, never a second credential of the key."""
        fp = self.row.fingerprint
        assert fp is not None
        self.held = list((await self.creds._list_holders(self.app_id)).get(fp, []))
        return {"ID": self.held[0]} if self.held else None

    def exists(self, refusal: Rejected) -> bool:
        return key_exists(refusal)

    async def settle(self, outcome: Outcome[Any]) -> None:
        creds, row, group, sent = self.creds, self.row, self.group, outcome.attempts
        if not outcome.landed and sent and await self._settle_unsent(outcome):
            return
        if outcome.kind in ("posted", "adopted"):
            posted = outcome.kind == "posted"
            status = 201 if posted else None
            await creds.accept(row, self.app_id, outcome.value, sent, group, how=outcome.kind, status=status)
        elif outcome.kind == "stopped":
            if creds.ctx.gate.halted:
                error = "not sent: the journal could not record it; rerun to resume"
            elif not sent:
                error = "stopped before this row was sent; rerun to resume"
            else:
                error = "stopped before a retry; rerun to resume"
            creds.finish(row.pos, PENDING, group, attempts=sent or None, error=error)
        elif outcome.kind in ("unresolved", "conflict"):
            error = self._unresolved(outcome)
            status = outcome.http_status
            creds.finish(row.pos, FAILED, group, unresolved=True, attempts=sent, http_status=status, error=error)
        else:
            creds.fail(row, group, attempts=sent, http_status=outcome.http_status, error=self._failure(outcome))

    async def _settle_unsent(self, outcome: Outcome[Any]) -> bool:
        """Every send of this run's chain failed before reaching the portal: nothing of ours is there, so an
        intent left open would make a rerun or rollback take another client's credential of the key for ours.
        Close it (``failed``: not made) and settle the row; False for outcomes settled as ever."""
        creds, row, group, sent = self.creds, self.row, self.group, outcome.attempts
        if outcome.kind not in ("held", "stopped", "unresolved") or creds.ctx.gate.halted:
            return False  # a halted journal records nothing more; other outcomes journal themselves
        assert row.fingerprint is not None
        last = f"not sent ({error_text(outcome.error, row.key)})" if outcome.error is not None else "not sent"
        if outcome.kind == "held":
            error = f"{last}; meanwhile another client put this key into app {self.app_id} ({self.held}), not this run"
        elif outcome.kind == "stopped":
            error = f"{last}; stopped before a retry; rerun to resume"
        else:
            error = (
                f"{last}; the credentials of app {self.app_id} could not be listed to tell whether another client "
                f"put this key there meanwhile ({outcome.reason}); rerun"
            )
        creds.ctx.journal.credential_outcome(row.fingerprint, FAILED, attempts=sent, error=error)
        if outcome.kind == "held":
            await settle_held_key(creds.ctx, row, self.app_id, self.held, group, creds.finish)
        elif outcome.kind == "stopped":
            creds.finish(row.pos, PENDING, group, attempts=sent, error=error)
        else:  # nothing of ours can be there: a plain failure, its app may be compensated (foreign keys kept)
            creds.finish(row.pos, FAILED, group, attempts=sent, error=error)
        return True

    def _unresolved(self, outcome: Outcome[Any]) -> str:
        if outcome.kind == "unresolved":
            return f"outcome of the last write unknown ({outcome.reason}); rerun to resolve it"
        # Our lost write may have landed where the listing does not show it yet, or the key may be someone
        # else's: the intent stays open, and the rerun's fresh plan (or rollback) settles it.
        assert outcome.error is not None
        return (
            f"the portal says the key exists, but app {self.app_id} does not list it (yet); an earlier "
            f"write may have landed: rerun to resolve it; if a rerun says the same, the gateway holds the key "
            f"without a portal record (a half-done create): delete it in the Dashboard, then rerun "
            f"({error_text(outcome.error, self.row.key)})"
        )

    def _failure(self, outcome: Outcome[Any]) -> str:
        key, last = self.row.key, outcome.error
        if outcome.kind == "gave_up":
            return f"gave up after {outcome.attempts} attempts: {error_text(last, key) if last else 'no answer'}"
        assert last is not None
        error = error_text(last, key)
        if isinstance(last, Rejected) and any(
            w in error.lower() for w in ("authtokentype", "auth token type", "auth_token")
        ):
            error += token_type_hint(self.creds.ctx.client.settings)
        return error
