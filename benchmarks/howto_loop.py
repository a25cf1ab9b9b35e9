"""The how-to's way, as a small script: for each CSV row, create the app, then add the credential.

This is what Tyk's page "Import Custom Credentials via API" (import-custom-credentials.md) leads a user
to write: its two curl calls in a loop, one request at a time, no retries, no lookup before a retry, no
state between runs. The bodies are the page's, field by field, with real values (the OAuth-only fields
``CredentialKey``, ``CredentialSecret``, ``ProviderID``, ``ClientTypeID`` are left out: a custom auth
token has none, and placeholder IDs would be refused).

Input: the prepared CSV (``key_id, user_id, app_name, alias, plan_id, product_ids``) from
``benchmarks/workload.py``. Portal from ``TYK_PORTAL_URL`` / ``TYK_PORTAL_TOKEN``.

    TYK_PORTAL_URL=http://127.0.0.1:3001 TYK_PORTAL_TOKEN=... python benchmarks/howto_loop.py keys.csv

Prints one JSON line: rows, apps created, credentials created, failures by step, seconds.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx


def migrate(csv_path: Path, base: str, token: str, *, timeout: float = 30.0) -> dict[str, Any]:
    base = base.rstrip("/")
    if not base.endswith("/portal-api"):
        base += "/portal-api"
    headers = {"Authorization": token, "Content-Type": "application/json"}
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    with httpx.Client(headers=headers, timeout=timeout) as client, csv_path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            counts["rows"] += 1
            # 1. Create Application API (the page's first curl)
            try:
                r = client.post(
                    base + "/apps",
                    json={
                        "Name": row["app_name"],
                        "Description": "Migrated with the how-to's API calls",
                        "RedirectURLs": "",
                        "UserID": int(row["user_id"]),
                        "Visibility": "personal",
                    },
                )
            except httpx.HTTPError:
                counts["app_failed"] += 1
                continue
            if r.status_code != 200:
                counts["app_failed"] += 1
                continue
            counts["apps_created"] += 1
            app_id = r.json()["ID"]
            # 2. Add Credential to Application API (the page's second curl)
            try:
                r = client.post(
                    f"{base}/apps/{app_id}/custom_credentials",
                    json={
                        "Alias": row["alias"],
                        "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
                        "PlanID": int(row["plan_id"]),
                        "AuthenticationMethod": "Auth Token",
                        "ProductIDs": [int(p) for p in row["product_ids"].split(",") if p],
                        "AuthTokenType": "AUTH_TOKEN_CUSTOM",
                        "KeyID": row["key_id"],
                    },
                )
            except httpx.HTTPError:
                counts["credential_failed"] += 1
                continue
            if r.status_code not in (200, 201):
                counts["credential_failed"] += 1
                continue
            counts["credentials_created"] += 1
    return {**counts, "seconds": round(time.perf_counter() - started, 3)}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: howto_loop.py PREPARED.csv   (portal from TYK_PORTAL_URL / TYK_PORTAL_TOKEN)", file=sys.stderr)
        return 2
    base, token = os.environ.get("TYK_PORTAL_URL", ""), os.environ.get("TYK_PORTAL_TOKEN", "")
    if not base or not token:
        print("set TYK_PORTAL_URL and TYK_PORTAL_TOKEN", file=sys.stderr)
        return 2
    print(json.dumps(migrate(Path(args[0]), base, token)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
