"""A credential POST that sent nothing (no connection was made) is known not to have landed: whatever holds its
key in the app afterwards is someone else's, never adopted, never rolled back (issue 14, break14b a11). A
failure that did reach the portal stays ambiguous: there the lookup still adopts (the documented limit).

Every test runs against the real sandbox; the failure is made in the transport under the real portal client,
so the portal client's own error mapping says whether the request was sent. "Another client" (a second
journal's run, a notebook in the same kernel) writes through the sandbox's HTTP API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from run_helpers import make_plan

from tyk_migrate.config import Settings
from tyk_migrate.journal import Journal
from tyk_migrate.portal import AsyncPortalClient, PortalClient
from tyk_migrate.rollback import rollback
from tyk_migrate.run import Migration
from tyk_migrate.secrets import reveal
from tyk_migrate.transport import LeanTransport

#: what the other client does with the app and the request body of our failing POST
Meanwhile = Callable[[int, dict[str, Any]], None]


class FailFirstCredentialPost(httpx.AsyncBaseTransport):
    """The portal client's transport: the first credential POST fails with ``failure``, after ``meanwhile``
    (another client) ran; every other request goes to the sandbox. ``on_fail`` runs as it fails."""

    def __init__(self, failure: type[httpx.TransportError], meanwhile: Meanwhile | None = None) -> None:
        self.inner, self.failure, self.meanwhile = LeanTransport(), failure, meanwhile
        self.failed = 0
        self.on_fail: Callable[[], None] = lambda: None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/custom_credentials") and not self.failed:
            self.failed += 1
            app_id = int(request.url.path.rstrip("/").split("/")[-2])
            if self.meanwhile is not None:
                await asyncio.to_thread(self.meanwhile, app_id, json.loads(request.content))
            self.on_fail()
            raise self.failure("scripted failure", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def settings_for(sb: Any) -> Settings:
    return Settings(portal_url=sb.portal_url, token=sb.token)


def another_client_writes(sb: Any, made: list[int]) -> Meanwhile:
    """Another client puts the same key, plan and products into the app (its ID is appended to ``made``)."""

    def write(app_id: int, body: dict[str, Any]) -> None:
        with PortalClient(settings=settings_for(sb)) as client:
            answer = client.create_credential(
                app_id, key_id=body["KeyID"], plan_id=int(body["PlanID"]), product_ids=body["ProductIDs"]
            )
        made.append(int(answer["ID"]))

    return write


def run(sb: Any, plan: pd.DataFrame, path: Path, transport: FailFirstCredentialPost, **kw: Any) -> Migration:
    async def go() -> Migration:
        async with AsyncPortalClient(settings=settings_for(sb), transport=transport) as client:
            m = Migration(plan, client, path, concurrency=1, **kw)
            await m.run()
            return m

    return asyncio.run(go())


def credential_ids(sb: Any) -> set[int]:
    return {int(c["ID"]) for c in sb.snapshot()["custom_credentials"]}


@pytest.mark.parametrize("duplicate_key", ["refuse", "overwrite"])
def test_a_key_another_client_put_in_our_new_app_while_our_post_sent_nothing_is_theirs(
    make_sandbox: Any, tmp_path: Path, duplicate_key: str
) -> None:
    sb = make_sandbox(behaviour={"duplicate-key": duplicate_key})
    plan, theirs = make_plan(3), []
    transport = FailFirstCredentialPost(httpx.ConnectError, another_client_writes(sb, theirs))
    run(sb, plan, tmp_path / "j", transport)
    assert len(theirs) == 1 and transport.failed == 1
    first = plan.loc[0]
    # the app is this run's, the key in it is not: the row goes the way of a key held before the POST
    assert first["status"] == "skipped", plan["error"].tolist()
    assert f"as credential {theirs[0]}, not made by this run" in first["error"]
    assert plan.loc[1:, "status"].tolist() == ["created", "created"]
    keys = [c["KeyID"] for c in sb.snapshot()["custom_credentials"]]
    assert keys.count(reveal(first["key_id"])) == 1  # never a second credential of the key
    with Journal(tmp_path / "j") as journal:
        rec = journal.credential(first["key_fingerprint"])
        assert rec is not None and rec.state == "failed" and rec.credential_id is None  # not held as ours
        assert "another client put this key" in (rec.error or "")
        assert theirs[0] not in {r.credential_id for r in journal.credentials()}
    report = rollback(tmp_path / "j", settings_for(sb))
    assert theirs[0] in credential_ids(sb), "rollback deleted the other client's credential"
    assert report.loc[report["result"] == "deleted", "kind"].tolist().count("credential") == 2  # our two


def test_a_failure_that_reached_the_portal_still_adopts_the_key_found_there(make_sandbox: Any, tmp_path: Path) -> None:
    """The documented limit (run/credentials.py): after a send that may have landed, a holder of the key in an
    app this run created is taken for our own landed write, the common case; so the rule is "nothing sent",
    not "never adopt"."""
    sb = make_sandbox(behaviour={"duplicate-key": "overwrite"})
    plan, theirs = make_plan(3), []
    run(sb, plan, tmp_path / "j", FailFirstCredentialPost(httpx.RemoteProtocolError, another_client_writes(sb, theirs)))
    assert plan.loc[0, "status"] == "created" and int(plan.loc[0, "credential_id"]) == theirs[0]
    with Journal(tmp_path / "j") as journal:
        rec = journal.credential(plan.loc[0, "key_fingerprint"])
        assert rec is not None and (rec.state, rec.how, rec.credential_id) == ("created", "adopted", theirs[0])


def test_a_run_stopped_after_a_post_that_sent_nothing_leaves_no_open_intent(make_sandbox: Any, tmp_path: Path) -> None:
    """Stopped between a failed connect and its retry: the intent is closed, so neither rollback nor a rerun
    takes a credential another client puts there afterwards for the one our POST may have made."""
    sb = make_sandbox(behaviour={"duplicate-key": "overwrite"})
    plan = make_plan(1)
    transport = FailFirstCredentialPost(httpx.ConnectError)

    async def go() -> None:
        async with AsyncPortalClient(settings=settings_for(sb), transport=transport) as client:
            m = Migration(plan, client, tmp_path / "j", concurrency=1)
            transport.on_fail = m.stop
            await m.run()

    asyncio.run(go())
    assert plan["status"].tolist() == ["pending"] and "not sent" in plan.loc[0, "error"], plan["error"].tolist()
    with Journal(tmp_path / "j") as journal:
        rec = journal.credential(plan.loc[0, "key_fingerprint"])
        assert rec is not None and rec.state == "failed" and rec.credential_id is None
    theirs: list[int] = []
    app_id = int(plan.loc[0, "app_id"])
    another_client_writes(sb, theirs)(
        app_id,
        {"KeyID": reveal(plan.loc[0, "key_id"]), "PlanID": int(plan.loc[0, "plan_id"]), "ProductIDs": [1]},
    )
    report = rollback(tmp_path / "j", settings_for(sb))
    assert theirs[0] in credential_ids(sb), "rollback deleted the other client's credential"
    assert "credential" not in set(report.loc[report["result"] == "deleted", "kind"])
