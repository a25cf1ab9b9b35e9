"""Fetch the portal's state into DataFrames: the other half of every plan and reconciliation.

``fetch_snapshot`` reads users, products, plans and apps (paged), then every app's custom credentials
concurrently, and turns the API's objects into snake_case frames checked by pandera models. Building the
frames is pure (``PortalSnapshot.from_api``), so tests and benchmarks can make a snapshot from seed-shaped
dicts without a portal.

Two details of the official API shape the code: ``GET /plans`` answers a summary without ``ReferenceID``
(the natural join key for legacy policy IDs), so plans lacking it are read one by one; and credentials
carry ``PlanID`` as a string, converted to an integer here once so nothing downstream has to care.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, partial
from typing import Any, cast

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from .aio import run_sync
from .concurrency import AdaptiveReads
from .config import Settings
from .errors import UnexpectedAnswer
from .portal import AsyncPortalClient, PortalClient
from .scrub import clip, mask_secretish
from .secrets import KeyValue, SecretKey, fingerprint, wrap_keys

#: Roles that run the portal itself (provider side). ``consumer-admin`` administers a developer
#: organisation: a developer, not a portal admin.
PROVIDER_ADMIN_ROLES = frozenset({"admin", "provider-admin", "super-admin", "superadmin"})
#: Show a progress bar by default when a portal has at least this many apps.
PROGRESS_MIN_APPS = 200


# -- frame models ----------------------------------------------------------------------------------
# Kept here rather than in schemas.py (owned by the loaders): the snapshot frames are built only here.


class SnapshotUsers(pa.DataFrameModel):
    user_id: Series[int] = pa.Field(unique=True)
    email: Series[str]
    first: Series[str]
    last: Series[str]
    active: Series[bool]
    org_id: Series[int]
    role: Series[str]
    is_admin: Series[bool]

    class Config:
        strict = True
        ordered = True
        coerce = True  # empty answers make object columns; coercion gives them the declared dtypes


class SnapshotProducts(pa.DataFrameModel):
    product_id: Series[int] = pa.Field(unique=True)
    name: Series[str]
    display_name: Series[str]
    reference_id: Series[str]
    api_ids: Series[object]
    listen_paths: Series[object]

    class Config:
        strict = True
        ordered = True
        coerce = True  # empty answers make object columns; coercion gives them the declared dtypes


class SnapshotPlans(pa.DataFrameModel):
    plan_id: Series[int] = pa.Field(unique=True)
    name: Series[str]
    display_name: Series[str]
    reference_id: Series[str]
    rate_limit: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    quota: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    # the limits a credential of the plan gets (tyk_migrate.limits reads them); NA = the portal did not say
    per: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    quota_renewal_rate: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    unlimited_rate_limit: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    unlimited_quota: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    key_expires_in: Series[pd.Float64Dtype] = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = True
        coerce = True  # empty answers make object columns; coercion gives them the declared dtypes


class SnapshotApps(pa.DataFrameModel):
    app_id: Series[int] = pa.Field(unique=True)
    name: Series[str]
    user_id: Series[int]
    visibility: Series[str]
    created_at: Series[pd.DatetimeTZDtype] = pa.Field(nullable=True, dtype_kwargs={"unit": "us", "tz": "UTC"})

    class Config:
        strict = True
        ordered = True
        coerce = True  # empty answers make object columns; coercion gives them the declared dtypes


class SnapshotCredentials(pa.DataFrameModel):
    credential_id: Series[int] = pa.Field(unique=True)
    app_id: Series[int]
    user_id: Series[int]
    key_id: Series[object] = pa.Field(nullable=True)
    key_fingerprint: Series[str] = pa.Field(nullable=True)
    plan_id: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    product_ids: Series[object]
    alias: Series[str]
    type: Series[str]
    auth_token_type: Series[str]
    authentication_method: Series[str]

    class Config:
        strict = True
        ordered = True
        coerce = True  # empty answers make object columns; coercion gives them the declared dtypes


def _int(value: Any, default: int = -1) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _int_list(values: Any) -> list[int]:
    if not isinstance(values, list | tuple):
        return []
    return [int(v) for v in values if str(v).strip().lstrip("-").isdigit()]


def _check(model: type[pa.DataFrameModel], frame: pd.DataFrame) -> pd.DataFrame:
    """Validate a snapshot frame; a failure means the portal answered something the API does not promise."""
    try:
        return model.validate(frame)
    except (pa.errors.SchemaError, pa.errors.SchemaErrors) as exc:
        first = clip(str(exc).strip().splitlines()[0], 300, mask_secretish)  # it may quote a value: a key
        raise UnexpectedAnswer(f"portal data does not fit {model.__name__}: {first}") from None


def is_portal_admin(org_id: int, role: str) -> bool:
    """True for provider-side accounts: organisation 0 or an admin role that is not a consumer one."""
    role = role.strip().lower()
    if org_id == 0:
        return True
    return role in PROVIDER_ADMIN_ROLES or ("admin" in role and not role.startswith("consumer"))


def users_frame(users: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for u in users:
        org_id = _int(u.get("OrganisationID"))
        role = _text(u.get("Role"))
        rows.append(
            {
                "user_id": _int(u.get("ID")),
                "email": _text(u.get("Email")).strip().lower(),
                "first": _text(u.get("First")),
                "last": _text(u.get("Last")),
                "active": bool(u.get("Active", True)),
                "org_id": org_id,
                "role": role,
                "is_admin": is_portal_admin(org_id, role),
            }
        )
    frame = pd.DataFrame(rows, columns=list(SnapshotUsers.to_schema().columns))
    return _check(
        SnapshotUsers, frame.astype({"user_id": "int64", "org_id": "int64", "active": bool, "is_admin": bool})
    )


def products_frame(products: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for p in products:
        details = [d for d in (p.get("APIDetails") or []) if isinstance(d, dict)]
        rows.append(
            {
                "product_id": _int(p.get("ID")),
                "name": _text(p.get("Name")),
                "display_name": _text(p.get("DisplayName")),
                "reference_id": _text(p.get("ReferenceID")),
                "api_ids": [_text(d.get("APIID")) for d in details if d.get("APIID")],
                "listen_paths": [_text(d.get("ListenPath")) for d in details if d.get("ListenPath")],
            }
        )
    frame = pd.DataFrame(rows, columns=list(SnapshotProducts.to_schema().columns))
    return _check(SnapshotProducts, frame.astype({"product_id": "int64", "api_ids": object, "listen_paths": object}))


#: Plan frame column <- the official ``Plan`` schema's field, for the numbers and flags of a plan's limits.
PLAN_LIMIT_FIELDS = {
    "rate_limit": "RateLimit", "quota": "Quota", "per": "Per", "quota_renewal_rate": "QuotaRenewalRate",
    "key_expires_in": "KeyExpiresIn", "unlimited_rate_limit": "UnlimitedRateLimit", "unlimited_quota": "UnlimitedQuota",
}  # fmt: skip


def plans_frame(plans: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {
            "plan_id": _int(p.get("ID")),
            "name": _text(p.get("Name")),
            "display_name": _text(p.get("DisplayName")),
            "reference_id": _text(p.get("ReferenceID")),
            **{column: p.get(field) for column, field in PLAN_LIMIT_FIELDS.items()},
        }
        for p in plans
    ]
    frame = pd.DataFrame(rows, columns=list(SnapshotPlans.to_schema().columns))
    # Older portals answer "600 calls / 1 minute(s)" text here: kept as missing rather than guessed.
    for column in ("rate_limit", "quota", "per", "quota_renewal_rate", "key_expires_in"):
        frame[column] = pd.to_numeric(frame[column].map(lambda v: None if isinstance(v, bool) else v), errors="coerce")
        frame[column] = frame[column].astype("Float64")
    for column in ("unlimited_rate_limit", "unlimited_quota"):
        frame[column] = pd.array([v if isinstance(v, bool) else None for v in frame[column]], dtype="boolean")
    return _check(SnapshotPlans, frame.astype({"plan_id": "int64"}))


def apps_frame(apps: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {
            "app_id": _int(a.get("ID")),
            "name": _text(a.get("Name")),
            "user_id": _int(a.get("UserID")),
            "visibility": _text(a.get("Visibility")),
            "created_at": a.get("CreatedAt"),
        }
        for a in apps
    ]
    frame = pd.DataFrame(rows, columns=list(SnapshotApps.to_schema().columns))
    frame["created_at"] = pd.to_datetime(
        frame["created_at"], errors="coerce", format="%Y-%m-%d %H:%M", utc=True
    ).astype("datetime64[us, UTC]")
    return _check(SnapshotApps, frame.astype({"app_id": "int64", "user_id": "int64"}))


def credentials_frame(credentials: Iterable[dict[str, Any]], apps: pd.DataFrame) -> pd.DataFrame:
    """Credentials need an ``AppID`` field (added by the fetch, present in sandbox seeds)."""
    rows = []
    for c in credentials:
        key = c.get("KeyID")
        rows.append(
            {
                "credential_id": _int(c.get("ID")),
                "app_id": _int(c.get("AppID")),
                "key_id": key if isinstance(key, str) and key else None,
                "plan_id": _int(c.get("PlanID"), -1),
                "product_ids": _int_list(c.get("ProductIDs")),
                "alias": _text(c.get("Alias")),
                "type": _text(c.get("Type")),
                "auth_token_type": _text(c.get("AuthTokenType")),
                "authentication_method": _text(c.get("AuthenticationMethod")),
            }
        )
    frame = pd.DataFrame(
        rows, columns=[c for c in SnapshotCredentials.to_schema().columns if c not in ("user_id", "key_fingerprint")]
    )
    owner = dict(zip(apps["app_id"].tolist(), apps["user_id"].tolist(), strict=True))
    frame.insert(2, "user_id", [owner.get(a, -1) for a in frame["app_id"].tolist()])
    keys = frame["key_id"].tolist()
    frame["key_id"] = pd.Series(wrap_keys(keys), index=frame.index, dtype=object)
    frame.insert(
        4, "key_fingerprint", pd.Series([fingerprint(k) if k else None for k in keys], index=frame.index, dtype="str")
    )
    frame["plan_id"] = frame["plan_id"].astype("Int64").mask(frame["plan_id"] == -1)
    frame["product_ids"] = frame["product_ids"].astype(object)
    return _check(SnapshotCredentials, frame.astype({"credential_id": "int64", "app_id": "int64", "user_id": "int64"}))


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
        users, products, plans, apps = await reads.gather(
            portal.list_users(), portal.list_products(), portal.list_plans(), portal.list_apps()
        )
        missing = [p for p in plans if _needs_detail(p)]
        thin = [p for p in products if _needs_listen_paths(p)]
        credentials: list[dict[str, Any]] = []
        bar = _progress_bar(len(apps), progress, "credentials")

        async def one(app_id: int) -> None:
            creds = await portal.list_credentials(app_id)
            credentials.extend(_with_app(creds, app_id))
            bar.update(1)

        # Details and credentials depend only on the lists, so they share one round of requests.
        try:
            plan_details, product_details, _ = await reads.gather(
                reads.gather(*(portal.get_plan(p["ID"]) for p in missing)),
                reads.gather(*(portal.get_product(p["ID"]) for p in thin)),
                reads.gather(*(one(int(a["ID"])) for a in apps)),
            )
        finally:
            bar.close()
    plans = _complete(plans, missing, plan_details, _merge_plan_detail)
    products = _complete(products, thin, product_details, _merge_product_detail)
    credentials.sort(key=lambda c: _int(c.get("ID")))
    return PortalSnapshot.from_api(
        users=users, products=products, plans=plans, apps=apps, credentials=credentials,
        portal_url=client.base_url, fetched_at=fetched_at,
    )  # fmt: skip


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
