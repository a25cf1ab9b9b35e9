"""The sandbox portal's state: objects by ID, the indexes that keep every request O(1), and counters.

All mutation happens on the server's event loop (one thread), so no locks are needed. Objects are kept
in the shape the portal's GET answers use; credentials also hold ``AppID`` (internal link, stripped
from API answers). Dicts keep insertion order and IDs only grow, so iterating a dict is ID order and a
page is an ``islice`` rather than a sort.

The gateway's keys are a table of their own (``gateway``: KeyID -> session), as in Tyk, where the portal
asks the Dashboard to create the key: normally one per Tyk-managed credential, but the behaviour knobs
(behaviour.py) can make them part ways: a newer credential taking a key over, a record without a key, a
key without a record. The table is persisted beside the portal's objects (kind ``gateway_keys``). Legacy
sessions (keys live before any migration, seeded from ``dashboard_keys``) are rows of it too, holding their
``Session`` (legacy.py), and the Classic Portal's developers are kept for the Dashboard part (kind
``dashboard_developers``).
"""

from __future__ import annotations

import copy
import itertools
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import legacy
from .seed import KINDS, load_seed
from .store import SqliteStore

Obj = dict[str, Any]
GATEWAY_KIND = "gateway_keys"
MANAGED = "CREDENTIAL_TYPE_TYK_MANAGED"  # only these are provisioned to the gateway
DEVELOPERS_KIND = legacy.DEVELOPERS_SECTION


def now_stamp() -> str:
    """The portal's timestamp format: ``YYYY-MM-DD HH:MM`` (UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M")


@dataclass
class RequestStats:
    """Counters the admin surface reports: by ``METHOD /route/{id} STATUS``, in-flight now and peak."""

    by_route: Counter[str] = field(default_factory=Counter)
    total: int = 0
    in_flight: int = 0
    in_flight_peak: int = 0
    portal_in_flight: int = 0
    portal_in_flight_peak: int = 0
    faults: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "in_flight": self.in_flight,
            "in_flight_peak": self.in_flight_peak,
            "portal_in_flight": self.portal_in_flight,
            "portal_in_flight_peak": self.portal_in_flight_peak,
            "by_route": dict(sorted(self.by_route.items())),
            "faults_injected": dict(sorted(self.faults.items())),
        }

    def reset(self) -> None:
        self.by_route.clear()
        self.faults.clear()
        self.total = 0
        self.in_flight_peak = self.in_flight
        self.portal_in_flight_peak = self.portal_in_flight


class SandboxState:
    """Users, products, plans, apps and credentials, with the indexes the API and gateway need."""

    def __init__(self, seed: Any = None, db: Any = None) -> None:
        self.seed_source = seed
        self.store = SqliteStore(db) if db is not None else None
        self.stats = RequestStats()
        self._load(initial=True)

    # ----- loading -----
    def _load(self, initial: bool) -> None:
        gateway_rows: list[Obj] | None = None
        if self.store is not None and initial and not self.store.is_empty():
            objects, next_ids = self.store.load()
            data = {kind: objects.get(kind, []) for kind in KINDS}
            data[DEVELOPERS_KIND] = [row["Developer"] for row in objects.get(DEVELOPERS_KIND, [])]
            if GATEWAY_KIND in next_ids:  # a store written since the gateway table exists
                gateway_rows = objects.get(GATEWAY_KIND, [])
        else:
            data = load_seed(self.seed_source)
            next_ids = {}
        #: the Classic Portal's developers, for the Dashboard part's GET /api/portal/developers
        self.developers: list[Obj] = list(data.get(DEVELOPERS_KIND, []))
        self.users: dict[int, Obj] = {o["ID"]: o for o in data["users"]}
        self.products: dict[int, Obj] = {o["ID"]: o for o in data["products"]}
        self.plans: dict[int, Obj] = {o["ID"]: o for o in data["plans"]}
        self.apps: dict[int, Obj] = {o["ID"]: o for o in data["apps"]}
        self.credentials: dict[int, Obj] = {o["ID"]: o for o in data["custom_credentials"]}
        self.next_ids = {
            kind: max(next_ids.get(kind, 1), max(getattr(self, attr), default=0) + 1) for kind, attr in _ATTR.items()
        }
        self._reindex()
        self.gateway: dict[str, Obj] = {}
        if gateway_rows is None:  # a seed (or an older store): the legacy sessions, one key per Tyk-managed credential
            self.next_ids[GATEWAY_KIND] = 1
            sessions = data.get(legacy.KEYS_SECTION, [])
            self.dashboard_org = legacy.org_of({"Session": e["data"]} for e in sessions)
            for entry in sessions:
                oid = self._new_id(GATEWAY_KIND)
                row = {"ID": oid, "KeyID": entry["key_id"], "CredentialID": None, "Session": entry["data"]}
                self.gateway[row["KeyID"]] = row
            for cred in self.credentials.values():
                if cred.get("Type") == MANAGED:
                    self._provision(cred)
        else:
            self.gateway = {row["KeyID"]: row for row in gateway_rows}
            self.dashboard_org = legacy.org_of(gateway_rows)
            top = max((row["ID"] for row in gateway_rows), default=0) + 1
            self.next_ids[GATEWAY_KIND] = max(next_ids.get(GATEWAY_KIND, 1), top)
        #: (kind, ID) -> monotonic time before which a new object stays out of list answers (listing-lag-ms)
        self.unlisted_until: dict[tuple[str, int], float] = {}
        if self.store is not None and (not initial or self.store.is_empty() or gateway_rows is None):
            portal = {kind: data[kind] for kind in KINDS}
            developers = [{"ID": i, "Developer": dev} for i, dev in enumerate(self.developers, start=1)]
            objects = {**portal, GATEWAY_KIND: list(self.gateway.values()), DEVELOPERS_KIND: developers}
            self.store.replace_all(objects, self.next_ids)

    def _reindex(self) -> None:
        self.emails = {str(u.get("Email", "")).strip().lower(): uid for uid, u in self.users.items()}
        #: KeyID -> the IDs of the portal records listing it (more than one only under duplicate-key=overwrite)
        self.keys: dict[str, dict[int, None]] = {}
        for cid, c in self.credentials.items():
            self.keys.setdefault(c["KeyID"], {})[cid] = None
        self.creds_by_app: dict[int, dict[int, None]] = {aid: {} for aid in self.apps}
        for cid, c in self.credentials.items():
            self.creds_by_app.setdefault(c["AppID"], {})[cid] = None
        self.apis_by_id: dict[str, Obj] = {}
        self.apis_by_path: dict[str, Obj] = {}
        self.products_by_api: dict[str, set[int]] = {}
        for pid, product in self.products.items():
            for api in product.get("APIDetails") or []:
                api_id = str(api.get("APIID", ""))
                self.apis_by_id[api_id] = api
                self.products_by_api.setdefault(api_id, set()).add(pid)
                listen = str(api.get("ListenPath") or "").strip("/")
                if listen:
                    self.apis_by_path["/" + listen + "/"] = api

    def reset(self) -> None:
        """Back to the seed (the SQLite file too); counters cleared."""
        self._load(initial=False)
        self.stats.reset()

    # ----- reads -----
    @staticmethod
    def page(items: Sequence[int] | dict[int, Any], offset: int, count: int) -> list[int]:
        # bounded by the row count, so any offset or count from a query string is safe for islice
        start = min(offset, len(items))
        return list(itertools.islice(iter(items), start, min(start + count, len(items))))

    def credential_by_key(self, key: str) -> Obj | None:
        """The newest portal record listing ``key``."""
        ids = self.keys.get(key)
        return self.credentials.get(next(reversed(ids))) if ids else None

    def key_in_use(self, key: str) -> bool:
        """A portal record lists it or the gateway holds it (what a duplicate check can see)."""
        return key in self.keys or key in self.gateway

    def listed(self, kind: str, ids: Iterable[int]) -> list[int] | None:
        """The IDs a list answer may show now (listing-lag-ms), or None when nothing is held back."""
        if not self.unlisted_until:
            return None
        now = time.monotonic()
        for held, until in list(self.unlisted_until.items()):
            if until <= now:
                del self.unlisted_until[held]
        return [i for i in ids if (kind, i) not in self.unlisted_until]

    def unlist_for(self, kind: str, oid: int, seconds: float) -> None:
        if seconds > 0:
            self.unlisted_until[(kind, oid)] = time.monotonic() + seconds

    def snapshot(self) -> dict[str, Any]:
        """The whole state in seed format (so it can be fed back as a seed), plus counters."""
        return {
            "users": copy.deepcopy(list(self.users.values())),
            "products": copy.deepcopy(list(self.products.values())),
            "plans": copy.deepcopy(list(self.plans.values())),
            "apps": copy.deepcopy(list(self.apps.values())),
            "custom_credentials": copy.deepcopy(list(self.credentials.values())),
            GATEWAY_KIND: copy.deepcopy(list(self.gateway.values())),
            DEVELOPERS_KIND: copy.deepcopy(self.developers),
            "next_ids": dict(self.next_ids),
            "requests": self.stats.as_dict(),
        }

    # ----- writes (each one persisted before the caller answers) -----
    def _new_id(self, kind: str) -> int:
        oid = self.next_ids[kind]
        self.next_ids[kind] = oid + 1
        return oid

    def _persist(self, puts: list[tuple[str, Obj]] = (), deletes: list[tuple[str, int]] = ()) -> None:  # type: ignore[assignment]
        if self.store is not None:
            self.store.apply(puts, deletes, self.next_ids)

    def add_user(self, fields: Obj) -> Obj:
        stamp = now_stamp()
        user = {"ID": self._new_id("users"), **fields, "CreatedAt": stamp, "UpdatedAt": stamp}
        self.users[user["ID"]] = user
        self.emails[str(user.get("Email", "")).strip().lower()] = user["ID"]
        self._persist([("users", user)])
        return user

    def delete_user(self, user_id: int) -> None:
        """Remove the user and every app of theirs (with its credentials and gateway keys), as the file says."""
        user = self.users.pop(user_id)
        email = str(user.get("Email", "")).strip().lower()
        if self.emails.get(email) == user_id:
            del self.emails[email]
        deletes: list[tuple[str, int]] = [("users", user_id)]
        for app_id in [aid for aid, app in self.apps.items() if app.get("UserID") == user_id]:
            self.apps.pop(app_id)
            deletes.append(("apps", app_id))
            for cid in list(self.creds_by_app.pop(app_id, {})):
                deletes.extend(self._drop_credential(cid))
        self._persist(deletes=deletes)

    def add_app(self, fields: Obj) -> Obj:
        app = {"ID": self._new_id("apps"), **fields, "CreatedAt": now_stamp()}
        self.apps[app["ID"]] = app
        self.creds_by_app[app["ID"]] = {}
        self._persist([("apps", app)])
        return app

    def update_app(self, app_id: int, fields: Obj) -> Obj:
        app = self.apps[app_id]
        app.update(fields)
        self._persist([("apps", app)])
        return app

    def delete_app(self, app_id: int) -> None:
        """Remove the app and its credentials; their keys stop opening the gateway at once."""
        self.apps.pop(app_id)
        cred_ids = list(self.creds_by_app.pop(app_id, {}))
        deletes = [("apps", app_id)]
        for cid in cred_ids:
            deletes.extend(self._drop_credential(cid))
        self._persist(deletes=deletes)

    def _provision(self, cred: Obj, record: bool = True) -> Obj:
        """Create (or take over: the gateway overwrites) the key of ``cred`` with its plan and products."""
        row = self.gateway.get(cred["KeyID"])
        oid = row["ID"] if row is not None else self._new_id(GATEWAY_KIND)
        row = {
            "ID": oid,
            "KeyID": cred["KeyID"],
            "CredentialID": cred["ID"] if record else None,
            "PlanID": cred["PlanID"],
            "ProductIDs": list(cred["ProductIDs"]),
            "OrgID": self.dashboard_org,  # the Dashboard's org the key is created in (its hash depends on it)
        }
        self.gateway[row["KeyID"]] = row
        return row

    def add_credential(self, app_id: int, fields: Obj, record: bool = True, provision: bool = True) -> Obj:
        """Store a credential and provision its key; ``record``/``provision`` False: a create half done."""
        stamp = now_stamp()
        cred = {"ID": self._new_id("custom_credentials") if record else None, "AppID": app_id, **fields}
        cred.update(CreatedAt=stamp, UpdatedAt=stamp)
        puts: list[tuple[str, Obj]] = []
        if record:
            self.credentials[cred["ID"]] = cred
            self.keys.setdefault(cred["KeyID"], {})[cred["ID"]] = None
            self.creds_by_app.setdefault(app_id, {})[cred["ID"]] = None
            puts.append(("custom_credentials", cred))
        if provision and cred.get("Type") == MANAGED:
            puts.append((GATEWAY_KIND, self._provision(cred, record)))
        self._persist(puts)
        return cred

    def update_credential(self, cred_id: int, fields: Obj) -> Obj:
        cred = self.credentials[cred_id]
        cred.update(fields, UpdatedAt=now_stamp())
        self._persist([("custom_credentials", cred)])
        return cred

    def _drop_credential(self, cred_id: int) -> list[tuple[str, int]]:
        """Forget a record and revoke its KeyID in the gateway (by ID, whichever record the key serves)."""
        cred = self.credentials.pop(cred_id)
        self.creds_by_app.get(cred["AppID"], {}).pop(cred_id, None)
        records = self.keys.get(cred["KeyID"], {})
        records.pop(cred_id, None)
        if not records:
            self.keys.pop(cred["KeyID"], None)
        deletes = [("custom_credentials", cred_id)]
        row = self.gateway.pop(cred["KeyID"], None)
        if row is not None:
            deletes.append((GATEWAY_KIND, row["ID"]))
        return deletes

    def delete_credential(self, cred_id: int) -> None:
        self._persist(deletes=self._drop_credential(cred_id))

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


_ATTR = {
    "users": "users",
    "products": "products",
    "plans": "plans",
    "apps": "apps",
    "custom_credentials": "credentials",
}
