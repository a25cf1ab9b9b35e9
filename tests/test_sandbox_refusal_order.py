"""The sandbox's credential refusals name every problem, in one order, and a seed check names the first one.

These pin the behaviour the route modules (sandbox/portal_credentials.py) and the seed reader (sandbox/seed.py)
keep when their long functions are cut into steps: a client reading ``errors[0]`` sees the same message.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tyk_migrate.errors import InputError
from tyk_migrate.sandbox import SandboxConfig, load_seed, run_in_thread

SEED = Path(__file__).resolve().parents[1] / "data-samples" / "sandbox_seed.json"
CUSTOM = "AUTH_TOKEN_TYPE_CUSTOM"


@pytest.fixture(scope="module")
def portal() -> Any:
    with (
        run_in_thread(SandboxConfig(seed=SEED)) as sb,
        httpx.Client(base_url=sb.portal_url, headers={"Authorization": sb.token}, timeout=10) as c,
    ):
        yield c, c.post("/apps", json={"Name": "Refusal order", "UserID": 3}).json()["ID"]


def test_every_credential_problem_is_named_in_order(portal: Any) -> None:
    c, app = portal
    body = {"Type": "NOPE", "PlanID": 99999, "ProductIDs": [], "AuthTokenType": CUSTOM}
    r = c.post(f"/apps/{app}/custom_credentials", json=body)
    assert r.status_code == 422
    assert r.json()["errors"] == [
        "Type must be one of CREDENTIAL_TYPE_TYK_MANAGED, CREDENTIAL_TYPE_CUSTOM",
        "PlanID 99999 does not exist",
        "ProductIDs must list at least one product",
        "KeyID is required for a custom token",
    ]


def test_unknown_products_missing_plan_and_a_bad_key_are_each_named(portal: Any) -> None:
    c, app = portal
    body = {
        "Type": "CREDENTIAL_TYPE_CUSTOM",
        "ProductIDs": [1, 98765, 98766],
        "AuthTokenType": CUSTOM,
        "KeyID": "has space/and slash",
    }
    r = c.post(f"/apps/{app}/custom_credentials", json=body)
    errors = r.json()["errors"]
    assert r.status_code == 422
    assert errors[:2] == ["PlanID is required", "ProductIDs 98765, 98766 do not exist"]
    assert errors[2].startswith("KeyID must not contain whitespace")


def test_an_unknown_token_type_is_refused_after_the_catalogue_problems(portal: Any) -> None:
    c, app = portal
    r = c.post(f"/apps/{app}/custom_credentials", json={"Type": "X", "PlanID": 8, "ProductIDs": [1]})
    errors = r.json()["errors"]
    assert r.status_code == 422 and len(errors) == 2
    assert errors[0].startswith("Type must be one of") and errors[1].startswith("AuthTokenType must be one of")


def test_a_created_credential_keeps_what_was_sent_and_only_the_extras_given(portal: Any) -> None:
    c, app = portal
    body = {
        "Type": "CREDENTIAL_TYPE_CUSTOM",
        "PlanID": 8,
        "ProductIDs": [1, 2],
        "AuthTokenType": CUSTOM,
        "KeyID": "refusal-order-key-0001",
        "ProviderID": 4,
    }
    r = c.post(f"/apps/{app}/custom_credentials", json=body)
    assert r.status_code == 201, r.text
    cred = r.json()
    assert (cred["PlanID"], cred["ProductIDs"], cred["KeyID"], cred["ProviderID"]) == ("8", [1, 2], body["KeyID"], 4)
    assert cred["Alias"] == "" and "ClientTypeID" not in cred


def test_a_seed_names_the_first_bad_section_in_section_order() -> None:
    seed = json.loads(SEED.read_text(encoding="utf-8"))
    seed["plans"][0]["ID"] = "eight"  # plans come after users and products
    seed["users"].append(dict(seed["users"][0]))  # a duplicate user ID: users are checked first
    with pytest.raises(InputError, match=r"^sandbox seed: users\[\d+\]: duplicate ID \d+$"):
        load_seed(seed)
    del seed["users"][-1]
    with pytest.raises(InputError, match=r"^sandbox seed: plans\[0\]: needs a positive integer ID$"):
        load_seed(seed)


def test_a_seed_dict_is_checked_on_a_copy(seed_data: dict[str, Any]) -> None:
    seed_data["plans"][0]["RateLimit"] = "120 calls / 2 minute(s)"
    before = copy.deepcopy(seed_data)
    assert load_seed(seed_data)["plans"][0]["Per"] == 120.0
    assert seed_data == before


def test_a_seed_that_is_not_an_object_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text("[]", encoding="utf-8")
    with pytest.raises(InputError, match=r"list\.json: must be one JSON object"):
        load_seed(tmp_path / "list.json")
    with pytest.raises(InputError, match=r"^sandbox seed: seed: 'users' must be a list \(required\)$"):
        load_seed({"products": [], "plans": []})
