"""The gateway emulator, and the Tyk how-to page's two curl calls replayed over real HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

HOWTO = Path(__file__).resolve().parents[2] / "shared" / "reference" / "tyk" / "import-custom-credentials.md"


def portal(sb: Any) -> httpx.Client:
    return httpx.Client(base_url=sb.portal_url, headers={"Authorization": sb.token}, timeout=10)


def product(seed: dict[str, Any], pid: int) -> dict[str, Any]:
    return next(p for p in seed["products"] if p["ID"] == pid)


def make_key(sb: Any, key: str, product_ids: list[int], plan_id: int = 8) -> tuple[int, int]:
    with portal(sb) as c:
        app = c.post("/apps", json={"Name": "GW", "UserID": 3}).json()["ID"]
        body = {
            "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
            "PlanID": plan_id,
            "ProductIDs": product_ids,
            "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM",
            "KeyID": key,
            "AuthenticationMethod": "Auth Token",
        }
        r = c.post(f"/apps/{app}/custom_credentials", json=body)
        assert r.status_code == 201, r.text
        return app, r.json()["ID"]


@pytest.mark.parametrize("style", ["raw", "bearer", "x-api-key"])
def test_key_headers_and_routing(sandbox: Any, seed_data: dict[str, Any], style: str) -> None:
    key = "gw-key-000000001"
    make_key(sandbox, key, [1])
    headers = {
        "raw": {"Authorization": key},
        "bearer": {"Authorization": f"Bearer {key}"},
        "x-api-key": {"X-API-Key": key},
    }[style]
    payments = product(seed_data, 1)["APIDetails"][0]
    r = httpx.get(sandbox.gateway_url + "/payments/v1/charges", headers=headers)
    assert r.status_code == 200
    assert r.json()["api_id"] == payments["APIID"] and key not in r.text  # the answer masks the key
    assert httpx.post(f"{sandbox.gateway_url}/{payments['APIID']}/x", headers=headers).status_code == 200
    assert httpx.get(sandbox.gateway_url + "/accounts/list", headers=headers).status_code == 403


def test_unknown_missing_and_deleted_keys(sandbox: Any) -> None:
    app, _ = make_key(sandbox, "gw-key-000000002", [1, 2])
    url = sandbox.gateway_url + "/payments/"
    assert httpx.get(url, headers={"Authorization": "gw-key-000000002"}).status_code == 200
    assert httpx.get(url, headers={"Authorization": "no-such-key-123"}).status_code == 401
    assert httpx.get(url).status_code == 401
    assert (
        httpx.get(sandbox.gateway_url + "/nowhere/x", headers={"Authorization": "gw-key-000000002"}).status_code == 404
    )
    with portal(sandbox) as c:
        assert c.delete(f"/apps/{app}").status_code == 200
    assert httpx.get(url, headers={"Authorization": "gw-key-000000002"}).status_code == 401


def test_deleted_credential_closes_gateway(sandbox: Any) -> None:
    app, cid = make_key(sandbox, "gw-key-000000003", [3])
    url = sandbox.gateway_url + "/fx-rates/latest"
    assert httpx.get(url, headers={"Authorization": "gw-key-000000003"}).status_code == 200
    with portal(sandbox) as c:
        c.delete(f"/apps/{app}/custom_credentials/{cid}")
    assert httpx.get(url, headers={"Authorization": "gw-key-000000003"}).status_code == 401


def test_custom_type_credential_is_not_a_gateway_key(sandbox: Any) -> None:
    with portal(sandbox) as c:
        app = c.post("/apps", json={"Name": "Ext", "UserID": 3}).json()["ID"]
        body = {
            "Type": "CREDENTIAL_TYPE_CUSTOM",
            "PlanID": 8,
            "ProductIDs": [1],
            "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM",
            "KeyID": "external-key-01",
        }
        assert c.post(f"/apps/{app}/custom_credentials", json=body).status_code == 201
    r = httpx.get(sandbox.gateway_url + "/payments/", headers={"Authorization": "external-key-01"})
    assert r.status_code == 401


def test_plan_rate_limit(sandbox: Any, seed_data: dict[str, Any]) -> None:
    free = next(p for p in seed_data["plans"] if p["Name"] == "Free")
    make_key(sandbox, "gw-key-free-0001", [1], plan_id=free["ID"])
    make_key(sandbox, "gw-key-free-0002", [1], plan_id=free["ID"])
    with httpx.Client(headers={"Authorization": "gw-key-free-0001"}) as c:
        statuses = [c.get(sandbox.gateway_url + "/payments/").status_code for _ in range(free["RateLimit"] + 5)]
    assert statuses[: free["RateLimit"]] == [200] * free["RateLimit"]
    assert statuses[-1] == 429
    # the limit is per key
    r = httpx.get(sandbox.gateway_url + "/payments/", headers={"Authorization": "gw-key-free-0002"})
    assert r.status_code == 200


def _curl_bodies() -> list[dict[str, Any]]:
    if not HOWTO.exists():
        pytest.skip(f"missing {HOWTO}")
    blocks = re.findall(r"--data '(\{.*?\})'", HOWTO.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 2, "the how-to page should hold two curl --data bodies"
    return [json.loads(b) for b in blocks]


def test_howto_page_curl_calls_work(sandbox: Any, seed_data: dict[str, Any]) -> None:
    """Replays the page's create-app and add-credential calls with real IDs in place of its placeholders."""
    app_body, cred_body = _curl_bodies()
    user = seed_data["users"][2]
    app_body["UserID"] = user["ID"]
    headers = {"Authorization": sandbox.token, "Content-Type": "application/json"}
    r = httpx.post(sandbox.url + "/portal-api/apps", content=json.dumps(app_body), headers=headers)
    assert r.status_code == 200, r.text
    app_id = r.json()["ID"]
    assert r.json()["Name"] == app_body["Name"] and r.json()["Visibility"] == "personal"
    key = "imported-legacy-token-3f9a"
    cred_body.update(PlanID=seed_data["plans"][1]["ID"], ProductIDs=[1], KeyID=key, AuthenticationMethod="Auth Token")
    assert cred_body["AuthTokenType"] == "AUTH_TOKEN_CUSTOM"  # the page's spelling, accepted by default
    r = httpx.post(
        f"{sandbox.url}/portal-api/apps/{app_id}/custom_credentials", content=json.dumps(cred_body), headers=headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["KeyID"] == key and r.json()["PlanID"] == str(seed_data["plans"][1]["ID"])
    # the page's verification step: curl -H "Authorization: Bearer CUSTOM_KEY" <gateway>/<api path>
    assert (
        httpx.get(sandbox.gateway_url + "/payments/endpoint", headers={"Authorization": f"Bearer {key}"}).status_code
        == 200
    )
    assert (
        httpx.get(
            sandbox.gateway_url + "/payments/endpoint", headers={"Authorization": "Bearer unknown-token-0000"}
        ).status_code
        == 401
    )


def test_cli_sandbox_serves_and_refuses_bad_input(tmp_path: Any) -> None:
    """``tyk-migrate sandbox`` as a subprocess: prints the URLs, answers, and bad input is one line + exit 2."""
    import socket
    import subprocess
    import sys
    import time

    exe = [sys.executable, "-m", "tyk_migrate.cli", "sandbox"]
    bad = subprocess.run([*exe, "--faults", "500=200%"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "faults" in bad.stderr
    (tmp_path / "seed.json").write_text("[1]")
    bad = subprocess.run([*exe, "--seed", str(tmp_path / "seed.json")], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and bad.stderr.startswith("error: sandbox seed")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    seed = Path(__file__).resolve().parents[1] / "data-samples" / "sandbox_seed.json"
    proc = subprocess.Popen(
        [*exe, "--port", str(port), "--seed", str(seed), "--token", "t0ken"], stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/portal-api/plans", headers={"Authorization": "t0ken"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert r.status_code == 200 and len(r.json()["data"]) == 4
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/portal-api" in out and "TYK_PORTAL_URL" in out and "t0ken" not in out
