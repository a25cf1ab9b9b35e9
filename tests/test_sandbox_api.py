"""The sandbox's portal API over real HTTP: endpoints, paging, refusals, persistence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tyk_migrate.errors import ConfigError, InputError
from tyk_migrate.sandbox import SandboxConfig, create_app, load_seed, run_in_thread

CUSTOM = "AUTH_TOKEN_TYPE_CUSTOM"


def client(sb: Any) -> httpx.Client:
    return httpx.Client(base_url=sb.portal_url, headers={"Authorization": sb.token}, timeout=10)


def cred_body(**over: Any) -> dict[str, Any]:
    body = {
        "Alias": "migrated",
        "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
        "PlanID": 8,
        "AuthenticationMethod": "Auth Token",
        "ProductIDs": [1, 2],
        "AuthTokenType": CUSTOM,
        "KeyID": "legacy-key-0001",
    }
    body.update(over)
    return body


@pytest.fixture
def api(sandbox: Any) -> httpx.Client:
    with client(sandbox) as c:
        yield c


@pytest.fixture
def app_id(api: httpx.Client) -> int:
    return int(api.post("/apps", json={"Name": "Migrated", "UserID": 3}).json()["ID"])


@pytest.fixture(scope="module")
def shared_api() -> Any:
    """One sandbox for the many refusal cases (they store nothing), to keep the suite fast."""
    seed = Path(__file__).resolve().parents[1] / "data-samples" / "sandbox_seed.json"
    with run_in_thread(SandboxConfig(seed=seed)) as sb, client(sb) as c:
        yield c


@pytest.fixture
def shared_app(shared_api: httpx.Client) -> int:
    return int(shared_api.post("/apps", json={"Name": "Refusals", "UserID": 3}).json()["ID"])


def test_token_is_required_raw(sandbox: Any) -> None:
    for headers in ({}, {"Authorization": "wrong"}, {"Authorization": f"Bearer {sandbox.token}"}):
        r = httpx.get(sandbox.portal_url + "/users", headers=headers)
        assert r.status_code == 401
        assert isinstance(r.json()["errors"], list)


def test_lists_are_bare_arrays_and_plans_wrapped(api: httpx.Client, seed_data: dict[str, Any]) -> None:
    users = api.get("/users").json()
    assert isinstance(users, list) and len(users) == 20
    assert users[0]["Email"] == seed_data["users"][0]["Email"]
    plans = api.get("/plans").json()
    assert set(plans) == {"data"}
    assert [p["ID"] for p in plans["data"]] == [p["ID"] for p in seed_data["plans"]]
    assert len(api.get("/products").json()) == len(seed_data["products"])
    assert len(api.get("/apps").json()) == len(seed_data["apps"])


def test_paging_page_per_page_and_limit(api: httpx.Client, seed_data: dict[str, Any]) -> None:
    all_ids = [u["ID"] for u in seed_data["users"]]
    walked: list[int] = []
    page = 1
    while True:
        rows = api.get("/users", params={"page": page, "per_page": 7}).json()
        walked += [u["ID"] for u in rows]
        if len(rows) < 7:
            break
        page += 1
    assert walked == all_ids
    assert api.get("/users", params={"page": 99}).json() == []
    # limit sets the row count but the offset still comes from per_page (default 20)
    rows = api.get("/users", params={"page": 2, "limit": 30}).json()
    assert [u["ID"] for u in rows] == all_ids[20:50]
    rows = api.get("/users", params={"page": 2, "per_page": 10, "limit": 3}).json()
    assert [u["ID"] for u in rows] == all_ids[10:13]


def test_get_by_id_and_404(api: httpx.Client, seed_data: dict[str, Any]) -> None:
    assert api.get("/users/2").json()["Email"] == seed_data["users"][1]["Email"]
    assert api.get("/products/1").json()["APIDetails"]
    assert api.get("/plans/7").json()["ReferenceID"] == seed_data["plans"][0]["ReferenceID"]
    for path in (
        "/users/999",
        "/products/999",
        "/plans/999",
        "/apps/999",
        "/apps/abc",
        "/apps/1/custom_credentials/999",
        "/apps/999/custom_credentials",
    ):
        r = api.get(path)
        assert r.status_code == 404, path
        assert r.json()["errors"], path


def test_create_app_and_credential_shapes(api: httpx.Client) -> None:
    r = api.post("/apps", json={"Name": "Payment App", "UserID": 3, "Visibility": "personal"})
    assert r.status_code == 200
    app = r.json()
    assert app["ID"] == 11  # continues after the seed's highest app ID (10)
    assert app["Visibility"] == "personal"
    assert len(app["CreatedAt"]) == 16 and app["CreatedAt"][10] == " "
    r = api.post(f"/apps/{app['ID']}/custom_credentials", json=cred_body())
    assert r.status_code == 201
    cred = r.json()
    assert cred["PlanID"] == "8" and cred["ProductIDs"] == [1, 2] and cred["KeyID"] == "legacy-key-0001"
    assert "AppID" not in cred
    assert api.get(f"/apps/{app['ID']}/custom_credentials/{cred['ID']}").json() == cred
    listed = api.get(f"/apps/{app['ID']}/custom_credentials").json()
    assert listed == [{k: v for k, v in cred.items() if k not in ("CreatedAt", "UpdatedAt")}]
    assert api.get(f"/apps/{app['ID']}").json()["Name"] == "Payment App"


def test_auth_token_type_spellings(api: httpx.Client, app_id: int, make_sandbox: Any) -> None:
    for n, spelling in enumerate(("AUTH_TOKEN_TYPE_CUSTOM", "AUTH_TOKEN_CUSTOM")):
        r = api.post(
            f"/apps/{app_id}/custom_credentials", json=cred_body(AuthTokenType=spelling, KeyID=f"key-spell-{n}")
        )
        assert r.status_code == 201 and r.json()["AuthTokenType"] == spelling
    strict = make_sandbox(accept_auth_token_types=("AUTH_TOKEN_TYPE_CUSTOM",))
    with client(strict) as c:
        aid = c.post("/apps", json={"Name": "A", "UserID": 3}).json()["ID"]
        r = c.post(f"/apps/{aid}/custom_credentials", json=cred_body(AuthTokenType="AUTH_TOKEN_CUSTOM"))
        assert r.status_code == 422 and "AuthTokenType" in r.json()["errors"][0]


def test_standard_token_is_generated(api: httpx.Client, app_id: int) -> None:
    r = api.post(f"/apps/{app_id}/custom_credentials", json=cred_body(AuthTokenType="AUTH_TOKEN_STANDARD"))
    assert r.status_code == 201
    assert r.json()["KeyID"] != "legacy-key-0001" and len(r.json()["KeyID"]) == 32


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"PlanID": 999}, "PlanID"),
        ({"PlanID": None}, "PlanID"),
        ({"ProductIDs": [1, 999]}, "ProductIDs"),
        ({"ProductIDs": []}, "ProductIDs"),
        ({"Type": "CREDENTIAL_TYPE_OTHER"}, "Type"),
        ({"AuthTokenType": "AUTH_TOKEN_WHATEVER"}, "AuthTokenType"),
        ({"KeyID": None}, "KeyID"),
        ({"KeyID": ""}, "KeyID"),
        ({"KeyID": "short"}, "too short"),
        ({"KeyID": "has space 123"}, "KeyID must not contain"),
        ({"KeyID": "tab\there-123"}, "KeyID must not contain"),
        ({"KeyID": "ctrl\x01char-123"}, "KeyID must not contain"),
        *[({"KeyID": f"abcdefgh{ch}ijk"}, "KeyID must not contain") for ch in '/?#%"\\'],
        ({"PlanID": "8"}, "PlanID must be an integer"),
        ({"PlanID": 8.0}, "PlanID must be an integer"),
        ({"PlanID": True}, "PlanID must be an integer"),
        ({"ProductIDs": ["1"]}, "ProductIDs must be an array"),
        ({"ProductIDs": 1}, "ProductIDs must be an array"),
        ({"KeyID": 12345678}, "KeyID must be a string"),
    ],
)
def test_credential_refusals(shared_api: httpx.Client, shared_app: int, over: dict[str, Any], needle: str) -> None:
    api, app_id = shared_api, shared_app
    before = len(api.get(f"/apps/{app_id}/custom_credentials").json())
    r = api.post(f"/apps/{app_id}/custom_credentials", json=cred_body(**over))
    assert r.status_code == 422, r.text
    assert any(needle in e for e in r.json()["errors"]), r.json()
    assert len(api.get(f"/apps/{app_id}/custom_credentials").json()) == before


def test_duplicate_key_refused_anywhere(api: httpx.Client, app_id: int, seed_data: dict[str, Any]) -> None:
    seeded_key = seed_data["custom_credentials"][0]["KeyID"]
    r = api.post(f"/apps/{app_id}/custom_credentials", json=cred_body(KeyID=seeded_key))
    assert r.status_code == 422 and "already exists" in r.json()["errors"][0]
    assert api.post(f"/apps/{app_id}/custom_credentials", json=cred_body()).status_code == 201
    other = api.post("/apps", json={"Name": "Other", "UserID": 4}).json()["ID"]
    r = api.post(f"/apps/{other}/custom_credentials", json=cred_body())
    assert r.status_code == 422


def test_min_key_length_is_configurable(make_sandbox: Any) -> None:
    sb = make_sandbox(min_key_length=20)
    with client(sb) as c:
        aid = c.post("/apps", json={"Name": "A", "UserID": 3}).json()["ID"]
        assert c.post(f"/apps/{aid}/custom_credentials", json=cred_body(KeyID="x" * 19)).status_code == 422
        assert c.post(f"/apps/{aid}/custom_credentials", json=cred_body(KeyID="x" * 20)).status_code == 201


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"Name": "", "UserID": 3}, "Name"),
        ({"Name": "   ", "UserID": 3}, "Name"),
        ({"UserID": 3}, "Name"),
        ({"Name": "A", "UserID": 999}, "UserID"),
        ({"Name": "A"}, "UserID"),
        ({"Name": "A", "UserID": "3"}, "UserID must be an integer"),
        ({"Name": "A", "UserID": 3, "Visibility": "public"}, "Visibility"),
        ({"Name": 5, "UserID": 3}, "Name must be a string"),
    ],
)
def test_app_refusals(shared_api: httpx.Client, body: dict[str, Any], needle: str) -> None:
    r = shared_api.post("/apps", json=body)
    assert r.status_code == 422
    assert any(needle in e for e in r.json()["errors"]), r.json()


def test_update_app_and_credential(api: httpx.Client, app_id: int) -> None:
    r = api.put(f"/apps/{app_id}", json={"Name": "Renamed", "Visibility": "team"})
    assert r.status_code == 200 and r.json()["Name"] == "Renamed" and r.json()["UserID"] == 3
    assert api.put(f"/apps/{app_id}", json={"UserID": 999}).status_code == 422
    cid = api.post(f"/apps/{app_id}/custom_credentials", json=cred_body()).json()["ID"]
    r = api.put(f"/apps/{app_id}/custom_credentials/{cid}", json={"Alias": "renamed", "KeyID": "ignored-change"})
    assert r.status_code == 200 and r.json()["Alias"] == "renamed" and r.json()["KeyID"] == "legacy-key-0001"


def test_delete_app_cascades_and_frees_keys(api: httpx.Client, app_id: int) -> None:
    cid = api.post(f"/apps/{app_id}/custom_credentials", json=cred_body()).json()["ID"]
    assert api.delete(f"/apps/{app_id}").json() == {"status": "ok"}
    assert api.get(f"/apps/{app_id}").status_code == 404
    assert api.get(f"/apps/{app_id}/custom_credentials/{cid}").status_code == 404
    assert api.delete(f"/apps/{app_id}").status_code == 404
    again = api.post("/apps", json={"Name": "Again", "UserID": 3}).json()["ID"]
    assert api.post(f"/apps/{again}/custom_credentials", json=cred_body()).status_code == 201


def test_delete_credential(api: httpx.Client, app_id: int) -> None:
    cid = api.post(f"/apps/{app_id}/custom_credentials", json=cred_body()).json()["ID"]
    r = api.delete(f"/apps/{app_id}/custom_credentials/{cid}")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["message"]
    assert api.get(f"/apps/{app_id}/custom_credentials").json() == []
    assert api.post(f"/apps/{app_id}/custom_credentials", json=cred_body()).status_code == 201


def test_credential_under_wrong_app_is_404(api: httpx.Client, app_id: int) -> None:
    cid = api.post(f"/apps/{app_id}/custom_credentials", json=cred_body()).json()["ID"]
    assert api.get(f"/apps/1/custom_credentials/{cid}").status_code == 404
    assert api.delete(f"/apps/1/custom_credentials/{cid}").status_code == 404


def test_create_user(api: httpx.Client) -> None:
    r = api.post("/users", json={"Email": "New.Dev@example.com", "First": "New", "Last": "Dev", "OrganisationID": 1})
    assert r.status_code == 200 and r.json()["ID"] == 52
    assert api.get("/users/52").json()["Email"] == "New.Dev@example.com"
    assert api.post("/users", json={"Email": "new.dev@EXAMPLE.com"}).status_code == 422
    assert api.post("/users", json={"Email": "not-an-email"}).status_code == 422


def test_delete_user_takes_their_apps_credentials_and_keys(sandbox: Any, api: httpx.Client) -> None:
    uid = api.post("/users", json={"Email": "gone@example.com"}).json()["ID"]
    app = api.post("/apps", json={"Name": "Doomed", "UserID": uid}).json()["ID"]
    other = api.post("/apps", json={"Name": "Stays", "UserID": 3}).json()["ID"]
    assert api.post(f"/apps/{app}/custom_credentials", json=cred_body()).status_code == 201
    opened = httpx.get(sandbox.gateway_url + "/payments/x", headers={"Authorization": "legacy-key-0001"})
    assert opened.status_code == 200
    r = api.delete(f"/users/{uid}", params={"force": "true"})
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert api.get(f"/users/{uid}").status_code == 404 and api.get(f"/apps/{app}").status_code == 404
    assert api.get(f"/apps/{other}").status_code == 200  # another user's app stays
    revoked = httpx.get(sandbox.gateway_url + "/payments/x", headers={"Authorization": "legacy-key-0001"})
    assert revoked.status_code == 401
    assert api.delete(f"/users/{uid}").status_code == 404 and api.delete("/users/abc").status_code == 404
    assert api.post("/users", json={"Email": "GONE@example.com"}).status_code == 200  # the email is free again
    assert api.post(f"/apps/{other}/custom_credentials", json=cred_body()).status_code == 201  # and the key


BAD_BODIES: list[bytes] = [
    b"",
    b"{",
    b"nul",
    b"[]",
    b"[1, 2]",
    b'"text"',
    b"42",
    b"null",
    b"true",
    b"\xff\xfe",
    b'{"Name": }',
    b'{"Name": "A", "UserID": {}}',
    b'{"Name": [], "UserID": 3}',
    b'{"Name": "A", "UserID": 1e400}',
    b'{"Name": "A", "UserID": -1}',
    b'{"Name": "A", "UserID": 99999999999999999999999}',
    b'{"Name": "A", "UserID": NaN}',
    b'{"Name": "", "UserID": 3, "ProductIDs": [null]}',
]


@pytest.mark.parametrize("raw", BAD_BODIES)
def test_bad_bodies_never_500(shared_api: httpx.Client, shared_app: int, raw: bytes) -> None:
    api, app_id = shared_api, shared_app
    for path in ("/apps", f"/apps/{app_id}", f"/apps/{app_id}/custom_credentials", "/users"):
        method = "PUT" if path == f"/apps/{app_id}" else "POST"
        r = api.request(method, path, content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code in (400, 422), (path, raw, r.status_code, r.text)
        assert r.json()["errors"], (path, raw)


def test_sqlite_persistence_survives_restart(tmp_path: Any, seed_data: dict[str, Any]) -> None:
    db = tmp_path / "sandbox.db"
    with run_in_thread(SandboxConfig(seed=seed_data, db=db)) as sb, client(sb) as c:
        aid = c.post("/apps", json={"Name": "Kept", "UserID": 3}).json()["ID"]
        cid = c.post(f"/apps/{aid}/custom_credentials", json=cred_body()).json()["ID"]
        c.delete("/apps/1")
    with run_in_thread(SandboxConfig(seed=None, db=db)) as sb, client(sb) as c:
        assert c.get(f"/apps/{aid}").json()["Name"] == "Kept"
        assert c.get(f"/apps/{aid}/custom_credentials/{cid}").json()["KeyID"] == "legacy-key-0001"
        assert c.get("/apps/1").status_code == 404
        assert c.post(f"/apps/{aid}/custom_credentials", json=cred_body()).status_code == 422
        assert c.post("/apps", json={"Name": "Next", "UserID": 3}).json()["ID"] == aid + 1
        assert len(c.get("/users", params={"per_page": 100}).json()) == len(seed_data["users"])


def test_reset_returns_to_seed(sandbox: Any, api: httpx.Client, app_id: int) -> None:
    r = httpx.post(sandbox.url + "/__sandbox/reset", headers={"Authorization": sandbox.token})
    assert r.status_code == 200
    assert api.get(f"/apps/{app_id}").status_code == 404


def test_admin_state_counts_requests(sandbox: Any, api: httpx.Client) -> None:
    api.get("/users")
    api.get("/apps/999")
    snap = sandbox.snapshot()
    assert snap["requests"]["by_route"]["GET /portal-api/users 200"] == 1
    assert snap["requests"]["by_route"]["GET /portal-api/apps/{id} 404"] == 1
    assert snap["requests"]["portal_in_flight_peak"] >= 1
    assert len(snap["users"]) == 51 and "AppID" in snap["custom_credentials"][0]
    assert httpx.get(sandbox.url + "/__sandbox/state").status_code == 401


@pytest.mark.parametrize(
    ("seed", "needle"),
    [
        ([], "one JSON object"),
        ({"users": []}, "'products' must be a list"),
        ({"users": [{"ID": "1"}], "products": [], "plans": []}, "positive integer ID"),
        ({"users": [{"ID": 1}, {"ID": 1}], "products": [], "plans": []}, "duplicate ID"),
        ({"users": [], "products": [], "plans": [], "apps": [{"ID": 1, "UserID": 5}]}, "UserID"),
        ({"users": [], "products": [], "plans": [], "extra": []}, "unknown section"),
    ],
)
def test_bad_seed_is_one_line_input_error(seed: Any, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        load_seed(seed)


def test_seed_file_errors(tmp_path: Any) -> None:
    with pytest.raises(InputError, match="not found"):
        load_seed(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(InputError, match="not JSON"):
        load_seed(tmp_path / "bad.json")


def test_legacy_rate_text_in_seed_is_normalised(seed_data: dict[str, Any]) -> None:
    seed_data["plans"][0]["RateLimit"] = "120 calls / 2 minute(s)"
    seed_data["plans"][0]["Quota"] = "unlimited"
    plan = load_seed(seed_data)["plans"][0]
    assert (plan["RateLimit"], plan["Per"], plan["UnlimitedQuota"]) == (120.0, 120.0, True)


def test_bad_config_refused() -> None:
    with pytest.raises(ConfigError):
        create_app(SandboxConfig(faults="bogus=1%"))
    with pytest.raises(ConfigError):
        create_app(SandboxConfig(accept_auth_token_types=("NOPE",)))


# A lone surrogate decodes from JSON but cannot be encoded as UTF-8: stored, it would break every later answer.
UNENCODABLE_BODIES: list[bytes] = [
    b'{"Name": "\\ud800", "UserID": 3}',
    b'{"Name": "ok", "UserID": 3, "Description": "a\\udfffb"}',
    b'{"Email": "x\\ud83d@example.com", "Alias": "\\ud800"}',
    b'{"Name": "ok", "UserID": 3, "Unknown": ["\\ud800"]}',
]
DEEP_BODIES: list[bytes] = [b"[" * 100_000, b'{"Name": ' + b"[" * 100_000, b'{"a":' * 100_000]


@pytest.mark.parametrize("raw", UNENCODABLE_BODIES + DEEP_BODIES)
def test_unencodable_or_deep_body_is_400_and_nothing_breaks(sandbox: Any, api: httpx.Client, raw: bytes) -> None:
    app_id = int(api.post("/apps", json={"Name": "Before", "UserID": 3}).json()["ID"])
    cid = api.post(f"/apps/{app_id}/custom_credentials", json=cred_body()).json()["ID"]
    for method, path in (
        ("POST", "/apps"),
        ("PUT", f"/apps/{app_id}"),
        ("POST", f"/apps/{app_id}/custom_credentials"),
        ("PUT", f"/apps/{app_id}/custom_credentials/{cid}"),
        ("POST", "/users"),
    ):
        r = api.request(method, path, content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (method, path, r.status_code, r.text[:200])
        assert r.json()["errors"], (method, path)
    # nothing was stored, and every read still answers
    for path in ("/apps", f"/apps/{app_id}", f"/apps/{app_id}/custom_credentials", "/users"):
        assert api.get(path, params={"per_page": 100}).status_code == 200, path
    assert api.get(f"/apps/{app_id}").json()["Name"] == "Before"
    state = httpx.get(sandbox.url + "/__sandbox/state", headers={"Authorization": sandbox.token})
    assert state.status_code == 200


@pytest.mark.parametrize("path", ["/users", "/apps", "/plans", "/apps/1/custom_credentials"])
def test_paging_with_huge_values_is_bounded(api: httpx.Client, seed_data: dict[str, Any], path: str) -> None:
    """Far past the end is an empty page, a huge per_page or limit is every row: never a 500."""
    huge = str(10**30)

    def rows(**params: Any) -> list[Any]:
        r = api.get(path, params=params)
        assert r.status_code == 200, (params, r.status_code, r.text[:200])
        body = r.json()
        return body["data"] if isinstance(body, dict) else body

    every = rows(per_page=1000)
    assert every
    assert rows(page=huge) == []
    assert rows(page=huge, per_page=huge) == []
    assert rows(page=str(2**63), per_page=str(2**63)) == []
    assert rows(page="9" * 5000) == []  # past Python's int-from-string digit limit too
    assert rows(per_page=huge) == every
    assert rows(limit=huge) == every  # limit replaces the row count; the offset stays 0
    assert rows(page=1, per_page=huge, limit=huge) == every


@pytest.mark.parametrize(
    "params",
    [{"page": "abc"}, {"per_page": "1.5"}, {"limit": "ten"}, {"page": "1e3"}, {"per_page": " 7"}, {"page": "٣"}],
)
def test_paging_refuses_non_integers(shared_api: httpx.Client, params: dict[str, str]) -> None:
    """The file declares page, per_page and limit as integers: anything else is a bad request."""
    r = shared_api.get("/users", params=params)
    assert r.status_code == 400, (params, r.text)
    assert any(name in e for name in params for e in r.json()["errors"]), r.json()


def test_update_of_a_missing_app_is_422_as_the_file_documents(api: httpx.Client) -> None:
    """PUT /apps/{app_id} documents only 422 "Bad request or not found", like every update in the file."""
    for path in ("/apps/999", "/apps/abc"):
        r = api.put(path, json={"Name": "Ghost", "UserID": 3})
        assert r.status_code == 422, (path, r.status_code)
        assert r.json()["errors"] == ["app not found"]
    assert api.get("/apps/999").status_code == 404
    assert api.delete("/apps/999").status_code == 404


def test_update_of_a_missing_credential_is_422_as_the_file_documents(api: httpx.Client) -> None:
    app_id = api.get("/apps").json()[0]["ID"]
    for path in (
        f"/apps/{app_id}/custom_credentials/999",
        f"/apps/{app_id}/custom_credentials/abc",
        "/apps/999/custom_credentials/1",
    ):
        r = api.put(path, json={"Alias": "x"})
        assert r.status_code == 422, (path, r.status_code)
    assert api.get(f"/apps/{app_id}/custom_credentials/999").status_code == 404


def test_the_port_listens_before_the_sandbox_is_announced() -> None:
    """``serve`` announces the URL before uvicorn runs: a client connecting at once must queue, not be refused."""
    import socket

    from tyk_migrate.sandbox.server import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        with socket.create_connection(sock.getsockname(), timeout=2):
            pass
    finally:
        sock.close()
