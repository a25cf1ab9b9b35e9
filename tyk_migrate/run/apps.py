"""The app workflow: one portal app per ``(user, app name)`` that needs one, found or created exactly once
(``protocol.ExactlyOnce``), and compensation: an app this run created whose every credential failed is
deleted again, unless it holds something the migration did not put there (rules in ``ownership``).

Before an app is created, the apps of its owner and name are looked up in a listing of this run (one walk
of ``/apps`` serves every app decided meanwhile): the plan may be stale, or another journal may have made
the app since, and a second app of the same name would be a duplicate. After a lost answer the same listing,
made after the failure, shows whether the POST made one: an app of that owner and name the listing before the
POST did not show, carrying the intent's marker in its Description (``ownership.app_description``). Listings
may lag behind writes, so that lookup lists again until the settings' ``lookup_patience`` since the send is
used up before it says "not there". A lag longer than that patience can still let a second POST through:
both apps carry the intent's marker (a reopened intent keeps it); the journal names the one the run settled
on, no later lookup of that owner and name creates another (one carrying the marker is adopted should the
journalled one be gone), and rollback deletes every app of the owner and name that carries the marker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial

from ..errors import MigrateError, NotFound, PortalError, Rejected
from ..journal import AppRecord
from ..ownership import (
    app_description,
    carries_marker,
    choose_app,
    disowned,
    foreign_credentials,
    new_marker,
)
from ..plan import oldest_app
from ..vocabulary import CREATED, FAILED
from .app_listing import AppListing
from .context import RunContext
from .gate import Stopped
from .groups import AppGroup, patiently
from .protocol import AnswerWithoutId, Outcome, Unresolved, error_text
from .rows import int_or_none


class ForeignApp(Exception):
    """After a lost answer, the apps of this owner and name hold none the POST made, but someone else's: that
    one is reused (as the listing before a POST would have), never a second app of the name made."""

    def __init__(self, app_id: int) -> None:
        super().__init__(app_id)
        self.app_id = app_id


class NoListing(Exception):
    """The portal's apps could not be listed, so whether the app already exists is unknown: nothing is sent."""


class Apps:
    """Apps of one run. ``report`` is called when compensation changed rows."""

    def __init__(self, ctx: RunContext, *, delete_empty: bool, report: Callable[[], None]) -> None:
        self.ctx, self.delete_empty, self.report = ctx, delete_empty, report
        self.listing = AppListing(ctx)  # the run's listings of /apps, by owner and name
        self.compensations: list[asyncio.Task[None]] = []

    async def task(self, group: AppGroup) -> None:
        """Settle the group's app and resolve its future (None: no app; ``group.error`` says why)."""
        assert group.future is not None
        try:
            group.app_id = await self.ensure(group)
        except Stopped:
            group.stopped = True
            group.error = (
                "stopped: the journal failed before its app was settled; rerun to resume"
                if self.ctx.gate.halted
                else "stopped before its app was created; rerun to resume"
            )
        except NoListing as exc:
            group.error = f"app not created: the portal's apps could not be listed to look for it ({exc}); rerun"
        except Unresolved as exc:
            group.error = f"app creation outcome unknown ({exc}); rerun to resolve it"
        except PortalError as exc:
            group.error = f"app not created: {error_text(exc)}"
        except Exception as exc:
            group.error = f"app not created: {type(exc).__name__}: {error_text(exc)}"
        group.future.set_result(group.app_id)

    async def ensure(self, group: AppGroup) -> int:
        user_id, name = group.user_id, group.app_name
        rec = self.ctx.journal.app(user_id, name)
        # Who holds this owner and name now? A listing of this run, at most a minute old (listing.max_age), decides:
        # the plan may be stale, or another journal may have made the app since. Nothing is sent without it.
        try:
            listed, listed_from = await self.listing.app_ids_as_of(
                user_id, name, max(self.ctx.started, time.perf_counter() - self.listing.max_age)
            )
        except Unresolved as exc:
            raise NoListing(str(exc)) from None
        ours = rec.app_id if rec is not None and rec.state == CREATED else None
        if ours is not None and ours not in listed and rec is not None and await self.still_ours(rec):
            listed = [*listed, ours]  # made a moment ago (a killed run's), not listed yet: listing lag
        if ours is not None and ours not in listed and rec is not None and rec.marker is not None:
            # our journalled app is gone, but another carrying its marker is listed (a lost POST whose app a
            # lagging listing did not show in time): that one is ours too, never reused, never a third made
            marked = oldest_app(await self.not_disowned(listed, rec.marker))
            if marked is not None:
                return self._take(group, rec, "adopt", marked)
        made = await self.inherited(rec, listed, listed_from) if rec is not None and rec.state == "intent" else None
        choice = choose_app(rec, listed, made)
        if choice.kind != "post":
            assert choice.app_id is not None
            return self._take(group, rec, choice.kind, choice.app_id)
        sent = rec.attempts if rec is not None and rec.state in ("intent", CREATED) else 0
        # an open intent's marker is kept: should its POST land after all, the app is still known for ours
        marker = rec.marker if rec is not None and rec.state == "intent" and rec.marker else new_marker()
        # the apps of this owner and name before the POST (none): only a new one can be ours
        try:
            return await self.ctx.writer.write(AppWrite(self, group, prior=listed, marker=marker), attempts=sent)
        except ForeignApp as exc:
            return self._take(group, self.ctx.journal.app(user_id, name), "reuse", exc.app_id)

    async def inherited(self, rec: AppRecord, listed: list[int], listed_from: float) -> list[int]:
        """The apps an earlier run's open intent made, listed again until a walk begun after the listing lag
        since that intent shows them or not (``listed``: from a walk begun at ``listed_from``): a POST a killed
        run sent just before it died may not be listed yet, and a second POST would double the app."""
        made = await self.made_by(rec, listed)
        since, patience = self.ctx.latest_send(rec.intent_at), self.ctx.client.settings.lookup_patience
        while not made and listed_from < since + patience:  # a walk begun earlier may not show it yet
            await patiently(self.ctx.gate, since, patience)
            listed_from = time.perf_counter()
            made = await self.made_by(rec, await self.listing.app_ids(rec.user_id, rec.app_name, listed_from))
        return made

    async def still_ours(self, rec: AppRecord) -> bool:
        """Whether the app a record says this migration created is there, read by ID (a listing may not show
        an app made a moment ago): same owner and name, and its marker when one was journalled."""
        assert rec.app_id is not None
        client, app_id = self.ctx.client, rec.app_id
        try:
            body = await self.ctx.writer.read(partial(client.get_app, app_id))
        except NotFound:
            return False
        except PortalError as exc:
            raise Unresolved(error_text(exc)) from exc
        if (
            not isinstance(body, dict)
            or int_or_none(body.get("UserID")) != rec.user_id
            or body.get("Name") != rec.app_name
        ):
            return False  # the ID now names another object (a reset portal): not ours
        return not disowned(body.get("Description"), rec.marker)

    async def made_by(self, rec: AppRecord, listed: list[int]) -> list[int]:
        """The apps in ``listed`` (this owner and name) that ``rec``'s intent's POST can have made: not listed
        before it and carrying its marker. A record without a marker (schema 1 or 2) keeps the older rule, any
        app not listed before, save one with a non-empty Description (``ownership.disowned``)."""
        return await self.not_disowned(rec.made_after_intent(listed), rec.marker)

    async def not_disowned(self, ids: list[int], marker: str | None) -> list[int]:
        """Those of ``ids`` whose Description does not disown them for ``marker``; an app whose listing item
        shows no Description is read by ID."""
        client, made = self.ctx.client, []
        for app_id in ids:
            if app_id in self.listing.descriptions:
                description = self.listing.descriptions[app_id]
            else:
                try:
                    body = await self.ctx.writer.read(partial(client.get_app, app_id))
                except NotFound:
                    continue
                except PortalError as exc:
                    raise Unresolved(error_text(exc)) from exc
                description = body.get("Description") if isinstance(body, dict) else None
            if not disowned(description, marker):
                made.append(app_id)
        return made

    def _take(self, group: AppGroup, rec: AppRecord | None, kind: str, app_id: int) -> int:
        """Use an app that exists: ours (journalled created), made by an open intent's POST, or reused."""
        journal, run_id = self.ctx.journal, self.ctx.run_id
        user_id, name = group.user_id, group.app_name
        attempts = rec.attempts if rec is not None else 0
        if kind == "ours":
            group.created_here = rec is not None and rec.run_id == run_id
        elif kind == "adopt":  # an earlier run's POST whose answer it never got: the app is ours
            journal.app_outcome(user_id, name, CREATED, app_id=app_id, run_id=run_id, how="adopted", attempts=attempts)
            group.created_here = True
        elif rec is None or (rec.state, rec.app_id) != ("reused", app_id):
            # someone else's app of this owner and name: the keys go into it, the migration never deletes it
            journal.app_outcome(user_id, name, "reused", app_id=app_id, run_id=run_id, how="reused", attempts=attempts)
        return app_id

    # -- compensation ---------------------------------------------------------------------------------
    def row_done(self, group: AppGroup, status: str, *, unresolved: bool = False) -> None:
        """Count a row of the group; when the last is done and none succeeded, delete the app this run made."""
        group.left -= 1
        if status == CREATED:
            group.created += 1
        elif status == FAILED and not unresolved:
            group.failed += 1
        if (
            group.left == 0
            and self.delete_empty
            and group.created_here
            and group.app_id is not None
            and group.failed == len(group.rows)
        ):
            self.compensations.append(asyncio.create_task(self._delete_empty_app(group)))

    async def _delete_empty_app(self, group: AppGroup) -> None:
        """Compensation: an app this run created whose every credential failed is removed again, but only if it
        holds nothing the migration did not put there (listed first: someone may have added a key of their own)."""
        journal, client, rows = self.ctx.journal, self.ctx.client, self.ctx.rows
        assert group.app_id is not None
        app_id = group.app_id
        if self.ctx.gate.halted:  # a deletion the journal cannot record is not made
            return
        try:
            made = journal.app(group.user_id, group.app_name)
            if made is not None and made.marker is not None:
                app = await self.ctx.writer.read(lambda: client.get_app(app_id))
                if not carries_marker(app.get("Description") if isinstance(app, dict) else None, made.marker):
                    note = f"; its app {app_id} was kept: it does not carry the marker of the app this run created"
                    rows.add_note(group.rows, note)
                    rows.flush()
                    return
            try:
                items = await self.ctx.writer.read(lambda: client.list_credentials(app_id))
            except NotFound:
                items = []
            foreign = foreign_credentials(items, journal.credentials_of_app(app_id))
            if foreign:
                note = f"; its app {app_id} was kept: it holds {foreign} credential(s) the migration did not create"
                rows.add_note(group.rows, note)
                rows.flush()
                return
            await self.ctx.writer.delete(lambda: client.delete_app(app_id))
        except Stopped:
            return
        except NotFound:  # already gone
            pass
        except PortalError as exc:
            note = f"; its app {app_id} (created by this run, no credential succeeded) could not be deleted: "
            rows.add_note(group.rows, note + error_text(exc))
            return
        journal.app_outcome(group.user_id, group.app_name, "deleted", app_id=app_id)
        for rec in list(journal.credentials_of_app(app_id)):
            if rec.state in ("intent", "mismatch"):
                journal.credential_outcome(rec.fingerprint, FAILED, error=(rec.error or "") + " (app deleted)")
        note = f"; its app {app_id} was deleted again because no credential of it succeeded"
        rows.add_note(group.rows, note, app_id=None, credential_id=None)
        rows.flush()
        self.report()


class AppWrite:
    """``POST /apps`` for one group, as a write kind of the protocol. ``prior``: the apps of this owner and name
    a listing showed before the (next) POST: only an app outside it can be the one the POST made. ``marker``:
    the token the POST writes into the app's Description, journalled with the intent: the proof it is ours."""

    urgent = True  # a group's credentials wait for its app

    def __init__(self, apps: Apps, group: AppGroup, *, prior: list[int], marker: str) -> None:
        self.apps, self.group, self.prior, self.marker = apps, group, prior, marker

    def intent(self, attempt: int) -> Callable[[], None]:
        g, journal = self.group, self.apps.ctx.journal
        before = journal.app_before_intent(g.user_id, g.app_name)
        journal.app_intent(
            g.user_id,
            g.app_name,
            run_id=self.apps.ctx.run_id,
            attempts=attempt,
            prior_app_ids=self.prior,
            marker=self.marker,
        )
        return lambda: journal.withdraw_app_intent(g.user_id, g.app_name, before)

    async def send(self) -> int:
        g = self.group
        body = await self.apps.ctx.client.create_app(g.app_name, g.user_id, description=app_description(self.marker))
        app_id = int_or_none(body.get("ID")) if isinstance(body, dict) else None
        if app_id is None:
            raise AnswerWithoutId("the app answer has no ID", method="POST", path="/apps")
        return app_id

    async def look_up(self, since: float) -> int | None:
        """The app the lost POST made, listed again (listing lag) until the patience since the send is used up;
        None: not there (send again). ``ForeignApp``: only someone else's app of the name is there: reuse it."""
        g, apps = self.group, self.apps
        patience = apps.ctx.client.settings.lookup_patience
        listed_after = since
        while True:
            found, began = await apps.listing.app_ids_as_of(g.user_id, g.app_name, listed_after)
            current = apps.ctx.journal.app(g.user_id, g.app_name)
            made = oldest_app(await apps.made_by(current, found)) if current is not None else None
            if made is not None:
                return made
            if began >= since + patience:  # "not there" only from a walk begun once the lag could have passed
                break
            await patiently(apps.ctx.gate, since, patience)
            # of a walk begun after this wait: a shared walk another lookup began earlier may predate the lag
            listed_after = time.perf_counter()
        others = [i for i in found if i not in set(self.prior)]
        if others and current is not None and current.marker is not None:
            raise ForeignApp(min(others))
        self.prior = found
        return None

    async def made_by_another(self) -> int | None:
        """Our POST sent nothing: send again at once, no lookup and no listing lag to wait out. Only an app
        carrying this intent's marker would be ours, and none can be there; an app of the name that someone
        else made meanwhile is the risk the listing before the POST already takes (a walk of every app per
        failed connect would not lower it)."""
        return None

    def exists(self, refusal: Rejected) -> bool:
        return False  # app names are not unique in the portal: no refusal means "it is there"

    async def settle(self, outcome: Outcome[int]) -> int:
        """Journal the app's outcome; raise what ``Apps.task`` turns into the group's error."""
        g, journal, run_id = self.group, self.apps.ctx.journal, self.apps.ctx.run_id
        if outcome.kind in ("posted", "adopted"):
            app_id = outcome.value
            assert app_id is not None
            posted = outcome.kind == "posted"
            journal.app_outcome(
                g.user_id,
                g.app_name,
                CREATED,
                app_id=app_id,
                run_id=run_id,
                how=outcome.kind,
                http_status=200 if posted else outcome.http_status,
                attempts=outcome.attempts,
            )
            if posted:
                self.apps.listing.index.setdefault((g.user_id, g.app_name), []).append(app_id)
            g.created_here = True
            return app_id
        if outcome.kind == "stopped":
            raise Stopped
        if outcome.kind in ("unresolved", "conflict"):
            raise Unresolved(outcome.reason or "")
        last = outcome.error
        if outcome.kind == "refused":
            assert last is not None
            error = error_text(last)
        else:
            error = f"gave up after {outcome.attempts} attempts: {error_text(last) if last else 'no answer'}"
        journal.app_outcome(
            g.user_id, g.app_name, FAILED, attempts=outcome.attempts, http_status=outcome.http_status, error=error
        )
        raise last if last is not None else MigrateError(error)
