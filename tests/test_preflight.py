"""``tyk-migrate preflight`` against sandboxes of each world: what it finds, that it leaves the portal exactly as it
was (also when interrupted, or killed halfway: the next preflight cleans up from the ledger), and that no canary
key is ever printed or written."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tyk_migrate.config import Settings
from tyk_migrate.errors import ConfigError, InputError, JournalLocked, PortalResponseError
from tyk_migrate.lock import JournalLock
from tyk_migrate.preflight import PreflightResult, Waits, load_preflight, run_preflight, write_result
from tyk_migrate.preflight import client as preflight_client
from tyk_migrate.preflight import ledger as ledger_module
from tyk_migrate.preflight import session as preflight_session
from tyk_migrate.preflight_cli import preflight_command

CUSTOM, HOWTO = "AUTH_TOKEN_TYPE_CUSTOM", "AUTH_TOKEN_CUSTOM"
KINDS = ("users", "apps", "custom_credentials", "gateway_keys")
FAST = Waits(listing=5.0, gateway=1.0)


def portal_objects(sb: Any) -> dict[str, Any]:
    snap = sb.snapshot()
    return {kind: snap[kind] for kind in KINDS}


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.json"


@pytest.fixture
def canary_keys(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every canary key a preflight makes (to prove none reaches the output, the JSON or the ledger)."""
    made: list[str] = []
    original = preflight_session.secrets.token_urlsafe

    def token_urlsafe(nbytes: int | None = None) -> str:
        value = original(nbytes)
        made.append(value)
        return value

    monkeypatch.setattr(preflight_session.secrets, "token_urlsafe", token_urlsafe)
    return made


@pytest.fixture
def ledger_texts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ledger file's content after every save."""
    texts: list[str] = []
    original = ledger_module.Ledger._save

    def save(self: ledger_module.Ledger) -> None:
        original(self)
        if self.path.exists():
            texts.append(self.path.read_text(encoding="utf-8"))

    monkeypatch.setattr(ledger_module.Ledger, "_save", save)
    return texts


@pytest.fixture
def world(make_sandbox: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """``world(profile=..., behaviour=...)``: a sandbox whose users, apps, credentials and gateway keys must be
    exactly the same at the end of the test as when it started."""
    made: list[tuple[Any, dict[str, Any]]] = []

    def make(**config: Any) -> Any:
        sb = make_sandbox(**config)
        made.append((sb, portal_objects(sb)))
        return sb

    yield make
    for sb, before in made:
        assert portal_objects(sb) == before, "the preflight left the portal changed"


def settings_of(sb: Any, **over: Any) -> Settings:
    return Settings(portal_url=sb.url, token=sb.token, **over)


def preflight(sb: Any, ledger: Path, *, gateway: bool = True, **kw: Any) -> PreflightResult:
    settings = kw.pop("settings", None) or settings_of(sb)
    kw.setdefault("canary_user", None)
    kw.setdefault("waits", FAST)
    return run_preflight(settings, gateway_url=sb.gateway_url if gateway else None, journal_path=ledger, **kw)


def check(result: PreflightResult, name: str) -> Any:
    return next(c for c in result.checks if c.name == name)


# ----- the worlds -----
def test_strict_portal_can_proceed_and_nothing_leaks(
    world: Callable[..., Any], tmp_path: Path, ledger_path: Path, canary_keys: list[str], ledger_texts: list[str]
) -> None:
    sb = world()
    out = tmp_path / "preflight.json"
    args = ["--portal-url", sb.url, "--token", sb.token, "--gateway-url", sb.gateway_url]
    res = CliRunner().invoke(preflight_command, [*args, "--out", str(out), "--ledger", str(ledger_path)])
    assert res.exit_code == 0, res.output
    assert "preflight: the migration can proceed" in res.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["ok"] is True and data["portal"] == sb.portal_url
    assert data["auth_token_type"] == CUSTOM and data["auth_token_types"] == {CUSTOM: "keeps", HOWTO: "keeps"}
    assert (data["duplicate_key"], data["plans_envelope"], data["error_shape"]) == ("refuse", "data", "errors")
    assert data["per_page_max"] is None and data["leftovers"] == 0 and data["unknown_key_status"] == 401
    assert isinstance(data["listing_lag_ms"], float) and data["listing_lag_ms"] < 1000
    assert data["latency_ms"] >= 0 and data["start_concurrency"] in (1, 2, 4, 8, 16)  # a loaded machine may slow
    assert data["tool_version"] and datetime.fromisoformat(data["checked_at"]) <= datetime.now(UTC)
    assert set(data["paging"].values()) == {"honoured"}
    assert data["canary_user"].endswith("@example.invalid") and (data["plan_id"], data["product_ids"]) == (7, [1])
    for name in ("admin token", "auth token type", "duplicate KeyID", "listing lag", "cleanup", "start concurrency"):
        assert name in res.output
    assert not ledger_path.exists()  # every entry proven gone
    assert len(canary_keys) >= 4 and ledger_texts  # keys were made; the ledger was written before each write
    everything = res.output + out.read_text(encoding="utf-8") + "".join(ledger_texts)
    assert all(key not in everything for key in canary_keys)
    assert all(len(key) >= 32 for key in canary_keys)


def test_old_spelling_on_a_strict_portal_finds_the_one_that_works(
    world: Callable[..., Any], ledger_path: Path, tmp_path: Path
) -> None:
    sb = world(behaviour={"auth-token-type": "strict"})
    result = preflight(sb, ledger_path, settings=settings_of(sb, auth_token_type=HOWTO))
    assert result.ok is False and result.exit_code == 1
    assert result.auth_token_type == CUSTOM
    assert result.auth_token_types == {HOWTO: "refused", CUSTOM: "keeps"}
    [problem] = result.problems
    assert problem.name == "auth token type" and f"set TYK_AUTH_TOKEN_TYPE={CUSTOM}" in problem.meaning
    res = CliRunner().invoke(
        preflight_command,
        ["--portal-url", sb.url, "--token", sb.token, "--out", str(tmp_path / "p.json"), "--ledger", str(ledger_path)],
        env={"TYK_AUTH_TOKEN_TYPE": HOWTO, "TYK_GATEWAY_URL": ""},
    )
    assert res.exit_code == 1, res.output
    assert "UNSAFE to migrate" in res.output and f"set TYK_AUTH_TOKEN_TYPE={CUSTOM}" in res.output


@pytest.mark.parametrize("configured", [CUSTOM, HOWTO])
def test_fallback_says_only_the_file_spelling_keeps_the_key(
    world: Callable[..., Any], ledger_path: Path, configured: str
) -> None:
    sb = world(behaviour={"auth-token-type": "fallback"})
    result = preflight(sb, ledger_path, settings=settings_of(sb, auth_token_type=configured))
    assert result.auth_token_type == CUSTOM
    assert result.auth_token_types == {CUSTOM: "keeps", HOWTO: "generated"}
    row = check(result, "auth token type")
    assert "made its own key" in row.saw
    assert result.ok is (configured == CUSTOM)
    assert row.verdict == ("ok" if configured == CUSTOM else "unsafe")


def test_neither_spelling_opening_the_gateway_is_unsafe(world: Callable[..., Any], ledger_path: Path) -> None:
    # every credential create stores its record but provisions no gateway key (and answers 500)
    sb = world(behaviour={"partial-create": "record-only:100%"})
    result = preflight(sb, ledger_path)
    assert result.ok is False and result.auth_token_type is None
    assert set(result.auth_token_types.values()) == {"not on the gateway"}
    assert (
        "neither AUTH_TOKEN_TYPE_CUSTOM nor AUTH_TOKEN_CUSTOM keeps the KeyID"
        in check(result, "auth token type").meaning
    )
    assert result.duplicate_key is None and result.leftovers == 0


def test_overwriting_duplicates_are_a_warning_not_a_stop(world: Callable[..., Any], ledger_path: Path) -> None:
    sb = world(behaviour={"duplicate-key": "overwrite"})
    result = preflight(sb, ledger_path)
    assert result.duplicate_key == "overwrite" and result.ok is True and result.exit_code == 0
    row = check(result, "duplicate KeyID")
    assert row.verdict == "warn" and "live_key_overwritten" in row.meaning
    assert result.leftovers == 0


@pytest.mark.parametrize("profile", ["realistic", "hostile"])
def test_realistic_and_hostile_portals_in_seconds(world: Callable[..., Any], ledger_path: Path, profile: str) -> None:
    sb = world(profile=profile)
    started = time.monotonic()
    result = preflight(sb, ledger_path, waits=Waits())
    assert time.monotonic() - started < 10
    assert result.ok is True and result.leftovers == 0, result.problems
    assert (result.auth_token_type, result.duplicate_key, result.plans_envelope) == (CUSTOM, "overwrite", "bare")
    assert result.unknown_key_status == 403
    lag = 300 if profile == "realistic" else 1000
    assert result.listing_lag_ms is not None and lag - 50 <= result.listing_lag_ms < lag + 1500  # from the answer
    if profile == "hostile":
        assert result.per_page_max == 50 and result.error_shape == "text"
        assert result.paging["/plans"] == result.paging["/apps/{id}/custom_credentials"] == "ignores per_page"
        assert check(result, "paging").verdict == "warn"
    else:
        assert result.error_shape == "errors" and set(result.paging.values()) == {"honoured"}


def test_without_a_gateway_the_portal_alone_is_proven(world: Callable[..., Any], ledger_path: Path) -> None:
    sb = world()
    result = preflight(sb, ledger_path, gateway=False)
    assert result.ok is True and result.gateway is None and result.unknown_key_status is None
    assert "--gateway-url" in check(result, "gateway").meaning


def test_concurrency_ramp_stops_at_the_portals_cap(world: Callable[..., Any], ledger_path: Path) -> None:
    sb = world(faults="cap=4", latency_ms=40)
    result = preflight(sb, ledger_path, gateway=False)
    assert result.start_concurrency == 4
    assert "429" in check(result, "start concurrency").saw
    assert result.latency_ms is not None and result.latency_ms >= 40


def test_a_given_canary_user_stays_and_is_used(world: Callable[..., Any], ledger_path: Path) -> None:
    sb = world()
    email = sb.snapshot()["users"][2]["Email"]
    result = preflight(sb, ledger_path, canary_user=f"  {email.upper()} ", plan_id=8, product_ids=[2, 3])
    assert result.ok and result.canary_user == email
    assert (result.plan_id, result.product_ids) == (8, [2, 3])


def test_a_gateway_key_without_a_record_is_a_leftover(make_sandbox: Callable[..., Any], ledger_path: Path) -> None:
    # every credential create provisions the gateway key, loses the portal record and answers 500
    sb = make_sandbox(behaviour={"partial-create": "key-only:100%"})
    before = portal_objects(sb)
    result = preflight(sb, ledger_path, waits=Waits(listing=0.5, gateway=0.5))
    assert result.ok is False and result.auth_token_type is None
    assert "no credential create had a usable answer" in check(result, "auth token type").meaning
    cleanup = check(result, "cleanup")
    assert (
        cleanup.verdict == "unsafe" and "still opens the gateway" in cleanup.meaning and "Dashboard" in cleanup.meaning
    )
    assert result.leftovers == 2  # both canary keys: the portal has no record of them to delete
    after = portal_objects(sb)
    assert {k: after[k] for k in KINDS[:3]} == {k: before[k] for k in KINDS[:3]}
    assert len(after["gateway_keys"]) == len(before["gateway_keys"]) + 2


def test_a_portal_that_keeps_users_leaves_only_a_warning(
    make_sandbox: Callable[..., Any], ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = make_sandbox()
    before = portal_objects(sb)

    def refuse(self: Any, user_id: int) -> None:
        raise PortalResponseError("405 Method Not Allowed", method="DELETE", path=f"/users/{user_id}", status=405)

    monkeypatch.setattr(preflight_client.PreflightClient, "delete_user", refuse)
    result = preflight(sb, ledger_path, waits=Waits(listing=0.5, gateway=0.5))  # the user stays listed: no wait
    assert result.ok is True and result.leftovers == 1
    cleanup = check(result, "cleanup")
    assert cleanup.verdict == "warn" and "does not allow deleting users" in cleanup.meaning
    assert [e["kind"] for e in json.loads(ledger_path.read_text(encoding="utf-8"))["entries"]] == ["user"]
    after = portal_objects(sb)
    assert after["apps"] == before["apps"] and after["custom_credentials"] == before["custom_credentials"]
    assert len(after["users"]) == len(before["users"]) + 1


# ----- interrupted, killed -----
def test_a_failure_halfway_still_cleans_up(
    world: Callable[..., Any], ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = world()
    original = preflight_client.PreflightClient.create_app

    def create_then_interrupt(self: Any, *args: Any, **kw: Any) -> Any:
        original(self, *args, **kw)
        raise KeyboardInterrupt  # after the portal made the app, before the preflight read the answer

    monkeypatch.setattr(preflight_client.PreflightClient, "create_app", create_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        preflight(sb, ledger_path)
    assert not ledger_path.exists()  # the user and the app were found, deleted and proven gone


KILLED_AFTER_FIRST_APP = textwrap.dedent(
    """
    import os, sys
    from tyk_migrate.config import Settings
    from tyk_migrate.preflight import client, run_preflight

    original = client.PreflightClient.create_app

    def create_app(self, *args, **kw):
        original(self, *args, **kw)
        os._exit(137)  # killed: no finally, no cleanup

    client.PreflightClient.create_app = create_app
    run_preflight(Settings(portal_url=sys.argv[1], token=sys.argv[2]), canary_user=None, journal_path=sys.argv[3])
    """
)


def test_a_killed_preflight_is_cleaned_up_by_the_next(make_sandbox: Callable[..., Any], ledger_path: Path) -> None:
    sb = make_sandbox()
    before = portal_objects(sb)
    cmd = [sys.executable, "-c", KILLED_AFTER_FIRST_APP, sb.url, sb.token, str(ledger_path)]
    assert subprocess.run(cmd, timeout=120).returncode == 137
    entries = json.loads(ledger_path.read_text(encoding="utf-8"))["entries"]
    assert [(e["kind"], e["id"] is None) for e in entries] == [("user", False), ("app", True)]
    left = portal_objects(sb)
    assert len(left["users"]) == len(before["users"]) + 1 and len(left["apps"]) == len(before["apps"]) + 1
    result = preflight(sb, ledger_path)
    assert result.cleaned_before == 2 and result.ok, result.problems
    assert "interrupted preflight" in check(result, "earlier leftovers").saw
    assert portal_objects(sb) == before and not ledger_path.exists()


def test_one_preflight_at_a_time_per_ledger(world: Callable[..., Any], ledger_path: Path) -> None:
    sb = world()
    with JournalLock(ledger_path), pytest.raises(JournalLocked):
        preflight(sb, ledger_path)


# ----- unusable settings: exit 2, one line -----
@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--token", "wrong"], "refused the admin token"),
        (["--canary-user", "nobody@nowhere.example"], "no portal user has this email"),
        (["--plan-id", "999"], "--plan-id 999: the portal has no such plan"),
        (["--product-id", "1", "--product-id", "999"], "--product-id 999: the portal has no such product"),
    ],
)
def test_unusable_settings_exit_2(
    world: Callable[..., Any], tmp_path: Path, ledger_path: Path, extra: list[str], needle: str
) -> None:
    sb = world()
    args = [
        "--portal-url",
        sb.url,
        "--token",
        sb.token,
        "--out",
        str(tmp_path / "p.json"),
        "--ledger",
        str(ledger_path),
    ]
    res = CliRunner().invoke(preflight_command, [*args, *extra], env={"TYK_GATEWAY_URL": ""})
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and needle in res.output and "Traceback" not in res.output
    assert not (tmp_path / "p.json").exists()


def test_no_portal_is_a_config_error(ledger_path: Path) -> None:
    with pytest.raises(ConfigError, match="no portal URL"):
        run_preflight(Settings(), canary_user=None, journal_path=ledger_path)


# ----- the file, for apply and the console -----
def test_load_preflight_checks_portal_age_and_shape(
    world: Callable[..., Any], tmp_path: Path, ledger_path: Path
) -> None:
    sb = world()
    result = preflight(sb, ledger_path, gateway=False)
    path = write_result(result, tmp_path / "preflight.json")
    loaded = load_preflight(path, sb.url)
    assert loaded is not None and loaded.to_dict() == result.to_dict()
    assert load_preflight(path, sb.portal_url + "/") is not None  # the same portal, written another way
    assert load_preflight(path, "https://other.example.com:3001") is None
    assert load_preflight(tmp_path / "missing.json", sb.url) is None
    old = json.loads(path.read_text(encoding="utf-8"))
    old["checked_at"] = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    path.write_text(json.dumps(old), encoding="utf-8")
    assert load_preflight(path, sb.url) is None
    assert load_preflight(path, sb.url, max_age=timedelta(days=3)) is not None
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(InputError, match="not a tyk-migrate preflight file"):
        load_preflight(path, sb.url)


def test_preflight_is_a_command_of_tyk_migrate(world: Callable[..., Any], tmp_path: Path, ledger_path: Path) -> None:
    """Registered in the CLI group, with the group's error handling: a portal that refuses the token is exit 2."""
    from tyk_migrate.cli import cli

    sb = world()
    base = ["preflight", "--portal-url", sb.url, "--ledger", str(ledger_path), "--out", str(tmp_path / "p.json")]
    ok = CliRunner().invoke(cli, [*base, "--token", sb.token])
    assert ok.exit_code == 0, ok.output
    refused = CliRunner().invoke(cli, [*base, "--token", "wrong-token"])
    assert refused.exit_code == 2 and "Traceback" not in refused.output, refused.output


def test_the_create_answer_is_compared_with_its_read_back(world: Callable[..., Any], ledger_path: Path) -> None:
    result = preflight(world(), ledger_path)
    assert result.answer_matches_read_back is True  # the sandbox answers a create with the stored credential
    assert check(result, "create answer").verdict == "ok"


def test_an_answer_that_differs_from_its_read_back_is_not_trusted() -> None:
    from tyk_migrate.preflight.writes import answer_agrees

    asked = {"KeyID": "k" * 24, "PlanID": "7", "ProductIDs": [1, 2]}
    assert answer_agrees(asked, {**asked, "PlanID": 7}) is True  # Tyk answers PlanID as a string, a GET may not
    assert answer_agrees(asked, {**asked, "KeyID": "other-key-1234567890"}) is False
    assert answer_agrees(asked, {**asked, "ProductIDs": [1]}) is False
    assert answer_agrees({"ID": 3}, asked) is None  # an answer without the fields proves nothing
    assert answer_agrees(None, asked) is None
