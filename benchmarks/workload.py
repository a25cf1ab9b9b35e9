"""The data every tool migrates, and the audit of what each one left in the portal.

``make_keys`` draws N keys for the active developers of ``data-samples/sandbox_seed.json``, each with a
plan and products that exist there (by their Dashboard policy IDs). Each key gets its own app name, so
every tool has the same work per key (create the app, then add the credential) and an app that appears
twice is a duplicate, not a legitimate sharing.

Two files are written from the same keys:

* the legacy export ``tyk-migrate`` reads (``key_id, owner_email, app_name, alias, plan, products``,
  with policy IDs, exactly as a Dashboard export would name them);
* the prepared file the how-to loop and Newman read (``key_id, user_id, app_name, alias, plan_id,
  product_ids``): portal IDs already resolved, work a user of those tools has to do by hand first and
  that is not timed here (in their favour).
"""

from __future__ import annotations

import csv
import json
import random
import string
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import SEED


@dataclass(frozen=True)
class Key:
    key_id: str
    owner_email: str
    user_id: int
    app_name: str
    alias: str
    plan_ref: str
    plan_id: int
    product_refs: tuple[str, ...]
    product_ids: tuple[int, ...]


def make_keys(n: int, *, seed_file: Path = SEED, random_seed: int = 20261128, prefix: str = "bench") -> list[Key]:
    seed = json.loads(seed_file.read_text(encoding="utf-8"))
    rng = random.Random(random_seed)
    users = [u for u in seed["users"] if u.get("Active") and u.get("OrganisationID")]
    plans, products = seed["plans"], seed["products"]
    alphabet = string.ascii_letters + string.digits
    keys = []
    for i in range(n):
        user = users[i % len(users)]
        plan = rng.choice(plans)
        prods = sorted(rng.sample(products, k=rng.choice([1, 1, 2, 3])), key=lambda p: p["ID"])
        keys.append(
            Key(
                key_id=f"{prefix}{i:06d}" + "".join(rng.choice(alphabet) for _ in range(18)),
                owner_email=user["Email"],
                user_id=user["ID"],
                app_name=f"{prefix.title()} app {i:06d}",
                alias=f"{prefix} key {i:06d}",
                plan_ref=plan["ReferenceID"],
                plan_id=plan["ID"],
                product_refs=tuple(p["ReferenceID"] for p in prods),
                product_ids=tuple(p["ID"] for p in prods),
            )
        )
    return keys


def write_legacy_csv(keys: list[Key], path: Path) -> Path:
    """What ``tyk-migrate apply`` reads: emails and policy IDs, as the legacy system knows them."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["key_id", "owner_email", "app_name", "alias", "plan", "products"])
        for k in keys:
            w.writerow([k.key_id, k.owner_email, k.app_name, k.alias, k.plan_ref, ";".join(k.product_refs)])
    return path


def write_prepared_csv(keys: list[Key], path: Path) -> Path:
    """What the how-to loop and Newman read: portal IDs resolved beforehand (``product_ids`` as ``1,3``)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["key_id", "user_id", "app_name", "alias", "plan_id", "product_ids"])
        for k in keys:
            w.writerow([k.key_id, k.user_id, k.app_name, k.alias, k.plan_id, ",".join(map(str, k.product_ids))])
    return path


def audit(keys: list[Key], state: dict[str, Any]) -> dict[str, int]:
    """Compare the portal's final state with what should be there for these keys.

    * ``migrated``: the key is a credential in an app named as expected, owned by the right user, with
      the right plan and products;
    * ``missing``: no credential holds the key;
    * ``misplaced``: the key exists but in another app/owner, or with another plan or products;
    * ``duplicate_apps``: extra apps for one (user, app name) beyond the first;
    * ``orphan_apps``: apps created for these keys that hold no credential (litter a rerun must clean).
    """
    apps = {a["ID"]: a for a in state["apps"]}
    creds_by_key = {c["KeyID"]: c for c in state["custom_credentials"]}
    apps_with_creds = Counter(c["AppID"] for c in state["custom_credentials"])
    wanted_names = {k.app_name for k in keys}
    ours = [a for a in apps.values() if a["Name"] in wanted_names]
    per_owner_name = Counter((a["UserID"], a["Name"]) for a in ours)
    result = {"keys": len(keys), "migrated": 0, "missing": 0, "misplaced": 0}
    for k in keys:
        cred = creds_by_key.get(k.key_id)
        if cred is None:
            result["missing"] += 1
            continue
        app = apps.get(cred["AppID"], {})
        ok = (
            app.get("UserID") == k.user_id
            and app.get("Name") == k.app_name
            and str(cred.get("PlanID")) == str(k.plan_id)
            and sorted(cred.get("ProductIDs") or []) == sorted(k.product_ids)
        )
        result["migrated" if ok else "misplaced"] += 1
    result["duplicate_apps"] = sum(n - 1 for n in per_owner_name.values() if n > 1)
    result["orphan_apps"] = sum(1 for a in ours if not apps_with_creds.get(a["ID"]))
    return result
