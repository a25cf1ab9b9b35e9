"""fetch_snapshot / PortalSnapshot: frames and dtypes, PlanID conversion, concurrent credential fetch."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

import httpx
import pandas as pd
import pytest

from tyk_migrate.config import Settings
from tyk_migrate.errors import AuthError, PortalServerError, UnexpectedAnswer
from tyk_migrate.portal import AsyncPortalClient, PortalClient
from tyk_migrate.retry import RetryPolicy
from tyk_migrate.sandbox import SandboxConfig
from tyk_migrate.sandbox.app import create_app
from tyk_migrate.secrets import SecretKey, fingerprint
from tyk_migrate.snapshot import PortalSnapshot, fetch_snapshot, fetch_snapshot_async, is_portal_admin

FRAMES = ("users", "products", "plans", "apps", "credentials")


def big_seed(seed: dict[str, Any], apps: int, creds_every: int = 3) -> dict[str, Any]:
    """The sample portal plus ``apps`` more apps (round-robin owners), a credential on every n-th."""
    seed = copy.deepcopy(seed)
    developers = [u["ID"] for u in seed["users"] if u["OrganisationID"] != 0]
    app_id = max(a["ID"] for a in seed["apps"]) + 1
    cred_id = max(c["ID"] for c in seed["custom_credentials"]) + 1
    for n in range(apps):
        seed["apps"].append({"ID": app_id, "Name": f"Bulk {n}", "UserID": developers[n % len(developers)],
                             "Visibility": "organisation", "CreatedAt": "2026-11-01 10:00"})  # fmt: skip
        if n % creds_every == 0:
            seed["custom_credentials"].append(
                {"ID": cred_id, "AppID": app_id, "Alias": f"bulk {n}", "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
                 "PlanID": "8", "AuthenticationMethod": "Auth Token", "ProductIDs": [1, 3],
                 "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM", "KeyID": f"bulk-key-{n:010d}"}
            )  # fmt: skip
            cred_id += 1
        app_id += 1
    return seed


def assert_same_frames(a: PortalSnapshot, b: PortalSnapshot) -> None:
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_like=False)


def test_fetch_over_a_socket_matches_the_seed(sandbox, seed_data):
    with PortalClient(sandbox.url, sandbox.token, per_page=4) as client:
        snap = fetch_snapshot(client, concurrency=4)
    assert snap.portal_url == sandbox.portal_url
    assert_same_frames(snap, PortalSnapshot.from_seed(seed_data))
    # list answers lack ReferenceID (plans) and ListenPath (products): the details were read
    assert (snap.plans["reference_id"] != "").all()
    assert all(paths for paths in snap.products["listen_paths"])


def test_frames_and_dtypes(sandbox, seed_data):
    snap = fetch_snapshot(Settings(portal_url=sandbox.url, token=sandbox.token))
    users, creds = snap.users, snap.credentials
    assert users["user_id"].dtype == "int64" and users["active"].dtype == bool
    assert (users["email"] == users["email"].str.strip().str.lower()).all()
    admins = users.loc[users["is_admin"], "user_id"].tolist()
    assert admins == [1]  # consumer-admins are developers
    assert (users["role"] == "consumer-admin").any()
    assert str(creds["plan_id"].dtype) == "Int64"
    raw = {c["ID"]: c for c in seed_data["custom_credentials"]}
    for row in creds.itertuples():
        assert row.plan_id == int(raw[row.credential_id]["PlanID"])  # string in the answer
        assert isinstance(row.key_id, SecretKey)
        assert row.key_fingerprint == fingerprint(raw[row.credential_id]["KeyID"])
        assert row.product_ids == raw[row.credential_id]["ProductIDs"]
    apps = dict(zip(snap.apps["app_id"], snap.apps["user_id"], strict=True))
    assert (creds["user_id"] == creds["app_id"].map(apps)).all()
    assert str(snap.apps["created_at"].dtype).startswith("datetime64")
    for raw_key in (c["KeyID"] for c in seed_data["custom_credentials"]):
        assert raw_key not in repr(snap) + creds.to_string()


def test_helpers_find_app_and_credential(seed_data):
    snap = PortalSnapshot.from_seed(seed_data)
    first = seed_data["apps"][0]
    found = snap.find_app(first["UserID"], f"  {first['Name']} ")
    assert found is not None and found["app_id"] == first["ID"]
    assert snap.find_app(first["UserID"], "No such app") is None
    cred = seed_data["custom_credentials"][0]
    by_fp = snap.credentials_by_fingerprint
    assert by_fp.loc[fingerprint(cred["KeyID"]), "credential_id"] == cred["ID"]
    assert snap.find_credential(cred["KeyID"])["credential_id"] == cred["ID"]
    assert snap.find_credential(fingerprint(cred["KeyID"]))["credential_id"] == cred["ID"]
    assert snap.find_credential("never-seen-key-123") is None


def test_concurrent_credential_fetch_in_process(seed_data):
    seed = big_seed(seed_data, apps=300)
    app = create_app(SandboxConfig(seed=seed, latency_ms=2))
    client = AsyncPortalClient("http://127.0.0.1:3001", "sandbox-admin-token", transport=httpx.ASGITransport(app=app))

    async def go() -> PortalSnapshot:
        async with client:
            return await fetch_snapshot_async(client, concurrency=8, progress=False)

    snap = asyncio.run(go())
    assert len(snap.apps) == len(seed["apps"])
    assert len(snap.credentials) == len(seed["custom_credentials"])
    assert snap.credentials["credential_id"].is_monotonic_increasing
    peak = app.state.sandbox.stats.portal_in_flight_peak
    assert 1 < peak <= 8 + 4  # concurrent, and bounded (4 first-level lists may overlap the gate)


def test_fetch_survives_faults_and_a_running_event_loop(make_sandbox, seed_data):
    sb = make_sandbox(seed=big_seed(seed_data, apps=60), faults="500=15%,429-no-retry=10%,drop=5%", random_seed=5)
    retry = RetryPolicy(attempts=12, base=0.001, cap=0.01)

    async def inside_a_notebook() -> PortalSnapshot:
        # a notebook cell runs inside an event loop: the blocking entry point must still work
        client = AsyncPortalClient(sb.url, sb.token, retry=retry, per_page=7)
        return fetch_snapshot(client, concurrency=6, progress=True)

    snap = asyncio.run(inside_a_notebook())
    sb.set_faults("")
    with PortalClient(sb.url, sb.token) as client:
        clean = fetch_snapshot(client)
    assert_same_frames(snap, clean)
    assert sum(sb.snapshot()["requests"]["faults_injected"].values()) > 0


class Forward(httpx.BaseTransport):
    """A sync-only transport, as a PortalClient takes: sends every request to ``target``, whatever its URL."""

    def __init__(self, target: str) -> None:
        self.target, self.inner, self.seen = httpx.URL(target), httpx.HTTPTransport(), []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.url)
        url = request.url.copy_with(scheme=self.target.scheme, host=self.target.host, port=self.target.port)
        return self.inner.handle_request(httpx.Request(request.method, url, headers=request.headers))


def test_fetch_with_a_blocking_client_keeps_its_transport_per_page_and_hook(sandbox, seed_data):
    """The async client fetch_snapshot builds inherits the given client's settings, not only its URL."""
    forward, answered = Forward(sandbox.url), []
    hook = lambda method, path, status, seconds: answered.append(status)  # noqa: E731
    # nothing listens on port 9: only the client's own transport reaches the sandbox
    with PortalClient("http://127.0.0.1:9", sandbox.token, per_page=4, transport=forward, on_response=hook) as client:
        snap = fetch_snapshot(client, concurrency=4)
        assert len(client.list_apps()) == len(seed_data["apps"])  # the borrowed transport was left open
    assert_same_frames(snap, PortalSnapshot.from_seed(seed_data))
    lists = [u for u in forward.seen if u.path.endswith(("/users", "/apps", "/products"))]
    assert lists and {u.params["per_page"] for u in lists} == {"4"}
    assert len(answered) == len(forward.seen) and set(answered) == {200}  # the hook saw every answer


def test_fetch_with_a_blocking_client_keeps_its_retry_policy():
    tries: dict[str, int] = {}

    def unavailable(request: httpx.Request) -> httpx.Response:
        tries[request.url.path] = tries.get(request.url.path, 0) + 1
        return httpx.Response(503, json={"errors": ["down"]})

    retry = RetryPolicy(attempts=2, base=0.0, cap=0.0)
    with (
        PortalClient("http://127.0.0.1:9", "t", retry=retry, transport=httpx.MockTransport(unavailable)) as client,
        pytest.raises(PortalServerError),
    ):
        fetch_snapshot(client)
    assert tries and set(tries.values()) == {2}, tries  # two attempts each, as the client's policy says


def test_fetch_errors_propagate_typed(sandbox):
    with PortalClient(sandbox.url, "wrong-token-value") as client, pytest.raises(AuthError):
        fetch_snapshot(client)


def test_empty_portal_and_sparse_objects():
    snap = PortalSnapshot.from_api(users=[{"ID": 5}], products=[{"ID": 1, "Name": "P"}], plans=[{"ID": 2}])
    assert snap.users.loc[0, "email"] == "" and snap.users.loc[0, "org_id"] == -1
    assert snap.apps.empty and snap.credentials.empty
    assert list(snap.credentials.columns)[:3] == ["credential_id", "app_id", "user_id"]
    assert snap.find_app(5, "x") is None and snap.credentials_by_fingerprint.empty


def test_answers_that_break_the_contract_are_unexpected():
    with pytest.raises(UnexpectedAnswer, match="SnapshotUsers"):
        PortalSnapshot.from_api(users=[{"ID": 1}, {"ID": 1}])


@pytest.mark.parametrize(
    ("org", "role", "admin"),
    [(0, "provider-admin", True), (0, "", True), (3, "admin", True), (3, "provider-admin", True),
     (3, "consumer-admin", False), (3, "consumer-team-member", False)],
)  # fmt: skip
def test_portal_admin_rule(org, role, admin):
    assert is_portal_admin(org, role) is admin


def test_each_list_is_followed_at_once_by_what_depends_on_it(make_sandbox, seed_data, monkeypatch):
    """A plan's detail does not wait for the users, nor the first page's apps' credentials for the apps' second
    page: with both second pages slow, those reads are sent before either second page is answered."""
    sb = make_sandbox(seed=big_seed(seed_data, apps=150))  # two pages of apps at 100 a page
    events: list[tuple[str, str]] = []
    send = AsyncPortalClient._send

    async def recording(self, call):
        page = (call.params or {}).get("page")
        label = f"{call.path}?page={page}" if page else call.path
        events.append(("sent", label))
        if page and page > 1 and call.path in ("/apps", "/users"):
            await asyncio.sleep(0.3)  # a slow second page
        try:
            return await send(self, call)
        finally:
            events.append(("answered", label))

    monkeypatch.setattr(AsyncPortalClient, "_send", recording)
    snap = fetch_snapshot(Settings(portal_url=sb.portal_url, token=sb.token), progress=False)
    assert len(snap.apps) == len(sb.snapshot()["apps"]) and len(snap.plans) == len(sb.snapshot()["plans"])

    def first(what: str, test: Callable[[str], bool]) -> int:
        return min(i for i, (kind, label) in enumerate(events) if kind == what and test(label))

    second_pages = first("answered", lambda label: label in ("/apps?page=2", "/users?page=2"))
    assert first("sent", lambda label: "/custom_credentials" in label) < second_pages
    assert first("sent", lambda label: label.startswith("/plans/")) < second_pages
