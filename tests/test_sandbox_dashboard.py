"""The sandbox's Dashboard part (/api) and its legacy sessions: routes, hashing, the gateway, the duplicate-key knob."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tyk_migrate.errors import ConfigError, InputError
from tyk_migrate.sandbox import SandboxConfig, load_seed, run_in_thread
from tyk_migrate.sandbox.dashboard import PAGE_SIZE
from tyk_migrate.tyk_hash import storage_hash

ORG = "5f1a9c0e2b3d4e0001a1b2c3"
LIVE = "legacy-live-key-0001"  # a custom key, live before the migration
TYK_MADE = ORG + "abcdef0123456789"  # a key Tyk generated for the org


def session(api_id: str, **over: Any) -> dict[str, Any]:
    data = {
        "alias": "legacy",
        "apply_policies": ["legacy-policy"],
        "org_id": ORG,
        "access_rights": {api_id: {"api_id": api_id, "api_name": "Payments API", "versions": ["Default"]}},
        "expires": 0,
        "is_inactive": False,
        "meta_data": {"email": "ada.varga@pineconehealth.example"},
        "rate": 3,
        "per": 60,
        "quota_max": -1,
        "quota_renewal_rate": -1,
    }
    return {**data, **over}


@pytest.fixture
def live_seed(seed_data: dict[str, Any]) -> dict[str, Any]:
    seed = copy.deepcopy(seed_data)
    payments = seed["products"][0]["APIDetails"][0]["APIID"]
    seed["dashboard_keys"] = [
        {"key_id": LIVE, "data": session(payments)},
        {"key_id": TYK_MADE, "data": session(payments, rate=0, quota_max=2, quota_renewal_rate=3600)},
        {"key_id": "legacy-inactive-0001", "data": session(payments, is_inactive=True)},
        {"key_id": "legacy-expired-00001", "data": session(payments, expires=1_600_000_000)},
        {"key_id": "legacy-everywhere-01", "data": session(payments, access_rights={}, rate=0)},
    ]
    seed["dashboard_developers"] = [{"id": "dev1", "email": "ada.varga@pineconehealth.example"}]
    return seed


def dash(sb: Any, path: str, token: str | None = None, **params: Any) -> httpx.Response:
    headers = {"Authorization": token if token is not None else sb.dashboard_token}
    return httpx.get(sb.dashboard_url + path, params=params, headers=headers, timeout=10)


def call(sb: Any, key: str, path: str = "/payments/") -> int:
    return httpx.get(sb.gateway_url + path, headers={"Authorization": key}, timeout=10).status_code


def create(sb: Any, key: str, plan_id: int = 7, product_ids: tuple[int, ...] = (1,)) -> httpx.Response:
    with httpx.Client(base_url=sb.portal_url, headers={"Authorization": sb.token}, timeout=10) as c:
        app = c.post("/apps", json={"Name": "Live", "UserID": 3}).json()["ID"]
        body = {
            "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
            "PlanID": plan_id,
            "ProductIDs": list(product_ids),
            "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM",
            "KeyID": key,
            "AuthenticationMethod": "Auth Token",
        }
        return c.post(f"/apps/{app}/custom_credentials", json=body)


def test_routes_answer_the_dashboard_token_only_and_page_by_p(make_sandbox: Any, live_seed: Any) -> None:
    sb = make_sandbox(seed=live_seed)
    assert dash(sb, "/api/keys/detailed", token=sb.token).status_code == 401  # the portal's token is not it
    assert dash(sb, "/api/keys/detailed", token="").json() == {
        "Status": "Error",
        "Message": "Not authorised",
        "Meta": None,
    }
    portal = httpx.get(sb.portal_url + "/users", headers={"Authorization": sb.dashboard_token})
    assert portal.status_code == 401
    total = len(live_seed["dashboard_keys"]) + len(live_seed["custom_credentials"])  # every key of the gateway
    first = dash(sb, "/api/keys/detailed").json()
    assert first["pages"] == -(-total // PAGE_SIZE) and len(first["keys"]) == PAGE_SIZE
    walked = [e for p in range(1, first["pages"] + 1) for e in dash(sb, "/api/keys/detailed", p=p).json()["keys"]]
    assert len(walked) == total == len(dash(sb, "/api/keys/detailed", p=-1).json()["keys"])
    assert dash(sb, "/api/keys/detailed", p=first["pages"] + 1).json()["keys"] == []
    assert walked[0]["key_id"] == LIVE and walked[0]["data"]["apply_policies"] == ["legacy-policy"]
    assert dash(sb, "/api/keys/detailed", p="x").status_code == 400
    assert [e["key_id"] for e in dash(sb, "/api/keys/detailed", q="legacy-in").json()["keys"]] == [
        "legacy-inactive-0001"
    ]
    devs = dash(sb, "/api/portal/developers").json()
    assert devs == {"Data": live_seed["dashboard_developers"], "Pages": 1}
    assert dash(sb, "/api/nothing").json()["Status"] == "Error"


def test_key_lookups_by_value_and_by_hash(make_sandbox: Any, live_seed: Any) -> None:
    sb = make_sandbox(seed=live_seed)
    found = dash(sb, f"/api/keys/{LIVE}").json()
    assert found["key_id"] == LIVE and found["data"]["rate"] == 3
    assert found["key_hash"] == storage_hash(LIVE, ORG, "unset")  # hashing off: Tyk's default hash, shown
    off = dash(sb, f"/api/keys/{found['key_hash']}", hashed="true")
    assert off.status_code == 400 and "hashing is not enabled" in off.json()["Message"]
    assert dash(sb, "/api/keys/no-such-key-0001").status_code == 404
    sb.set_behaviour({"key-hashing": "sha256"})
    listed = dash(sb, "/api/keys/detailed", p=-1).json()["keys"]
    assert all(e["key_id"] == e["key_hash"] for e in listed) and LIVE not in str(listed)
    wanted = storage_hash(LIVE, ORG, "sha256")
    assert len(wanted) == 64 and wanted in {e["key_id"] for e in listed}
    assert dash(sb, f"/api/keys/{wanted}", hashed="1").json()["data"]["alias"] == "legacy"
    assert dash(sb, f"/api/keys/{LIVE}").json()["key_id"] == wanted  # by value still works; the hash comes back
    assert dash(sb, f"/api/keys/{storage_hash(LIVE, ORG, 'murmur64')}", hashed="1").status_code == 404
    generated = dash(sb, f"/api/keys/{storage_hash(TYK_MADE, ORG, 'sha256')}", hashed="1")
    assert generated.status_code == 200 and len(generated.json()["key_hash"]) == 8  # its own token: murmur32
    labels = sb.snapshot()["requests"]["by_route"]
    assert not [label for label in labels if LIVE in label or wanted in label]
    httpx.get(sb.dashboard_url + "/api/keys/a%2Fslash-key-tail", headers={"Authorization": sb.dashboard_token})
    assert not [label for label in sb.snapshot()["requests"]["by_route"] if "slash" in label]


def test_the_gateway_serves_legacy_sessions_by_their_own_rules(make_sandbox: Any, live_seed: Any) -> None:
    sb = make_sandbox(seed=live_seed)
    assert [call(sb, LIVE) for _ in range(4)] == [200, 200, 200, 429]  # its own rate: 3 per 60 s
    assert call(sb, LIVE, "/accounts/") == 403  # not in its access_rights
    assert [call(sb, TYK_MADE) for _ in range(3)] == [200, 200, 403]  # its quota: 2 an hour
    assert call(sb, "legacy-inactive-0001") == 403
    assert call(sb, "legacy-expired-00001") == 401
    assert call(sb, "legacy-everywhere-01", "/accounts/") == 200  # no access_rights: every API, as Tyk


def test_a_live_legacy_key_meets_the_duplicate_key_knob(make_sandbox: Any, live_seed: Any) -> None:
    plans = {p["ID"]: p for p in live_seed["plans"]}
    plans[7].update(RateLimit=100, Per=60, Quota=4, QuotaRenewalRate=3600, UnlimitedQuota=False)
    sb = make_sandbox(seed=live_seed)
    refused = create(sb, LIVE)
    assert refused.status_code == 422 and "KeyID already exists" in refused.text
    assert call(sb, LIVE) == 200 and dash(sb, f"/api/keys/{LIVE}").json()["data"]["rate"] == 3  # untouched
    sb.set_behaviour({"duplicate-key": "overwrite"})
    made = create(sb, LIVE)
    assert made.status_code == 201, made.text
    now = dash(sb, f"/api/keys/{LIVE}").json()["data"]  # the session the portal made: the plan's
    product = live_seed["products"][0]
    assert now["apply_policies"] == [plans[7]["ReferenceID"], product["ReferenceID"]]
    assert (now["rate"], now["per"], now["quota_max"], now["quota_renewal_rate"]) == (100, 60, 4, 3600)
    assert now["meta_data"]["user_email"] == live_seed["users"][2]["Email"] and now["org_id"] == ORG
    # the gateway now enforces the plan: its quota (4 an hour), not the legacy rate of 3 a minute
    assert [call(sb, LIVE) for _ in range(5)] == [200, 200, 200, 200, 403]
    plans[8].update(RateLimit=2, Per=60)
    sb2 = make_sandbox(seed=live_seed, behaviour={"duplicate-key": "overwrite"})
    assert create(sb2, "legacy-everywhere-01", plan_id=8).status_code == 201
    assert call(sb2, "legacy-everywhere-01", "/accounts/") == 403  # its products now: payments only
    assert [call(sb2, "legacy-everywhere-01") for _ in range(3)] == [200, 200, 429]  # the plan's rate


def test_legacy_sessions_persist_and_reset(live_seed: Any, tmp_path: Any) -> None:
    db = tmp_path / "sb.db"
    config = SandboxConfig(seed=live_seed, db=db, behaviour={"duplicate-key": "overwrite"})
    with run_in_thread(config) as sb:
        assert create(sb, LIVE).status_code == 201
    with run_in_thread(SandboxConfig(db=db)) as sb:  # restarted from the store alone
        assert dash(sb, f"/api/keys/{LIVE}").json()["data"]["apply_policies"][0] != "legacy-policy"
        assert dash(sb, "/api/keys/legacy-inactive-0001").json()["data"]["is_inactive"] is True
        assert dash(sb, "/api/portal/developers").json()["Data"] == live_seed["dashboard_developers"]
    with run_in_thread(SandboxConfig(seed=live_seed, db=db)) as sb:
        httpx.post(sb.url + "/__sandbox/reset", headers={"Authorization": sb.token}, timeout=10)
        assert dash(sb, f"/api/keys/{LIVE}").json()["data"]["apply_policies"] == ["legacy-policy"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["dashboard_keys"].append({"data": {}}), r"dashboard_keys\[5\]: needs a key_id"),
        (lambda s: s["dashboard_keys"].append({"key_id": LIVE, "data": {}}), "already used by another legacy"),
        (lambda s: s["dashboard_keys"].append({"key_id": "k-0000000001"}), "needs a data object"),
        (
            lambda s: s["dashboard_keys"].append({"key_id": s["custom_credentials"][0]["KeyID"], "data": {}}),
            "a seeded credential's KeyID",
        ),
        (lambda s: s.update(dashboard_developers=[{"id": "a"}, {"id": "a"}]), "needs an id of its own"),
        (lambda s: s.update(dashboard_keys={}), "must be a list of objects"),
        (lambda s: s.update(dashboard_key=[]), "expected users, .*dashboard_keys, dashboard_developers"),
    ],
)
def test_bad_legacy_sections_fail_at_start_in_one_line(live_seed: Any, change: Any, message: str) -> None:
    change(live_seed)
    with pytest.raises(InputError, match=message):
        load_seed(live_seed)


def test_sample_seed_sessions_are_of_owners_the_portal_deactivated(seed_data: dict[str, Any]) -> None:
    inactive = {u["Email"] for u in seed_data["users"] if not u["Active"]}
    sessions = seed_data["dashboard_keys"]
    assert len(sessions) >= 20
    developers = {d["id"]: d["email"] for d in seed_data["dashboard_developers"]}
    owners = {
        s["data"]["meta_data"].get("email") or developers[s["data"]["meta_data"]["tyk_developer_id"]] for s in sessions
    }
    assert owners <= inactive and any("email" not in s["data"]["meta_data"] for s in sessions)


def test_dashboard_faults_and_exposure(make_sandbox: Any) -> None:
    sb = make_sandbox(faults="429=100%")
    assert dash(sb, "/api/keys/detailed").status_code == 429
    assert httpx.get(sb.gateway_url + "/payments/", headers={"Authorization": "x" * 20}).status_code == 401
    with (
        pytest.raises(ConfigError, match="public default Dashboard token"),
        run_in_thread(SandboxConfig(token="own-secret-token"), host="0.0.0.0"),
    ):
        pass
    with pytest.raises(ConfigError, match="tokens must not be empty"):
        SandboxConfig(dashboard_token="").check()
