"""One run per journal: a second Journal of the same path is refused, in this process or another; a dead
holder's lock is taken over; the CLI turns the refusal into one line and exit 2."""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from run_helpers import make_plan, post_count

from tyk_migrate.config import Settings
from tyk_migrate.errors import JournalError, JournalLocked
from tyk_migrate.journal import Journal
from tyk_migrate.lock import lock_path
from tyk_migrate.rollback import rollback
from tyk_migrate.run import apply_plan

SAMPLE = Path(__file__).resolve().parent.parent / "data-samples" / "legacy_keys.csv"
CLI = [str(Path(sys.executable).with_name("tyk-migrate"))]

# a child that opens the journal, says so, and holds it until its stdin closes (or it is killed)
HOLDER = textwrap.dedent(
    """
    import sys
    from tyk_migrate.journal import Journal
    journal = Journal(sys.argv[1])
    print("holding", flush=True)
    sys.stdin.read()
    """
)


def settings_for(sb) -> Settings:
    return Settings(portal_url=sb.portal_url, token=sb.token)


def hold_in_child(path: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "holding"
    return child


def test_a_second_journal_of_the_same_path_in_one_process_is_refused_until_the_first_closes(tmp_path):
    path = tmp_path / "run.journal"
    first = Journal(path)
    with pytest.raises(JournalLocked) as refused:
        Journal(path)
    message = str(refused.value)
    assert isinstance(refused.value, JournalError)  # the CLI's exit 2, the console's error line
    assert str(path) in message and "this process" in message and f"pid {os.getpid()}" in message
    assert socket.gethostname() in message and "\n" not in message
    first.bind("1:abc")
    first.close()
    with Journal(path) as again:  # released on close
        assert again.input_id == "1:abc"
    assert Journal(tmp_path / "other.journal").path.name == "other.journal"  # another journal: its own lock


def test_a_journal_dropped_without_close_frees_its_lock(tmp_path):
    path = tmp_path / "run.journal"
    journal = Journal(path)
    del journal
    gc.collect()
    Journal(path).close()


def test_a_journal_that_cannot_be_opened_holds_no_lock(tmp_path):
    path = tmp_path / "run.journal"
    path.write_bytes(b"this is not a database, it is text" * 100)
    for _ in range(2):  # the second try fails the same way, not as "locked"
        with pytest.raises(JournalError) as failed:
            Journal(path)
        assert not isinstance(failed.value, JournalLocked)


def test_a_journal_held_by_another_process_is_refused_naming_it(tmp_path):
    path = tmp_path / "run.journal"
    child = hold_in_child(path)
    try:
        with pytest.raises(JournalLocked, match=rf"pid {child.pid} on {socket.gethostname()}") as refused:
            Journal(path)
        assert "another run" in str(refused.value) and "this process" not in str(refused.value)
        info = json.loads(lock_path(path).read_text())
        assert info["pid"] == child.pid and info["started_at"]
    finally:
        child.communicate("", timeout=30)
    with Journal(path):  # the holder ended: free again
        pass


def test_the_lock_of_a_killed_holder_is_taken_over(tmp_path):
    path = tmp_path / "run.journal"
    child = hold_in_child(path)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert json.loads(lock_path(path).read_text())["pid"] == child.pid  # its stale note is still there
    with Journal(path):
        info = json.loads(lock_path(path).read_text())
        assert info["pid"] == os.getpid()  # overwritten once we hold the lock, never deleted and made again
        with pytest.raises(JournalLocked, match=f"pid {os.getpid()}"):
            Journal(path)


def test_a_lock_file_left_with_junk_or_a_dead_pid_does_not_block(tmp_path):
    path = tmp_path / "run.journal"
    lock_path(path).write_text(json.dumps({"pid": 999999999, "host": "elsewhere", "started_at": "yesterday"}) * 3)
    with Journal(path):
        assert json.loads(lock_path(path).read_text())["pid"] == os.getpid()
    assert lock_path(path).exists()  # the file stays (deleting it would race), empty once released
    assert lock_path(path).read_text() == ""


def test_a_run_and_a_rollback_are_refused_while_the_journal_is_open_in_this_process(sandbox, tmp_path):
    """Two notebook cells in one kernel: the second run must not start."""
    path = tmp_path / "j"
    apply_plan(make_plan(3), settings_for(sandbox), path)
    posts, apps = post_count(sandbox.snapshot()), len(sandbox.snapshot()["apps"])
    with Journal(path):
        with pytest.raises(JournalLocked):
            apply_plan(make_plan(6), settings_for(sandbox), path)
        with pytest.raises(JournalLocked):
            rollback(path, settings_for(sandbox))
    state = sandbox.snapshot()
    assert post_count(state) == posts and len(state["apps"]) == apps  # nothing written, nothing deleted


def test_cli_rollback_on_a_journal_in_use_is_one_line_and_exit_2(sandbox, tmp_path):
    path = tmp_path / "j"
    apply_plan(make_plan(3), settings_for(sandbox), path)
    env = {**os.environ, "TYK_PORTAL_URL": sandbox.portal_url, "TYK_PORTAL_TOKEN": sandbox.token}
    child = hold_in_child(path)
    try:
        done = subprocess.run(
            [*CLI, "rollback", "--journal", str(path), "--yes"], env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        child.communicate("", timeout=30)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: journal") and f"pid {child.pid}" in lines[0]
    assert "Traceback" not in done.stderr


def test_two_apply_processes_on_one_journal_the_second_is_refused_and_nothing_is_made_twice(make_sandbox, tmp_path):
    sb = make_sandbox(latency_ms=20)
    seed_apps = {a["ID"] for a in sb.snapshot()["apps"]}
    journal = tmp_path / "run.journal"
    env = {**os.environ, "TYK_PORTAL_URL": sb.portal_url, "TYK_PORTAL_TOKEN": sb.token}
    args = ["apply", str(SAMPLE), "--journal", str(journal), "--no-progress", "--concurrency", "2"]
    first = subprocess.Popen(
        [*CLI, *args, "--out", str(tmp_path / "a.csv")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None and len(sb.state.apps) == len(seed_apps):
        time.sleep(0.02)  # until the first run is writing
    second = subprocess.run(
        [*CLI, *args, "--out", str(tmp_path / "b.csv")], env=env, capture_output=True, text=True, timeout=120
    )
    assert first.poll() is None, "the first run ended before the second one tried: make it slower"
    out, err = first.communicate(timeout=300)
    assert first.returncode == 1, out.decode() + err.decode()  # the sample has blocked rows on purpose
    assert second.returncode == 2, second.stdout + second.stderr
    # apply takes the portal's lock first; a holder with the same journal is refused as the journal lock would
    assert f"journal {journal} is in use by another run (pid {first.pid}" in second.stderr
    state = sb.snapshot()
    names = Counter((a["UserID"], a["Name"]) for a in state["apps"] if a["ID"] not in seed_apps)
    assert names and max(names.values()) == 1  # no app made twice
    keys = Counter(c["KeyID"] for c in state["custom_credentials"])
    assert max(keys.values()) == 1


def test_two_consoles_on_one_journal_in_one_kernel_the_second_start_is_refused(make_sandbox, tmp_path):
    import asyncio

    from tyk_migrate.ui import MigrationConsole

    sb = make_sandbox(latency_ms=15)
    journal, settings = tmp_path / "migration.journal", settings_for(sb)
    first_plan, second_plan = make_plan(30), make_plan(30)
    first = MigrationConsole(first_plan, settings, journal, widgets=True, concurrency=2)
    second = MigrationConsole(second_plan, settings, journal, widgets=True, concurrency=2)

    async def scenario() -> None:
        first.start_button.click()
        while not sb.state.apps or first.migration is None or first.migration.journal is None:
            await asyncio.sleep(0.005)  # the first run holds the journal and is writing
        posts = post_count(sb.snapshot())
        second.start_button.click()
        await second.wait()
        assert first.running and post_count(sb.snapshot()) >= posts
        await first.wait()

    asyncio.run(scenario())
    assert first.errors == [] and set(first_plan["status"]) == {"created"}
    assert len(second.errors) == 1 and "is in use by another Journal of this process" in second.errors[0]
    assert "status" not in second_plan.columns or not second_plan["status"].eq("created").any()
    names = Counter((a["UserID"], a["Name"]) for a in sb.snapshot()["apps"] if a["Name"].startswith("mig app"))
    assert len(names) == 10 and max(names.values()) == 1


@pytest.mark.parametrize("alias", ["symlink", "hardlink", "relative"])
def test_one_journal_under_another_name_is_still_refused(tmp_path, monkeypatch, alias):
    """A symlink, a hard link or a relative path to a journal in use names the same journal."""
    real = tmp_path / "real.journal"
    other = tmp_path / "other.journal"
    with Journal(real):
        if alias == "symlink":
            other.symlink_to(real)
        elif alias == "hardlink":
            os.link(real, other)
        else:
            monkeypatch.chdir(tmp_path)
            other = Path("sub/../real.journal")
            (tmp_path / "sub").mkdir()
        with pytest.raises(JournalLocked):
            Journal(other)


def test_deleting_the_lock_file_of_a_journal_in_use_does_not_let_a_second_run_in(tmp_path):
    real = tmp_path / "real.journal"
    with Journal(real):
        lock_path(real).unlink()
        with pytest.raises(JournalLocked):
            Journal(real)
    Journal(real).close()  # and once closed it opens again
