"""The console's account toggles, clicked as an analyst would: off by default, the plan's steps sent when on."""

from __future__ import annotations

import asyncio
from typing import Any

from test_ui import GHOST_ROW, assert_portal_agrees, legacy_frame

from tyk_migrate.config import Settings
from tyk_migrate.plan import PlanSettings, build_plan
from tyk_migrate.plan.accounts import AccountSettings
from tyk_migrate.snapshot import fetch_snapshot
from tyk_migrate.ui import MigrationConsole

GHOST = "ghost@nowhere.example"


def setup(make_sandbox: Any, seed_data: dict[str, Any]) -> tuple[Any, Settings, Any]:
    sandbox = make_sandbox()
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    snapshot = fetch_snapshot(settings, progress=False)
    accounts = PlanSettings(accounts=AccountSettings(create_missing_users=True, users_active=True, users_org=1))
    plan, _ = build_plan(legacy_frame(seed_data, 12), snapshot, settings=accounts)
    assert plan.loc[GHOST_ROW, "user_action"] == "create_user" and plan.loc[GHOST_ROW, "action"] == "create_app"
    return sandbox, settings, plan


def ghosts(sandbox: Any) -> list[dict[str, Any]]:
    return [u for u in sandbox.snapshot()["users"] if u["Email"] == GHOST]


def test_accounts_toggle_is_off_by_default_and_blocks_the_row(make_sandbox, seed_data, tmp_path):
    sandbox, settings, plan = setup(make_sandbox, seed_data)
    console = MigrationConsole(plan, settings, tmp_path / "j", widgets=True)
    assert console.create_users_input.value is False and console.activate_users_input.value is False

    async def scenario() -> None:
        console.start_button.click()
        assert console.create_users_input.disabled  # locked while the run is active
        await console.wait()

    asyncio.run(scenario())
    assert plan.loc[GHOST_ROW, "status"] == "blocked"
    assert "Create missing developer accounts" in plan.loc[GHOST_ROW, "error"]
    assert ghosts(sandbox) == []


def test_ticking_the_toggle_creates_the_account_before_its_app(make_sandbox, seed_data, tmp_path):
    sandbox, settings, plan = setup(make_sandbox, seed_data)
    console = MigrationConsole(plan, settings, tmp_path / "j", widgets=True)

    async def scenario() -> None:
        console.create_users_input.value = True
        console.start_button.click()
        await console.wait()

    asyncio.run(scenario())
    assert console.errors == []
    (ghost,) = ghosts(sandbox)
    assert ghost["Active"] is True and ghost["First"] == "Ghost"
    assert plan.loc[GHOST_ROW, "status"] == "created" and plan.loc[GHOST_ROW, "user_id"] == ghost["ID"]
    assert_portal_agrees(sandbox.snapshot(), plan)
