"""Fetch the portal's state into DataFrames: the other half of every plan and reconciliation.

``fetch_snapshot`` reads users, products, plans and apps (paged), each list followed at once by what
depends on it alone (plan and product details, each apps page's credentials), and turns the API's objects
into snake_case frames checked by pandera models. Building the frames is pure (``PortalSnapshot.from_api``,
builders in ``snapshot_frames``), so tests and benchmarks can make a snapshot from seed-shaped dicts without a
portal.

Two details of the official API shape the code: ``GET /plans`` answers a summary without ``ReferenceID``
(the natural join key for legacy policy IDs), so plans lacking it are read one by one; and credentials
carry ``PlanID`` as a string, converted to an integer here once so nothing downstream has to care.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, partial
from typing import Any, cast

import pandas as pd

from .aio import run_sync
from .concurrency import AdaptiveReads
from .config import Settings
from .portal import APPS_PATH, AsyncPortalClient, PortalClient
from .secrets import KeyValue, SecretKey, fingerprint
from .snapshot_frames import (
    PLAN_LIMIT_FIELDS,
    PROVIDER_ADMIN_ROLES,
    SnapshotApps,
    SnapshotCredentials,
    SnapshotPlans,
    SnapshotProducts,
    SnapshotUsers,
    _int,
    apps_frame,
    credentials_frame,
    is_portal_admin,
    plans_frame,
    products_frame,
    users_frame,
)

# the frame models and builders live in snapshot_frames; importable from here as before
__all__ = [
    "PLAN_LIMIT_FIELDS",
    "PROGRESS_MIN_APPS",
    "PROVIDER_ADMIN_ROLES",
    "AppsWalk",
    "PortalSnapshot",
    "SnapshotApps",
    "SnapshotCredentials",
    "SnapshotPlans",
    "SnapshotProducts",
    "SnapshotUsers",
    "apps_frame",
    "credentials_frame",
    "fetch_snapshot",
    "fetch_snapshot_async",
    "is_portal_admin",
    "plans_frame",
    "products_frame",
    "users_frame",
]

#: Show a progress bar by default when a portal has at least this many apps.
PROGRESS_MIN_APPS = 200


@dataclass(frozen=True)
class AppsWalk:
    """A snapshot's walk of ``/apps``: the apps as the portal listed them (raw), in a walk begun at ``started``
    (``time.perf_counter()``). A run that held the portal's lock since before ``started``, begun shortly after,
    takes it for its own first listing (``Migration(apps_listed=...)``) instead of walking ``/apps`` again."""

    portal_url: str
    started: float
    apps: list[dict[str, Any]] = field(repr=False)


@dataclass
class PortalSnapshot:
    """The portal at one moment, as frames. Planning and reconciliation read only this, never the API."""

    users: pd.DataFrame
    products: pd.DataFrame
    plans: pd.DataFrame
    apps: pd.DataFrame
    credentials: pd.DataFrame
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    portal_url: str = ""
    #: the walk of /apps the frames came from (None for a snapshot not read from a portal)
    apps_walk: AppsWalk | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(
        cls,
        *,
        users: Iterable[dict[str, Any]] = (),
        products: Iterable[dict[str, Any]] = (),
        plans: Iterable[dict[str, Any]] = (),
        apps: Iterable[dict[str, Any]] = (),
        credentials: Iterable[dict[str, Any]] = (),
        portal_url: str = "",
        fetched_at: datetime | None = None,
    ) -> PortalSnapshot:
        """Frames from objects shaped as the API answers them (credentials with an ``AppID`` field)."""
        apps_df = apps_frame(apps)
        return cls(
            users=users_frame(users),
            products=products_frame(products),
            plans=plans_frame(plans),
            apps=apps_df,
            credentials=credentials_frame(credentials, apps_df),
            fetched_at=fetched_at or datetime.now(UTC),
            portal_url=portal_url,
        )

    @classmethod
    def from_seed(cls, seed: dict[str, Any], *, portal_url: str = "seed") -> PortalSnapshot:
        """A snapshot of a sandbox seed (``data-samples/sandbox_seed.json`` shape), without a sandbox."""
        return cls.from_api(
            users=seed.get("users", []),
            products=seed.get("products", []),
            plans=seed.get("plans", []),
            apps=seed.get("apps", []),
            credentials=seed.get("custom_credentials", []),
            portal_url=portal_url,
        )

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(getattr(self, n))}" for n in ("users", "products", "plans", "apps", "credentials"))
        return f"PortalSnapshot({self.portal_url!r}, {sizes}, fetched_at={self.fetched_at:%Y-%m-%d %H:%M:%S})"

    @cached_property
    def _apps_by_owner_name(self) -> dict[tuple[int, str], list[int]]:
        index: dict[tuple[int, str], list[int]] = {}
        ordered = self.apps.sort_values("app_id")
        for app_id, user_id, name in zip(ordered["app_id"], ordered["user_id"], ordered["name"], strict=True):
            index.setdefault((int(user_id), str(name).strip()), []).append(int(app_id))
        return index

    def app_ids_named(self, user_id: int, name: str) -> list[int]:
        """IDs of ``user_id``'s apps called ``name`` (trimmed, case-sensitive), oldest first."""
        return list(self._apps_by_owner_name.get((int(user_id), str(name).strip()), []))

    def find_app(self, user_id: int, name: str) -> pd.Series | None:
        """The user's app with that name (the oldest if several), or None."""
        ids = self.app_ids_named(user_id, name)
        if not ids:
            return None
        return self.apps.loc[self.apps["app_id"] == ids[0]].iloc[0]

    @cached_property
    def credentials_by_fingerprint(self) -> pd.DataFrame:
        """Credentials indexed by ``key_fingerprint``, the oldest of each key: a portal that lets a key be
        imported twice (TYK-FACTS.md) holds it in several credentials, all of them in ``credentials``."""
        known = self.credentials[self.credentials["key_fingerprint"].notna()]
        return known.drop_duplicates("key_fingerprint").set_index("key_fingerprint", drop=False)

    def find_credential(self, key_or_fingerprint: KeyValue) -> pd.Series | None:
        """The credential holding this key (raw key, ``SecretKey`` or fingerprint), or None."""
        fp = (
            key_or_fingerprint
            if not isinstance(key_or_fingerprint, SecretKey)
            and len(key_or_fingerprint) == 16
            and key_or_fingerprint in self.credentials_by_fingerprint.index
            else fingerprint(key_or_fingerprint)
        )
        if fp not in self.credentials_by_fingerprint.index:
            return None
        return cast(pd.Series, self.credentials_by_fingerprint.loc[fp])


# -- fetching ---------------------------------------------------------------------------------------


def _progress_bar(total: int, progress: bool | None, desc: str) -> Any:
    from tqdm.auto import tqdm

    disable: bool | None = (not progress) if progress is not None else (True if total < PROGRESS_MIN_APPS else None)
    return tqdm(total=total, desc=desc, unit="app", disable=disable, file=sys.stderr)


def _merge_plan_detail(summary: dict[str, Any], detail: Any) -> dict[str, Any]:
    """A plan list entry completed by its detail (``ReferenceID``); list values win where both exist."""
    return {**detail, **summary, "ReferenceID": detail.get("ReferenceID")} if isinstance(detail, dict) else summary


def _needs_detail(plan: dict[str, Any]) -> bool:
    return not plan.get("ReferenceID")


def _needs_listen_paths(product: dict[str, Any]) -> bool:
    """The product list omits ``ListenPath`` (only ``GET /products/{id}`` has it): the gateway check needs it."""
    details = product.get("APIDetails") or []
    return any(isinstance(d, dict) and not d.get("ListenPath") for d in details)


def _merge_product_detail(summary: dict[str, Any], detail: Any) -> dict[str, Any]:
    return {**summary, **detail} if isinstance(detail, dict) else summary


def _complete(
    items: list[dict[str, Any]],
    fetched_for: list[dict[str, Any]],
    details: list[Any],
    merge: Callable[[dict[str, Any], Any], dict[str, Any]],
) -> list[dict[str, Any]]:
    by_id = {p["ID"]: d for p, d in zip(fetched_for, details, strict=True)}
    return [merge(p, by_id[p["ID"]]) if p["ID"] in by_id else p for p in items]


def _with_app(creds: list[dict[str, Any]], app_id: int) -> list[dict[str, Any]]:
    return [{**c, "AppID": app_id} for c in creds]


async def _in_full(
    reads: AdaptiveReads,
    listing: Awaitable[list[dict[str, Any]]],
    needs_detail: Callable[[dict[str, Any]], bool],
    get: Callable[[int], Awaitable[Any]],
    merge: Callable[[dict[str, Any], Any], dict[str, Any]],
) -> list[dict[str, Any]]:
    """A list whose items lack fields, completed by reading those items one by one."""
    items = await listing
    thin = [item for item in items if needs_detail(item)]
    return _complete(items, thin, await reads.gather(*(get(item["ID"]) for item in thin)), merge)


class _AppsAndCredentials:
    """The apps, page by page, and each app's credentials, listed as soon as its page is in."""

    def __init__(self, reads: AdaptiveReads, progress: bool | None) -> None:
        self.reads, self.progress = reads, progress
        self.credentials: list[dict[str, Any]] = []
        self._listings: list[asyncio.Task[None]] = []
        self._done = 0
        self._bar: Any = None  # made once the number of apps is known, as before
        self.walk: AppsWalk | None = None

    async def _list(self, app_id: int) -> None:
        creds = await self.reads.portal.list_credentials(app_id)
        self.credentials.extend(_with_app(creds, app_id))
        self._done += 1
        if self._bar is not None:
            self._bar.update(1)

    def _page(self, apps: list[dict[str, Any]]) -> None:
        self._listings.extend(asyncio.ensure_future(self._list(int(a["ID"]))) for a in apps)

    async def fetch(self) -> list[dict[str, Any]]:
        try:
            started = time.perf_counter()
            apps = await self.reads.walk(APPS_PATH, on_page=self._page)
            self.walk = AppsWalk(self.reads.client.base_url, started, apps)
            self._bar = _progress_bar(len(apps), self.progress, "credentials")
            self._bar.update(self._done)
            await self.reads.gather(*self._listings)  # the first failure cancels the rest
            return apps
        finally:
            for task in self._listings:  # a failed walk leaves no listing running
                task.cancel()
            await asyncio.gather(*self._listings, return_exceptions=True)
            if self._bar is not None:
                self._bar.close()


async def fetch_snapshot_async(
    client: AsyncPortalClient, *, progress: bool | None = None, concurrency: int = 16
) -> PortalSnapshot:
    """Read the whole portal with at most ``concurrency`` requests in flight (credentials are listed per app).

    The reads adapt to the portal as the runner's do (``AdaptiveReads``): fewer in flight on 429/503,
    each refused request tried again after its ``Retry-After`` (or a backoff) without holding a slot, so a
    throttling portal slows the fetch down instead of failing it.
    """
    fetched_at = datetime.now(UTC)
    async with AdaptiveReads(client, concurrency=concurrency) as reads:
        portal = reads.portal  # the client's operations, every request under the adaptive limit
        # Each list is followed by what depends on it alone, as soon as it is in: a plan's or a product's
        # detail does not wait for the users, nor an app's credentials for the other apps' pages.
        apps_and_credentials = _AppsAndCredentials(reads, progress)
        users, products, plans, apps = await reads.gather(
            portal.list_users(),
            _in_full(reads, portal.list_products(), _needs_listen_paths, portal.get_product, _merge_product_detail),
            _in_full(reads, portal.list_plans(), _needs_detail, portal.get_plan, _merge_plan_detail),
            apps_and_credentials.fetch(),
        )
    credentials = apps_and_credentials.credentials
    credentials.sort(key=lambda c: _int(c.get("ID")))
    snapshot = PortalSnapshot.from_api(
        users=users, products=products, plans=plans, apps=apps, credentials=credentials,
        portal_url=client.base_url, fetched_at=fetched_at,
    )  # fmt: skip
    snapshot.apps_walk = apps_and_credentials.walk
    return snapshot


def fetch_snapshot(
    client: PortalClient | AsyncPortalClient | Settings | None = None,
    *,
    progress: bool | None = None,
    concurrency: int = 16,
) -> PortalSnapshot:
    """Read the portal into a ``PortalSnapshot``; blocking, safe to call from a notebook cell.

    ``client`` may be a ``PortalClient`` (an async client of our own is built like it: settings, retry
    policy, ``per_page``, response hook, transport), ``Settings`` (used for an async client of our own), an
    ``AsyncPortalClient`` (used as given and left open), or None for the environment
    (``TYK_PORTAL_URL`` / ``TYK_PORTAL_TOKEN``). The fetch runs on an event loop, in a worker thread when
    one already runs (Jupyter).
    """
    if isinstance(client, AsyncPortalClient):
        given = client
        return run_sync(lambda: fetch_snapshot_async(given, progress=progress, concurrency=concurrency))
    make: Callable[[], AsyncPortalClient]
    if isinstance(client, PortalClient):
        make = client.async_twin
    else:
        make = partial(AsyncPortalClient, settings=client if isinstance(client, Settings) else Settings.from_env())

    async def fetch() -> PortalSnapshot:
        async with make() as own:
            return await fetch_snapshot_async(own, progress=progress, concurrency=concurrency)

    return run_sync(fetch)
