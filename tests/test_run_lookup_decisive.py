"""A lookup's "not there" comes only from a listing begun once the patience since the send was up: not from a
slow listing begun earlier, not from a cached walk after a long backoff, and on a rerun the patience counts
from this run's start at the earliest (the killed run's POST may have left seconds after its intent). Found
by a review of 3f0a8cc (helper-46); what a lookup costs (listings per lost write, a stop's wait) is here too."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest
from run_helpers import USERS, make_plan, portal_audit

from tyk_migrate.config import Settings
from tyk_migrate.errors import PortalConnectionError, PortalServerError
from tyk_migrate.portal import AsyncPortalClient
from tyk_migrate.run import Migration

CLEAN = {"missing": [], "duplicate_credentials": [], "wrong": [], "status_mismatch": [], "duplicate_apps": []}


def settings_for(sb: Any, **kw: Any) -> Settings:
    return replace(Settings(portal_url=sb.portal_url, token=sb.token), **kw)


def migrate(client: AsyncPortalClient, plan: Any, path: Any, *, on_start: Any = None) -> Migration:
    async def go() -> Migration:
        async with client:
            migration = Migration(plan, client, path)
            if on_start is not None:
                on_start(migration)
            await migration.run()
            return migration

    return asyncio.run(go())


def lost_504(path: str) -> PortalServerError:
    return PortalServerError("504 Gateway Timeout", method="POST", path=path, status=504)


def existing_app_plan(sb: Any) -> pd.DataFrame:
    """One row adding a credential to an app of the seed's developers (no app workflow involved)."""
    plan = make_plan(1)
    app = next(a for a in sb.snapshot()["apps"] if a["UserID"] in USERS)
    plan["action"], plan["app_name"] = "add_credential", app["Name"]
    plan["app_id"], plan["user_id"] = (pd.array([int(app[k])], dtype="Int64") for k in ("ID", "UserID"))
    return plan


# -- 1. the last listing of a lookup begins before the patience is up when a listing is slow ------------------
class LostAppSlowWalk(AsyncPortalClient):
    """The first app POST lands, its answer is lost (504). A walk of /apps begun 0.3-1.0 s after the loss is
    answered by the portal at once (it misses the app: listing lag) but reaches the client only just after
    the patience is up: a slow page, a congested link, a page of a long walk retried while the last page
    (where a new app is, highest ID) was answered early."""

    def __init__(self, *a: Any, patience: float, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.patience = patience
        self.lost_at: float | None = None
        self.app_posts = 0
        self.walks: list[tuple[float, float]] = []

    async def create_app(self, name: str, user_id: int, **kw: Any) -> Any:
        self.app_posts += 1
        body = await super().create_app(name, user_id, **kw)
        if self.lost_at is None:
            self.lost_at = time.perf_counter()
            raise lost_504("/apps")
        return body

    async def list_apps(self, *a: Any, **kw: Any) -> Any:
        begun = time.perf_counter()
        listing = await super().list_apps(*a, **kw)
        if self.lost_at is not None and 0.3 <= begun - self.lost_at < 1.0:
            await asyncio.sleep(self.lost_at + self.patience + 0.1 - time.perf_counter())
        if self.lost_at is not None:
            self.walks.append((round(begun - self.lost_at, 2), round(time.perf_counter() - self.lost_at, 2)))
        return listing


def test_app_not_there_is_not_decided_from_a_slow_walk_begun_before_the_listing_lag_passed(make_sandbox, tmp_path):
    """HIGH, duplicate app. ``AppWrite.look_up`` lists, waits (doubling), lists again, and once ``patiently``
    says the patience is up it answers "not there" from the listing it just made. That listing is of a walk
    begun after the *previous* wait (``listed_after``), not after since+patience: if the walk takes longer than
    what was left of the patience, "not there" comes from a walk begun ~0.4 s after the loss. Hostile lag
    (1 s) under the default patience (2 s), one slow walk: the app is POSTed again, two apps of one owner and
    name. abe0bba (list at once, sleep the rest of the patience, list) decided from a walk begun at since+2 s.
    Fix idea: a listing only counts as the deciding one if it began at or after since+patience (loop until
    ``listed_after >= since + patience``, as ``Apps.inherited`` does)."""
    patience = 2.0
    sb = make_sandbox(behaviour={"listing-lag-ms": "1000"})
    plan = make_plan(3)  # one group needing a new app
    client = LostAppSlowWalk(settings=settings_for(sb, lookup_patience=patience), patience=patience)
    migrate(client, plan, tmp_path / "j")
    audit = portal_audit(sb.snapshot(), plan)
    assert client.app_posts == 1 and audit == CLEAN, (client.app_posts, client.walks, audit)


class LostCredentialSlowListing(AsyncPortalClient):
    """The same for a credential: the first POST lands, its answer is lost; an app's credential listing begun
    0.3-1.0 s after the loss reaches the client just after the patience is up."""

    def __init__(self, *a: Any, patience: float, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.patience = patience
        self.lost_at: float | None = None
        self.posts = 0
        self.lists: list[tuple[float, float]] = []

    async def create_credential(self, app_id: int, **kw: Any) -> Any:
        self.posts += 1
        body = await super().create_credential(app_id, **kw)
        if self.lost_at is None:
            self.lost_at = time.perf_counter()
            raise lost_504("/custom_credentials")
        return body

    async def list_credentials(self, app_id: int) -> Any:
        begun = time.perf_counter()
        items = await super().list_credentials(app_id)
        if self.lost_at is not None and 0.3 <= begun - self.lost_at < 1.0:
            await asyncio.sleep(self.lost_at + self.patience + 0.1 - time.perf_counter())
        if self.lost_at is not None:
            self.lists.append((round(begun - self.lost_at, 2), round(time.perf_counter() - self.lost_at, 2)))
        return items


def test_credential_not_there_is_not_decided_from_a_slow_listing_begun_before_the_lag_passed(make_sandbox, tmp_path):
    """HIGH, duplicate credential (``duplicate-key=overwrite``, the realistic and hostile profiles' value: the
    portal takes a second credential of the key). ``CredentialWrite.look_up`` returns "not there" from the
    listing made before ``patiently`` says the patience is up; a listing begun 0.4 s after the loss that
    answers after the patience decides, under a 1 s lag shorter than the 2 s patience. Same cause as the
    app test above."""
    patience = 2.0
    sb = make_sandbox(behaviour={"listing-lag-ms": "1000", "duplicate-key": "overwrite"})
    plan = existing_app_plan(sb)
    client = LostCredentialSlowListing(settings=settings_for(sb, lookup_patience=patience), patience=patience)
    migrate(client, plan, tmp_path / "j")
    audit = portal_audit(sb.snapshot(), plan)
    assert client.posts == 1 and audit == CLEAN, (client.posts, client.lists, audit)


# -- 2. a lookup that begins after its patience is up decides from a cached walk -------------------------------
class FlappingPortal(AsyncPortalClient):
    """Group A's app POST: four connects refused (nothing sent), then one that lands and loses its answer: its
    fifth backoff (1.6-3.2 s) outlasts the patience. Group B's app POST landed early, but its answer hangs until
    A's is lost, then is a 504 (a gateway timeout): B's lookup walks /apps at once, finds its app, and leaves
    that walk, begun 0.1-0.2 s after A's loss, as the run's newest listing."""

    def __init__(self, *a: Any, a_name: str, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.a_name = a_name
        self.a_posts = 0
        self.a_lost = asyncio.Event()
        self.lost_at: float | None = None
        self.walks: list[float] = []

    async def create_app(self, name: str, user_id: int, **kw: Any) -> Any:
        if name != self.a_name:
            body = await super().create_app(name, user_id, **kw)
            if not self.a_lost.is_set():
                await self.a_lost.wait()
                raise lost_504("/apps")
            return body
        self.a_posts += 1
        if self.a_posts <= 4:
            raise PortalConnectionError("connection refused", sent=False, method="POST", path="/apps")
        body = await super().create_app(name, user_id, **kw)
        if self.a_posts == 5:
            self.lost_at = time.perf_counter()
            self.a_lost.set()
            raise lost_504("/apps")
        return body

    async def list_apps(self, *a: Any, **kw: Any) -> Any:
        if self.lost_at is not None:
            self.walks.append(round(time.perf_counter() - self.lost_at, 2))
        return await super().list_apps(*a, **kw)


def test_a_lookup_whose_backoff_outlasted_the_patience_does_not_decide_from_a_cached_walk(make_sandbox, tmp_path):
    """HIGH, duplicate app. ``look_up(since)`` first takes any index of a walk begun at or after ``since`` (the
    loss), then asks ``patiently``, which says the patience is up when the write's backoff was longer than the
    patience (a fifth failure backs off 1.6-3.2 s; default patience 2 s, here 1.5 s so it is certain): "not
    there" comes from another lookup's walk begun 0.15 s after the loss, under a 1 s lag. The app is POSTed
    again. Fix idea: the deciding listing must begin at or after since+patience whatever the backoff."""
    sb = make_sandbox(behaviour={"listing-lag-ms": "1000"})
    plan = make_plan(2, keys_per_app=1)  # two groups, each needing a new app
    a_name = str(plan.loc[0, "app_name"])
    client = FlappingPortal(settings=settings_for(sb, lookup_patience=1.5), a_name=a_name)
    migrate(client, plan, tmp_path / "j")
    audit = portal_audit(sb.snapshot(), plan)
    assert client.a_posts == 5 and audit == CLEAN, (client.a_posts, client.walks, audit)


# -- 3. measurements: listings per lost write, a stop during a lookup of a write that did not land ----------
class UnlandedCredentialPosts(AsyncPortalClient):
    """The first credential POST gets a 500 and does not land; credential listings are counted."""

    def __init__(self, *a: Any, on_lost: Any = None, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.on_lost = on_lost
        self.lost_at: float | None = None
        self.lists: list[float] = []

    async def create_credential(self, app_id: int, **kw: Any) -> Any:
        if self.lost_at is None:
            self.lost_at = time.perf_counter()
            if self.on_lost is not None:
                self.on_lost()
            raise PortalServerError("500", method="POST", path="/custom_credentials", status=500)
        return await super().create_credential(app_id, **kw)

    async def list_credentials(self, app_id: int) -> Any:
        if self.lost_at is not None:
            self.lists.append(round(time.perf_counter() - self.lost_at, 2))
        return await super().list_credentials(app_id)


def test_listings_per_unlanded_write_at_the_default_patience(make_sandbox, tmp_path):
    """Measure (holds on 3f0a8cc): a write that did not land costs at most five listings at the default 2 s
    patience, the last begun after the patience (its docstring's promise)."""
    sb = make_sandbox()
    plan = existing_app_plan(sb)
    client = UnlandedCredentialPosts(settings=settings_for(sb, lookup_patience=2.0))
    migrate(client, plan, tmp_path / "j")
    assert plan["status"].tolist() == ["created"] and portal_audit(sb.snapshot(), plan) == CLEAN
    assert 2 <= len(client.lists) <= 5 and client.lists[-1] >= 2.0, client.lists


@pytest.mark.xfail(strict=True, reason="known: a stop lets a started lookup use up its patience (docs/running.md)")
def test_a_stop_during_the_lookup_of_a_write_that_did_not_land_ends_the_run_soon(make_sandbox, tmp_path):
    """MEDIUM, a stop feels hung. Stop asked for as a credential POST fails with a 500 that did not land: the
    lookup's waits are not abortable, so the run holds the stop until the whole patience is used up (4 s here;
    30 s at TYK_LOOKUP_PATIENCE=30, which preflight raises for a laggy portal) before its last listing. A
    stopped lookup could leave the intent open (a rerun or rollback settles it) after the listing at hand."""
    sb = make_sandbox()
    plan = existing_app_plan(sb)
    holder: list[Migration] = []
    client = UnlandedCredentialPosts(settings=settings_for(sb, lookup_patience=4.0), on_lost=lambda: holder[0].stop())
    migrate(client, plan, tmp_path / "j", on_start=holder.append)
    assert client.lost_at is not None
    seconds = time.perf_counter() - client.lost_at
    assert portal_audit(sb.snapshot(), plan)["duplicate_credentials"] == []
    assert seconds < 2.0, f"the stopped run ended {seconds:.1f} s after the failed POST (listings at {client.lists})"


# -- 4. a rerun's open intent: the patience counts from the intent, not from the send ------------------------
def test_a_rerun_right_after_a_kill_does_not_double_an_app_whose_post_waited_for_its_slot(make_sandbox, tmp_path):
    """MEDIUM, duplicate app (pre-existing, not 3f0a8cc's). An app intent is journalled *before* the write
    waits for its slot (``ExactlyOnce._send``: up to twice the limit are journalled ahead; a busy or paced
    portal keeps them there for seconds). ``Apps.inherited`` counts the listing lag from the journalled
    ``intent_at``: the killed run's POST, sent 2.3 s after its intent, landed just before the kill, and a rerun
    started at once under a 1 s lag (patience 2 s) finds ``listed_from >= since + patience`` at its first walk,
    which misses the app, and POSTs a second one (both carry the marker, so rollback would take both, but the
    promise is one app). Fix idea: journal when the write left (a "sent" stamp, as users have), or count the
    patience from the later of intent_at and the rerun's start."""
    from tyk_migrate.journal import Journal, input_identity
    from tyk_migrate.ownership import app_description, new_marker
    from tyk_migrate.run import apply_plan

    sb = make_sandbox(behaviour={"listing-lag-ms": "1000"})
    plan = make_plan(1)
    user, name, marker = int(plan.loc[0, "user_id"]), str(plan.loc[0, "app_name"]), new_marker()
    path = tmp_path / "j"
    with Journal(path) as journal:
        journal.bind(input_identity(plan["key_fingerprint"]))
        journal.bind_portal(sb.portal_url)
        run = journal.begin_run()
        journal.app_intent(user, name, run_id=run, attempts=1, prior_app_ids=(), marker=marker)
    time.sleep(2.3)  # the write waits for its slot
    import httpx

    answer = httpx.post(
        sb.portal_url + "/apps",
        headers={"Authorization": sb.token},
        json={"Name": name, "UserID": user, "Description": app_description(marker)},
    )
    answer.raise_for_status()  # landed; the run is killed before it reads the answer
    apply_plan(plan, settings_for(sb), path)
    audit = portal_audit(sb.snapshot(), plan)
    assert audit == CLEAN, audit
