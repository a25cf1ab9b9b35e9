"""A lookup after a lost answer waits out the listing lag without deciding "not there" too early (a second POST:
a duplicate app) nor waiting the whole patience for a write the listing shows a moment later (a row and a stop
held for nothing). Found by a review of abe0bba, which listed only at once and after the whole patience."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pandas as pd
from run_helpers import USERS, make_plan, portal_audit

from tyk_migrate.config import Settings
from tyk_migrate.errors import PortalServerError
from tyk_migrate.portal import AsyncPortalClient
from tyk_migrate.run import Migration

CLEAN = {"missing": [], "duplicate_credentials": [], "wrong": [], "status_mismatch": [], "duplicate_apps": []}


def settings_for(sb: Any, **kw: Any) -> Settings:
    return replace(Settings(portal_url=sb.portal_url, token=sb.token), **kw)


def migrate(client: AsyncPortalClient, plan: Any, path: Any, **kw: Any) -> Migration:
    async def go() -> Migration:
        async with client:
            migration = Migration(plan, client, path, **kw)
            await migration.run()
            return migration

    return asyncio.run(go())


class LosesTwoAppAnswers(AsyncPortalClient):
    """The first two app POSTs land but their answers are lost (a 504 after the write committed, as the sandbox's
    ``lost`` fault does), the second half a second after the first: two lookups of /apps overlap."""

    def __init__(self, *a: Any, stagger: float = 0.5, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.stagger = stagger
        self.app_posts: list[float] = []
        self.walks: list[float] = []

    async def create_app(self, name: str, user_id: int, **kw: Any) -> Any:
        n = len(self.app_posts)
        if n == 1:
            await asyncio.sleep(self.stagger)
        self.app_posts.append(time.perf_counter())
        body = await super().create_app(name, user_id, **kw)
        if n < 2:
            raise PortalServerError("504 Gateway Timeout", method="POST", path="/apps", status=504)
        return body

    async def list_apps(self, *a: Any, **kw: Any) -> Any:
        self.walks.append(time.perf_counter())
        return await super().list_apps(*a, **kw)


def test_a_lost_app_post_is_not_declared_missing_from_a_walk_begun_long_before_the_patience_was_up(
    make_sandbox, tmp_path
):
    """Two lost app answers half a second apart under a 1 s lag: the second lookup's walk, begun while the
    listing still lags the first write, is not taken for the first lookup's "not there". In abe0bba (list at
    once, then once after the whole patience, accepting any walk begun since the first listing) it was, and
    the app was POSTed twice (HIGH, found by helper-45, fixed in 3f0a8cc)."""
    sb = make_sandbox(behaviour={"listing-lag-ms": "1000"})
    plan = make_plan(6)  # two groups, each needing a new app
    client = LosesTwoAppAnswers(settings=settings_for(sb, lookup_patience=2.0))
    migrate(client, plan, tmp_path / "j")
    audit = portal_audit(sb.snapshot(), plan)
    assert audit["duplicate_apps"] == [], (audit, [round(t - client.app_posts[0], 2) for t in client.walks])
    assert audit == CLEAN


def test_lost_app_answers_under_listing_lag_make_no_duplicate_apps_in_a_real_run(make_sandbox, tmp_path):
    """The same with nothing but sandbox faults: ``--faults lost=8%`` (the write commits, the answer is a 504)
    and ``--behaviour listing-lag-ms=1000``, 200 keys each in an app of its own, overlapping lookups. abe0bba
    made 3-12 duplicate apps per run (random seeds 0-3); none before it, none since 3f0a8cc."""
    sb = make_sandbox(faults="lost=8%", random_seed=3, behaviour={"listing-lag-ms": "1000"})
    plan = make_plan(200, keys_per_app=1)
    migrate(AsyncPortalClient(settings=settings_for(sb)), plan, tmp_path / "j")
    assert portal_audit(sb.snapshot(), plan) == CLEAN


class LosesFirstCredentialAnswer(AsyncPortalClient):
    """The first credential POST lands but its answer is lost (504); ``on_lost`` runs then (e.g. a stop)."""

    def __init__(self, *a: Any, on_lost: Any = None, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.on_lost = on_lost
        self.lost_at: float | None = None

    async def create_credential(self, app_id: int, **kw: Any) -> Any:
        body = await super().create_credential(app_id, **kw)
        if self.lost_at is None:
            self.lost_at = time.perf_counter()
            if self.on_lost is not None:
                self.on_lost()
            raise PortalServerError("504 Gateway Timeout", method="POST", path="/custom_credentials", status=504)
        return body


def run_one_lost_credential(make_sandbox: Any, tmp_path: Any, *, stop: bool) -> tuple[float, Any, Any]:
    sb = make_sandbox(behaviour={"listing-lag-ms": "300"})  # the realistic profile's lag
    plan = make_plan(1)
    app = next(a for a in sb.snapshot()["apps"] if a["UserID"] in USERS)  # an app of the seed's developers
    plan["action"], plan["app_name"] = "add_credential", app["Name"]
    plan["app_id"], plan["user_id"] = (pd.array([int(app[k])], dtype="Int64") for k in ("ID", "UserID"))
    holder: list[Migration] = []
    client = LosesFirstCredentialAnswer(
        settings=settings_for(sb, lookup_patience=6.0), on_lost=(lambda: holder[0].stop()) if stop else None
    )

    async def go() -> None:
        async with client:
            holder.append(Migration(plan, client, tmp_path / "j"))
            await holder[0].run()

    asyncio.run(go())
    assert client.lost_at is not None
    return time.perf_counter() - client.lost_at, plan, sb


def test_a_landed_write_behind_a_short_listing_lag_is_found_soon_not_after_the_whole_patience(make_sandbox, tmp_path):
    """A lost answer whose write landed, behind a 300 ms listing lag (the realistic profile's): the first listing
    (0.1-0.2 s after the loss, the retry backoff) misses it, and the next ones find it after about the lag,
    not after the whole patience (6 s here; TYK_LOOKUP_PATIENCE=30 -> 30 s). In abe0bba the row waited the
    whole patience (MEDIUM, found by helper-45, fixed in 3f0a8cc by the doubling waits)."""
    seconds, plan, sb = run_one_lost_credential(make_sandbox, tmp_path, stop=False)
    assert plan["status"].tolist() == ["created"] and portal_audit(sb.snapshot(), plan) == CLEAN
    assert seconds < 3.0, f"the landed credential was adopted {seconds:.1f} s after its answer was lost"


def test_a_stop_during_a_lookup_of_a_landed_write_ends_the_run_soon(make_sandbox, tmp_path):
    """A stop asked for as the answer is lost ends the run soon after the credential is listed (0.3 s after the
    loss), not after the whole patience. In abe0bba the lookup's one unabortable sleep held the stop for the
    patience (6 s here; MEDIUM, found by helper-45, fixed in 3f0a8cc)."""
    seconds, plan, _ = run_one_lost_credential(make_sandbox, tmp_path, stop=True)
    assert plan["status"].tolist() == ["created"], plan["error"].tolist()
    assert seconds < 3.0, f"the stopped run ended {seconds:.1f} s after the lost answer"
