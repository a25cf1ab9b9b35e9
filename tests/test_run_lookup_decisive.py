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
async def answer_late_if_begun_early(lost_at: float | None, patience: float, begun: float, seen: list[Any]) -> None:
    """Hold back a listing begun 0.3-1.0 s after the loss until just after the patience is up (the portal
    answered at once, missing the write behind its lag); note every listing's (begun, answered) since the loss."""
    if lost_at is None:
        return
    if 0.3 <= begun - lost_at < 1.0:
        await asyncio.sleep(lost_at + patience + 0.1 - time.perf_counter())
    seen.append((round(begun - lost_at, 2), round(time.perf_counter() - lost_at, 2)))


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
        await answer_late_if_begun_early(self.lost_at, self.patience, begun, self.walks)
        return listing


def test_app_not_there_is_not_decided_from_a_slow_walk_begun_before_the_listing_lag_passed(make_sandbox, tmp_path):
    """A slow walk of /apps begun 0.4 s after a lost answer, under a 1 s lag (the hostile profile's) and the
    default 2 s patience, does not decide "not there": only a walk begun once the patience is up does. In
    3f0a8cc the listing made just before the patience ran out decided, and the app was POSTed twice (HIGH,
    found by helper-46, fixed in 762d95b)."""
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
        await answer_late_if_begun_early(self.lost_at, self.patience, begun, self.lists)
        return items


def test_credential_not_there_is_not_decided_from_a_slow_listing_begun_before_the_lag_passed(make_sandbox, tmp_path):
    """The same for a credential under ``duplicate-key=overwrite`` (the realistic and hostile profiles' value:
    the portal takes a second credential of the key): a slow listing begun 0.4 s after the loss does not
    decide. In 3f0a8cc it did, and the key got two credentials (HIGH, fixed in 762d95b)."""
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
    """A write whose backoff outlasted the patience (a fifth failure backs off 1.6-3.2 s; the patience here is
    1.5 s so that it does) is not declared missing from another lookup's walk, cached from 0.15 s after the
    loss, under a 1 s lag: the deciding walk begins after the patience whatever the backoff. Before 762d95b the
    cached walk decided and the app was POSTed again (HIGH, older than this issue, found by helper-46)."""
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
    """An app intent is journalled *before* the write waits for its slot (``ExactlyOnce._send``: up to twice the
    limit are journalled ahead; a busy or paced portal keeps them there for seconds). Here the killed run's
    POST left 2.3 s after its intent and landed just before the kill; a rerun started at once under a 1 s lag
    (patience 2 s) must not take its first walk, which misses the app, for "not there". The rerun counts the
    patience from its own start at the earliest (``RunContext.latest_send``). Before 762d95b it counted from
    ``intent_at`` and POSTed a second app (MEDIUM, older than this issue, found by helper-46)."""
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
