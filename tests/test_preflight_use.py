"""``apply`` and the console use a passing preflight of the same portal (``tyk_migrate.preflight.use``).

A portal off this machine needs one before a live write; the sandbox is on loopback, so the tests that need
a "remote" portal make ``preflight.use`` see the sandbox as remote (``remote`` fixture): everything else
(the preflight run, its file, apply's reads and writes) is real. The sandbox of ``only_howto`` accepts only
the how-to page's AUTH_TOKEN_CUSTOM: the run succeeds only if it took that spelling from the preflight.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from run_helpers import post_count

from tyk_migrate.cli import cli
from tyk_migrate.config import Settings
from tyk_migrate.errors import ConfigError, InputError, MigrateError
from tyk_migrate.preflight import PreflightResult, write_result
from tyk_migrate.preflight import use as use_module
from tyk_migrate.preflight.use import (
    apply_result,
    compatible_version,
    default_result_path,
    find_preflight,
    needs_preflight,
    use_preflight,
)

SAMPLE = Path(__file__).resolve().parent.parent / "data-samples" / "legacy_keys.csv"
CUSTOM, HOWTO = "AUTH_TOKEN_TYPE_CUSTOM", "AUTH_TOKEN_CUSTOM"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A TYK_MIGRATE_HOME of this test's own: no other test's preflight file is found."""
    where = tmp_path / "home"
    monkeypatch.setenv("TYK_MIGRATE_HOME", str(where))
    monkeypatch.delenv("TYK_AUTH_TOKEN_TYPE", raising=False)
    return where


@pytest.fixture
def remote(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's 127.0.0.1 counts as a portal off this machine (for the preflight rule only)."""
    monkeypatch.setattr(use_module, "is_loopback", lambda url: False)


@pytest.fixture
def small_export(tmp_path: Path) -> Path:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "keys.csv"
    path.write_text("\n".join(lines[:25]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def only_howto(make_sandbox: Callable[..., Any]) -> Any:
    return make_sandbox(accept_auth_token_types=(HOWTO,))


def invoke(args: list[str], sb: Any, **env: str) -> Any:
    base = {"TYK_PORTAL_URL": sb.portal_url, "TYK_PORTAL_TOKEN": sb.token, "TYK_GATEWAY_URL": ""}
    return CliRunner().invoke(cli, args, env={**base, **env}, catch_exceptions=False)


def run_preflight_cli(sb: Any, tmp_path: Path) -> Path:
    out = tmp_path / "preflight.json"
    res = invoke(["preflight", "--out", str(out), "--ledger", str(tmp_path / "ledger.json")], sb)
    assert res.exit_code == 1, res.output  # the configured spelling is refused: unsafe until it is changed
    assert f"set TYK_AUTH_TOKEN_TYPE={HOWTO}" in res.output
    return out


def apply_args(export: Path, tmp_path: Path, *extra: str) -> list[str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    journal, out = tmp_path / "run.journal", tmp_path / "outcomes.csv"
    return ["apply", str(export), "--journal", str(journal), "--out", str(out), "--no-progress", *extra]


def passing(sb: Any, **over: Any) -> PreflightResult:
    values: dict[str, Any] = {
        "ok": True, "portal": getattr(sb, "portal_url", ""),
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tool_version": use_module.__version__, "auth_token_type": HOWTO, "duplicate_key": "refuse",
        "plans_envelope": "data", "per_page_max": None, "listing_lag_ms": 250.0, "latency_ms": 3.0,
        "start_concurrency": 4, "leftovers": 0,
    }  # fmt: skip
    values.update(over)
    return PreflightResult(**values)


def credential_ids(sb: Any) -> set[int]:
    return {c["ID"] for c in sb.snapshot()["custom_credentials"]}


def types_since(sb: Any, before: set[int]) -> set[str]:
    """The AuthTokenType of every credential made since ``before`` (the IDs then); empty when none was."""
    return {c["AuthTokenType"] for c in sb.snapshot()["custom_credentials"] if c["ID"] not in before}


# ----- apply -----
def test_a_remote_portal_without_a_preflight_is_refused_before_it_is_read(small_export: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli,
        apply_args(small_export, tmp_path),
        env={"TYK_PORTAL_URL": "https://portal.example.com:3001", "TYK_PORTAL_TOKEN": "t"},
    )
    assert res.exit_code == 2, res.output
    [line] = [x for x in res.output.splitlines() if x.strip()]
    assert line.startswith("error: no passing preflight of portal.example.com:3001 newer than a day")
    assert "there is none" in line and "`tyk-migrate preflight --portal-url https://portal.example.com:3001`" in line
    assert "--no-preflight" in line and not (tmp_path / "run.journal").exists()


@pytest.mark.usefixtures("remote")
def test_a_passing_preflight_is_used_its_spelling_and_start(
    only_howto: Any, small_export: Path, tmp_path: Path, home: Path
) -> None:
    """preflight (which finds the how-to spelling) writes the file apply finds by itself; apply then sends it."""
    refused = invoke(apply_args(small_export, tmp_path), only_howto)
    assert refused.exit_code == 2 and post_count(only_howto.snapshot()) == 0, refused.output
    run_preflight_cli(only_howto, tmp_path)
    kept = default_result_path(only_howto.portal_url)
    assert kept.parent == home / "preflight" and json.loads(kept.read_text())["auth_token_type"] == HOWTO
    # the preflight said unsafe (the configured spelling does not work): still refused, and says why
    unsafe = invoke(apply_args(small_export, tmp_path), only_howto)
    assert unsafe.exit_code == 2 and "UNSAFE" in unsafe.output, unsafe.output
    # with the configured spelling it names, the preflight passes, and apply uses it
    res = invoke(["preflight", "--ledger", str(tmp_path / "l.json"), "--out", str(tmp_path / "p.json")],
                 only_howto, TYK_AUTH_TOKEN_TYPE=HOWTO)  # fmt: skip
    assert res.exit_code == 0, res.output
    start = json.loads(kept.read_text())["start_concurrency"]
    before = credential_ids(only_howto)
    done = invoke(apply_args(small_export, tmp_path), only_howto)
    assert done.exit_code in (0, 1), done.output  # 1: the sample's rejected and blocked rows
    assert f"AuthTokenType {HOWTO}, adaptive start {start}" in done.output and str(kept) in done.output
    assert " failed" not in done.output.split("\n", 3)[-1].split("results:")[0], done.output
    assert types_since(only_howto, before) == {HOWTO}


@pytest.mark.usefixtures("remote")
def test_the_preflight_spelling_is_used_unless_one_was_chosen(
    only_howto: Any, small_export: Path, tmp_path: Path
) -> None:
    write_result(passing(only_howto), default_result_path(only_howto.portal_url))
    before = credential_ids(only_howto)
    done = invoke(apply_args(small_export, tmp_path), only_howto)
    assert done.exit_code in (0, 1) and "created" in done.output, done.output
    made = credential_ids(only_howto) - before
    assert made and types_since(only_howto, before) == {HOWTO}
    # a spelling the user set wins (here the one this portal refuses: another export, nothing is created)
    other = tmp_path / "other.csv"
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    other.write_text("\n".join([lines[0], *lines[40:50]]) + "\n", encoding="utf-8")
    chosen = invoke(apply_args(other, tmp_path / "again"), only_howto, TYK_AUTH_TOKEN_TYPE=CUSTOM)
    assert f"AuthTokenType {CUSTOM}" in chosen.output and chosen.exit_code == 4, chosen.output
    assert credential_ids(only_howto) == before | made


@pytest.mark.usefixtures("remote")
@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"checked_at": (datetime.now(UTC) - timedelta(days=2)).isoformat()}, "2.0 days old"),
        ({"checked_at": (datetime.now(UTC) - timedelta(hours=25)).isoformat()}, "25 hours old"),
        ({"portal": "https://other.example.com/portal-api"}, "another portal (https://other.example.com/portal-api)"),
        ({"tool_version": "9.4.0"}, "written by tyk-migrate 9.4.0"),
        ({"ok": False}, "UNSAFE"),
    ],
)
def test_stale_other_portal_other_version_or_unsafe_preflights_are_refused(
    sandbox: Any, small_export: Path, tmp_path: Path, change: dict[str, Any], words: str
) -> None:
    given = write_result(passing(sandbox, **change), tmp_path / "given.json")
    for extra in ([], ["--preflight", str(given)]):
        if not extra:
            write_result(passing(sandbox, **change), default_result_path(sandbox.portal_url))
        res = invoke(apply_args(small_export, tmp_path, *extra), sandbox)
        assert res.exit_code == 2 and words in res.output, res.output
        assert "tyk-migrate preflight" in res.output
    assert post_count(sandbox.snapshot()) == 0


def test_a_given_preflight_file_must_fit_also_on_loopback(sandbox: Any, small_export: Path, tmp_path: Path) -> None:
    given = write_result(passing(sandbox, portal="https://other.example.com/portal-api"), tmp_path / "p.json")
    res = invoke(apply_args(small_export, tmp_path, "--preflight", str(given)), sandbox)
    assert res.exit_code == 2 and "another portal" in res.output
    broken = tmp_path / "broken.json"
    broken.write_text("[]", encoding="utf-8")
    res = invoke(apply_args(small_export, tmp_path, "--preflight", str(broken)), sandbox)
    assert res.exit_code == 2 and "not a tyk-migrate preflight file" in res.output


@pytest.mark.usefixtures("remote")
def test_no_preflight_and_dry_runs_are_not_refused(sandbox: Any, small_export: Path, tmp_path: Path) -> None:
    dry = invoke(apply_args(small_export, tmp_path, "--dry-run"), sandbox)
    assert dry.exit_code in (0, 1) and "dry_run" in dry.output and post_count(sandbox.snapshot()) == 0, dry.output
    res = invoke(apply_args(small_export, tmp_path / "live", "--no-preflight"), sandbox)
    assert res.exit_code in (0, 1) and "created" in res.output, res.output
    assert "preflight: none used (--no-preflight)" in res.output and post_count(sandbox.snapshot()) > 0


def test_a_loopback_sandbox_needs_none(sandbox: Any, small_export: Path, tmp_path: Path) -> None:
    assert not needs_preflight(sandbox.portal_url) and not needs_preflight("http://[::1]:3001")
    assert needs_preflight("https://portal.example.com") and needs_preflight("http://0.0.0.0:3001")
    res = invoke(apply_args(small_export, tmp_path), sandbox)
    assert res.exit_code in (0, 1) and "created" in res.output and "preflight" not in res.output, res.output


# ----- the rules, one by one -----
def test_find_preflight_says_why_not(sandbox: Any, tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    assert find_preflight(sandbox.portal_url, path).problem == "there is none"
    write_result(passing(sandbox), path)
    found = find_preflight(sandbox.url + "/", path)  # the same portal, written another way
    assert found.result is not None and found.problem == ""
    ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    write_result(passing(sandbox, checked_at=ahead), path)
    assert "in the future" in find_preflight(sandbox.portal_url, path).problem
    path.write_text('{"ok": true}', encoding="utf-8")
    with pytest.raises(InputError, match="not a tyk-migrate preflight file"):
        find_preflight(sandbox.portal_url, path)


def test_versions_and_default_paths() -> None:
    assert compatible_version("0.1.0", "0.1.7") and compatible_version("0.1", "0.1.0")
    assert not compatible_version("0.2.0", "0.1.0") and not compatible_version("", "0.1.0")
    a, b = default_result_path("https://portal.example.com:3001"), default_result_path("https://portal.example.com")
    assert a.name == "portal.example.com_3001.json" and b.name == "portal.example.com.json"
    assert default_result_path("http://[::1]:3001/portal-api").name == "--1_3001.json"


def test_lookup_patience_follows_the_listing_lag_and_is_never_lowered(sandbox: Any) -> None:
    result = passing(sandbox, listing_lag_ms=800.0)
    plain = apply_result(Settings(portal_url=sandbox.portal_url, token="t", lookup_patience=2.0), result)
    assert plain.auth_token_type == HOWTO and plain.lookup_patience == pytest.approx(2.4)  # 3x the lag
    kept = apply_result(Settings(portal_url=sandbox.portal_url, token="t", lookup_patience=9.0), result)
    assert kept.lookup_patience == 9.0
    none = apply_result(Settings(portal_url=sandbox.portal_url, token="t"), passing(sandbox, listing_lag_ms=0.0))
    assert none.lookup_patience == Settings().lookup_patience
    chosen = apply_result(Settings(portal_url=sandbox.portal_url, token="t"), result, explicit_auth_token_type=True)
    assert chosen.auth_token_type == CUSTOM


def test_use_preflight_gives_the_adaptive_start_within_the_ceiling(sandbox: Any, tmp_path: Path) -> None:
    settings = Settings(portal_url=sandbox.portal_url, token="t")
    used = use_preflight(settings, path=write_result(passing(sandbox, start_concurrency=16), tmp_path / "p.json"))
    assert used.listing_lag_ms == 250.0 and used.initial_concurrency == 16
    assert used.migration_options("adaptive", 64) == {"initial_concurrency": 16}
    assert used.migration_options("adaptive", 10) == {"initial_concurrency": 10}
    assert used.migration_options(4, 64) == {}
    assert use_preflight(settings).result is None  # loopback, no file: nothing used, nothing refused
    with pytest.raises(ConfigError, match="no passing preflight"):
        use_preflight(dataclasses.replace(settings, portal_url="https://portal.example.com"))


# ----- the console -----
@pytest.mark.usefixtures("remote")
def test_the_console_start_needs_a_preflight_unless_told_not_to(
    sandbox: Any, seed_data: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_ui import legacy_frame

    from tyk_migrate.plan import build_plan
    from tyk_migrate.snapshot import fetch_snapshot
    from tyk_migrate.ui import MigrationConsole

    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    snapshot = fetch_snapshot(settings, progress=False)
    plan, _ = build_plan(legacy_frame(seed_data, 12), snapshot)
    journals = iter(range(10))

    async def go(**options: Any) -> MigrationConsole:
        journal = tmp_path / f"j{next(journals)}"
        console = MigrationConsole(plan.copy(), settings, journal, widgets=False, **options)
        await console.run()
        return console

    with pytest.raises(MigrateError, match=r"no passing preflight.*preflight=False writes without one"):
        asyncio.run(go())
    assert post_count(sandbox.snapshot()) == 0
    assert asyncio.run(go(dry_run=True)).finished_runs == 1 and post_count(sandbox.snapshot()) == 0
    write_result(passing(sandbox, auth_token_type=CUSTOM, start_concurrency=3), tmp_path / "p.json")
    capsys.readouterr()
    console = asyncio.run(go(preflight=tmp_path / "p.json"))
    assert console.migration is not None and console.migration.initial_concurrency == 3
    assert f"AuthTokenType {CUSTOM}, adaptive start 3" in capsys.readouterr().out
    assert post_count(sandbox.snapshot()) > 0
    assert asyncio.run(go(preflight=False)).finished_runs == 1


# ----- the workbook's step -----
def test_preflight_frame_uses_a_recent_result_or_runs_one(
    make_sandbox: Callable[..., Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tyk_migrate.preflight import frame as frame_module
    from tyk_migrate.preflight import preflight_frame

    sb = make_sandbox()
    settings = Settings(portal_url=sb.portal_url, token=sb.token)
    ran = preflight_frame(settings)
    assert "preflight run now, written to" in capsys.readouterr().out
    assert list(ran.columns) == ["result", "check", "saw", "what it means for the migration"]
    assert ran.attrs["ok"] is True and "cleanup" in set(ran["check"]) and set(ran["result"]) <= {"ok", "info", "warn"}
    assert find_preflight(sb.portal_url).result is not None  # where the console's Start looks
    posts_after_first = post_count(sb.snapshot())
    again = preflight_frame(settings)  # a recent passing one: shown again, nothing sent
    assert "preflight of " in capsys.readouterr().out and post_count(sb.snapshot()) == posts_after_first
    assert again.equals(ran)
    monkeypatch.setattr(frame_module, "run_preflight", lambda *a, **k: (_ for _ in ()).throw(ConfigError("no go")))
    failed = preflight_frame(settings, rerun=True)
    assert failed.attrs["ok"] is False and failed["what it means for the migration"].tolist() == ["no go"]


def test_a_fallback_stop_names_the_spelling_not_the_token(
    make_sandbox: Callable[..., Any], small_export: Path, tmp_path: Path
) -> None:
    """The run stops at the first portal-generated key with the one line about AuthTokenType; the token hint
    belongs to a refused token only."""
    sb = make_sandbox(behaviour={"auth-token-type": "fallback"})
    res = invoke(apply_args(small_export, tmp_path), sb, TYK_AUTH_TOKEN_TYPE=HOWTO)
    assert "issued its own key" in res.output and "TYK_AUTH_TOKEN_TYPE" in res.output, res.output
    assert "admin API token" not in res.output


# ----- one portal, many spellings; a file that lies or has wrong types -----
@pytest.mark.parametrize(
    "spelling",
    [
        "https://PORTAL.example.com",
        "HTTPS://portal.example.com",
        "https://portal.example.com:443",
        "https://Portal.Example.COM:443/portal-api/",
    ],
)
def test_every_spelling_of_one_portal_finds_and_fits_its_preflight(spelling: str) -> None:
    canonical = "https://portal.example.com"
    assert default_result_path(spelling) == default_result_path(canonical)
    result = passing(None, portal=canonical + "/portal-api")
    write_result(result, default_result_path(canonical))
    found = find_preflight(spelling)
    assert found.result is not None and found.problem == "", found.problem
    write_result(passing(None, portal=spelling), default_result_path(spelling))  # written under another spelling
    assert find_preflight(canonical).problem == ""
    assert default_result_path("https://portal.example.com:8443") != default_result_path(canonical)
    for other in ("https://portal.example.com:8443", "http://portal.example.com", "https://portal.example.org"):
        assert "another portal" in find_preflight(other, default_result_path(canonical)).problem


def test_an_unsafe_row_is_unsafe_whatever_ok_says(tmp_path: Path) -> None:
    from tyk_migrate.preflight import Check

    row = Check("duplicate-key", "a second import overwrote", "keys would be replaced", "unsafe")
    path = write_result(passing(None, portal="https://portal.example.com", checks=[row]), tmp_path / "p.json")
    problem = find_preflight("https://portal.example.com", path).problem
    assert "UNSAFE" in problem and "duplicate-key" in problem


@pytest.mark.parametrize(
    ("field", "value"),
    [("ok", "false"), ("ok", 1), ("start_concurrency", "8"), ("listing_lag_ms", "5"), ("listing_lag_ms", True),
     ("auth_token_type", ["x"]), ("checks", [{"name": "x", "saw": "", "meaning": "", "verdict": "UNSAFE"}]),
     ("product_ids", [1, "2"]), ("paging", {"apps": 3})],
)  # fmt: skip
def test_a_field_of_the_wrong_type_is_one_input_error_naming_file_and_field(
    tmp_path: Path, field: str, value: Any
) -> None:
    path = write_result(passing(None, portal="https://portal.example.com"), tmp_path / "p.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, field: value}), encoding="utf-8")
    settings = Settings(portal_url="https://portal.example.com", token="t")
    with pytest.raises(InputError, match=rf"{path}.*field {field}\b"):
        use_preflight(settings, path=path)


def test_the_preflight_packages_names_load_when_asked_for_and_are_listed_before() -> None:
    """``apply`` imports ``preflight.use`` alone; the package's other names come on first use, and ``dir``
    (a notebook's completion) lists them before that (review break-59)."""
    import tyk_migrate.preflight as preflight

    assert set(preflight.__all__) <= set(dir(preflight))
    for name in preflight.__all__:
        assert getattr(preflight, name) is not None
    with pytest.raises(AttributeError):
        _ = preflight.no_such_name
