"""The snapshot's frames: the portal's objects, as the API answers them, into snake_case frames checked by
pandera models. Pure (no I/O), so tests and benchmarks build them from seed-shaped dicts; ``tyk_migrate.snapshot``
fetches the objects and re-exports every name here.

``credentials`` carry ``PlanID`` as a string, converted to an integer here once so nothing downstream has to care.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from .errors import UnexpectedAnswer
from .scrub import clip, mask_secretish
from .secrets import fingerprint, wrap_keys

#: Roles that run the portal itself (provider side). ``consumer-admin`` administers a developer
#: organisation: a developer, not a portal admin.
PROVIDER_ADMIN_ROLES = frozenset({"admin", "provider-admin", "super-admin", "superadmin"})


# -- frame models ----------------------------------------------------------------------------------
# Kept here rather than in schemas.py (owned by the loaders): the snapshot frames are built only here.


class _SnapshotFrame(pa.DataFrameModel):
    """What every snapshot frame is: exactly its columns, in order; empty answers make object columns, and
    coercion gives them the declared dtypes."""

    class Config:
        strict = True
        ordered = True
        coerce = True


class SnapshotUsers(_SnapshotFrame):
    user_id: Series[int] = pa.Field(unique=True)
    email: Series[str]
    first: Series[str]
    last: Series[str]
    active: Series[bool]
    org_id: Series[int]
    role: Series[str]
    is_admin: Series[bool]


class SnapshotProducts(_SnapshotFrame):
    product_id: Series[int] = pa.Field(unique=True)
    name: Series[str]
    display_name: Series[str]
    reference_id: Series[str]
    api_ids: Series[object]
    listen_paths: Series[object]


class SnapshotPlans(_SnapshotFrame):
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


class SnapshotApps(_SnapshotFrame):
    app_id: Series[int] = pa.Field(unique=True)
    name: Series[str]
    user_id: Series[int]
    visibility: Series[str]
    created_at: Series[pd.DatetimeTZDtype] = pa.Field(nullable=True, dtype_kwargs={"unit": "us", "tz": "UTC"})


class SnapshotCredentials(_SnapshotFrame):
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
