"""Legacy sessions in the sandbox: keys live in the gateway before any migration, as the Dashboard knows them.

Seed sections (docs/sandbox.md): ``dashboard_keys``, entries in the Dashboard dump's own shape
(``{"key_id": <raw key>, "data": SessionState}``, as ``GET /api/keys/detailed`` lists them with hashing
off; a ``key_hash`` given is ignored, the sandbox hashes as Tyk does), and ``dashboard_developers``, Classic
Portal developers (``{"id", "email", ...}``, as ``GET /api/portal/developers`` lists them).

Each legacy session is a row of the gateway's key table (``SandboxState.gateway``) holding its ``Session``:
the gateway emulator lets it call the APIs of its ``access_rights`` at its own ``rate``/``per`` and
``quota_max``/``quota_renewal_rate``. A credential created with the same KeyID (``duplicate-key=overwrite``)
replaces the row, as Tyk's key create overwrites: the key then serves the credential's plan and products, and
the Dashboard shows the session the portal would have made of them (``session_of``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import InputError
from ..tyk_hash import hash_setting, storage_hash

Obj = dict[str, Any]
KEYS_SECTION = "dashboard_keys"
DEVELOPERS_SECTION = "dashboard_developers"
SECTIONS = (KEYS_SECTION, DEVELOPERS_SECTION)
#: the org of the official Dashboard API file's examples: the sandbox's org when no legacy session names one
DEFAULT_ORG = "5e9d9544a1dcd60001d0ed20"


def _fail(where: str, message: str) -> InputError:
    return InputError(f"sandbox seed: {where}: {message}")


def check_sections(raw: dict[str, Any], credential_keys: Iterable[str]) -> dict[str, list[Obj]]:
    """The two legacy sections of a seed, checked: one line naming the first problem (InputError)."""
    keys = raw.get(KEYS_SECTION, [])
    devs = raw.get(DEVELOPERS_SECTION, [])
    for name, items in ((KEYS_SECTION, keys), (DEVELOPERS_SECTION, devs)):
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise _fail(name, "must be a list of objects")
    taken = set(credential_keys)
    seen: set[str] = set()
    for i, entry in enumerate(keys):
        where = f"{KEYS_SECTION}[{i}]"
        key = entry.get("key_id")
        if not isinstance(key, str) or not key:
            raise _fail(where, "needs a key_id (the raw key: the sandbox gateway must be able to check it)")
        if not isinstance(entry.get("data"), dict):
            raise _fail(where, "needs a data object (the key's SessionState)")
        if key in seen:
            raise _fail(where, "key_id already used by another legacy session")
        if key in taken:
            raise _fail(where, "key_id is a seeded credential's KeyID (a migrated key has no legacy session left)")
        seen.add(key)
    ids: set[str] = set()
    for i, dev in enumerate(devs):
        dev_id = dev.get("id")
        if not isinstance(dev_id, str) or not dev_id or dev_id in ids:
            raise _fail(f"{DEVELOPERS_SECTION}[{i}]", "needs an id of its own (text)")
        ids.add(dev_id)
    return {KEYS_SECTION: keys, DEVELOPERS_SECTION: devs}


def org_of(rows: Iterable[Obj]) -> str:
    """The Dashboard's org: the first legacy session's ``org_id``, else ``DEFAULT_ORG``."""
    for row in rows:
        org = (row.get("Session") or {}).get("org_id") or row.get("OrgID")
        if isinstance(org, str) and org:
            return org
    return DEFAULT_ORG


def row_org(row: Obj, default: str) -> str:
    org = (row.get("Session") or {}).get("org_id") if "Session" in row else row.get("OrgID")
    return org if isinstance(org, str) and org else default


# ----- the Dashboard's view of a gateway row -----
def _epoch(stamp: object) -> int | None:
    """The portal's ``YYYY-MM-DD HH:MM`` (UTC) as unix seconds."""
    try:
        return int(datetime.strptime(str(stamp), "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp())
    except ValueError:
        return None


def session_of(state: Any, row: Obj) -> Obj:
    """The row's SessionState: a legacy row's own, or the one the portal makes from a credential's plan and
    products (policies = their ``ReferenceID``s, limits = the plan's, access = the products' APIs; (U): the
    real portal's metadata fields are not documented, ``user_email`` is this sandbox's)."""
    if "Session" in row:
        return dict(row["Session"])
    try:
        plan = state.plans.get(int(row.get("PlanID", 0))) or {}
    except (TypeError, ValueError):
        plan = {}
    products = [state.products[p] for p in row.get("ProductIDs") or () if p in state.products]
    cred = state.credentials.get(row.get("CredentialID")) if row.get("CredentialID") is not None else None
    app = state.apps.get(cred["AppID"]) if cred else None
    user = state.users.get(app["UserID"]) if app else None
    rights = {
        str(api.get("APIID")): {"api_id": str(api.get("APIID")), "api_name": api.get("Name"), "versions": ["Default"]}
        for product in products
        for api in product.get("APIDetails") or []
    }
    created = _epoch(cred.get("CreatedAt")) if cred else None
    expires_in = plan.get("KeyExpiresIn") or 0
    meta = {"user_email": user.get("Email")} if user else {}
    if cred:
        meta.update(portal_app_id=cred["AppID"], portal_credential_id=cred["ID"])
    return {
        "alias": (cred or {}).get("Alias", ""),
        "apply_policies": [p for p in [plan.get("ReferenceID"), *(x.get("ReferenceID") for x in products)] if p],
        "org_id": row_org(row, state.dashboard_org),
        "access_rights": rights,
        "expires": created + int(expires_in) if created and isinstance(expires_in, int) and expires_in > 0 else 0,
        "is_inactive": False,
        "meta_data": meta,
        "rate": -1 if plan.get("UnlimitedRateLimit") else plan.get("RateLimit", 0),
        "per": plan.get("Per", 0),
        "quota_max": -1 if plan.get("UnlimitedQuota") else plan.get("Quota", -1),
        "quota_renewal_rate": plan.get("QuotaRenewalRate", -1),
        "tags": [],
    }


def key_hash(state: Any, row: Obj, hashing: str) -> str:
    """The hash the gateway stores the row's key under (``tyk_hash``); with hashing off, Tyk's default's."""
    function = "" if hashing == "off" else hash_setting(hashing)
    return storage_hash(row["KeyID"], row_org(row, state.dashboard_org), function)


def key_data(state: Any, row: Obj, hashing: str) -> Obj:
    """The Dashboard's ``KeyData`` of a row: with hashing on, ``key_id`` is the hash (no raw key leaves)."""
    hashed = key_hash(state, row, hashing)
    shown = row["KeyID"] if hashing == "off" else hashed
    return {"key_id": shown, "key_hash": hashed, "data": session_of(state, row), "api_model": {}}


# ----- what the gateway enforces for a row -----
@dataclass(frozen=True)
class Limits:
    rate: float = 0.0  # requests per ``per`` seconds; 0 = no rate limit
    per: float = 60.0
    quota: int = 0  # requests per ``renewal`` seconds; 0 = no quota
    renewal: int = 0  # seconds; 0 = the quota never renews


def _num(value: object, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def limits_of(state: Any, row: Obj) -> Limits:
    """A legacy row's own limits, or its plan's (Tyk: a rate or quota of 0 or below is none)."""
    if "Session" in row:
        s = row["Session"]
        rate, quota = _num(s.get("rate")), _num(s.get("quota_max"))
        per, renewal = _num(s.get("per"), 60.0), _num(s.get("quota_renewal_rate"))
    else:
        try:
            plan = state.plans.get(int(row.get("PlanID", 0))) or {}
        except (TypeError, ValueError):
            plan = {}
        rate = 0.0 if plan.get("UnlimitedRateLimit") else _num(plan.get("RateLimit"))
        quota = 0.0 if plan.get("UnlimitedQuota") else _num(plan.get("Quota"))
        per, renewal = _num(plan.get("Per"), 60.0), _num(plan.get("QuotaRenewalRate"))
    return Limits(max(rate, 0.0), per if per > 0 else 60.0, int(max(quota, 0)), int(max(renewal, 0)))


def refusal(state: Any, row: Obj, api_id: str) -> tuple[int, str] | None:
    """Why the gateway refuses the row's key for ``api_id`` (status, message), or None to let it through."""
    if "Session" not in row:
        granted = state.products_by_api.get(api_id, set())
        return None if granted.intersection(row.get("ProductIDs") or ()) else (403, DISALLOWED)
    session = row["Session"]
    if session.get("is_inactive"):
        return 403, "Key is inactive, please renew"
    expires = _num(session.get("expires"))
    if expires >= 1 and datetime.now(UTC).timestamp() > expires:
        return 401, "Key has expired, please renew"
    rights = session.get("access_rights") or {}
    ids = {str((r.get("api_id") if isinstance(r, dict) else None) or k) for k, r in rights.items()}
    if rights and api_id not in ids:  # no access_rights at all: every API (Tyk's legacy rule)
        return 403, DISALLOWED
    return None


DISALLOWED = "Access to this API has been disallowed"  # the real gateway's 403 text
