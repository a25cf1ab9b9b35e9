"""Helpers shared by the runner tests: hand-built plan frames against the sample sandbox, and audits.

Plan frames are built by hand (not by the planner) so these tests pin the runner's contract alone.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pandas as pd

from tyk_migrate.secrets import fingerprint, secret_series

USERS = list(range(2, 52))  # consumer users of data-samples/sandbox_seed.json
PLANS = [7, 8, 9, 10]
PRODUCTS = [1, 2, 3, 4, 5, 6]


def make_plan(n: int, *, keys_per_app: int = 3, seed: int = 1, prefix: str = "mig") -> pd.DataFrame:
    """``n`` rows in groups of ``keys_per_app`` sharing one new app (first row create_app, others add)."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        group = i // keys_per_app
        user = USERS[group % len(USERS)]
        key = f"{prefix}{seed:02d}{i:05d}" + "".join(rng.choice("abcdef0123456789") for _ in range(20))
        rows.append(
            {
                "source_row": i + 1,
                "source_id": f"legacy-{i}",
                "key_id": key,
                "key_fingerprint": fingerprint(key),
                "owner_email": f"user{user}@example.test",
                "app_name": f"{prefix} app {seed}-{group}",
                "alias": f"key {i}",
                "plan": "legacy-plan",
                "products": ["legacy-api"],
                "expires_at": pd.NaT,
                "active": True,
                "user_id": user,
                "plan_id": PLANS[i % len(PLANS)],
                "product_ids": sorted(rng.sample(PRODUCTS, 1 + i % 3)),
                "app_id": None,
                "action": "create_app" if i % keys_per_app == 0 else "add_credential",
                "reason": None,
                "credential_id": None,
            }
        )
    frame = pd.DataFrame(rows)
    frame["key_id"] = secret_series(frame["key_id"], index=frame.index)
    for col in ("user_id", "plan_id", "app_id", "credential_id"):
        frame[col] = frame[col].astype("Int64")
    return frame


def portal_audit(state: dict[str, Any], plan: pd.DataFrame) -> dict[str, Any]:
    """Compare a sandbox snapshot with the plan: missing, duplicated, wrong and status-mismatched keys."""
    from tyk_migrate.secrets import reveal

    creds_by_key: dict[str, list[dict[str, Any]]] = {}
    for cred in state["custom_credentials"]:
        creds_by_key.setdefault(cred["KeyID"], []).append(cred)
    apps = {a["ID"]: a for a in state["apps"]}
    app_names = Counter((a["UserID"], a["Name"]) for a in state["apps"])
    missing, duplicates, wrong, status_mismatch = [], [], [], []
    for row in plan.itertuples(index=False):
        key = reveal(row.key_id)
        found = creds_by_key.get(key, [])
        if row.action in ("create_app", "add_credential"):
            if not found:
                missing.append(row.source_row)
            elif len(found) > 1:
                duplicates.append(row.source_row)
            else:
                cred = found[0]
                app = apps.get(cred["AppID"])
                ok = (
                    app is not None
                    and app["UserID"] == row.user_id
                    and app["Name"] == row.app_name
                    and str(cred["PlanID"]) == str(row.plan_id)
                    and sorted(cred["ProductIDs"]) == sorted(row.product_ids)
                )
                if not ok:
                    wrong.append(row.source_row)
        if "status" in plan.columns:
            exists = len(found) == 1
            if (row.status == "created") != exists and row.action in ("create_app", "add_credential"):
                status_mismatch.append(row.source_row)
            if row.status == "created" and exists and int(row.credential_id) != found[0]["ID"]:
                status_mismatch.append(row.source_row)
    return {
        "missing": missing,
        "duplicate_credentials": duplicates,
        "wrong": wrong,
        "status_mismatch": status_mismatch,
        "duplicate_apps": [k for k, v in app_names.items() if v > 1 and k[1].startswith(_prefixes(plan))],
    }


def _prefixes(plan: pd.DataFrame) -> tuple[str, ...]:
    return tuple({str(n).split(" app ")[0] + " app " for n in plan["app_name"]})


def post_count(state: dict[str, Any]) -> int:
    """Portal POSTs (any status) seen by the sandbox."""
    return sum(n for route, n in state["requests"]["by_route"].items() if route.startswith("POST /portal-api"))


def portal_requests(state: dict[str, Any]) -> int:
    """Portal API requests of any method seen by the sandbox (its admin endpoints are not counted)."""
    return sum(n for route, n in state["requests"]["by_route"].items() if " /portal-api" in route)


def refuse_writes(sandbox: Any, monkeypatch: Any) -> None:
    """The portal takes the token for reads but answers 403 to every write (a read-only admin token)."""
    from tyk_migrate.sandbox.portal_api import Refused

    def refuse(*_: Any) -> None:
        raise Refused(403, "forbidden: this token may not write")

    for name in ("add_app", "add_credential"):
        monkeypatch.setattr(sandbox.state, name, refuse)
