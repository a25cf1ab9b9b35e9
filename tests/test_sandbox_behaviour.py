"""Behaviour knobs and profiles (tyk_migrate/sandbox/behaviour.py), each value seen over real HTTP."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from test_sandbox_contract import SPEC_FILE, check, strict

from tyk_migrate.cli import cli
from tyk_migrate.errors import ConfigError
from tyk_migrate.sandbox import SandboxConfig, create_app, run_in_thread
from tyk_migrate.sandbox.behaviour import KNOBS, LIST_ENDPOINTS, PROFILES, markdown_table, profile_values, resolve

REPO = Path(__file__).resolve().parents[1]
CUSTOM, HOWTO, STANDARD = "AUTH_TOKEN_TYPE_CUSTOM", "AUTH_TOKEN_CUSTOM", "AUTH_TOKEN_STANDARD"
PAYMENTS = "/payments/v1/charges"  # product 1's API
KEY = "behaviour-key-000001"


def client(sb: Any) -> httpx.Client:
    return httpx.Client(base_url=sb.portal_url, headers={"Authorization": sb.token}, timeout=10)


def cred_body(**over: Any) -> dict[str, Any]:
    body = {"Alias": "b", "Type": "CREDENTIAL_TYPE_TYK_MANAGED", "PlanID": 7, "AuthenticationMethod": "Auth Token"}
    body.update({"ProductIDs": [1], "AuthTokenType": CUSTOM, "KeyID": KEY})
    body.update(over)
    return body


def new_app(c: httpx.Client, name: str = "Knobs") -> int:
    return int(c.post("/apps", json={"Name": name, "UserID": 3}).json()["ID"])


def gateway(sb: Any, key: str | None, path: str = PAYMENTS) -> httpx.Response:
    return httpx.get(sb.gateway_url + path, headers={"Authorization": key} if key else {}, timeout=10)


# ----- definitions, profiles, precedence -----
def test_strict_is_every_default_and_hostile_changes_every_knob() -> None:
    assert profile_values("strict") == {k.name: k.default for k in KNOBS}
    assert resolve().texts == resolve("strict").texts == profile_values("strict")
    hostile, base = resolve("hostile").texts, resolve("strict").texts
    assert [k.name for k in KNOBS if hostile[k.name] == base[k.name]] == []
    realistic = resolve("realistic")
    assert (realistic.duplicate_key, realistic.auth_token_type) == ("overwrite", "fallback")
    assert realistic.plans_envelope == "bare"
    assert (realistic.unknown_key, realistic.paging.max_per_page, realistic.listing_lag_ms) == (403, 100, 300)
    assert (realistic.error_shape, realistic.partial_create.text()) == ("errors", "off")


def test_an_explicit_knob_wins_over_the_profile() -> None:
    world = resolve("realistic", ["unknown-key=401", "paging=max:7+ignore:users"])
    assert world.unknown_key == 401 and world.paging.max_per_page == 7 and world.paging.ignore == {"users"}
    assert world.duplicate_key == "overwrite"  # the rest stays realistic
    assert resolve("hostile", {"error_shape": "errors"}).error_shape == "errors"  # mapping, _ for -
    assert resolve("strict", {"listing-lag-ms": 250}).texts["listing-lag-ms"] == "250"


@pytest.mark.parametrize(
    ("profile", "items", "needle"),
    [
        ("strict", ["bogus=1"], "unknown knob 'bogus'"),
        ("strict", ["duplicate-key"], "needs NAME=VALUE"),
        ("strict", ["duplicate-key=maybe"], "duplicate-key='maybe' must be one of refuse, overwrite"),
        ("strict", ["unknown-key=404"], "must be one of 401, 403"),
        ("strict", ["paging=ignore:widgets"], "not widgets"),
        ("strict", ["paging=max:0"], "at least 1"),
        ("strict", ["paging=sideways"], "must be honour"),
        ("strict", ["listing-lag-ms=-5"], "not negative"),
        ("strict", ["listing-lag-ms=soon"], "milliseconds"),
        ("strict", ["partial-create=record-only:150%"], "between 0% and 100%"),
        ("strict", ["partial-create=record-only:60%+key-only:50%"], "more than 100%"),
        ("strict", ["partial-create=half"], "must be off"),
        ("lenient", [], "unknown profile 'lenient'"),
    ],
)
def test_bad_values_are_one_line_config_errors(profile: str, items: list[str], needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)) as info:
        resolve(profile, items)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError):
        create_app(SandboxConfig(profile=profile, behaviour=items))


@pytest.mark.parametrize(
    "argv",
    [
        ["--behaviour", "bogus=1"],
        ["--behaviour", "paging=ignore:widgets"],
        ["--behaviour", "unknown-key"],
        ["--profile", "lenient"],
        ["--profile", "realistic", "--auth-token-type", HOWTO],  # fallback honours only the file's spelling
    ],
)
def test_cli_bad_values_are_one_line_and_exit_2(argv: list[str]) -> None:
    result = CliRunner().invoke(cli, ["sandbox", "--port", "0", *argv])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("error: "), result.output


def test_cli_help_and_docs_come_from_the_module() -> None:
    result = CliRunner().invoke(cli, ["sandbox", "--help"], terminal_width=200)
    text = re.sub(r"-\s+", "-", " ".join(result.output.split()))  # undo click's wrapping at hyphens
    for knob in KNOBS:
        assert f"{knob.name}={knob.syntax}" in text, knob.name
    assert all(name in text for name in PROFILES)
    docs = (REPO / "docs" / "sandbox.md").read_text(encoding="utf-8")
    assert markdown_table() in docs, "docs/sandbox.md's knob table differs from behaviour.markdown_table()"


def test_cli_starts_with_profile_and_override(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "tyk_migrate.cli", "sandbox", "--port", str(port), "--token", "t0ken"]
    proc = subprocess.Popen([*argv, "--profile", "realistic", "--behaviour", "unknown-key=401"], stdout=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/__sandbox/behaviour", headers={"Authorization": "t0ken"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    body = r.json()
    assert body["profile"] == "realistic" and body["overrides"] == {"unknown-key": "401"}
    assert body["behaviour"]["duplicate-key"] == "overwrite"


# ----- each knob over HTTP -----
def test_duplicate_key_refuse_and_overwrite(make_sandbox: Any) -> None:
    refuse = make_sandbox()
    with client(refuse) as c:
        assert c.post(f"/apps/{new_app(c)}/custom_credentials", json=cred_body()).status_code == 201
        r = c.post(f"/apps/{new_app(c, 'Two')}/custom_credentials", json=cred_body())
        assert r.status_code == 422 and r.json()["errors"] == ["KeyID already exists"]

    sb = make_sandbox(behaviour={"duplicate-key": "overwrite"})
    with client(sb) as c:
        first_app, second_app = new_app(c), new_app(c, "Two")
        first = c.post(f"/apps/{first_app}/custom_credentials", json=cred_body()).json()
        assert gateway(sb, KEY).json()["plan_id"] == "7"
        second = c.post(f"/apps/{second_app}/custom_credentials", json=cred_body(PlanID=8, ProductIDs=[2]))
        assert second.status_code == 201
        # the gateway serves the newest credential: its plan, its products (payments no longer covered)
        assert gateway(sb, KEY).status_code == 403
        accounts = gateway(sb, KEY, "/accounts/v1")
        assert accounts.status_code == 200 and accounts.json()["credential_id"] == second.json()["ID"]
        assert accounts.json()["plan_id"] == "8"
        # the older record still lists the key
        assert c.get(f"/apps/{first_app}/custom_credentials/{first['ID']}").json()["KeyID"] == KEY
        # deleting either record revokes the KeyID in the gateway (the portal revokes by key ID)
        assert c.delete(f"/apps/{first_app}/custom_credentials/{first['ID']}").status_code == 200
        assert gateway(sb, KEY, "/accounts/v1").status_code == 401


def test_overwritten_and_half_created_keys_survive_a_restart(seed_data: dict[str, Any], tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    config = {"seed": seed_data, "db": db, "behaviour": {"duplicate-key": "overwrite"}}
    with run_in_thread(SandboxConfig(**config)) as sb, client(sb) as c:
        app = new_app(c)
        c.post(f"/apps/{app}/custom_credentials", json=cred_body())
        c.post(f"/apps/{app}/custom_credentials", json=cred_body(PlanID=9))
        sb.set_behaviour({"partial-create": "record-only:100%"})
        assert c.post(f"/apps/{app}/custom_credentials", json=cred_body(KeyID="half-made-key-01")).status_code == 500
    with run_in_thread(SandboxConfig(**config)) as sb:
        assert gateway(sb, KEY).json()["plan_id"] == "9"
        assert gateway(sb, "half-made-key-01").status_code == 401  # still a record without a key
        assert "half-made-key-01" in {c["KeyID"] for c in sb.snapshot()["custom_credentials"]}


def test_auth_token_type_both_strict_fallback(make_sandbox: Any) -> None:
    for world, howto in (("both", 201), ("strict", 422), ("fallback", 201)):
        sb = make_sandbox(behaviour={"auth-token-type": world})
        with client(sb) as c:
            app = new_app(c)
            assert c.post(f"/apps/{app}/custom_credentials", json=cred_body()).status_code == 201, world
            r = c.post(f"/apps/{app}/custom_credentials", json=cred_body(KeyID="howto-key-000001", AuthTokenType=HOWTO))
            assert r.status_code == howto, (world, r.text)
            standard = c.post(f"/apps/{app}/custom_credentials", json=cred_body(KeyID="x", AuthTokenType=STANDARD))
            assert standard.status_code == 201 and standard.json()["KeyID"] != "x"  # as the file says, everywhere
            odd_body = cred_body(KeyID="odd-key-0000001", AuthTokenType="ODD")
            odd = c.post(f"/apps/{app}/custom_credentials", json=odd_body)
            assert odd.status_code == (201 if world == "fallback" else 422), world
        if world == "both":
            assert r.json()["KeyID"] == "howto-key-000001" and r.json()["AuthTokenType"] == HOWTO
        if world == "fallback":  # a 201 with a key the portal generated; the KeyID sent opens nothing
            made = r.json()
            assert made["KeyID"] != "howto-key-000001" and made["AuthTokenType"] == STANDARD
            assert gateway(sb, "howto-key-000001").status_code == 401
            assert gateway(sb, made["KeyID"]).status_code == 200
            with client(sb) as c:  # KeyID ignored, so not checked either; a missing type falls back too
                bad = cred_body(KeyID="bad/key value", AuthTokenType=HOWTO)
                assert c.post(f"/apps/{new_app(c)}/custom_credentials", json=bad).status_code == 201
                bare = {k: v for k, v in cred_body().items() if k != "AuthTokenType"}
                assert c.post(f"/apps/{new_app(c)}/custom_credentials", json=bare).json()["KeyID"] != KEY


def test_auth_token_type_with_a_narrowed_spelling(make_sandbox: Any) -> None:
    sb = make_sandbox(profile="realistic", accept_auth_token_types=(CUSTOM,))  # the same spelling: allowed
    assert sb.snapshot()["behaviour"]["behaviour"]["auth-token-type"] == "fallback"
    narrowed = make_sandbox(accept_auth_token_types=(HOWTO,))
    with pytest.raises(ConfigError, match="needs auth-token-type=both"):
        narrowed.set_behaviour({"auth-token-type": "strict"})


def test_plans_envelope(make_sandbox: Any, seed_data: dict[str, Any]) -> None:
    ids = [p["ID"] for p in seed_data["plans"]]
    with client(make_sandbox()) as c:
        assert [p["ID"] for p in c.get("/plans").json()["data"]] == ids
    with client(make_sandbox(behaviour=["plans-envelope=bare"])) as c:
        assert [p["ID"] for p in c.get("/plans").json()] == ids


ENDPOINT_PATHS = {e: f"/{e}" if e != "custom_credentials" else "/apps/1/custom_credentials" for e in LIST_ENDPOINTS}


def rows(c: httpx.Client, path: str, **params: Any) -> list[Any]:
    r = c.get(path, params=params)
    assert r.status_code == 200, (path, params, r.text)
    body = r.json()
    return body["data"] if isinstance(body, dict) else body


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
def test_paging_ignore_returns_every_row_whatever_page_says(make_sandbox: Any, endpoint: str) -> None:
    others = [e for e in LIST_ENDPOINTS if e != endpoint]
    sb = make_sandbox(behaviour={"paging": f"ignore:{endpoint}"})
    with client(sb) as c:
        path = ENDPOINT_PATHS[endpoint]
        every = rows(c, path, per_page=1000)
        assert every and rows(c, path, page=2, per_page=1) == every == rows(c, path, page="abc")
        for other in others:  # the others still page
            assert len(rows(c, ENDPOINT_PATHS[other], page=1, per_page=1)) == 1, other


def test_paging_max_is_a_silent_per_page_maximum(make_sandbox: Any, seed_data: dict[str, Any]) -> None:
    ids = [u["ID"] for u in seed_data["users"]]
    with client(make_sandbox(behaviour={"paging": "max:10"})) as c:
        assert [u["ID"] for u in rows(c, "/users", per_page=50)] == ids[:10]
        assert [u["ID"] for u in rows(c, "/users", page=2, per_page=50)] == ids[10:20]  # offset of the capped size
        assert [u["ID"] for u in rows(c, "/users", limit=30)] == ids[:10]
        assert [u["ID"] for u in rows(c, "/users", per_page=4)] == ids[:4]
    with client(make_sandbox()) as c:  # honour: no maximum
        assert len(rows(c, "/users", per_page=50)) == 50


def test_min_key_length_refuse_and_accept_then_403(make_sandbox: Any) -> None:
    for world in ("refuse", "accept-then-403"):
        sb = make_sandbox(min_key_length=20, behaviour={"min-key-length": world})
        with client(sb) as c:
            app = new_app(c)
            short = c.post(f"/apps/{app}/custom_credentials", json=cred_body(KeyID="k" * 12))
            equal = c.post(f"/apps/{app}/custom_credentials", json=cred_body(KeyID="e" * 20))
            longer = c.post(f"/apps/{app}/custom_credentials", json=cred_body(KeyID="l" * 21))
        assert equal.status_code == longer.status_code == 201
        assert gateway(sb, "l" * 21).status_code == 200
        if world == "refuse":
            assert short.status_code == 422 and "too short" in short.json()["errors"][0]
            assert gateway(sb, "e" * 20).status_code == 200
        else:  # created, then every call 403, also at exactly the minimum (the old check was <=)
            assert short.status_code == 201
            assert gateway(sb, "k" * 12).status_code == gateway(sb, "e" * 20).status_code == 403


def test_unknown_key_401_or_403(make_sandbox: Any, seed_data: dict[str, Any]) -> None:
    seeded = seed_data["custom_credentials"][0]
    for world in (401, 403):
        sb = make_sandbox(behaviour={"unknown-key": str(world)})
        assert gateway(sb, "never-issued-key-01").status_code == world
        assert gateway(sb, None).status_code == 401  # a missing key is 401 in every world
        with client(sb) as c:
            c.delete(f"/apps/{seeded['AppID']}/custom_credentials/{seeded['ID']}")
        assert gateway(sb, seeded["KeyID"], "/webhooks/x").status_code == world


@pytest.mark.parametrize("shape", ["errors", "status-errors", "text"])
def test_error_shape(make_sandbox: Any, shape: str) -> None:
    sb = make_sandbox(behaviour={"error-shape": shape})
    with client(sb) as c:
        answers = [
            c.post("/apps", json={"Name": "", "UserID": 3}),  # 422
            c.get("/apps/999"),  # 404
            c.get("/users", params={"page": "x"}),  # 400
            c.get("/no-such-route"),  # 404 of the router
            httpx.get(sb.portal_url + "/users"),  # 401
        ]
    for r in answers:
        if shape == "text":
            assert r.headers["content-type"].startswith("text/plain") and r.text.strip(), r.text
        else:
            body = r.json()
            assert body["errors"] and (body.get("status") == "error") == (shape == "status-errors"), body
            assert set(body) == ({"status", "errors"} if shape == "status-errors" else {"errors"})
    assert answers[0].status_code == 422 and "Name" in answers[0].text
    admin = httpx.put(sb.url + "/__sandbox/faults", headers={"Authorization": sb.token}, content=b"[")
    assert admin.json()["errors"]  # the admin surface is not the portal: always JSON


def test_listing_lag(make_sandbox: Any) -> None:
    sb = make_sandbox(behaviour={"listing-lag-ms": "400"})
    with client(sb) as c:
        started = time.monotonic()
        app = new_app(c, "Lagging")
        cred = c.post(f"/apps/{app}/custom_credentials", json=cred_body()).json()
        assert app not in {a["ID"] for a in rows(c, "/apps", per_page=100)}
        assert rows(c, f"/apps/{app}/custom_credentials") == []
        assert c.get(f"/apps/{app}").status_code == 200  # by ID at once
        assert c.get(f"/apps/{app}/custom_credentials/{cred['ID']}").json()["KeyID"] == KEY
        assert gateway(sb, KEY).status_code == 200
        while app not in {a["ID"] for a in rows(c, "/apps", per_page=100)}:
            assert time.monotonic() - started < 5
            time.sleep(0.05)
        assert time.monotonic() - started >= 0.4
        assert [x["ID"] for x in rows(c, f"/apps/{app}/custom_credentials")] == [cred["ID"]]


def test_partial_create_record_only_and_key_only(make_sandbox: Any) -> None:
    sb = make_sandbox(behaviour={"partial-create": "record-only:100%"})
    with client(sb) as c:
        app = new_app(c)
        r = c.post(f"/apps/{app}/custom_credentials", json=cred_body())
        assert r.status_code == 500 and r.json()["errors"]
        assert [x["KeyID"] for x in rows(c, f"/apps/{app}/custom_credentials")] == [KEY]  # the record is there
        assert gateway(sb, KEY).status_code == 401  # but no key
        sb.set_behaviour({"partial-create": "off"})
        assert c.post(f"/apps/{app}/custom_credentials", json=cred_body()).status_code == 422  # a retry: duplicate

    sb = make_sandbox(behaviour={"partial-create": "key-only:100%"})
    with client(sb) as c:
        app = new_app(c)
        assert c.post(f"/apps/{app}/custom_credentials", json=cred_body()).status_code == 500
        assert rows(c, f"/apps/{app}/custom_credentials") == []  # no record
        assert gateway(sb, KEY).json()["credential_id"] is None  # but a working key
        assert [g["CredentialID"] for g in sb.snapshot()["gateway_keys"] if g["KeyID"] == KEY] == [None]
        sb.set_behaviour({"partial-create": "off"})
        assert c.post(f"/apps/{app}/custom_credentials", json=cred_body()).status_code == 422  # the key exists
        sb.set_behaviour({"duplicate-key": "overwrite"})
        made = c.post(f"/apps/{app}/custom_credentials", json=cred_body()).json()
        assert gateway(sb, KEY).json()["credential_id"] == made["ID"]  # overwrite adopts the key


def test_partial_create_is_deterministic_under_the_seed(make_sandbox: Any) -> None:
    def run(seed: int) -> list[int]:
        sb = make_sandbox(random_seed=seed, behaviour={"partial-create": "record-only:30%+key-only:20%"})
        with client(sb) as c:
            app = new_app(c)
            return [
                c.post(f"/apps/{app}/custom_credentials", json=cred_body(KeyID=f"det-key-{i:08d}")).status_code
                for i in range(40)
            ]

    first = run(5)
    assert first == run(5) and first != run(6)
    assert {201, 500} == set(first)


# ----- switching while running -----
def test_admin_switches_behaviour_while_running(make_sandbox: Any) -> None:
    sb = make_sandbox()
    admin = sb.url + "/__sandbox/behaviour"
    auth = {"Authorization": sb.token}
    assert httpx.get(admin, headers=auth).json() == {"profile": "strict", "behaviour": resolve().texts, "overrides": {}}
    with client(sb) as c:
        assert isinstance(c.get("/plans").json(), dict)
        assert sb.set_behaviour({"plans-envelope": "bare"})["overrides"] == {"plans-envelope": "bare"}
        assert isinstance(c.get("/plans").json(), list)
        described = sb.set_behaviour({"unknown-key": "401"}, profile="hostile")
        assert described["profile"] == "hostile" and described["overrides"] == {"unknown-key": "401"}
        assert c.get("/apps/999").headers["content-type"].startswith("text/plain")
        assert sb.set_behaviour(profile="strict")["overrides"] == {}
        assert c.get("/apps/999").json() == {"errors": ["app not found"]}
    bad = httpx.put(admin, headers=auth, json={"behaviour": {"paging": "max:none"}})
    assert bad.status_code == 422 and "paging" in bad.json()["errors"][0]
    assert httpx.put(admin, headers=auth, json={"profile": "nope"}).status_code == 422
    assert httpx.put(admin, headers=auth, json={"knobs": {}}).status_code == 400
    assert httpx.put(admin, headers=auth, content=b"[").status_code == 400
    assert httpx.put(admin, json={"profile": "hostile"}).status_code == 401
    assert sb.snapshot()["behaviour"]["profile"] == "strict"  # nothing above changed the world


# ----- the official file, under the other profiles -----
@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_FILE.exists():
        pytest.skip(f"official OpenAPI file not found: {SPEC_FILE}")
    return yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_realistic_answers_match_the_file(spec: dict[str, Any], make_sandbox: Any) -> None:
    """Bare plans are the 1.12 file's shape (an array of PlanSummary); everything else is the file's own."""
    sb = make_sandbox(profile="realistic", behaviour={"listing-lag-ms": "0"})
    with client(sb) as c:
        plans = c.get("/plans")
        bare = strict(spec, {"type": "array", "items": {"$ref": "#/components/schemas/PlanSummary"}})
        assert not list(jsonschema.Draft202012Validator(bare).iter_errors(plans.json()))
        check(spec, "GET", "/users", c.get("/users", params={"per_page": 500}))
        app = c.post("/apps", json={"Name": "Spec", "UserID": 3})
        check(spec, "POST", "/apps", app)
        path, template = f"/apps/{app.json()['ID']}/custom_credentials", "/apps/{app_id}/custom_credentials"
        for body in (cred_body(), cred_body(PlanID=8), cred_body(AuthTokenType=HOWTO)):  # overwrite, fallback
            made = c.post(path, json=body)
            assert made.status_code == 201
            check(spec, "POST", template, made)
        check(spec, "GET", template, c.get(path))
        check(spec, "POST", template, c.post(path, json=cred_body(PlanID=999)))  # 422 errors
        assert len(rows(c, "/users", per_page=500)) == 51  # 51 seeded users, below the maximum


def test_status_errors_match_the_files_status_with_errors(spec: dict[str, Any], make_sandbox: Any) -> None:
    sb = make_sandbox(behaviour={"error-shape": "status-errors"})
    schema = strict(spec, {"$ref": "#/components/schemas/StatusWithErrors"})
    with client(sb) as c:
        for r in (c.post("/apps", json={"Name": ""}), c.get("/apps/999"), httpx.get(sb.portal_url + "/apps")):
            assert r.status_code >= 400 and not list(jsonschema.Draft202012Validator(schema).iter_errors(r.json()))


def test_text_errors_are_deliberately_off_the_file(make_sandbox: Any) -> None:
    """error-shape=text is what portals before 1.17.1 sent from some endpoints: not JSON, not in the file."""
    sb = make_sandbox(profile="hostile", behaviour={"partial-create": "off"})
    with client(sb) as c:
        r = c.post("/apps", json={"Name": ""})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/plain")
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)
