"""The read side under every sandbox world (strict, realistic, hostile): the same portal reads the same.

A portal bigger than one page of anything (131 users, 136 apps, an app with 60 credentials, two legacy
keys planted in other users' apps far down the lists) is served in-process under each profile; the
snapshot, the plan, the reconciliation and the gateway verification must come out exactly as under
strict. Then the pieces one by one: the pager against every paging mode (including "exactly N rows"
against "ignored paging"), refusals in every error shape, and the ``verify_error`` sentences for keys the
gateway refuses after the portal created them.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from test_plan import legacy, portal

from tyk_migrate.errors import AuthError, NotFound, PortalServerError, Rejected, UnexpectedAnswer
from tyk_migrate.paging import Pager, could_be_a_maximum
from tyk_migrate.plan import build_plan
from tyk_migrate.portal import AsyncPortalClient, Call
from tyk_migrate.portal_errors import error_for
from tyk_migrate.reconcile import reconcile
from tyk_migrate.sandbox import SandboxConfig
from tyk_migrate.sandbox.app import create_app
from tyk_migrate.secrets import fingerprint, secret_series
from tyk_migrate.snapshot import PortalSnapshot, fetch_snapshot_async
from tyk_migrate.sources import load_keys
from tyk_migrate.validate import validate_keys
from tyk_migrate.verify import verify_access

REPO = Path(__file__).resolve().parents[1]
TOKEN = "sandbox-admin-token"
BASE = "http://127.0.0.1:3001"
FRAMES = ("users", "products", "plans", "apps", "credentials")
BIG_APP_CREDENTIALS = 60  # more than hostile's per_page maximum (50), fewer than the client's per_page (100)


# ----- one portal, three worlds -----
@functools.cache
def _legacy_valid() -> pd.DataFrame:
    valid, _ = validate_keys(load_keys(REPO / "data-samples" / "legacy_keys.csv"))
    return valid


def legacy_valid() -> pd.DataFrame:
    return _legacy_valid().copy()


@functools.cache
def _world_seed() -> tuple[str, tuple[int, int]]:
    """The sample portal grown past every page size, with two legacy keys held by other users' apps deep in
    the lists (so only a complete walk finds them); returns the seed (JSON) and the two rows' source_row."""
    seed = json.loads((REPO / "data-samples" / "sandbox_seed.json").read_text(encoding="utf-8"))
    next_user = max(u["ID"] for u in seed["users"]) + 1
    while len(seed["users"]) < 131:
        seed["users"].append(
            {"ID": next_user, "Email": f"extra{next_user}@example.test", "First": "E", "Last": str(next_user),
             "Active": True, "OrganisationID": 1, "Role": "consumer-team-member", "Provider": "password"}
        )  # fmt: skip
        next_user += 1
    developers = [u["ID"] for u in seed["users"] if u["OrganisationID"] != 0]
    app_id, cred_id = max(a["ID"] for a in seed["apps"]) + 1, max(c["ID"] for c in seed["custom_credentials"]) + 1

    def credential(app: int, key: str, plan: str = "8", products: list[int] | None = None) -> None:
        nonlocal cred_id
        seed["custom_credentials"].append(
            {"ID": cred_id, "AppID": app, "Alias": f"c{cred_id}", "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
             "PlanID": plan, "AuthenticationMethod": "Auth Token", "ProductIDs": products or [1, 3],
             "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM", "KeyID": key}
        )  # fmt: skip
        cred_id += 1

    big_app = app_id
    for n in range(126):
        seed["apps"].append({"ID": app_id, "Name": f"Bulk {n}", "UserID": developers[n % len(developers)],
                             "Visibility": "organisation", "CreatedAt": "2026-11-01 10:00"})  # fmt: skip
        if n and n % 3 == 0:
            credential(app_id, f"bulk-key-{n:010d}")
        app_id += 1
    plan, _ = build_plan(legacy_valid(), PortalSnapshot.from_seed(seed))
    new = plan[plan["action"].isin(["create_app", "add_credential"])]
    first, second = new.iloc[0], new.iloc[1]
    # each planted key is held by another user's app: a conflict (key_exists_elsewhere) whatever else differs
    big = next(a for a in seed["apps"] if a["ID"] == big_app)
    big["UserID"] = next(d for d in developers if d != first["user_id"])
    for n in range(BIG_APP_CREDENTIALS):
        if n == 55:  # past hostile's maximum of 50 rows a page
            credential(big_app, first["key_id"].reveal())
        credential(big_app, f"big-app-key-{n:08d}")
    seed["apps"][-1]["UserID"] = next(d for d in reversed(developers) if d != second["user_id"])
    credential(seed["apps"][-1]["ID"], second["key_id"].reveal())  # the last app of 136: page 3 at 50 a page
    return json.dumps(seed), (int(first["source_row"]), int(second["source_row"]))


def world_seed() -> dict[str, Any]:
    return json.loads(_world_seed()[0])


def sandbox_app(seed: dict[str, Any] | None = None, profile: str = "strict", **config: Any) -> Any:
    return create_app(SandboxConfig(seed=seed if seed is not None else world_seed(), profile=profile, **config))


def portal_client(app: Any, per_page: int = 100) -> AsyncPortalClient:
    return AsyncPortalClient(BASE, TOKEN, transport=httpx.ASGITransport(app=app), per_page=per_page)


def fetch(app: Any, per_page: int = 100) -> PortalSnapshot:
    async def go() -> PortalSnapshot:
        async with portal_client(app, per_page) as client:
            return await fetch_snapshot_async(client, concurrency=8, progress=False)

    return asyncio.run(go())


def verify(app: Any, frame: pd.DataFrame, snapshot: PortalSnapshot, **kw: Any) -> pd.DataFrame:
    transport = httpx.ASGITransport(app=app)
    result = verify_access(frame, BASE + "/gateway", snapshot=snapshot, transport=transport, **kw)
    return result.drop(columns=["verified_at"])


def outcomes(plan: pd.DataFrame) -> pd.DataFrame:
    """The plan as a run's outcome that wrote nothing: keys already in the portal are the ones verified."""
    frame = plan.copy()
    frame["status"] = frame["action"].map({"skip_existing": "skipped"}).fillna("pending")
    return frame


def read_everything(profile: str, per_page: int = 100) -> dict[str, Any]:
    app = sandbox_app(profile=profile)
    snap = fetch(app, per_page)
    plan, unresolved = build_plan(legacy_valid(), snap)
    recon = reconcile(legacy_valid(), snap)
    return {"snapshot": snap, "plan": plan, "unresolved": unresolved, "recon": recon,
            "verified": verify(app, outcomes(plan), snap)}  # fmt: skip


@functools.cache
def strict_reads() -> dict[str, Any]:
    return read_everything("strict")


def test_the_world_is_bigger_than_every_page_and_strict_blocks_the_planted_keys():
    reads, (first, second) = strict_reads(), _world_seed()[1]
    snap, plan = reads["snapshot"], reads["plan"]
    seed = world_seed()
    assert (len(snap.users), len(snap.apps), len(snap.credentials)) == (131, 136, len(seed["custom_credentials"]))
    assert snap.credentials.groupby("app_id").size().max() == BIG_APP_CREDENTIALS + 1
    planted = plan.set_index("source_row").loc[[first, second]]
    assert planted["action"].tolist() == ["blocked", "blocked"]
    assert planted["reason_code"].tolist() == ["key_exists_elsewhere", "key_exists_elsewhere"]
    assert planted["reason"].str.contains("with a different owner").all()
    called = reads["verified"]["verify_status"].dropna()
    assert len(called) and (called == 200).all()


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("profile", "per_page"), [("realistic", 100), ("realistic", 500), ("hostile", 100)])
def test_snapshot_plan_reconcile_and_verify_read_the_same_under_every_profile(profile, per_page):
    """Bare plans, a silent per_page maximum, endpoints that ignore page: none changes what is read."""
    strict, reads = strict_reads(), read_everything(profile, per_page)
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(reads["snapshot"], name), getattr(strict["snapshot"], name))
    pd.testing.assert_frame_equal(reads["plan"], strict["plan"])
    pd.testing.assert_frame_equal(reads["unresolved"], strict["unresolved"])
    pd.testing.assert_frame_equal(reads["recon"].rows, strict["recon"].rows)
    pd.testing.assert_frame_equal(reads["recon"].unexplained, strict["recon"].unexplained)
    pd.testing.assert_frame_equal(reads["recon"].summary, strict["recon"].summary)
    pd.testing.assert_frame_equal(reads["verified"], strict["verified"])


# ----- the pager, against every paging mode -----
def fake_list(rows: list[dict[str, Any]], mode: str, cap: int = 10**9, envelope: bool = False) -> Callable[..., Any]:
    """One list endpoint paging as ``mode`` says; returns the handler and records the queries."""
    seen: list[tuple[int, int]] = []

    def answer(page: int, per_page: int) -> list[dict[str, Any]]:
        size = min(per_page, cap)
        if mode == "honour":  # the cap (if any) applies before the offset is reckoned, as in the sandbox
            return rows[(page - 1) * size : page * size]
        if mode == "offset-by-asked":  # the offset from the size asked, then the cap
            return rows[(page - 1) * per_page :][:size]
        if mode == "ignore":  # every row, whatever page and per_page say
            return rows
        if mode == "ignore-page":  # honours per_page (and the cap), not page
            return rows[:size]
        raise AssertionError(mode)

    def handler(request: httpx.Request) -> httpx.Response:
        page, per_page = int(request.url.params["page"]), int(request.url.params["per_page"])
        seen.append((page, per_page))
        body = answer(page, per_page)
        return httpx.Response(200, json={"data": body} if envelope else body)

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


def walk(handler: Callable[..., Any], per_page: int = 100) -> list[dict[str, Any]]:
    pager = Pager("/users", per_page)
    while (call := pager.next_call()) is not None:
        assert len(handler.seen) < 500, "endless walk"  # type: ignore[attr-defined]
        request = httpx.Request("GET", "http://portal/users", params=call.params)
        pager.feed(handler(request).json())
    return pager.items


def rows_of(n: int) -> list[dict[str, Any]]:
    return [{"ID": i, "Email": f"u{i}@example.test"} for i in range(1, n + 1)]


@pytest.mark.parametrize("envelope", [False, True])
@pytest.mark.parametrize(
    ("mode", "total", "cap"),
    [
        ("honour", 0, 10**9), ("honour", 7, 10**9), ("honour", 100, 10**9), ("honour", 250, 10**9),
        ("honour", 130, 50), ("honour", 50, 50), ("honour", 49, 50), ("honour", 101, 25), ("honour", 137, 20),
        ("honour", 137, 37),
        ("offset-by-asked", 130, 50), ("offset-by-asked", 45, 20),
        ("ignore", 7, 10**9), ("ignore", 60, 10**9), ("ignore", 100, 10**9), ("ignore", 230, 10**9),
        ("ignore", 60, 50), ("ignore-page", 230, 10**9), ("ignore-page", 100, 10**9), ("ignore-page", 40, 10**9),
    ],
)  # fmt: skip
def test_pager_reads_every_row_once_in_every_paging_mode(mode, total, cap, envelope):
    handler = fake_list(rows_of(total), mode, cap, envelope)
    items = walk(handler)
    assert [r["ID"] for r in items] == list(range(1, total + 1))
    size = min(100, cap)
    assert len(handler.seen) <= -(-total // size) + 4  # a few requests more than the pages, never a spin


def test_exactly_per_page_rows_and_ignored_paging_both_end_complete():
    honour, ignore = fake_list(rows_of(100), "honour"), fake_list(rows_of(100), "ignore")
    assert len(walk(honour)) == len(walk(ignore)) == 100
    assert honour.seen == [(1, 100), (2, 100)]  # page 2 came back empty: the list ended
    # page 2 repeated page 1: ignored paging; page 1 twice as large brought nothing new: that was all
    assert ignore.seen == [(1, 100), (2, 100), (1, 200)]
    # ignoring page but honouring per_page: the larger page brings the rest
    partial = fake_list(rows_of(150), "ignore-page")
    assert len(walk(partial)) == 150


def test_a_short_page_is_walked_on_only_when_it_could_be_a_maximum():
    exact, capped = fake_list(rows_of(50), "honour"), fake_list(rows_of(51), "honour", cap=50)
    assert len(walk(exact)) == 50 and exact.seen == [(1, 100), (2, 50)]  # 50 rows, all there is
    assert len(walk(capped)) == 51 and capped.seen == [(1, 100), (2, 50)]  # 50 served of 51: walk on
    odd = fake_list(rows_of(7), "honour")
    assert len(walk(odd)) == 7 and odd.seen == [(1, 100)]  # no portal caps a page at 7: one request
    assert [n for n in range(1, 14) if could_be_a_maximum(n)] == [5, 10, 11, 12, 13]


def test_pager_refuses_answers_that_are_not_lists_of_objects():
    for body in ({"items": []}, "text", [1, 2], {"data": {"ID": 1}}):
        with pytest.raises(UnexpectedAnswer, match="expected a JSON array"):
            Pager("/users", 10).feed(body)


def paged_seed(seed: dict[str, Any]) -> dict[str, Any]:
    seed = copy.deepcopy(seed)
    for n in range(len(seed["users"]) + 1, 124):
        seed["users"].append({"ID": n, "Email": f"p{n}@example.test", "First": "P", "Last": str(n), "Active": True,
                              "OrganisationID": 1, "Role": "consumer-team-member", "Provider": "password"})  # fmt: skip
    return seed


@pytest.mark.parametrize(
    "paging",
    ["honour", "ignore:users,plans", "max:20", "max:25+ignore:apps", "max:50+ignore:plans,custom_credentials",
     "max:5", "max:13", "max:100"],
)  # fmt: skip
@pytest.mark.parametrize("per_page", [7, 100])
def test_client_lists_are_complete_against_every_sandbox_paging_knob(seed_data, paging, per_page):
    seed = paged_seed(seed_data)
    app = sandbox_app(seed, behaviour={"paging": paging, "plans-envelope": "bare"})

    async def go() -> tuple[list[Any], ...]:
        async with portal_client(app, per_page) as client:
            return await asyncio.gather(client.list_users(), client.list_apps(), client.list_plans())

    users, apps, plans = asyncio.run(go())
    assert [u["ID"] for u in users] == [u["ID"] for u in seed["users"]]
    assert [a["ID"] for a in apps] == [a["ID"] for a in seed["apps"]]
    assert sorted(p["ID"] for p in plans) == sorted(p["ID"] for p in seed["plans"])


# ----- refusals in every error shape -----
SECRET = "sk_live_ThisIsTheKeyValue0001"


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        ({"errors": ["KeyID already exists", "second"]}, {}, ["KeyID already exists", "second"]),
        ({"status": "error", "errors": ["KeyID already exists"]}, {}, ["KeyID already exists"]),
        ("KeyID already exists; second\n", {"content-type": "text/plain"}, ["KeyID already exists; second"]),
        ("line one\nline two\n", {"content-type": "text/plain; charset=utf-8"}, ["line one", "line two"]),
        ({"message": "KeyID already exists"}, {}, ["KeyID already exists"]),
        ({"error": "Key not authorised"}, {}, ["Key not authorised"]),
        ({"errors": [{"detail": "bad PlanID", "code": 7}]}, {}, ["bad PlanID"]),
        ({"errors": "one string"}, {}, ["one string"]),
        ("<html><head><title>502 Bad Gateway</title></head><body><h1>Bad</h1></body></html>",
         {"content-type": "text/html"}, ["502 Bad Gateway Bad"]),
        ({"errors": []}, {}, []),
        ("", {}, []),
    ],
)  # fmt: skip
def test_error_messages_are_read_from_every_body_shape(body, headers, expected):
    call = Call("POST", "/apps/1/custom_credentials", secrets=(SECRET,))
    if isinstance(body, str):
        response = httpx.Response(422, text=body, headers=headers)
    else:
        response = httpx.Response(422, json=body, headers=headers)
    err = error_for(call, response)
    assert isinstance(err, Rejected) and err.errors == expected


@pytest.mark.parametrize("shape", ["errors", "status-errors", "text"])
def test_error_shapes_echoing_a_key_are_scrubbed(shape):
    echo = f"KeyID {SECRET} is already in use"
    bodies = {"errors": {"errors": [echo]}, "status-errors": {"status": "error", "errors": [echo]}}
    call = Call("POST", "/apps/1/custom_credentials", secrets=(SECRET,))
    response = (
        httpx.Response(422, text=echo + "\n", headers={"content-type": "text/plain"})
        if shape == "text"
        else httpx.Response(422, json=bodies[shape])
    )
    err = error_for(call, response)
    assert SECRET not in str(err) and "is already in use" in err.errors[0]


def test_every_sandbox_error_shape_gives_the_same_typed_error_and_message(seed_data):
    async def refusals(app: Any) -> list[tuple[type, int | None, str]]:
        got = []
        async with portal_client(app) as client:
            for attempt in (lambda: client.get_app(99999), lambda: client.create_app("", 3)):
                try:
                    await attempt()
                except (NotFound, Rejected) as exc:
                    got.append((type(exc), exc.status, "; ".join(exc.errors)))
        async with AsyncPortalClient(BASE, "wrong-token", transport=httpx.ASGITransport(app=app)) as bad:
            try:
                await bad.list_users()
            except AuthError as exc:
                got.append((type(exc), exc.status, "; ".join(exc.errors)))
        return got

    seen = {
        shape: asyncio.run(refusals(sandbox_app(seed_data, behaviour={"error-shape": shape})))
        for shape in ("errors", "status-errors", "text")
    }
    assert len(seen["errors"]) == 3 and all(message for _, _, message in seen["errors"])
    assert seen["status-errors"] == seen["errors"] == seen["text"]


# ----- verify: keys the gateway refuses after the portal created them -----
def one_key_outcome(key: str, products: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame({"key_fingerprint": [fingerprint(key)], "product_ids": [products], "status": ["created"]})
    frame.insert(0, "key_id", secret_series([key]))
    return frame


def create(app: Any, key: str, products: list[int], *, app_name: str = "Refused") -> str:
    """Import ``key`` into a new app of user 3; returns how the portal answered (created / 500 …)."""

    async def go() -> str:
        async with portal_client(app) as client:
            made = await client.create_app(app_name, 3)
            try:
                await client.create_credential(made["ID"], key_id=key, plan_id=7, product_ids=products)
            except PortalServerError as exc:
                return str(exc.status)
            return "created"

    return asyncio.run(go())


@pytest.mark.parametrize("unknown", ["401", "403"])
def test_a_record_only_create_is_caught_by_verify_401_and_403_alike(seed_data, unknown):
    app = sandbox_app(seed_data, behaviour={"partial-create": "record-only:100%", "unknown-key": unknown})
    key = "half-done-key-000000000001"
    assert create(app, key, [1]) == "500"  # the record is stored, the gateway never got the key
    snap = fetch(app)
    held = snap.credentials[snap.credentials["key_fingerprint"] == fingerprint(key)]
    assert len(held) == 1
    result = verify(app, one_key_outcome(key, [1]), snap)
    assert int(result.loc[0, "verify_status"]) == int(unknown)
    hint = result.loc[0, "verify_error"]
    assert "not provisioned" in hint and f"credential {int(held['credential_id'].iloc[0])}" in hint
    assert "create it again" in hint and key not in hint


def test_a_key_not_longer_than_the_minimum_is_explained_by_its_length(seed_data, monkeypatch):
    monkeypatch.delenv("TYK_MIN_KEY_LENGTH", raising=False)
    app = sandbox_app(seed_data, min_key_length=12, behaviour={"min-key-length": "accept-then-403"})
    key = "short-key-12"  # exactly the minimum: older gateways' check was <=
    assert create(app, key, [1]) == "created"
    snap = fetch(app)
    told = verify(app, one_key_outcome(key, [1]), snap, min_key_length=12)
    assert int(told.loc[0, "verify_status"]) == 403
    assert "12 characters, not longer than the gateway's minimum (12)" in told.loc[0, "verify_error"]
    monkeypatch.setenv("TYK_MIN_KEY_LENGTH", "12")  # the setting the CLI reads is used when none is given
    from_env = verify(app, one_key_outcome(key, [1]), snap).loc[0, "verify_error"]
    assert "not longer than the gateway's minimum (12)" in from_env
    monkeypatch.delenv("TYK_MIN_KEY_LENGTH")
    unknown = verify(app, one_key_outcome(key, [1]), snap).loc[0, "verify_error"]
    assert "shorter than the gateway's minimum" in unknown and "check min_token_length" in unknown


def test_verify_names_the_other_causes_of_a_refusal(seed_data):
    app = sandbox_app(seed_data, behaviour={"duplicate-key": "overwrite"})
    narrow, twice, never = "narrow-products-key-0001", "held-twice-key-00000001", "never-imported-key-0001"
    assert create(app, narrow, [1]) == "created"
    assert create(app, twice, [1], app_name="First") == "created"
    assert create(app, twice, [2], app_name="Second") == "created"  # overwrite: the gateway serves product 2
    snap = fetch(app)
    frame = pd.concat(
        [one_key_outcome(narrow, [2]), one_key_outcome(twice, [1]), one_key_outcome(never, [1])], ignore_index=True
    )
    result = verify(app, frame, snap, min_key_length=8)
    assert [int(s) for s in result["verify_status"]] == [403, 403, 401]
    products, duplicated, missing = result["verify_error"].tolist()
    assert "does not hold product 2" in products and "it holds 1" in products
    assert "2 portal credentials hold it" in duplicated and "newest" in duplicated
    assert "no portal credential holds it" in missing
    ok = verify(app, one_key_outcome(narrow, [1]), snap)
    assert int(ok.loc[0, "verify_status"]) == 200 and pd.isna(ok.loc[0, "verify_error"])


# ----- plan: a key held twice -----
def test_a_key_held_by_several_credentials_is_skipped_only_when_every_one_matches():
    key = "held-twice-legacy-key-01"
    row = legacy({"key": key, "app": "Checkout"})
    matching = [{"ID": 200, "AppID": 10, "KeyID": key, "PlanID": "7", "ProductIDs": [1]},
                {"ID": 201, "AppID": 10, "KeyID": key, "PlanID": "7", "ProductIDs": [1]}]  # fmt: skip
    plan, _ = build_plan(row, portal(credentials=matching))
    assert plan["action"].iloc[0] == "skip_existing" and int(plan["credential_id"].iloc[0]) == 201  # the newest
    differing = [matching[0], {**matching[1], "AppID": 12, "PlanID": "8"}]
    plan, _ = build_plan(row, portal(credentials=differing))
    assert plan["action"].iloc[0] == "blocked" and plan["reason_code"].iloc[0] == "key_exists_elsewhere"
    assert "credential 201 in app 12" in plan["reason"].iloc[0] and "plan" in plan["reason"].iloc[0]
    # the older one differing blocks as well: whichever differs is named
    plan, _ = build_plan(row, portal(credentials=[{**matching[0], "ProductIDs": [2]}, matching[1]]))
    assert plan["reason_code"].iloc[0] == "key_exists_elsewhere" and "credential 200" in plan["reason"].iloc[0]
