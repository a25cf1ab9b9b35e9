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
# name, rate (calls per `per` seconds), quota per month (None = unlimited), auto-approve.
# Plans are written in the shape of the official file's ``Plan`` schema (GET /plans/{id}): numeric
# ``RateLimit``/``Per``/``Quota``, integer catalogue IDs.
PLANS = [
    ("Free", 60, 60, 1000, True),
    ("Standard", 600, 60, 100000, True),
    ("Premium", 3000, 60, None, False),
    ("Partner", 10000, 60, None, False),
]


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
    for i, (name, rate, per, quota, auto) in enumerate(PLANS, start=len(products) + 1):
        plans.append({
            "ID": i, "Name": name, "DisplayName": f"{name} plan", "ReferenceID": hexid(24),
            "Description": f"{name} access to Quillbridge APIs", "ProviderID": 1, "Catalogues": [1],
            "AutoApproveAccessRequests": auto, "RateLimit": rate, "Per": per, "UnlimitedRateLimit": False,
            "Quota": -1 if quota is None else quota, "QuotaRenewalRate": 2592000,
            "UnlimitedQuota": quota is None, "KeyExpiresIn": 0, "JWTScope": "", "MetaData": {},
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
        ))
    return keys


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


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    roster = build_roster()
    keys = build_keys(roster)
    apps, creds = existing_portal_state(roster, keys)
    write_json(HERE / "sandbox_seed.json", {**roster, "apps": apps, "custom_credentials": creds})
    # Export writers (CSV, Excel, JSON, Dashboard and Classic Portal dumps) are added below this line.


if __name__ == "__main__":
    main()
