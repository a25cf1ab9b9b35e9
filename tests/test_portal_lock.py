"""One run per portal per machine (``tyk_migrate.portal_lock``): a second run writing to the same portal with
another journal is refused with one line naming the holder, in this process (a second notebook run) or from
another (exit 2 in the CLI); ``TYK_ALLOW_CONCURRENT_RUNS=1`` lets it run; a killed holder's lock is taken
over; another portal, a dry run and a rollback are not blocked. Sandboxes listen on ports of their own, so
tests in parallel never share a portal, and the locks live in the test session's own tyk-migrate folder."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from run_helpers import make_plan, post_count

from tyk_migrate.config import ALLOW_CONCURRENT_RUNS_ENV, Settings
from tyk_migrate.errors import JournalError, PortalLocked
from tyk_migrate.portal_lock import PortalLock, portal_identity, portal_lock_path
from tyk_migrate.rollback import rollback
from tyk_migrate.run import Migration, apply_plan

SAMPLE = Path(__file__).resolve().parent.parent / "data-samples" / "legacy_keys.csv"
CLI = [str(Path(sys.executable).with_name("tyk-migrate"))]

# a child that takes a portal's lock as a run would, says so, and holds it until its stdin closes (or it is killed)
HOLDER = textwrap.dedent(
    """
    import sys
    from tyk_migrate.portal_lock import PortalLock
    lock = PortalLock(sys.argv[1], sys.argv[2])
    lock.acquire()
    print("holding", flush=True)
    sys.stdin.read()
    """
)


def settings_for(sb: Any) -> Settings:
    return Settings(portal_url=sb.portal_url, token=sb.token)


def hold_in_child(url: str, journal: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, str(journal)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "holding"
    return child


def test_a_portal_is_named_by_scheme_host_port_and_path_whatever_the_spelling() -> None:
    one = portal_identity("https://portal.example.com")
    assert one == "https://portal.example.com:443/portal-api"
    same = ["https://Portal.EXAMPLE.com:443/", "HTTPS://portal.example.com/portal-api/", " https://portal.example.com"]
    assert {portal_identity(url) for url in same} == {one}
    others = ["http://portal.example.com", "https://portal.example.com:3001", "https://other.example.com",
              "https://portal.example.com/tenant-b"]  # fmt: skip
    assert len({one, *map(portal_identity, others)}) == 1 + len(others)
    assert portal_identity("http://[::1]:3001") == "http://[::1]:3001/portal-api"
    assert portal_lock_path("https://Portal.example.com:443") == portal_lock_path("https://portal.example.com/")
    assert "example" not in portal_lock_path("https://portal.example.com").name  # a hash, no URL in a file name


def test_a_second_run_on_the_same_portal_in_this_process_is_refused_naming_the_first(make_sandbox, tmp_path):
    """Two notebook runs with different journals in one kernel: the second must not write a thing."""
    sb = make_sandbox(latency_ms=10)
    first_plan, second_plan = make_plan(12), make_plan(6, prefix="two")

    async def scenario() -> None:
        first = Migration(first_plan, settings_for(sb), tmp_path / "a.journal", concurrency=1)
        task = first.start()
        while not sb.state.apps or first.context is None:
            await asyncio.sleep(0.005)  # the first run is writing
        first.pause()
        posts = post_count(sb.snapshot())
        second = Migration(second_plan, settings_for(sb), tmp_path / "b.journal")
        with pytest.raises(PortalLocked) as refused:
            await second.run()
        assert post_count(sb.snapshot()) == posts  # nothing sent by the second run
        message = str(refused.value)
        assert isinstance(refused.value, JournalError) and "\n" not in message
        assert f"portal {portal_identity(sb.portal_url)} is in use by another run of this process" in message
        assert f"pid {os.getpid()} on {socket.gethostname()}" in message
        assert str((tmp_path / "a.journal").resolve()) in message and ALLOW_CONCURRENT_RUNS_ENV in message
        first.resume()
        await task

    asyncio.run(scenario())
    assert set(first_plan["status"]) == {"created"}
    assert "status" not in second_plan.columns or not second_plan["status"].eq("created").any()
    apply_plan(second_plan, settings_for(sb), tmp_path / "b.journal")  # the first ended: the portal is free
    assert set(second_plan["status"]) == {"created"}


def test_with_the_opt_out_two_runs_on_one_portal_go_on_together_and_still_make_nothing_twice(make_sandbox, tmp_path):
    sb = make_sandbox(latency_ms=10)
    allowed = replace(settings_for(sb), allow_concurrent_runs=True)
    first_plan, second_plan = make_plan(12), make_plan(12, prefix="two")

    async def scenario() -> None:
        first = Migration(first_plan, allowed, tmp_path / "a.journal", concurrency=1)
        task = first.start()
        while not sb.state.apps or first.context is None:
            await asyncio.sleep(0.005)
        first.pause()  # the first run is still going (and would hold the portal without the opt-out)
        await Migration(second_plan, allowed, tmp_path / "b.journal", concurrency=1).run()
        assert not task.done()
        first.resume()
        await task

    asyncio.run(scenario())
    assert set(first_plan["status"]) == set(second_plan["status"]) == {"created"}
    keys = Counter(c["KeyID"] for c in sb.snapshot()["custom_credentials"])
    assert max(keys.values()) == 1


def test_the_opt_out_is_read_from_the_environment(monkeypatch):
    assert Settings.from_env().allow_concurrent_runs is False
    monkeypatch.setenv(ALLOW_CONCURRENT_RUNS_ENV, "1")
    assert Settings.from_env().allow_concurrent_runs is True


def test_a_portal_held_by_another_process_is_refused_and_a_killed_holders_lock_taken_over(sandbox, tmp_path):
    child = hold_in_child(sandbox.portal_url, tmp_path / "theirs.journal")
    try:
        with pytest.raises(PortalLocked, match=rf"another run on this machine \(pid {child.pid} on ") as refused:
            apply_plan(make_plan(3), settings_for(sandbox), tmp_path / "ours.journal")
        assert str((tmp_path / "theirs.journal").resolve()) in str(refused.value)
        assert post_count(sandbox.snapshot()) == 0
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    path = portal_lock_path(sandbox.portal_url)
    assert json.loads(path.read_text())["pid"] == child.pid  # its stale note is still there
    plan = make_plan(3)
    apply_plan(plan, settings_for(sandbox), tmp_path / "ours.journal")  # taken over: the kernel freed it
    assert set(plan["status"]) == {"created"}
    assert path.read_text() == ""  # released at the run's end; the file stays


def test_another_portal_a_dry_run_and_a_rollback_are_not_blocked(make_sandbox, tmp_path):
    sb, other = make_sandbox(), make_sandbox()
    done = make_plan(3)
    apply_plan(done, settings_for(sb), tmp_path / "done.journal")
    child = hold_in_child(sb.portal_url, tmp_path / "theirs.journal")
    try:
        plan = make_plan(3)
        apply_plan(plan, settings_for(other), tmp_path / "other.journal")  # another portal
        assert set(plan["status"]) == {"created"}
        dry = make_plan(3, prefix="dry")
        apply_plan(dry, settings_for(sb), tmp_path / "dry.journal", dry_run=True)  # writes nothing
        assert set(dry["status"]) == {"dry_run"}
        report = rollback(tmp_path / "done.journal", settings_for(sb))  # deletes only its own
        assert report["result"].str.startswith("deleted").sum() == 4  # three credentials and their app
    finally:
        child.communicate("", timeout=30)


def test_a_lock_that_cannot_be_taken_holds_nothing_once_refused(sandbox, tmp_path):
    with PortalLock(sandbox.portal_url, tmp_path / "a.journal") as held:
        assert held.held
        second = PortalLock(sandbox.portal_url, tmp_path / "b.journal")
        with pytest.raises(PortalLocked):
            second.acquire()
        assert not second.held
    assert not held.held
    with PortalLock(sandbox.portal_url, tmp_path / "b.journal") as again:  # free once released
        assert again.held


def test_cli_apply_against_a_portal_in_use_is_one_line_and_exit_2_unless_allowed(make_sandbox, tmp_path):
    sb = make_sandbox(latency_ms=20)
    seed_apps = {a["ID"] for a in sb.snapshot()["apps"]}
    env = {**os.environ, "TYK_PORTAL_URL": sb.portal_url, "TYK_PORTAL_TOKEN": sb.token}
    args = ["apply", str(SAMPLE), "--no-progress", "--concurrency", "2"]
    first = subprocess.Popen(
        [*CLI, *args, "--journal", str(tmp_path / "a.journal"), "--out", str(tmp_path / "a.csv")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None and len(sb.state.apps) == len(seed_apps):
        time.sleep(0.02)  # until the first run is writing
    second = subprocess.run(
        [*CLI, *args, "--journal", str(tmp_path / "b.journal"), "--out", str(tmp_path / "b.csv")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert first.poll() is None, "the first run ended before the second one tried: make it slower"
    out, err = first.communicate(timeout=300)
    assert first.returncode == 1, out.decode() + err.decode()  # the sample has blocked rows on purpose
    assert second.returncode == 2, second.stdout + second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: portal") and "Traceback" not in second.stderr
    assert f"another run on this machine (pid {first.pid}" in lines[0] and str(tmp_path / "a.journal") in lines[0]
    state = sb.snapshot()
    names = Counter((a["UserID"], a["Name"]) for a in state["apps"] if a["ID"] not in seed_apps)
    assert names and max(names.values()) == 1  # no app made twice
    # the opt-out: the same second run against a held portal goes through
    child = hold_in_child(sb.portal_url, tmp_path / "held.journal")
    try:
        allowed = subprocess.run(
            [*CLI, *args, "--journal", str(tmp_path / "a.journal"), "--out", str(tmp_path / "c.csv")],
            env={**env, ALLOW_CONCURRENT_RUNS_ENV: "1"}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        child.communicate("", timeout=30)
    assert allowed.returncode == 1, allowed.stdout + allowed.stderr  # ran: only the sample's blocked rows
    assert "in use" not in allowed.stderr


def test_a_journal_keeps_its_portal_normalised_and_without_a_password(tmp_path) -> None:
    from tyk_migrate.journal import Journal

    with Journal(tmp_path / "j.sqlite") as journal:
        journal.bind_portal("https://admin:s3cretpw@Portal.Example.com/portal-api/")
        journal.bind_portal("https://portal.example.com:443")  # the same portal, spelled otherwise: accepted
        assert journal.portal_url == "https://portal.example.com:443/portal-api"
    assert b"s3cretpw" not in (tmp_path / "j.sqlite").read_bytes()


def test_a_trailing_dot_names_the_same_portal_and_a_query_is_refused() -> None:
    import pytest

    from tyk_migrate.config import portal_api_base
    from tyk_migrate.errors import ConfigError
    from tyk_migrate.portal_lock import portal_identity

    assert portal_identity("https://portal.example.com./") == portal_identity("https://portal.example.com")
    for url in ("https://portal.example.com?x=1", "https://portal.example.com/#top"):
        with pytest.raises(ConfigError, match="no \\?query or #fragment"):
            portal_api_base(url)


def test_cli_apply_against_a_portal_in_use_is_refused_before_reading_it(sandbox, tmp_path):
    child = hold_in_child(sandbox.portal_url, tmp_path / "held.journal")
    try:
        refused = subprocess.run(
            [*CLI, "apply", str(SAMPLE), "--no-progress", "--journal", str(tmp_path / "a.journal"),
             "--out", str(tmp_path / "a.csv")],
            env={**os.environ, "TYK_PORTAL_URL": sandbox.portal_url, "TYK_PORTAL_TOKEN": sandbox.token},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        child.communicate("", timeout=30)
    assert refused.returncode == 2 and refused.stderr.startswith("error: portal"), refused.stdout + refused.stderr
    # taken before the snapshot: nothing read (so the snapshot's walk of /apps can be the run's first listing)
    assert not any(r.startswith("GET /portal-api") for r in sandbox.snapshot()["requests"]["by_route"])
