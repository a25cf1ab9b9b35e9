"""Undo a migration: delete what the journal's runs created, and only that.

Credentials the runs added to apps that existed before are deleted one by one; apps the runs created
are deleted whole (the portal removes their credentials and revokes the keys), unless someone has since
added a credential of their own to one, which then stays. An app with only an intent (a run killed after
its POST) is looked up by owner and name. Every deletion is journalled as rolled_back.

Every object is read before it is deleted, because a journalled ID is only a claim about the past: after
a portal reset the same IDs may belong to other developers' apps. An app goes only while its owner and name
are the journal's, a credential only while it holds the journal's key (fingerprint); anything else is kept
and the report says why. Only apps whose journal state is ``created`` by a run (posted or adopted) are
deleted: an app a run merely reused is someone's own and never is. An app record with a marker (schema 3) is
deleted only while the app's Description carries it (an app re-created after a portal reset has none), one
without (schema 1 or 2) only while its Description is empty (those tools sent none); the credentials the
journal made in an app kept so are still read by ID and deleted. Every other app of the owner and name that
carries the record's marker goes too (``rollback_apps``: a lagging listing can let a second POST through). A
credential intent with a prior list (schema 3) is settled only by a credential outside it, and never by one
of several.

Requests go through the runner's machinery: a ``Limiter`` sized by ``AdaptiveConcurrency`` from every
answer (a throttling portal slows the rollback down instead of failing it), and ``RetryPolicy`` delays on
429 (honouring ``Retry-After``), 5xx and dropped connections. A DELETE is safe to send again: a second one
answers 404, read as "already gone".

``dry_run=True`` makes every read and every decision, and deletes nothing and writes nothing to the
journal: the rows say ``would delete`` / ``would delete with app`` where a rollback would delete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from .aio import run_sync
from .concurrency import AdaptiveConcurrency, Limiter
from .config import Settings
from .errors import JournalError, NotFound, PortalConnectionError, PortalError, PortalServerError, RateLimited
from .journal import AppRecord, CredentialRecord, Journal
from .ownership import app_descriptions, holders_made_after
from .portal import AsyncPortalClient
from .portal_lock import portal_identity
from .retry import RetryPolicy
from .rollback_apps import NO_RECORD, find_apps, not_ours
from .run import _int_or_none, _message, apps_by_owner_name
from .secrets import fingerprint
from .vocabulary import CREATED, ROLLED_BACK

ROLLBACK_COLUMNS = ("kind", "app_id", "credential_id", "key_fingerprint", "result", "reason", "detail")
#: Why an object was kept (the ``reason`` column), in words a person reads in the rollback summary.
KEPT_REASONS = {
    "id_reused": "the ID now belongs to another app (e.g. after a portal reset)",
    "foreign_credentials": "the app holds credentials the migration did not create",
    "app_not_ours": "in an app that is no longer the migration's",
    "other_key": "the credential now holds another key",
    "unproven": "an app of that name exists, but an old journal cannot prove it is the migration's",
    "not_marked": "the app does not carry the marker the migration wrote into its Description",
    "described": "the app has a Description; the tool version that wrote this journal always sent an empty one",
    "several_holders": "several credentials made after the intent hold the key: cannot tell which is ours",
}

#: How a run made an app it journals as ``created`` (``posted`` it, or ``adopted`` the answer of its own lost
#: POST). Any other ``how`` (an app a run reused) is not the migration's to delete.
CREATED_BY_RUN = (None, "posted", "adopted")
#: Credential states a run may have left in the portal (an ``intent`` is looked up by key).
CREDENTIAL_STATES_TO_UNDO = (CREATED, "mismatch", "intent")
#: 429s in a row on one request before it counts as failed: as many as the runner waits out by default.
MAX_RATE_LIMITED = 60


def apps_to_undo(journal: Journal) -> list[AppRecord]:
    """Apps a run created (state ``created``, made by the run): deleted whole unless no longer ours."""
    return [
        r
        for r in journal.apps()
        if r.state == CREATED and r.run_id and r.app_id is not None and r.how in CREATED_BY_RUN
    ]


def app_intents_to_undo(journal: Journal) -> list[AppRecord]:
    """Apps with only an intent (the run died after the POST): looked up by owner and name."""
    return [r for r in journal.apps() if r.state == "intent" and r.run_id]


def credentials_to_undo(journal: Journal) -> list[CredentialRecord]:
    return [r for r in journal.credentials() if r.run_id is not None and r.state in CREDENTIAL_STATES_TO_UNDO]


class _Rollback:
    def __init__(
        self,
        jr: Journal,
        api: AsyncPortalClient,
        *,
        concurrency: int | str,
        max_concurrency: int,
        retry: RetryPolicy,
        max_rate_limited: int,
        dry_run: bool = False,
    ) -> None:
        self.jr, self.api, self.policy, self.max_rate_limited = jr, api, retry, max_rate_limited
        self.dry_run = dry_run
        adaptive = concurrency == "adaptive"
        if not adaptive and (not isinstance(concurrency, int) or concurrency < 1):
            raise ValueError("concurrency must be 'adaptive' or a whole number, at least 1")
        initial = 8 if adaptive else int(concurrency)
        self.limiter = Limiter(initial)
        self.controller = (
            AdaptiveConcurrency(self.limiter, initial=initial, maximum=max_concurrency) if adaptive else None
        )
        self.results: list[dict[str, Any]] = []
        self.ours = credentials_to_undo(jr)
        self.ours_by_app: dict[int, list[CredentialRecord]] = {}
        for rec in self.ours:
            if rec.app_id is not None:
                self.ours_by_app.setdefault(rec.app_id, []).append(rec)
        self.our_apps: dict[int, AppRecord] = {r.app_id: r for r in apps_to_undo(jr) if r.app_id is not None}
        self.extra_apps: dict[int, AppRecord] = {}  # further apps carrying a record's marker (rollback_apps)

    def observe(self, method: str, path: str, status: int | None, seconds: float) -> None:
        if self.controller is not None:
            self.controller.observe(status, seconds)

    async def call(self, make: Callable[[], Awaitable[Any]]) -> Any:
        """One request under the limiter, retried as the runner retries (the slot is free while waiting)."""
        failures = rate_limited = 0
        while True:
            await self.limiter.acquire()
            try:
                return await make()
            except RateLimited as exc:  # refused before anything was done: wait and send again
                rate_limited += 1
                if rate_limited >= self.max_rate_limited:
                    raise
                wait = self.policy.delay(min(rate_limited, 6), exc.retry_after)
            except (PortalConnectionError, PortalServerError) as exc:
                failures += 1
                if failures >= self.policy.attempts:
                    raise
                wait = self.policy.delay(failures, getattr(exc, "retry_after", None))
            finally:
                self.limiter.release()
            await asyncio.sleep(wait)

    def _app_outcome(self, rec: AppRecord, error: str | None = None, **kw: Any) -> None:
        if not self.dry_run:  # a dry run leaves the journal as it was
            self.jr.app_outcome(rec.user_id, rec.app_name, ROLLED_BACK, error=error, **kw)

    def _credential_outcome(self, cred: CredentialRecord, error: str) -> None:
        if not self.dry_run:
            self.jr.credential_outcome(cred.fingerprint, ROLLED_BACK, error=error)

    async def delete(self, make: Callable[[], Awaitable[Any]]) -> str:
        if self.dry_run:
            return "would delete"
        try:
            await self.call(make)
            return "deleted"
        except NotFound:
            return "already gone"

    async def find_apps(self) -> None:
        """One listing of /apps settles open intents and finds further apps carrying a record's marker."""
        intents, marked = app_intents_to_undo(self.jr), [r for r in self.our_apps.values() if r.marker is not None]
        if not intents and not marked:
            return
        try:
            listing = await self.call(lambda: self.api.list_apps())
        except PortalError as exc:
            # a created record's journalled app is still handled; a lost POST's twin may remain
            twin = "apps could not be listed to find others carrying its marker: "
            for rec in [*intents, *marked]:
                why = f"{rec.app_name}: {'' if rec.state == 'intent' else twin}{_message(exc)}"
                self.results.append({"kind": "app", "result": "failed", "detail": why})
            return
        found = find_apps(intents, marked, apps_by_owner_name(listing), app_descriptions(listing))
        for rec in found.unproven:
            detail = f"{rec.app_name}: cannot prove an app of that name is ours"
            self.results.append({"kind": "app", "result": "kept", "reason": "unproven", "detail": detail})
        for rec in found.never:
            self._app_outcome(rec, error="never created")
            self.results.append({"kind": "app", "result": "not found", "detail": rec.app_name})
        self.our_apps.update(found.primary)
        self.extra_apps = {i: r for i, r in found.extra.items() if i not in self.our_apps}

    async def one_app(self, app_id: int, rec: AppRecord, *, extra: bool = False) -> None:
        """``extra``: another app carrying ``rec``'s marker; kept silently if not ours, journalled by its primary."""
        row = {"kind": "app", "app_id": app_id}
        api = self.api
        try:
            app = await self.call(lambda: api.get_app(app_id))
        except NotFound:
            app = None
        except PortalError as exc:
            self.results.append({**row, "result": "failed", "detail": _message(exc)})
            return
        if app is not None:
            verdict = not_ours(app, rec)
            if verdict is not None:  # an extra candidate read by ID that is not ours: nothing to say
                if not extra:
                    await self._keep_app(row, rec, *verdict)
                return
            mine = {c.fingerprint for c in self.ours_by_app.get(app_id, [])}
            # a mismatch may hold a key the portal issued itself: in an app that is ours, its ID says it is ours
            mine_ids = {c.credential_id for c in self.ours_by_app.get(app_id, []) if c.state == "mismatch"}
            try:
                items = await self.call(lambda: api.list_credentials(app_id))
            except NotFound:
                items = []
            except PortalError as exc:
                self.results.append({**row, "result": "failed", "detail": _message(exc)})
                return
            foreign = [
                i
                for i in items
                if fingerprint(str(i.get("KeyID") or "")) not in mine and _int_or_none(i.get("ID")) not in mine_ids
            ]
            if foreign:
                for cred in self.ours_by_app.get(app_id, []):
                    await self.one_credential(cred, in_our_app=True)
                detail = f"holds {len(foreign)} credential(s) the migration did not create"
                self.results.append({**row, "result": "kept", "reason": "foreign_credentials", "detail": detail})
                return
        held = {fingerprint(str(i.get("KeyID") or "")) for i in items} if app is not None else set()
        try:
            outcome = "already gone" if app is None else await self.delete(lambda: api.delete_app(app_id))
        except PortalError as exc:
            self.results.append({**row, "result": "failed", "detail": _message(exc)})
            return
        self._app_deleted(row, rec, outcome, journal=not extra, held=held)

    def _app_deleted(self, row: dict[str, Any], rec: AppRecord, outcome: str, *, journal: bool, held: set[str]) -> None:
        """An app and its credentials are gone, journalled (``journal``: the record's app) and reported; an open
        intent whose key no record of the app ``held`` had nothing to delete (``NO_RECORD``)."""
        app_id = row["app_id"]
        if journal:
            self._app_outcome(rec, app_id=app_id)
        for cred in self.ours_by_app.get(app_id, []):
            unheld = cred.state == "intent" and cred.fingerprint not in held  # before the outcome changes it
            self._credential_outcome(cred, "removed with its app by rollback")
            done = "would delete with app" if self.dry_run else "deleted with app"
            entry = {"kind": "credential", "app_id": app_id, "credential_id": cred.credential_id}
            entry.update(key_fingerprint=cred.fingerprint, result=done)
            if unheld:
                entry["result"], entry["detail"] = "not found", NO_RECORD
            self.results.append(entry)
        self.results.append({**row, "result": outcome, "detail": rec.app_name})

    async def _keep_app(self, row: dict[str, Any], rec: AppRecord, reason: str, why: str) -> None:
        """Not ours any more: the app stays, the journal's record of it unchanged. Under a reused ID every
        credential in it stays too; in an app only its Description disowns (edited, re-created), the credentials
        the journal made are read by ID and deleted while they hold our key."""
        app_id = row["app_id"]
        if reason != "id_reused":
            for cred in self.ours_by_app.get(app_id, []):
                await self.one_credential(cred)
            self.results.append({**row, "result": "kept", "reason": reason, "detail": why})
            return
        for cred in self.ours_by_app.get(app_id, []):
            self.results.append(
                {
                    "kind": "credential",
                    "app_id": app_id,
                    "credential_id": cred.credential_id,
                    "key_fingerprint": cred.fingerprint,
                    "result": "kept",
                    "reason": "app_not_ours",
                    "detail": f"in app {app_id}, which is no longer ours",
                }
            )
        self.results.append({**row, "result": "kept", "reason": reason, "detail": why})

    async def one_credential(self, cred: CredentialRecord, *, in_our_app: bool = False) -> None:
        app_id, cred_id = cred.app_id, cred.credential_id
        assert app_id is not None
        row = {"kind": "credential", "app_id": app_id, "credential_id": cred_id, "key_fingerprint": cred.fingerprint}
        api = self.api
        try:
            if cred_id is None:  # an unsettled intent: find it by key, if it is there at all
                items = await self.call(lambda: api.list_credentials(app_id))
                made = holders_made_after(items, cred)  # only a holder its listing did not show
                if len(made) > 1 and cred.prior_credential_ids is not None:
                    detail = f"{len(made)} credentials made after the intent hold its key: kept, none deleted"
                    self.results.append({**row, "result": "kept", "reason": "several_holders", "detail": detail})
                    return
                if not made:
                    self._credential_outcome(cred, "never created")
                    self.results.append({**row, "result": "not found"})
                    return
                cred_id = made[0]
            else:  # a journalled ID: delete it only while it still holds our key
                found = await self.call(lambda: api.get_credential(app_id, cred_id))
                held = str(found.get("KeyID") or "") if isinstance(found, dict) else ""
                issued = in_our_app and cred.state == "mismatch"  # its key may be the portal's own (see above)
                if fingerprint(held) != cred.fingerprint and not issued:
                    whose = f"another key ({fingerprint(held)})" if held else "no key we can compare"
                    detail = f"now holds {whose}, not ours ({cred.fingerprint}): kept"
                    self.results.append({**row, "result": "kept", "reason": "other_key", "detail": detail})
                    return
            outcome = await self.delete(lambda: api.delete_credential(app_id, cred_id))
        except NotFound:
            outcome = "already gone"
        except PortalError as exc:
            self.results.append({**row, "result": "failed", "detail": _message(exc)})
            return
        self._credential_outcome(cred, "deleted by rollback")
        self.results.append({**row, "credential_id": cred_id, "result": outcome})

    async def run(self) -> None:
        await self.find_apps()
        apps = self.our_apps.keys() | self.extra_apps.keys()
        loose = [c for c in self.ours if c.app_id not in apps and c.app_id is not None]
        await asyncio.gather(*(self.one_credential(c) for c in loose))
        await asyncio.gather(
            *(self.one_app(app_id, rec) for app_id, rec in self.our_apps.items()),
            *(self.one_app(app_id, rec, extra=True) for app_id, rec in self.extra_apps.items()),
        )


async def rollback_async(
    journal: Journal | str | Path,
    client: AsyncPortalClient | Settings | None,
    *,
    concurrency: int | str = "adaptive",
    max_concurrency: int = 64,
    retry: RetryPolicy | None = None,
    max_rate_limited: int = MAX_RATE_LIMITED,
    dry_run: bool = False,
) -> pd.DataFrame:
    """Delete what the journal's runs created, and only that; mark it ``rolled_back`` in the journal.

    Apps a run created are deleted whole (the portal removes their credentials) unless they now hold a
    credential the migration did not create: then only the migration's credentials go and the app stays.
    Credentials the runs added to pre-existing apps are deleted one by one. Each object is read first and
    kept when it is no longer the one the journal recorded. Returns one row per object.

    ``concurrency`` is ``"adaptive"`` (as ``apply``: sized from the portal's answers, at most
    ``max_concurrency``) or a fixed number of requests in flight. Holding the journal (``Journal`` takes its
    lock) keeps a run from writing it meanwhile. ``dry_run=True`` reads and decides the same way and
    deletes nothing: ``result`` says ``would delete`` (or ``would delete with app``) instead.
    """
    own_journal = not isinstance(journal, Journal)
    jr: Journal = journal if isinstance(journal, Journal) else Journal(journal)
    own_client = not isinstance(client, AsyncPortalClient)
    try:
        if isinstance(client, AsyncPortalClient):
            api = client
        else:
            api = AsyncPortalClient(settings=client if isinstance(client, Settings) else Settings.from_env())
    except BaseException:
        if own_journal:
            jr.close()
        raise
    hook, client_retry = api.on_response, api.retry
    try:
        recorded, here = jr.portal_url, portal_identity(api.base_url)
        if recorded is not None and portal_identity(recorded) != here:
            raise JournalError(
                f"journal {jr.path} records a migration into {portal_identity(recorded)}, not {here}: refusing to "
                "delete anything"
            )
        work = _Rollback(
            jr,
            api,
            concurrency=concurrency,
            max_concurrency=max_concurrency,
            retry=retry or RetryPolicy(),
            max_rate_limited=max_rate_limited,
            dry_run=dry_run,
        )

        def observe(method: str, path: str, status: int | None, seconds: float) -> None:
            work.observe(method, path, status, seconds)
            if hook is not None:
                hook(method, path, status, seconds)

        api.on_response = observe
        api.retry = replace(client_retry, attempts=1)  # rollback owns the retries, outside the limiter's slot
        await work.run()
    finally:
        api.on_response, api.retry = hook, client_retry
        if own_client:
            await api.aclose()
        if own_journal:
            jr.close()
    frame = pd.DataFrame(work.results, columns=list(ROLLBACK_COLUMNS))
    for col in ("app_id", "credential_id"):
        frame[col] = frame[col].astype("Int64")
    return frame


def rollback(journal: Journal | str | Path, client: AsyncPortalClient | Settings | None, **kw: Any) -> pd.DataFrame:
    """Sync wrapper of ``rollback_async`` (works inside Jupyter too)."""
    return run_sync(lambda: rollback_async(journal, client, **kw))
