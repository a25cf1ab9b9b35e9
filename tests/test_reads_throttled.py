"""Reads survive a throttling portal: plan, verify and reconcile against a sandbox capping requests in flight.

The commands read the whole portal (users, products, plans, apps, then every app's credentials). Against a
portal that answers 429 once a few requests are in flight they must slow down (adaptive concurrency, each
refused request tried again after its ``Retry-After``) and end exactly as they do against an open portal.
"""

from __future__ import annotations

import asyncio
import copy
import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from click.testing import CliRunner

from tyk_migrate.cli import cli
from tyk_migrate.concurrency import AdaptiveConcurrency, Limiter
from tyk_migrate.errors import AuthError, RateLimited
from tyk_migrate.journal import Journal
from tyk_migrate.portal import AsyncPortalClient
from tyk_migrate.retry import RetryPolicy
from tyk_migrate.sandbox import SandboxConfig
from tyk_migrate.sandbox.app import create_app
from tyk_migrate.snapshot import PortalSnapshot, fetch_snapshot_async

#: At most 3 portal requests in flight (the 4th gets 429 + Retry-After: 1), and a few 429s without one.
THROTTLED = "cap=2,429-no-retry=2%,latency=10"
BULK_APPS = 120


def throttled_seed(seed: dict[str, Any], apps: int = BULK_APPS) -> dict[str, Any]:
    """The sample portal plus ``apps`` apps of active developers, one credential each."""
    seed = copy.deepcopy(seed)
    owners = [u["ID"] for u in seed["users"] if u["OrganisationID"] != 0 and u["Active"]]
    app_id = max(a["ID"] for a in seed["apps"]) + 1
    cred_id = max(c["ID"] for c in seed["custom_credentials"]) + 1
    for n in range(apps):
        seed["apps"].append({"ID": app_id + n, "Name": f"Bulk {n}", "UserID": owners[n % len(owners)],
                             "Visibility": "organisation", "CreatedAt": "2026-11-01 10:00"})  # fmt: skip
        seed["custom_credentials"].append(
            {"ID": cred_id + n, "AppID": app_id + n, "Alias": f"bulk {n}", "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
             "PlanID": "8", "AuthenticationMethod": "Auth Token", "ProductIDs": [1, 3],
             "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM", "KeyID": f"bulk-legacy-key-{n:08d}"}
        )  # fmt: skip
    return seed


def write_input(path: Path, seed: dict[str, Any]) -> None:
    """A legacy CSV of every key the portal holds (except the portal-born one), exactly as it holds them."""
    users = {u["ID"]: u["Email"] for u in seed["users"]}
    apps = {a["ID"]: a for a in seed["apps"]}
    plans = {str(p["ID"]): p["ReferenceID"] for p in seed["plans"]}
    products = {p["ID"]: p["ReferenceID"] for p in seed["products"]}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key_id", "owner_email", "app_name", "alias", "plan", "products"])
        for cred in seed["custom_credentials"]:
            app = apps[cred["AppID"]]
            if app["Name"] != "Portal-born app":
                writer.writerow([cred["KeyID"], users[app["UserID"]], app["Name"], cred["Alias"],
                                 plans[cred["PlanID"]], ";".join(products[p] for p in cred["ProductIDs"])])  # fmt: skip


def command_args(command: str, source: Path, out: Path, journal: Path) -> list[str]:
    args = [command, str(source), "--out", str(out), "--concurrency", "16"]
    return args + (["--journal", str(journal)] if command == "verify" else [])


@pytest.mark.parametrize("command", ["plan", "reconcile", "verify"])
def test_reads_survive_a_portal_capping_requests_in_flight(command, make_sandbox, seed_data, tmp_path):
    seed = throttled_seed(seed_data)
    source = tmp_path / "keys.csv"
    write_input(source, seed)
    journal = tmp_path / "run.journal"
    Journal(journal).close()  # nothing created by a run: every key is pre-existing (skipped), so verify calls all
    frames = {}
    for faults in ("", THROTTLED):
        sb = make_sandbox(seed=copy.deepcopy(seed), faults=faults)
        env = {"TYK_PORTAL_URL": sb.portal_url, "TYK_PORTAL_TOKEN": sb.token, "TYK_GATEWAY_URL": sb.gateway_url}
        out = tmp_path / f"{command}{'-throttled' if faults else ''}.csv"
        result = CliRunner().invoke(cli, command_args(command, source, out, journal), env=env)
        assert result.exit_code == 0, result.output
        frames[faults] = pd.read_csv(out, dtype=str, keep_default_na=False).drop(columns="verified_at", errors="ignore")
    refused = sb.snapshot()["requests"]["faults_injected"]
    assert refused.get("cap", 0) > 0 and refused.get("429-no-retry", 0) > 0, refused  # the portal did throttle
    # Adapted: a fixed 16 in flight against a cap of 3 has most requests refused, over and over.
    assert refused["cap"] < BULK_APPS / 4, refused
    assert len(frames[""]) == BULK_APPS + 9
    pd.testing.assert_frame_equal(frames[THROTTLED], frames[""])


Script = Callable[[str], "httpx.Response | None"]


class Scripted(httpx.AsyncBaseTransport):
    """An in-process sandbox behind a script: ``script(path)`` answers instead of the portal when it returns
    a response. Records (path, sent, answered, status) of every request, to see when each was sent."""

    def __init__(self, seed: dict[str, Any], script: Script) -> None:
        self.inner = httpx.ASGITransport(app=create_app(SandboxConfig(seed=seed)))
        self.script = script
        self.log: list[tuple[str, float, float, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent, path = time.monotonic(), request.url.path.removeprefix("/portal-api")
        response = self.script(path)
        if response is None:
            response = await self.inner.handle_async_request(request)
            await response.aread()
        self.log.append((path, sent, time.monotonic(), response.status_code))
        return response


def too_many(retry_after: float) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": str(retry_after)}, json={"errors": ["slow down"]})


def client_for(transport: httpx.AsyncBaseTransport, **kw: Any) -> AsyncPortalClient:
    return AsyncPortalClient("http://127.0.0.1:9", "sandbox-admin-token", transport=transport, **kw)


def test_snapshot_waits_out_retry_after_without_holding_a_slot(seed_data):
    seed = throttled_seed(seed_data, apps=10)
    odd = {f"/apps/{a['ID']}/custom_credentials" for a in seed["apps"] if a["ID"] % 2}
    refuse = set(odd)  # the first request of each: 429, Retry-After 0.2 s
    transport = Scripted(seed, lambda path: too_many(0.2) if path in refuse and not refuse.discard(path) else None)
    hook_calls: list[int | None] = []
    retry = RetryPolicy(attempts=3)
    client = client_for(transport, retry=retry, on_response=lambda method, path, status, s: hook_calls.append(status))

    async def fetch() -> PortalSnapshot:
        async with client:
            return await fetch_snapshot_async(client, concurrency=2, progress=False)

    snap = asyncio.run(fetch())
    for name in ("users", "products", "plans", "apps", "credentials"):
        pd.testing.assert_frame_equal(getattr(snap, name), getattr(PortalSnapshot.from_seed(seed), name))
    refusals = {path: answered for path, _, answered, status in transport.log if status == 429}
    assert set(refusals) == odd
    for path, refused_at in refusals.items():
        resent = [sent for p, sent, _, status in transport.log if p == path and status == 200]
        assert len(resent) == 1 and resent[0] - refused_at >= 0.2, path  # not sent again before Retry-After
    # The waits did not keep the two slots: more than two refused reads were waiting at one time.
    resent_at = {p: sent for p, sent, _, status in transport.log if p in refusals and status == 200}
    waiting = max(sum(refusals[p] <= t < resent_at[p] for p in refusals) for t in refusals.values())
    assert waiting > 2, waiting
    # the client is as it was given: its own hook saw every answer, its policy is back
    assert len(hook_calls) == len(transport.log) and client.retry is retry


def test_429s_have_their_own_budget_then_the_error_is_raised(seed_data):
    """A portal that keeps answering 429 is tried ``rate_limited_attempts`` times, not ``attempts``."""
    path = "/apps/1/custom_credentials"
    transport = Scripted(seed_data, lambda p: too_many(0) if p == path else None)
    client = client_for(transport, retry=RetryPolicy(attempts=2, rate_limited_attempts=5))

    async def fetch() -> None:
        async with client:
            await fetch_snapshot_async(client, progress=False)

    with pytest.raises(RateLimited):
        asyncio.run(fetch())
    assert sum(p == path for p, *_ in transport.log) == 5


def test_a_read_that_fails_ends_the_others(seed_data):
    """Reads still retrying when another has failed are cancelled: none goes on sending after the error."""
    transport = Scripted(
        seed_data,
        lambda p: httpx.Response(403, json={"errors": ["no"]}) if p == "/apps/1/custom_credentials"
        else too_many(0.02) if p == "/apps/2/custom_credentials" else None,
    )  # fmt: skip
    client = client_for(transport)

    async def fetch_then_wait() -> float:
        async with client:
            with pytest.raises(AuthError):
                await fetch_snapshot_async(client, concurrency=4, progress=False)
            failed_at = time.monotonic()
            await asyncio.sleep(0.2)  # the client stays open: a read left running would send meanwhile
            return failed_at

    failed_at = asyncio.run(fetch_then_wait())
    assert not [sent for _, sent, _, _ in transport.log if sent > failed_at]


def test_the_first_429_lowers_the_limit_at_once():
    """Before any decrease there are no answers to older sends to discount: the first signal counts."""
    limiter = Limiter(1)
    controller = AdaptiveConcurrency(limiter, initial=8)
    limiter._used = 4  # four reads in flight, as the snapshot's first lists are
    controller.observe(429, 0.01)
    assert controller.limit == 4 and controller.decreases == 1
    controller.observe(429, 0.01)  # the answer to a send made before that decrease: not a second one
    assert controller.limit == 4 and controller.decreases == 1
