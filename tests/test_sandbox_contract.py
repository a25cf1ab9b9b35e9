"""Contract: every sandbox answer, for every operation it implements, against the official OpenAPI file.

Schemas are resolved ($ref, allOf) and made strict (no property the file does not declare), so a field
the sandbox invents or misspells fails here. Status codes the file does not document (401, 404 of most
operations, 422 of create-app, 400 for an unparsable body or a non-integer paging value) must answer the
file's ``OnlyErrors`` shape; each is listed in docs/sandbox.md. Without the file the tests skip, but under
CI=true they fail.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from tyk_migrate.sandbox.portal_api import PortalAPI, PortalRules

SPEC_FILE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "tyk" / "portal-api.openapi.yaml"
KEY = "contract-key-0001"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_FILE.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and the official OpenAPI file is missing: {SPEC_FILE}")
        pytest.skip(f"official OpenAPI file not found: {SPEC_FILE}")
    return yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def strict(doc: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """Resolve refs, merge allOf, forbid undeclared properties, honour OpenAPI 3.0 ``nullable``."""
    assert depth < 30, "schema recursion too deep"
    schema = copy.deepcopy(resolve(doc, schema))
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": {}}
        for part in schema.pop("allOf"):
            sub = strict(doc, part, depth + 1)
            merged["properties"].update(sub.get("properties", {}))
            merged.setdefault("required", []).extend(sub.get("required", []))
        merged["properties"].update({k: strict(doc, v, depth + 1) for k, v in schema.get("properties", {}).items()})
        schema = merged
    elif "properties" in schema:
        schema["properties"] = {k: strict(doc, v, depth + 1) for k, v in schema["properties"].items()}
    if schema.get("type") == "object" or "properties" in schema:
        schema["additionalProperties"] = False
    if "items" in schema:
        schema["items"] = strict(doc, schema["items"], depth + 1)
    if schema.pop("nullable", False) and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    return schema


def operation(spec: dict[str, Any], method: str, template: str) -> dict[str, Any]:
    op = spec["paths"].get(template, {}).get(method.lower())
    assert op is not None, f"{method} {template} is not in the official file"
    return op  # type: ignore[no-any-return]


def response_schema(spec: dict[str, Any], op: dict[str, Any], status: int) -> dict[str, Any] | None:
    answer = op.get("responses", {}).get(str(status))
    if answer is None:
        return None
    return answer.get("content", {}).get("application/json", {}).get("schema")  # type: ignore[no-any-return]


# Status codes the file does not document for an operation; answered with OnlyErrors (docs/sandbox.md).
UNDOCUMENTED_ERRORS = {400, 401, 404, 422}
# 404s the file documents with a resource schema instead of an error body (a slip in the file).
ODD_404 = {("get", "/users/{user_id}"), ("get", "/products/{product_id}")}


def check(spec: dict[str, Any], method: str, template: str, response: httpx.Response) -> None:
    op = operation(spec, method, template)
    status = response.status_code
    body = response.json()
    schema = response_schema(spec, op, status)
    where = f"{method} {template} -> {status}"
    if status >= 400 and (schema is None or (method.lower(), template) in ODD_404):
        assert status in UNDOCUMENTED_ERRORS or schema is not None, f"{where}: status not in the file"
        schema = {"$ref": "#/components/schemas/OnlyErrors"}
        assert body.get("errors"), f"{where}: empty errors"
    assert schema is not None, f"{where}: the file documents no such answer"
    validator = jsonschema.Draft202012Validator(strict(spec, schema), format_checker=jsonschema.FormatChecker())
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
    assert not problems, f"{where}: {problems}"


def cred_body(**over: Any) -> dict[str, Any]:
    body = {
        "Alias": "c",
        "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
        "PlanID": 8,
        "AuthenticationMethod": "Auth Token",
        "ProductIDs": [1, 2],
        "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM",
        "KeyID": KEY,
    }
    body.update(over)
    return body


def test_every_operation_matches_the_file(spec: dict[str, Any], sandbox: Any) -> None:
    c = httpx.Client(base_url=sandbox.portal_url, headers={"Authorization": sandbox.token}, timeout=10)
    seen: set[tuple[str, str]] = set()

    def call(method: str, template: str, path: str, **kw: Any) -> httpx.Response:
        r = c.request(method, path, **kw)
        check(spec, method, template, r)
        seen.add((method, template))
        return r

    A, C = "/apps/{app_id}", "/apps/{app_id}/custom_credentials"
    assert call("GET", "/users", "/users").status_code == 200
    assert call("GET", "/users", "/users", params={"page": 3, "per_page": 20}).json()
    assert call("GET", "/users", "/users", params={"page": 10**30}).json() == []
    assert call("GET", "/users", "/users", params={"page": "abc"}).status_code == 400
    assert call("POST", "/users", "/users", json={"Email": "c@example.com", "First": "C"}).status_code == 200
    call("POST", "/users", "/users", json={"Email": "c@example.com"})  # 422 duplicate
    assert call("GET", "/users/{user_id}", "/users/52").status_code == 200
    assert call("GET", "/users/{user_id}", "/users/2").status_code == 200
    assert call("GET", "/users/{user_id}", "/users/999").status_code == 404
    assert call("POST", "/users", "/users", json={"Email": "d@example.com"}).json()["ID"] == 53
    assert call("DELETE", "/users/{user_id}", "/users/53").status_code == 200
    assert call("DELETE", "/users/{user_id}", "/users/53").status_code == 404
    assert call("GET", "/products", "/products").status_code == 200
    assert call("GET", "/products/{product_id}", "/products/1").status_code == 200
    assert call("GET", "/products/{product_id}", "/products/999").status_code == 404
    assert call("GET", "/plans", "/plans").status_code == 200
    assert call("GET", "/plans/{plan_id}", "/plans/7").status_code == 200
    assert call("GET", "/plans/{plan_id}", "/plans/999").status_code == 404
    assert call("GET", "/apps", "/apps").status_code == 200
    app = call("POST", "/apps", "/apps", json={"Name": "Contract", "UserID": 3, "Visibility": "team"})
    assert app.status_code == 200
    aid = app.json()["ID"]
    assert call("POST", "/apps", "/apps", json={"Name": "", "UserID": 3}).status_code == 422
    assert call("POST", "/apps", "/apps", content=b"{").status_code == 400
    assert call("GET", A, f"/apps/{aid}").status_code == 200
    assert call("GET", A, "/apps/999").status_code == 404
    assert call("PUT", A, f"/apps/{aid}", json={"Description": "d"}).status_code == 200
    assert call("PUT", A, f"/apps/{aid}", json={"UserID": 999}).status_code == 422
    assert call("PUT", A, "/apps/999", json={"Name": "Ghost"}).status_code == 422  # "Bad request or not found"
    assert call("POST", C, f"/apps/{aid}/custom_credentials", json=cred_body()).status_code == 201
    assert call("POST", C, f"/apps/{aid}/custom_credentials", json=cred_body()).status_code == 422
    assert call("POST", C, "/apps/999/custom_credentials", json=cred_body()).status_code == 404
    creds = call("GET", C, f"/apps/{aid}/custom_credentials")
    cid = creds.json()[0]["ID"]
    assert call("GET", C, "/apps/1/custom_credentials").json()  # a seeded credential
    assert call("GET", C + "/{credential_id}", f"/apps/{aid}/custom_credentials/{cid}").status_code == 200
    assert call("GET", C + "/{credential_id}", f"/apps/{aid}/custom_credentials/999").status_code == 404
    assert call("PUT", C + "/{credential_id}", f"/apps/{aid}/custom_credentials/{cid}", json={"Alias": "x"}).is_success
    assert (
        call("PUT", C + "/{credential_id}", f"/apps/{aid}/custom_credentials/{cid}", json={"Alias": 1}).status_code
        == 422
    )
    assert call("DELETE", C + "/{credential_id}", f"/apps/{aid}/custom_credentials/{cid}").status_code == 200
    assert call("DELETE", A, f"/apps/{aid}").status_code == 200
    assert call("DELETE", A, f"/apps/{aid}").status_code == 404
    r = httpx.get(sandbox.portal_url + "/apps")
    check(spec, "GET", "/apps", r)
    assert r.status_code == 401

    names = {
        "/users/{id}": "/users/{user_id}",
        "/products/{id}": "/products/{product_id}",
        "/plans/{id}": "/plans/{plan_id}",
        "/apps/{id}": A,
        "/apps/{id}/custom_credentials": C,
        "/apps/{id}/custom_credentials/{cid}": C + "/{credential_id}",
    }
    implemented = {
        (method, names.get(route.path, route.path))
        for route in PortalAPI(sandbox.state, PortalRules("t", 8, ())).routes()
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert implemented == seen, f"not exercised: {implemented - seen}; unknown: {seen - implemented}"


def test_seeded_objects_match_the_file(spec: dict[str, Any], sandbox: Any, seed_data: dict[str, Any]) -> None:
    c = httpx.Client(base_url=sandbox.portal_url, headers={"Authorization": sandbox.token}, timeout=10)
    for user in seed_data["users"][:5]:
        check(spec, "GET", "/users/{user_id}", c.get(f"/users/{user['ID']}"))
    for product in seed_data["products"]:
        check(spec, "GET", "/products/{product_id}", c.get(f"/products/{product['ID']}"))
    for plan in seed_data["plans"]:
        check(spec, "GET", "/plans/{plan_id}", c.get(f"/plans/{plan['ID']}"))
    for app in seed_data["apps"]:
        check(spec, "GET", "/apps/{app_id}", c.get(f"/apps/{app['ID']}"))
        for cred in c.get(f"/apps/{app['ID']}/custom_credentials").json():
            r = c.get(f"/apps/{app['ID']}/custom_credentials/{cred['ID']}")
            check(spec, "GET", "/apps/{app_id}/custom_credentials/{credential_id}", r)


def test_strict_check_can_fail(spec: dict[str, Any]) -> None:
    """The checker itself: an invented field, a wrong type and an integer PlanID are caught."""
    good = {
        "ID": 1,
        "Alias": "a",
        "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
        "PlanID": "7",
        "ProductIDs": [1],
        "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM",
        "KeyID": "k",
        "CreatedAt": "2026-01-02 03:04",
    }
    schema = strict(spec, {"$ref": "#/components/schemas/CustomCredential-show"})
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid(good)
    for bad in (
        {**good, "AppID": 1},
        {**good, "PlanID": 7},
        {**good, "CreatedAt": "2026-01-02T03:04:00Z"},
        {**good, "Type": "OTHER"},
    ):
        assert not validator.is_valid(bad), bad


def test_how_to_spelling_is_a_known_departure(spec: dict[str, Any], sandbox: Any) -> None:
    """AUTH_TOKEN_CUSTOM (how-to page) is not in the file's enum: the only difference it makes."""
    c = httpx.Client(base_url=sandbox.portal_url, headers={"Authorization": sandbox.token}, timeout=10)
    aid = c.post("/apps", json={"Name": "Spelling", "UserID": 3}).json()["ID"]
    r = c.post(f"/apps/{aid}/custom_credentials", json=cred_body(AuthTokenType="AUTH_TOKEN_CUSTOM"))
    assert r.status_code == 201
    schema = strict(spec, {"$ref": "#/components/schemas/CustomCredential-show"})
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(r.json()))
    assert [list(e.absolute_path) for e in errors] == [["AuthTokenType"]]
