"""Generate data-samples/: the sandbox seed portal and legacy exports of the same fictional company.

Deterministic (fixed seed), so the files in git are reproducible: ``python data-samples/make_samples.py``.
Everything is fictional: Quillbridge Bank, its partner developers, their keys.

The portal (``sandbox_seed.json``) and the exports share one roster: the same developer emails, and plan /
product ``ReferenceID``s that are the Dashboard policy IDs the legacy keys carry in ``apply_policies``.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RNG = random.Random(20261128)
ORG_ID = "5f1a9c0e2b3d4e0001a1b2c3"  # the legacy Dashboard org

ORGANISATIONS = ["Harbor Freight Apps", "Lumen Retail", "Orbit Travel", "Pinecone Health", "Tallow Fintech"]
FIRST = ["Ada", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam",
         "Maya", "Nikhil", "Olga", "Pavel", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Ximena",
         "Yusuf", "Zara"]
LAST = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Haddad", "Brennan", "Kowalski", "Ferreira",
        "Nakamura", "Osei", "Varga", "Quintero", "Ivanova", "Schmidt"]

# name, policy id (Dashboard), API id (gateway), API name
PRODUCTS = [
    ("Payments API", "payments"), ("Accounts API", "accounts"), ("FX Rates API", "fx-rates"),
    ("Cards API", "cards"), ("Webhooks API", "webhooks"), ("Statements API", "statements"),
]
# name, rate (calls per `per` seconds), quota per month (None = unlimited), auto-approve, key expires in (s).
# Plans are written in the shape of the official file's ``Plan`` schema (GET /plans/{id}): numeric
# ``RateLimit``/``Per``/``Quota``, integer catalogue IDs.
PLANS = [
    ("Free", 60, 60, 1000, True, 0),
    ("Standard", 600, 60, 100000, True, 0),
    ("Premium", 3000, 60, None, False, 0),
    ("Partner", 10000, 60, None, False, 31536000),  # partner keys expire a year after they are issued
]
MONTH = 2592000
#: The gateway API of a report service the legacy Dashboard still routes but no portal product exposes:
#: the key that calls it (``RETIRED_API_KEY``) shows ``api_lost`` in a plan (docs/formats.md, data-samples).
RETIRED_API = ("5ad3bd0c7e3b4f1d9a1f0f3a2c6e7d41", "Legacy Reports API")
RETIRED_API_KEY = 17


def hexid(n: int) -> str:
    return "".join(RNG.choice("0123456789abcdef") for _ in range(n))


def token(n: int) -> str:
    return "".join(RNG.choice(string.ascii_letters + string.digits) for _ in range(n))


@dataclass
class LegacyKey:
    """One key as the legacy system knows it (before any export format is applied)."""

    key: str
    owner_email: str
    developer_id: str
    app_name: str | None
    alias: str | None
    plan_policy: str
    product_policies: list[str]
    expires: int  # unix seconds, 0 = never
    active: bool = True
    date_created: str = "2024-03-01T10:00:00Z"
    tags: list[str] = field(default_factory=list)
    # the key's limits and APIs today, in Tyk's units (rate per `per` seconds; quota -1 = unlimited)
    rate: int = 0
    per: int = 0
    quota_max: int = -1
    quota_renewal_rate: int = -1
    api_ids: list[str] = field(default_factory=list)


def build_roster() -> dict:
    """The portal side: users, products, plans, a few apps and credentials that already exist."""
    users = [{
        "ID": 1, "Email": "portal.admin@quillbridge.example", "First": "Portal", "Last": "Admin",
        "Active": True, "OrganisationID": 0, "Role": "provider-admin", "Provider": "password",
    }]
    seen: set[str] = set()
    uid = 2
    while len(users) < 51:
        first, last = RNG.choice(FIRST), RNG.choice(LAST)
        org_index = RNG.randrange(len(ORGANISATIONS))
        domain = ORGANISATIONS[org_index].lower().replace(" ", "") + ".example"
        email = f"{first}.{last}@{domain}".lower()
        if email in seen:
            continue
        seen.add(email)
        users.append({
            "ID": uid, "Email": email, "First": first, "Last": last,
            "Active": uid % 17 != 0,  # a few deactivated developers
            "OrganisationID": org_index + 1,
            "Role": "consumer-admin" if uid % 5 == 2 else "consumer-team-member",
            "Provider": "password",
        })
        uid += 1
    products = []
    for i, (name, slug) in enumerate(PRODUCTS, start=1):
        products.append({
            "ID": i, "Name": name, "DisplayName": name.replace(" API", ""), "Path": slug,
            "ReferenceID": hexid(24), "AuthType": "authToken", "AuthTypes": ["authToken"],
            "Description": f"Quillbridge {name}", "Feature": i == 1, "DCREnabled": False,
            "IsDocumentationOnly": False, "ProviderID": 1, "Catalogues": ["Public Catalogue"],
            "APIDetails": [{"APIID": hexid(32), "Name": name, "Status": True, "ListenPath": f"/{slug}/"}],
        })
    plans = []
    for i, (name, rate, per, quota, auto, expires_in) in enumerate(PLANS, start=len(products) + 1):
        plans.append({
            "ID": i, "Name": name, "DisplayName": f"{name} plan", "ReferenceID": hexid(24),
            "Description": f"{name} access to Quillbridge APIs", "ProviderID": 1, "Catalogues": [1],
            "AutoApproveAccessRequests": auto, "RateLimit": rate, "Per": per, "UnlimitedRateLimit": False,
            "Quota": -1 if quota is None else quota, "QuotaRenewalRate": MONTH,
            "UnlimitedQuota": quota is None, "KeyExpiresIn": expires_in, "JWTScope": "", "MetaData": {},
        })
    return {"users": users, "products": products, "plans": plans}


def build_keys(roster: dict, count: int = 320) -> list[LegacyKey]:
    developers = [u for u in roster["users"] if u["OrganisationID"] != 0]
    keys: list[LegacyKey] = []
    app_names = ["Checkout", "Mobile", "Back office", "Reporting", "Partner sync", None]
    for n in range(count):
        dev = RNG.choice(developers)
        plan = RNG.choice(roster["plans"])
        products = RNG.sample(roster["products"], k=RNG.choice([1, 1, 2, 3]))
        style = n % 3
        if style == 0:
            value = ORG_ID + hexid(32)[:8] + token(12)  # Tyk-style orgID + id, 44 chars
        elif style == 1:
            value = "qb_live_" + token(16)  # 24 chars: a custom legacy token
        else:
            value = token(20)
        app = RNG.choice(app_names)
        keys.append(LegacyKey(
            key=value, owner_email=dev["Email"], developer_id=f"dev{dev['ID']:04d}" + hexid(16),
            app_name=app, alias=f"{app or 'Default'} key {n + 1}", plan_policy=plan["ReferenceID"],
            product_policies=[p["ReferenceID"] for p in products],
            expires=0 if n % 7 else 1893456000,  # some expire in 2030
            active=n % 41 != 0,
            date_created=f"2024-{(n % 12) + 1:02d}-{(n % 27) + 1:02d}T09:{n % 60:02d}:00Z",
            **legacy_limits(n, plan, products),
        ))
    return keys


def legacy_limits(n: int, plan: dict, products: list[dict]) -> dict:
    """A key's limits today: its plan policy's, with key-level overrides on some keys (no RNG draws, so the
    roster and keys stay as they were). Each override is a case docs/formats.md lists under data-samples."""
    unlimited = plan["UnlimitedQuota"]
    out = {
        "rate": plan["RateLimit"], "per": plan["Per"],
        "quota_max": -1 if unlimited else plan["Quota"], "quota_renewal_rate": -1 if unlimited else MONTH,
        "api_ids": [p["APIDetails"][0]["APIID"] for p in products],
    }  # fmt: skip
    if n % 9 == 4:  # allowed twice the plan's rate today: the plan is tighter (rate_tighter)
        out["rate"] = plan["RateLimit"] * 2
    elif n % 11 == 6:  # half the plan's rate today: the plan is looser, no impact
        out["rate"] = plan["RateLimit"] // 2
    if n % 13 == 7:  # unlimited today: a capped plan lowers it (quota_lower); else a capped key gains
        out["quota_max"], out["quota_renewal_rate"] = (-1, -1) if not unlimited else (50000, MONTH)
    elif n % 17 == 9 and not unlimited:  # 3x the plan's quota per day: compared per second (quota_lower)
        out["quota_max"], out["quota_renewal_rate"] = plan["Quota"] * 3, 86400
    if n == RETIRED_API_KEY:  # also calls an API no portal product exposes (api_lost, blocked by default)
        out["api_ids"] = [*out["api_ids"], RETIRED_API[0]]
    return out


def existing_portal_state(roster: dict, keys: list[LegacyKey]) -> tuple[list[dict], list[dict]]:
    """Apps and credentials already in the portal: a half-done earlier attempt, plus one conflict."""
    by_email = {u["Email"]: u for u in roster["users"]}
    plan_by_ref = {p["ReferenceID"]: p for p in roster["plans"]}
    product_by_ref = {p["ReferenceID"]: p for p in roster["products"]}
    apps: list[dict] = []
    creds: list[dict] = []
    for i, k in enumerate(keys[:10]):
        user = by_email[k.owner_email]
        if not user["Active"]:
            continue
        app_id = len(apps) + 1
        apps.append({
            "ID": app_id, "Name": k.app_name or "Migrated keys", "Description": "Created in a trial migration",
            "RedirectURLs": "", "UserID": user["ID"], "Visibility": "organisation",
            "CreatedAt": f"2026-10-{i + 1:02d} 14:3{i % 10}",
        })
        plan = plan_by_ref[k.plan_policy]
        if i == 3:  # a conflict: the key is in the portal, but on another plan than the legacy key
            plan = next(p for p in roster["plans"] if p["ReferenceID"] != k.plan_policy)
        creds.append({
            "ID": len(creds) + 1, "AppID": app_id, "Alias": k.alias, "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
            "PlanID": str(plan["ID"]), "AuthenticationMethod": "Auth Token",
            "ProductIDs": [product_by_ref[r]["ID"] for r in k.product_policies],
            "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM", "KeyID": k.key,
            "CreatedAt": f"2026-10-{i + 1:02d} 14:4{i % 10}", "UpdatedAt": f"2026-10-{i + 1:02d} 14:4{i % 10}",
        })
    # an unrelated app with a credential no legacy key explains (reconciliation must show it)
    stranger = roster["users"][5]
    apps.append({"ID": len(apps) + 1, "Name": "Portal-born app", "Description": "Created in the portal",
                 "RedirectURLs": "", "UserID": stranger["ID"], "Visibility": "personal",
                 "CreatedAt": "2026-09-30 08:00"})
    creds.append({
        "ID": len(creds) + 1, "AppID": len(apps), "Alias": "portal key", "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
        "PlanID": str(roster["plans"][0]["ID"]), "AuthenticationMethod": "Auth Token",
        "ProductIDs": [roster["products"][0]["ID"]], "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM",
        "KeyID": "portalborn" + token(22), "CreatedAt": "2026-09-30 08:01", "UpdatedAt": "2026-09-30 08:01",
    })
    return apps, creds


def legacy_sessions(roster: dict, keys: list[LegacyKey]) -> tuple[list[dict], list[dict]]:
    """Keys live in the gateway today: the sandbox Dashboard's ``dashboard_keys`` and ``dashboard_developers``.

    They are the keys of owners the portal has deactivated: a plan blocks those (owner_inactive), so no default
    run writes them and the demo stays as it was, while a live-key check finds them live and an import that
    activates their owners meets the duplicate-key knob. Sessions in the Dashboard dump's shape (as
    dashboard_keys.json); no RNG draws, so every other file stays as it was.
    """
    users = {u["Email"]: u for u in roster["users"]}
    api_by_ref = {p["ReferenceID"]: p["APIDetails"][0] for p in roster["products"]}
    entries: list[dict] = []
    developers: dict[str, dict] = {}
    for k in keys:
        user = users[k.owner_email]
        if user["Active"]:
            continue
        meta = {"tyk_developer_id": developer_id(k.owner_email)}
        if len(entries) % 3 != 1:  # the others name only their developer: the email comes from the Classic Portal
            meta["email"] = k.owner_email
        data = {
            "alias": k.alias, "apply_policies": [k.plan_policy, *k.product_policies], "org_id": ORG_ID,
            "access_rights": {
                api_by_ref[r]["APIID"]: {
                    "api_id": api_by_ref[r]["APIID"], "api_name": api_by_ref[r]["Name"], "versions": ["Default"],
                }
                for r in k.product_policies
            },
            "expires": k.expires, "is_inactive": not k.active, "meta_data": meta, "rate": 0, "per": 0,
            "quota_max": -1, "tags": [], "date_created": k.date_created,
        }  # fmt: skip
        entries.append({"key_id": k.key, "data": data, "api_model": {}})
        dev = developers.setdefault(k.owner_email, {
            "id": developer_id(k.owner_email), "email": k.owner_email, "date_created": k.date_created,
            "inactive": False, "org_id": ORG_ID, "fields": {"Name": f"{user['First']} {user['Last']}"}, "keys": {},
        })  # fmt: skip
        dev["keys"][k.key] = [k.plan_policy, *k.product_policies]
    return entries, list(developers.values())


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    roster = build_roster()
    keys = build_keys(roster)
    apps, creds = existing_portal_state(roster, keys)
    sessions, developers = legacy_sessions(roster, keys)
    write_json(
        HERE / "sandbox_seed.json",
        {**roster, "apps": apps, "custom_credentials": creds, "dashboard_keys": sessions,
         "dashboard_developers": developers},
    )  # fmt: skip
    # Export writers (CSV, Excel, JSON, Dashboard and Classic Portal dumps) are added below this line.
    write_exports(roster, keys)


# ---------------------------------------------------------------- legacy exports (docs/formats.md)
# Every export holds keys of the same roster plus a few deliberately dirty rows; docs/formats.md lists
# each dirty row by its source_row and the check it trips. A separate RNG keeps sandbox_seed.json as it was.

EXPORT_RNG = random.Random(20261129)


def developer_id(email: str) -> str:
    """A stable Classic Portal developer id per email (Mongo-style 24 hex digits)."""
    import hashlib

    return hashlib.sha1(email.encode()).hexdigest()[:24]


def iso_expiry(k: LegacyKey) -> str:
    return "" if not k.expires else datetime.fromtimestamp(k.expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def flat_row(k: LegacyKey) -> dict:
    return {
        "key": k.key,
        "email": k.owner_email,
        "app": k.app_name or "",
        "alias": k.alias or "",
        "plan": k.plan_policy,
        "products": ";".join(k.product_policies),
        "expires": iso_expiry(k),
        "status": "active" if k.active else "inactive",
        "org": k.owner_email.split("@")[1],
        "rate": str(k.rate),
        "per": str(k.per),
        "quota": "unlimited" if k.quota_max == -1 else str(k.quota_max),
        "renewal": "" if k.quota_max == -1 else str(k.quota_renewal_rate),
        "api_ids": ";".join(k.api_ids),
    }


def dirty_flat_rows(keys: list[LegacyKey]) -> list[dict]:
    """The dirty rows appended to legacy_keys.csv (in this order; see docs/formats.md)."""
    base = flat_row(keys[11])
    return [
        {**flat_row(keys[4]), "email": keys[30].owner_email, "alias": "copied key"},  # key_duplicate with row 5
        {**base, "key": "qb_7x", "alias": "too short"},  # key_too_short
        {**base, "key": "qb live key 0001", "alias": "has spaces"},  # key_bad_chars
        {**base, "key": "qb_live/slash" + token(8), "alias": "has a slash"},  # key_bad_chars
        {**base, "key": token(20), "email": "", "alias": "no owner"},  # email_missing
        {**base, "key": token(20), "email": "olga.tanaka(at)harborfreightapps.example"},  # email_malformed
        {**base, "key": token(20), "plan": "", "alias": "no plan"},  # plan_missing
        {**base, "key": token(20), "products": "", "alias": "no products"},  # products_missing
        {**base, "key": token(20), "expires": "31/31/2030", "alias": "bad expiry"},  # expiry_unparseable
        {**base, "key": "", "alias": "empty key"},  # key_missing
        {**base, "key": hexid(32), "alias": "looks hashed"},  # warning: key_looks_hashed
        {**base, "key": keys[7].key.upper(), "alias": "case twin"},  # warning: key_near_duplicate with row 8
        {**base, "key": "z" * 16, "alias": "weak"},  # warning: key_weak
        {**base, "key": token(20), "expires": "2023-06-30", "alias": "expired"},  # warning: expired
    ]


def write_csv(
    path: Path, header: list[str], rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8"
) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n" if encoding != "utf-8" else "\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(out.getvalue().encode(encoding))


def write_exports(roster: dict, keys: list[LegacyKey]) -> None:
    global RNG
    saved, RNG = RNG, EXPORT_RNG  # token()/hexid() draw from the exports' own RNG from here on
    try:
        _write_exports(roster, keys)
    finally:
        RNG = saved


def _write_exports(roster: dict, keys: list[LegacyKey]) -> None:
    # 1. legacy_keys.csv: every key + the dirty rows (the demo's input)
    header = [
        "Key",
        "Developer Email",
        "Application",
        "Alias",
        "Policy ID",
        "APIs",
        "Expires",
        "Status",
        "Organisation",
        "Rate",
        "Per",
        "Quota",
        "Quota Renewal",
        "API IDs",
    ]
    order = ["key", "email", "app", "alias", "plan", "products", "expires", "status", "org", "rate", "per", "quota",
             "renewal", "api_ids"]  # fmt: skip
    rows = [flat_row(k) for k in keys] + dirty_flat_rows(keys)
    write_csv(HERE / "legacy_keys.csv", header, [[r[c] for c in order] for r in rows])

    # 2. legacy_keys_semicolon.csv: Windows-1252, ';', other header names, keys 1-60
    sub = [flat_row(k) for k in keys[:60]]
    sub[2]["app"] = "Café sync"
    sub[3]["email"] = "  " + sub[3]["email"].upper() + " "  # fine after trimming and lower-casing
    sub[5]["key"] = sub[5]["key"][:10] + "#" + sub[5]["key"][10:]  # dirty: key_bad_chars (row 6)
    sub[8]["key"] = sub[8]["key"] + " "  # dirty: trailing space, key_bad_chars (row 9)
    write_csv(
        HERE / "legacy_keys_semicolon.csv",
        ["Token", "E-Mail", "App", "Name", "Tier", "Products", "Expiry", "Active", "Company"],
        [
            [
                r["key"],
                r["email"],
                r["app"],
                r["alias"],
                r["plan"],
                r["products"].replace(";", ","),
                r["expires"][:10],
                "yes" if r["status"] == "active" else "no",
                r["org"],
            ]
            for r in sub
        ],
        delimiter=";",
        encoding="cp1252",
    )

    # 3. legacy_keys.xlsx: keys 61-140, real Excel dates and booleans
    import pandas as pd

    xl = [flat_row(k) for k in keys[60:140]]
    xl[4]["key"] = "12345"  # dirty: key_too_short (row 5)
    xl[9]["plan"] = ""  # dirty: plan_missing (row 10)
    pd.DataFrame(
        {
            "API Key": [r["key"] for r in xl],
            "Email": [r["email"] for r in xl],
            "Application": [r["app"] for r in xl],
            "Plan": [r["plan"] for r in xl],
            "Products": [r["products"].replace(";", " | ") for r in xl],
            "Expiry Date": [pd.Timestamp(r["expires"]).tz_localize(None) if r["expires"] else None for r in xl],
            "Enabled": [r["status"] == "active" for r in xl],
        }
    ).to_excel(HERE / "legacy_keys.xlsx", index=False, sheet_name="API keys")

    # 4. legacy_keys.json: keys 141-220, products as lists, expiry as unix seconds
    js = [
        {
            "key_id": k.key,
            "owner_email": k.owner_email,
            "app_name": k.app_name,
            "alias": k.alias,
            "plan": k.plan_policy,
            "products": list(k.product_policies),
            "expires_at": k.expires or None,
            "active": k.active,
            "rate": k.rate,
            "per": k.per,
            "quota_max": k.quota_max,
            "quota_renewal_rate": k.quota_renewal_rate,
            "api_ids": list(k.api_ids),
        }
        for k in keys[140:220]
    ]
    js[2]["products"] = []  # dirty: products_missing (row 3)
    js[6]["owner_email"] = None  # dirty: email_missing (row 7)
    write_json(HERE / "legacy_keys.json", js)

    # 5. legacy_keys.jsonl: keys 221-300, one object per line
    jl = [
        {
            "token": k.key,
            "email": k.owner_email,
            "policy_id": k.plan_policy,
            "apis": "|".join(k.product_policies),
            "expires": k.expires,
            "is_inactive": not k.active,
            "name": k.alias,
        }
        for k in keys[220:300]
    ]
    jl[3]["token"] = hexid(64)  # warning: key_looks_hashed (row 4)
    jl[10]["token"] = jl[9]["token"]  # dirty: key_duplicate, rows 10 and 11
    (HERE / "legacy_keys.jsonl").write_text("".join(json.dumps(r) + "\n" for r in jl), encoding="utf-8")

    # 6. dashboard_keys.json: GET /api/keys/detailed for the first 120 keys
    api_name = {p["APIDetails"][0]["APIID"]: p["APIDetails"][0]["Name"] for p in roster["products"]}
    api_name[RETIRED_API[0]] = RETIRED_API[1]
    entries = []
    for i, k in enumerate(keys[:120]):
        meta = {"email": k.owner_email, "tyk_developer_id": developer_id(k.owner_email)}
        if i % 10 == 3:  # only the developer id: the email comes from classic_developers.json
            meta = {"tyk_developer_id": developer_id(k.owner_email)}
        data = {
            "alias": k.alias,
            "apply_policies": [k.plan_policy, *k.product_policies],
            "org_id": ORG_ID,
            "access_rights": {
                api: {"api_id": api, "api_name": api_name[api], "versions": ["Default"]} for api in k.api_ids
            },
            "expires": k.expires,
            "is_inactive": not k.active,
            "meta_data": meta,
            "rate": k.rate,
            "per": k.per,
            "quota_max": k.quota_max,
            "quota_renewal_rate": k.quota_renewal_rate,
            "tags": [],
            "date_created": k.date_created,
        }
        entries.append({"key_id": k.key, "key_hash": hexid(8), "data": data, "api_model": {}})
    entries[5]["data"]["apply_policies"] = []  # dirty: plan_missing (row 6), products from access_rights
    entries[8]["data"]["expires"] = 1688083200  # warning: expired 2023-06-30 (row 9)
    entries[12]["key_id"] = hexid(32)  # warning: key_looks_hashed, as with key hashing on (row 13)
    entries[15]["data"]["meta_data"] = {"tyk_developer_id": "0" * 24}  # dirty: email_missing (row 16)
    write_json(HERE / "dashboard_keys.json", {"keys": entries, "pages": 1})

    # 7. classic_developers.json: GET /api/portal/developers, every key under its developer
    by_email: dict[str, list[LegacyKey]] = {}
    for k in keys:
        by_email.setdefault(k.owner_email, []).append(k)
    users = {u["Email"]: u for u in roster["users"]}
    devs = []
    for n, (email, own) in enumerate(by_email.items()):
        dev = {
            "id": developer_id(email),
            "email": email,
            "date_created": own[0].date_created,
            "inactive": not users[email]["Active"],
            "org_id": ORG_ID,
            "fields": {"Name": f"{users[email]['First']} {users[email]['Last']}"},
            "keys": {},
            "subscriptions": {},
        }
        for k in own:
            subs = dev["subscriptions"]
            if n % 4 == 1 and len(k.product_policies) == 1 and not {k.plan_policy, *k.product_policies} & set(subs):
                # older portal shape {policy: key}: only where no other key of this developer has the policy
                dev["subscriptions"][k.plan_policy] = k.key
                dev["subscriptions"][k.product_policies[0]] = k.key
            else:
                dev["keys"][k.key] = [k.plan_policy, *k.product_policies]
        devs.append(dev)
    devs[2]["keys"] = {hexid(32): v for v in devs[2]["keys"].values()}  # warning: hashed keys (hashing on)
    devs[6]["email"] = ""  # dirty: email_missing for all of this developer's keys
    write_json(HERE / "classic_developers.json", {"Data": devs, "Pages": 1})

    # 7b. dashboard_policies.json: GET /api/portal/policies, the legacy Dashboard's policies, which give the
    # Classic dump's keys their limits and APIs (load_keys(..., policies=)). Plan policies carry the limits,
    # product policies the access rights, as partitioned policies do.
    write_json(HERE / "dashboard_policies.json", {"Data": dashboard_policies(roster), "Pages": 1})

    # 8. aws_api_keys.csv + mapping_aws.yaml: another gateway's export, needs a mapping
    aws = keys[:60]
    rows_aws = [
        [
            k.alias or "",
            k.key,
            f"migrated from legacy, app {k.app_name or '-'}",
            "true" if k.active else "false",
            k.date_created,
            k.plan_policy,
            "|".join(k.product_policies),
            k.owner_email,
        ]
        for k in aws
    ]
    rows_aws[7][1] = "aws%key" + token(14)  # dirty: key_bad_chars (row 8)
    rows_aws[12][7] = ""  # dirty: email_missing (row 13)
    write_csv(
        HERE / "aws_api_keys.csv",
        ["Name", "Key", "Description", "Enabled", "CreatedDate", "UsagePlanIds", "Stages", "tags.owner"],
        rows_aws,
    )
    (HERE / "mapping_aws.yaml").write_text(
        "# Column mapping for an AWS API Gateway key export (aws_api_keys.csv).\n"
        "# canonical column: the export's header.\n"
        "# Usage: tyk-migrate validate aws_api_keys.csv --mapping mapping_aws.yaml\n"
        "columns:\n  key_id: Key\n  alias: Name\n  owner_email: tags.owner\n  plan: UsagePlanIds\n"
        "  products: Stages\n  active: Enabled\n",
        encoding="utf-8",
    )


def dashboard_policies(roster: dict) -> list[dict]:
    policies = []
    for plan in roster["plans"]:
        unlimited = plan["UnlimitedQuota"]
        policies.append({
            "_id": developer_id("policy " + plan["ReferenceID"]), "id": plan["ReferenceID"], "name": plan["Name"],
            "org_id": ORG_ID, "active": True, "rate": plan["RateLimit"], "per": plan["Per"],
            "quota_max": -1 if unlimited else plan["Quota"], "quota_renewal_rate": -1 if unlimited else MONTH,
            "key_expires_in": plan["KeyExpiresIn"], "access_rights": {},
            "partitions": {"quota": True, "rate_limit": True, "acl": False, "complexity": False, "per_api": False},
        })
    for product in roster["products"]:
        api = product["APIDetails"][0]
        policies.append({
            "_id": developer_id("policy " + product["ReferenceID"]), "id": product["ReferenceID"],
            "name": product["Name"], "org_id": ORG_ID, "active": True, "rate": 0, "per": 0, "quota_max": 0,
            "quota_renewal_rate": 0, "key_expires_in": 0,
            "access_rights": {api["APIID"]: {"api_id": api["APIID"], "api_name": api["Name"], "versions": ["Default"]}},
            "partitions": {"quota": False, "rate_limit": False, "acl": True, "complexity": False, "per_api": False},
        })  # fmt: skip
    return policies


if __name__ == "__main__":
    main()
