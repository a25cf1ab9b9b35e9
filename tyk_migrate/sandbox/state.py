"""The sandbox portal's state: objects by ID, the indexes that keep every request O(1), and counters.

All mutation happens on the server's event loop (one thread), so no locks are needed. Objects are kept
in the shape the portal's GET answers use; credentials also hold ``AppID`` (internal link, stripped
from API answers). Dicts keep insertion order and IDs only grow, so iterating a dict is ID order and a
page is an ``islice`` rather than a sort.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .seed import KINDS, load_seed
from .store import SqliteStore

Obj = dict[str, Any]


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
        if self.store is not None and initial and not self.store.is_empty():
            objects, next_ids = self.store.load()
            data = {kind: objects.get(kind, []) for kind in KINDS}
        else:
            data = load_seed(self.seed_source)
            next_ids = {}
        self.users: dict[int, Obj] = {o["ID"]: o for o in data["users"]}
        self.products: dict[int, Obj] = {o["ID"]: o for o in data["products"]}
        self.plans: dict[int, Obj] = {o["ID"]: o for o in data["plans"]}
        self.apps: dict[int, Obj] = {o["ID"]: o for o in data["apps"]}
        self.credentials: dict[int, Obj] = {o["ID"]: o for o in data["custom_credentials"]}
        self.next_ids = {
            kind: max(next_ids.get(kind, 1), max(getattr(self, attr), default=0) + 1) for kind, attr in _ATTR.items()
        }
        self._reindex()
        if self.store is not None and (not initial or self.store.is_empty()):
            self.store.replace_all(data, self.next_ids)

    def _reindex(self) -> None:
        self.emails = {str(u.get("Email", "")).strip().lower(): uid for uid, u in self.users.items()}
        self.keys: dict[str, int] = {c["KeyID"]: cid for cid, c in self.credentials.items()}
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
    def page(items: dict[int, Obj] | dict[int, None], offset: int, count: int) -> list[int]:
        # bounded by the row count, so any offset or count from a query string is safe for islice
        start = min(offset, len(items))
        return list(itertools.islice(iter(items), start, min(start + count, len(items))))

    def credential_by_key(self, key: str) -> Obj | None:
        cid = self.keys.get(key)
        return None if cid is None else self.credentials.get(cid)

    def snapshot(self) -> dict[str, Any]:
        """The whole state in seed format (so it can be fed back as a seed), plus counters."""
        return {
            "users": copy.deepcopy(list(self.users.values())),
            "products": copy.deepcopy(list(self.products.values())),
            "plans": copy.deepcopy(list(self.plans.values())),
            "apps": copy.deepcopy(list(self.apps.values())),
            "custom_credentials": copy.deepcopy(list(self.credentials.values())),
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
        for cid in cred_ids:
            cred = self.credentials.pop(cid)
            self.keys.pop(cred["KeyID"], None)
        self._persist(deletes=[("apps", app_id)] + [("custom_credentials", cid) for cid in cred_ids])

    def add_credential(self, app_id: int, fields: Obj) -> Obj:
        stamp = now_stamp()
        cred = {"ID": self._new_id("custom_credentials"), "AppID": app_id, **fields}
        cred.update(CreatedAt=stamp, UpdatedAt=stamp)
        self.credentials[cred["ID"]] = cred
        self.keys[cred["KeyID"]] = cred["ID"]
        self.creds_by_app.setdefault(app_id, {})[cred["ID"]] = None
        self._persist([("custom_credentials", cred)])
        return cred

    def update_credential(self, cred_id: int, fields: Obj) -> Obj:
        cred = self.credentials[cred_id]
        cred.update(fields, UpdatedAt=now_stamp())
        self._persist([("custom_credentials", cred)])
        return cred

    def delete_credential(self, cred_id: int) -> None:
        cred = self.credentials.pop(cred_id)
        self.keys.pop(cred["KeyID"], None)
        self.creds_by_app.get(cred["AppID"], {}).pop(cred_id, None)
        self._persist(deletes=[("custom_credentials", cred_id)])

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
