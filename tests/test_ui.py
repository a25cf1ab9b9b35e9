"""The migration console driven as an analyst would, without a browser: ``.click()`` and widget values.

Every run goes against a real sandbox (loopback socket) with a plan made by the real planner, and ends
with the portal and ``console.results`` compared row by row. The run is a task on the running loop, as in
a kernel: each test is one ``asyncio.run`` of a coroutine that clicks and awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import string
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd
import pytest
from run_helpers import refuse_writes

from tyk_migrate import ui_format as fmt
from tyk_migrate.config import Settings
from tyk_migrate.errors import AuthError, MigrateError
from tyk_migrate.journal import Journal
from tyk_migrate.plan import build_plan
from tyk_migrate.secrets import fingerprint, mask, reveal, secret_series
from tyk_migrate.snapshot import PortalSnapshot, fetch_snapshot
from tyk_migrate.ui import MigrationConsole
from tyk_migrate.ui_format import Scrubber, action_preview, facets, latest_failures, scope_mask

# source_row labels (the plan is indexed by source_row, which legacy_frame numbers from 1)
SHORT_KEY_ROW = 8  # a key the portal refuses (below its minimum length): a real failure with a reason
GHOST_ROW = 6  # an owner the portal does not know: blocked by the planner


# -- plans and audits -----------------------------------------------------------------------------------


def legacy_frame(seed: dict[str, Any], n: int, *, rng_seed: int = 11) -> pd.DataFrame:
    """``n`` legacy keys for the sample portal's developers, three keys per app, one ghost, one short key."""
    rng = random.Random(rng_seed)
    users = [u for u in seed["users"] if u.get("Active") and u.get("OrganisationID")][:9]
    rows = []
    for i in range(n):
        row = i + 1  # the source_row
        user = users[(i // 3) % len(users)]
        plan = seed["plans"][(i // 3) % len(seed["plans"])]
        products = [p["ReferenceID"] for p in rng.sample(seed["products"], 1 + i % 2)]
        key = f"ui{rng_seed:02d}{i:04d}" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(18))
        app = f"Console app {rng_seed}-{i // 3}"
        if row == SHORT_KEY_ROW:
            key, app = "Zq" + "".join(rng.choice(string.ascii_letters) for _ in range(4)), f"Short key app {rng_seed}"
        rows.append(
            {
                "source_row": row,
                "source_id": f"legacy-{i}",
                "key_id": key,
                "key_fingerprint": fingerprint(key),
                "owner_email": "ghost@nowhere.example" if row == GHOST_ROW else user["Email"],
                "app_name": app,
                "alias": f"key {i}",
                "plan": plan["ReferenceID"],
                "products": products,
                "expires_at": pd.NaT,
                "active": True,
            }
        )
    frame = pd.DataFrame(rows)
    frame["key_id"] = secret_series(frame["key_id"], index=frame.index)
    return frame


def raw_keys(plan: pd.DataFrame) -> list[str]:
    return [reveal(k) for k in plan["key_id"]]


def assert_portal_agrees(state: dict[str, Any], plan: pd.DataFrame) -> None:
    """Row by row: ``created`` rows exist once with the recorded IDs, owner, plan and products; others don't."""
    creds: dict[str, list[dict[str, Any]]] = {}
    for cred in state["custom_credentials"]:
        creds.setdefault(cred["KeyID"], []).append(cred)
    apps = {a["ID"]: a for a in state["apps"]}
    problems: list[tuple[Any, ...]] = []
    for label, row in plan.iterrows():
        found = creds.get(reveal(row["key_id"]), [])
        if row["status"] == "created":
            if len(found) != 1:
                problems.append((label, "created but found", len(found)))
                continue
            cred, app = found[0], apps.get(found[0]["AppID"])
            ok = (
                cred["ID"] == row["credential_id"]
                and cred["AppID"] == row["app_id"]
                and app is not None
                and app["UserID"] == row["user_id"]
                and app["Name"] == row["app_name"]
                and str(cred["PlanID"]) == str(row["plan_id"])
                and sorted(cred["ProductIDs"]) == sorted(row["product_ids"])
            )
            if not ok:
                problems.append((label, "differs", cred["ID"], row["credential_id"]))
        elif row["action"] in ("create_app", "add_credential") and found:
            problems.append((label, f"status {row['status']} but the key is in the portal"))
    names = Counter((a["UserID"], a["Name"]) for a in state["apps"] if a["Name"].startswith(("Console", "Short")))
    problems += [("app twice", k) for k, v in names.items() if v > 1]
    assert not problems, problems[:10]


def walk(widget: w.Widget) -> list[w.Widget]:
    out = [widget]
    for child in getattr(widget, "children", ()):
        out += walk(child)
    return out


def widget_text(console: MigrationConsole) -> str:
    """Every synced value of every widget of the console (what a frontend could ever show)."""
    parts = []
    for widget in walk(console.widget):
        for name in widget.keys:
            value = getattr(widget, name, None)
            parts.append(json.dumps(value, default=str) if not isinstance(value, str) else value)
    return "\n".join(parts)


def posts(sandbox: Any) -> int:
    by_route = sandbox.snapshot()["requests"]["by_route"]
    return sum(n for route, n in by_route.items() if route.startswith("POST /portal-api"))


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


@pytest.fixture
def setup(make_sandbox: Callable[..., Any], seed_data: dict[str, Any], tmp_path: Path) -> Callable[..., Any]:
    """``setup(n, latency_ms=…)`` -> (sandbox, settings, plan, snapshot, journal path)."""

    def make(n: int = 45, latency_ms: float = 0, **kw: Any) -> tuple[Any, Settings, pd.DataFrame, Any, Path]:
        sandbox = make_sandbox(latency_ms=latency_ms, **kw)
        settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
        snapshot = fetch_snapshot(settings)
        plan, _ = build_plan(legacy_frame(seed_data, n), snapshot)
        return sandbox, settings, plan, snapshot, tmp_path / "migration.journal"

    return make


def buttons(console: MigrationConsole) -> dict[str, bool]:
    """Which buttons are enabled."""
    return {name: not getattr(console, f"{name}_button").disabled for name in ("start", "pause", "resume", "stop")}


# -- tests ---------------------------------------------------------------------------------------------


def test_start_runs_to_the_end_and_results_are_the_plan_frame(setup: Callable[..., Any]) -> None:
    sandbox, settings, plan, snapshot, journal = setup(45)
    console = MigrationConsole(plan, settings, journal, snapshot=snapshot, widgets=True, batch_size=10)
    assert console.results is plan
    assert buttons(console) == {"start": True, "pause": False, "resume": False, "stop": False}
    assert console.start_button.description == "Start"

    async def scenario() -> None:
        console.start_button.click()
        assert buttons(console) == {"start": False, "pause": True, "resume": False, "stop": True}
        assert console.filters["owner"].disabled and console.batch_size_input.disabled
        await console.wait()

    asyncio.run(scenario())
    assert console.errors == []
    assert console.results is plan
    status = plan["status"].astype(object)
    assert status.loc[GHOST_ROW] == "blocked" and status.loc[SHORT_KEY_ROW] == "failed"
    assert (status.drop([GHOST_ROW, SHORT_KEY_ROW]) == "created").all()
    assert_portal_agrees(sandbox.snapshot(), plan)
    # the view tells the same story
    assert console.progress_bar.value == console.progress_bar.max == len(plan)
    assert console.progress_bar.bar_style == "warning"  # finished, with a failure
    assert ">43<" in console.stats.value and "created" in console.stats.value
    short = plan.loc[SHORT_KEY_ROW]
    assert str(short["key_id"]) in console.failures.value  # masked key
    assert "too short" in plan.loc[SHORT_KEY_ROW, "error"]  # the portal's own reason, shown as is
    assert "too short" in console.failures.value
    assert buttons(console) == {"start": True, "pause": False, "resume": False, "stop": False}
    assert console.start_button.description == "Continue"  # the journal now holds this run
    assert "finished" in console.state_label.value


def test_pause_sends_nothing_until_resume(setup: Callable[..., Any]) -> None:
    sandbox, settings, plan, _, journal = setup(60, latency_ms=15)
    console = MigrationConsole(plan, settings, journal, widgets=True, batch_size=10, concurrency=4)

    async def scenario() -> None:
        console.start_button.click()
        await until(lambda: console.progress.done >= 12)
        console.pause_button.click()
        assert buttons(console) == {"start": False, "pause": False, "resume": True, "stop": True}
        await until(lambda: console.progress.in_flight == 0)
        before, done = await asyncio.to_thread(posts, sandbox), console.progress.done
        await asyncio.sleep(0.4)
        assert await asyncio.to_thread(posts, sandbox) == before  # nothing sent while paused
        assert console.progress.done == done and console.progress.state == "paused"
        assert done < len(plan)
        assert "paused" in console.state_label.value and console.progress_bar.bar_style == "warning"
        console.resume_button.click()
        assert buttons(console) == {"start": False, "pause": True, "resume": False, "stop": True}
        await console.wait()

    asyncio.run(scenario())
    assert console.errors == []
    assert console.progress.done == len(plan) and console.progress.state == "finished"
    assert_portal_agrees(sandbox.snapshot(), plan)


def test_stop_then_start_continues_from_the_journal(setup: Callable[..., Any]) -> None:
    sandbox, settings, plan, _, journal = setup(60, latency_ms=15)
    console = MigrationConsole(plan, settings, journal, widgets=True, batch_size=10, concurrency=4)

    async def first() -> None:
        console.start_button.click()
        await until(lambda: console.progress.created >= 10)
        console.stop_button.click()
        assert not buttons(console)["stop"] and not buttons(console)["start"]  # stopping: wait for it
        await console.wait()

    asyncio.run(first())
    assert console.progress.state == "stopped"
    pending = int((plan["status"] == "pending").sum())
    assert pending > 0
    assert_portal_agrees(sandbox.snapshot(), plan)  # stopped half way, and still agreeing
    assert buttons(console)["start"] and console.start_button.description == "Continue"
    created_before = set(plan.index[plan["status"] == "created"])
    posts_before = posts(sandbox)
    listings_before = credential_listings(sandbox)

    async def second() -> None:  # a later cell: the kernel's loop is the same in a notebook
        console.start_button.click()
        await console.wait()

    asyncio.run(second())
    assert console.errors == [] and console.runs == 2
    assert console.progress.state == "finished"
    assert set(plan.index[plan["status"] == "created"]) >= created_before
    assert (plan["status"] == "pending").sum() == 0
    assert_portal_agrees(sandbox.snapshot(), plan)
    # the second run only wrote what was missing: one POST per remaining credential (+ its app's POSTs)
    new_apps = plan.loc[plan.index.difference(list(created_before))]
    assert posts(sandbox) - posts_before <= pending + new_apps["app_name"].nunique()
    # and took the rows this console saw created on trust: no credential listing to look them up again (only
    # compensation lists the credentials of an app it is about to delete, to keep one holding a foreign key,
    # and each app the second run adds keys to but did not create is listed once, before its first credential
    # POST, to journal which credentials already hold each key: own14's prior_credential_ids)
    with Journal(journal) as j:
        last = j.runs()[-1]["run_id"]
        compensated = sum(1 for a in j.apps() if a.state == "deleted" and a.run_id == last)
        made_now = {a.app_id for a in j.apps() if a.run_id == last and a.state in ("created", "deleted")}
    existing = {int(a) for a in new_apps["app_id"].dropna()} - made_now
    assert credential_listings(sandbox) == listings_before + compensated + len(existing)


def credential_listings(sandbox: Any) -> int:
    routes = sandbox.snapshot()["requests"]["by_route"]
    return sum(n for route, n in routes.items() if route.startswith("GET /portal-api/apps/{id}/custom_credentials "))


def test_a_new_console_after_a_kernel_restart_resumes_from_the_journal(setup: Callable[..., Any]) -> None:
    sandbox, settings, plan, snapshot, journal = setup(60, latency_ms=15)
    fresh = plan.copy()  # what the notebook rebuilds after a restart: the plan without outcomes
    console = MigrationConsole(plan, settings, journal, widgets=True, batch_size=10, concurrency=4)

    async def first() -> None:
        console.start_button.click()
        await until(lambda: console.progress.created >= 15)
        console.stop_button.click()
        await console.wait()

    asyncio.run(first())
    done_before = set(plan.loc[plan["status"] == "created", "key_fingerprint"])
    assert 15 <= len(done_before) < 58

    # "restart": a new frame, a new console, a new event loop; only the journal file is shared
    again = MigrationConsole(fresh, settings, str(journal), snapshot=snapshot, widgets=True, batch_size=10)
    assert again.start_button.description == "Continue"
    assert f">{len(done_before)}<" in again.preview.value  # "already done" column of the preview
    creds_before = len(sandbox.snapshot()["custom_credentials"])

    async def second() -> None:
        again.start_button.click()
        await again.wait()

    asyncio.run(second())
    assert again.errors == []
    assert again.results is fresh and (fresh["status"] == "pending").sum() == 0
    assert set(fresh.loc[fresh["status"] == "created", "key_fingerprint"]) >= done_before
    assert_portal_agrees(sandbox.snapshot(), fresh)
    expected_new = int((fresh["status"] == "created").sum()) - len(done_before)
    assert len(sandbox.snapshot()["custom_credentials"]) - creds_before == expected_new  # none twice


def test_scope_filters_counts_preview_and_a_scoped_run(setup: Callable[..., Any]) -> None:
    sandbox, settings, plan, snapshot, journal = setup(45)
    console = MigrationConsole(plan, settings, journal, snapshot=snapshot, widgets=True)
    assert set(console.filters) == {"owner", "plan", "product", "org", "impact"}
    owner_options = console.filters["owner"].options
    counts = plan["owner_email"].value_counts()
    for label, value in owner_options:
        assert label == f"{value} ({counts[value]})"
    plan_labels = [label for label, _ in console.filters["plan"].options]
    assert any(label.startswith("Free · ") for label in plan_labels)  # portal names from the snapshot
    assert any("Payments API" in label for label, _ in console.filters["product"].options)
    assert all(label.startswith("org ") for label, _ in console.filters["org"].options)

    owner = counts.index[0]
    console.filters["owner"].value = (owner,)
    n = int((plan["owner_email"] == owner).sum())
    assert console.scope.sum() == n
    assert f"<b>{n:,}</b> of {len(plan):,} rows in scope" in console.scope_label.value
    assert f">{n}<" in console.preview.value  # total row
    # a combination with nothing in it disables Start
    other_org = next(
        v
        for _, v in console.filters["org"].options
        if v not in set(console._facets[3].values[plan["owner_email"] == owner])
    )
    console.filters["org"].value = (other_org,)
    assert console.scope.sum() == 0 and console.start_button.disabled
    console.clear_button.click()
    assert console.scope.sum() == len(plan) and not console.start_button.disabled
    console.filters["owner"].value = (owner,)

    async def scenario() -> None:
        console.start_button.click()
        await console.wait()

    asyncio.run(scenario())
    mine = plan["owner_email"] == owner
    assert (plan.loc[mine, "status"] != "pending").all()
    assert (plan.loc[~mine, "status"] == "pending").all()
    assert console.progress.total == n
    assert_portal_agrees(sandbox.snapshot(), plan)


def test_dry_run_writes_nothing(setup: Callable[..., Any]) -> None:
    sandbox, settings, plan, _, journal = setup(30)
    console = MigrationConsole(plan, settings, journal, widgets=True)
    console.dry_run_input.value = True
    assert console.start_button.description == "Dry run"
    before = posts(sandbox)

    async def scenario() -> None:
        console.start_button.click()
        await console.wait()

    asyncio.run(scenario())
    assert posts(sandbox) == before
    assert set(plan["status"].astype(object)) <= {"dry_run", "blocked", "failed"}
    assert (plan["status"] == "dry_run").sum() >= 28
    assert "dry run" in console.stats.value


def test_the_view_follows_the_scope_and_says_where_it_writes(setup: Callable[..., Any]) -> None:
    """What a first-time analyst reads: target portal, journal, mode, scope-sized progress, honest buttons."""
    sandbox, settings, plan, snapshot, journal = setup(60, latency_ms=20)
    console = MigrationConsole(plan, settings, journal, snapshot=snapshot, widgets=True, batch_size=10, concurrency=2)
    host = sandbox.portal_url.split("//", 1)[1].split("/", 1)[0]
    title = console.title.value
    assert host in title and str(journal) in title and "LIVE" in title and sandbox.token not in widget_text(console)
    assert "tyk-console" in console.widget._dom_classes and "tyk-start" in console.start_button._dom_classes
    assert "tyk-filter-plan" in console.filters["plan"]._dom_classes
    console.dry_run_input.value = True
    assert "DRY RUN" in console.title.value and "DRY RUN" in console.render_text()
    console.dry_run_input.value = False
    # ready: only Start is coloured; a disabled button shows no colour (no red Stop nobody can press)
    assert buttons(console) == {"start": True, "pause": False, "resume": False, "stop": False}
    styles = {n: getattr(console, f"{n}_button").button_style for n in ("start", "pause", "resume", "stop")}
    assert styles == {"start": "primary", "pause": "", "resume": "", "stop": ""}
    assert "concurrency</span>" in console.stats.value and "· 0 in flight" in console.stats.value

    # picking a scope before any run: the bar and pending follow it
    first = console.filters["plan"].options[0][1]
    console.filters["plan"].value = (first,)
    n = int(console.scope.sum())
    assert 0 < n < len(plan)
    assert console.progress.total == n and console.progress.pending == n and console.progress_bar.max == n
    assert f"/ {n:,} rows" in console.progress_label.value

    async def first_run() -> None:
        console.start_button.click()
        assert console.stop_button.button_style == "danger" and console.start_button.button_style == ""
        await console.wait()

    asyncio.run(first_run())
    assert console.errors == [] and console.progress.done == n
    assert "finished" in console.state_label.value and "verify and reconcile" in console.state_label.value
    results = console.results_table.value
    assert "create app + credential" in results and ">created<" in results and ">pending<" in results
    # the finished scope has nothing left to send: the button says so instead of offering a Continue
    if (plan.loc[console.scope, "status"] == "failed").sum() == 0:
        assert console.start_button.description == "Nothing to send" and console.start_button.disabled
    console.require_finished()  # a finished run, none active: the workbook may verify

    # another scope: Start (nothing of it is done), the state and progress are that scope's, not the last run's
    console.filters["plan"].value = ()
    second = next(v for _, v in console.filters["plan"].options if v != first)
    console.filters["plan"].value = (second,)
    m = int(console.scope.sum())
    assert console.start_button.description == "Start" and not console.start_button.disabled
    assert console.progress.total == m and console.progress.done == 0 and "ready" in console.state_label.value

    async def stopped_run() -> None:
        console.start_button.click()
        await until(lambda: console.progress.created >= 1)
        console.stop_button.click()
        await console.wait()

    asyncio.run(stopped_run())
    assert console.progress.state == "stopped" and 0 < console.progress.done < m
    # a Stop the user pressed is not an error: amber label, neutral bar, no red
    assert "stopped" in console.state_label.value and fmt.COLOURS["failed"] not in console.state_label.value
    assert console.progress_bar.bar_style == ""
    assert console.start_button.description == "Continue" and console.start_button.button_style == "primary"


def test_require_finished_says_what_to_do(setup: Callable[..., Any]) -> None:
    _, settings, plan, _, journal = setup(12)
    console = MigrationConsole(plan, settings, journal, widgets=False)
    with pytest.raises(MigrateError, match=r"^no finished run yet: press Start"):
        console.require_finished()
    asyncio.run(console.run())
    console.require_finished()
    assert "results in scope" in console.render_text()


def test_run_raises_one_line_when_the_portal_refuses_the_token(
    setup: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A headless run must not "succeed" on a fatal error: run() shows it, prints the summary, then raises."""
    sandbox, settings, plan, _, journal = setup(12)
    refuse_writes(sandbox, monkeypatch)
    console = MigrationConsole(plan, settings, journal, widgets=True)
    with pytest.raises(AuthError, match=r"^stopped: the portal refused the token \(.*403") as raised:
        asyncio.run(console.run())
    assert "\n" not in str(raised.value)
    assert console.progress.state == "stopped" and console.finished_runs == 0
    assert any("refused the token" in e for e in console.errors)  # shown in the console first
    assert any("refused the token" in o["text"] for o in console.output.outputs)
    out = capsys.readouterr().out
    assert "Key migration console" in out and "stopped |" in out and "last error:" in out  # the text summary
    assert not [k for k in raw_keys(plan) if k in out + str(raised.value)]
    with pytest.raises(MigrateError, match="no finished run yet"):
        console.require_finished()


def test_a_deferred_pause_shows_its_error_in_the_console(setup: Callable[..., Any]) -> None:
    """Pause pressed before the run took its first step is retried on the loop, still guarded."""
    _, settings, plan, _, journal = setup(12)
    console = MigrationConsole(plan, settings, journal, widgets=True)

    async def scenario() -> None:
        console.start()
        assert console.migration is not None and console.migration.state == "idle"

        def boom() -> None:
            raise RuntimeError("pause exploded")

        console.migration.pause = boom  # type: ignore[method-assign]
        console.pause_button.click()  # deferred: the task has not started yet
        await until(lambda: bool(console.errors), timeout=2)
        console.stop()
        await console.wait()

    asyncio.run(scenario())
    assert "pause exploded" in console.errors[0] and console.errors[0].startswith("on pause:")
    assert any("pause exploded" in o["text"] for o in console.output.outputs if o.get("name") == "stderr")


def test_errors_in_callbacks_show_in_the_console_output(setup: Callable[..., Any], tmp_path: Path) -> None:
    _, settings, plan, _, journal = setup(12)
    console = MigrationConsole(plan, settings, journal, widgets=True)
    # no running event loop (a click outside a kernel): a clear message, not a lost traceback
    console.start_button.click()
    assert console.errors and "running event loop" in console.errors[-1]
    stderr = [o["text"] for o in console.output.outputs if o.get("name") == "stderr"]
    assert any("running event loop" in t for t in stderr)

    # a bad option: the runner refuses it inside the click handler (on the loop, as in a kernel)
    console.migration_options["no_such_option"] = 1

    async def click() -> None:
        console.start_button.click()

    asyncio.run(click())
    assert "no_such_option" in console.errors[-1] and not console.running
    assert buttons(console)["start"]
    del console.migration_options["no_such_option"]

    # a run that dies on its own (journal path is a directory): reported by the task's done callback
    broken = MigrationConsole(plan, settings, tmp_path, widgets=True)
    assert len(broken.errors) == 1 and "JournalError" in broken.errors[0]  # said at once, not raised

    async def scenario() -> None:
        broken.start_button.click()
        await broken.wait()

    asyncio.run(scenario())
    assert len(broken.errors) >= 2 and broken.errors[-1].startswith("run: JournalError")
    assert any("JournalError" in o["text"] for o in broken.output.outputs)
    assert buttons(broken)["start"] and not buttons(broken)["stop"]

    # an unexpected exception in a callback: full traceback in the output, key values masked
    key = plan["key_id"].iloc[0]

    def boom(*_: Any) -> None:
        raise RuntimeError(f"exploded near {reveal(key)}")

    console._update_scope = boom  # type: ignore[method-assign]
    console.filters["owner"].value = (console.filters["owner"].options[0][1],)
    assert "RuntimeError" in console.errors[-1] and "Traceback" in console.errors[-1]
    assert reveal(key) not in console.errors[-1] and str(key) in console.errors[-1]


def test_no_raw_key_in_any_widget_or_text(setup: Callable[..., Any]) -> None:
    _, settings, plan, snapshot, journal = setup(45)
    console = MigrationConsole(plan, settings, journal, snapshot=snapshot, widgets=True, batch_size=10)

    async def scenario() -> None:
        console.start_button.click()
        await console.wait()

    asyncio.run(scenario())
    # make the portal's error echo the key, as some portals do: the scrubber masks it on the way out
    plan.loc[SHORT_KEY_ROW, "error"] = f"key {reveal(plan.loc[SHORT_KEY_ROW, 'key_id'])} is too short"
    console._failures_for = -2
    console._refresh()
    text = widget_text(console) + console.render_text() + repr(console) + json.dumps(console.output.outputs)
    assert str(plan.loc[SHORT_KEY_ROW, "key_id"]) in text
    leaked = [k for k in raw_keys(plan) if k in text]
    assert leaked == []


def test_updates_are_throttled_and_widgets_follow_the_run(setup: Callable[..., Any]) -> None:
    sandbox, settings, plan, _, journal = setup(90, latency_ms=10)
    console = MigrationConsole(plan, settings, journal, widgets=True, updates_per_second=4, batch_size=15)
    seen: list[int] = []
    console.progress_bar.observe(lambda change: seen.append(change["new"]), names="value")

    async def scenario() -> float:
        started = time.monotonic()
        console.start_button.click()
        await console.wait()
        return time.monotonic() - started

    elapsed = asyncio.run(scenario())
    # at most ~4 redraws a second, plus the ones for clicks and state changes
    assert console.refreshes <= 4 * elapsed + 8, (console.refreshes, elapsed)
    assert seen == sorted(seen) and seen[-1] == len(plan)
    assert_portal_agrees(sandbox.snapshot(), plan)


def test_text_fallback_for_headless_runs(setup: Callable[..., Any], capsys: pytest.CaptureFixture[str]) -> None:
    sandbox, settings, plan, _, journal = setup(20)
    console = MigrationConsole(plan, settings, journal, widgets=False, text_interval=0.0)
    bundle = console._repr_mimebundle_()
    assert set(bundle) == {"text/plain"} and "Key migration console" in bundle["text/plain"]
    assert "ready: 20 rows" in bundle["text/plain"]
    result = asyncio.run(console.run())  # what a papermill notebook does: no clicks
    assert result is plan
    out = capsys.readouterr().out
    assert "finished | 20/20 rows" in out and "run 1 started" in out
    text = console.render_text()
    assert "latest failures" in text and str(plan.loc[SHORT_KEY_ROW, "key_id"]) in text
    assert_portal_agrees(sandbox.snapshot(), plan)

    widgety = MigrationConsole(plan, settings, journal, widgets=True)
    bundle = widgety._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "text/plain" in bundle
    assert MigrationConsole(plan, settings, journal).widgets_enabled is False  # not in a kernel here


def test_format_helpers_without_widgets() -> None:
    keys = ["k" * 20, "secret-value-0123456789"]
    plan = pd.DataFrame(
        {
            "key_id": secret_series(keys),
            "key_fingerprint": [fingerprint(k) for k in keys],
            "owner_email": ["a@x.example", "b@y.example"],
            "plan": ["gold", "free"],
            "products": [["p1", "p2"], ["p2"]],
            "action": ["create_app", "blocked"],
            "status": ["failed", "blocked"],
            "error": [f"refused {keys[0]}", None],
            "finished_at": pd.Series([pd.Timestamp("2026-01-01", tz="UTC"), pd.NaT]),
        }
    )
    snap = PortalSnapshot.from_seed({"plans": [], "products": [], "users": []})
    found = {f.name: f for f in facets(plan, snap)}
    assert found["product"].options() == [("p2 (2)", "p2"), ("p1 (1)", "p1")]
    assert found["org"].title == "Organisation (email domain)"
    keep = scope_mask(list(found.values()), {"product": ["p1"]}, plan.index)
    assert keep.tolist() == [True, False]
    preview = action_preview(plan, keep, frozenset({fingerprint(keys[0])}))
    assert preview.iloc[-1].tolist() == ["total in scope", 1, 1, 0]
    table = latest_failures(plan, 5, Scrubber(plan["key_id"]))
    assert table["error"].tolist() == [f"refused {plan['key_id'][0]!s}"]
    scrub = Scrubber(plan["key_id"])
    assert scrub(f"x={keys[1]}!") == f"x={mask(keys[1])}!"  # glued to other characters, still found
    with pytest.raises(MigrateError):
        MigrationConsole(plan.drop(columns=["action"]), None, "j")


KERNEL_SETUP = """
import contextlib, json, sys
sys.path.insert(0, "tests")
from test_ui import legacy_frame
from tyk_migrate import MigrationConsole, Settings
from tyk_migrate.plan import build_plan
from tyk_migrate.sandbox import SandboxConfig, run_in_thread
from tyk_migrate.snapshot import PortalSnapshot
seed = json.load(open("data-samples/sandbox_seed.json"))
stack = contextlib.ExitStack()
sb = stack.enter_context(run_in_thread(SandboxConfig(seed=seed, latency_ms=20)))
plan, _ = build_plan(legacy_frame(seed, 60), PortalSnapshot.from_seed(seed))
console = MigrationConsole(plan, Settings(portal_url=sb.portal_url, token=sb.token), JOURNAL, batch_size=10,
                           concurrency=2)
print(json.dumps({"widgets": console.widgets_enabled, "start": console.start_button.model_id}))
"""


def test_in_a_real_kernel_a_frontend_click_runs_in_the_background(tmp_path: Path) -> None:
    """ipykernel, as JupyterLab drives it: the click is a comm message; other cells run meanwhile."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(Path(__file__).resolve().parent.parent))

    def run(code: str) -> tuple[str, list[str], str]:
        msg_id = kc.execute(code)
        out, kinds, error = [], [], ""
        while True:
            msg = kc.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                kinds += list(content["data"])
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}"
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out), kinds, error

    try:
        out, _, error = run(KERNEL_SETUP.replace("JOURNAL", repr(str(tmp_path / "k.journal"))))
        assert not error, error
        ids = json.loads(out)
        assert ids["widgets"] is True  # a kernel: widgets by default
        _, kinds, _ = run("console")
        assert "application/vnd.jupyter.widget-view+json" in kinds and "text/plain" in kinds
        click = {"comm_id": ids["start"], "data": {"method": "custom", "content": {"event": "click"}}}
        kc.shell_channel.send(kc.session.msg("comm_msg", click))
        started = time.monotonic()
        out, _, error = run("print(console.running, console.start_button.disabled, console.progress.state)")
        assert (out.split(), error) == (["True", "True", "running"], "")  # the kernel answered mid-run
        time.sleep(0.5)  # the kernel is idle: the run must go on by itself
        out, _, _ = run("print(console.progress.requests)")
        assert int(out) > 0
        out, _, error = run(
            "await console.wait()\n"
            "print(json.dumps({'state': console.progress.state, 'created': int((plan.status == 'created').sum()),"
            " 'portal': sum(1 for c in sb.state.snapshot()['custom_credentials'] if c['KeyID'].startswith('ui')),"
            " 'errors': console.errors}))"
        )
        assert not error, error
        assert time.monotonic() - started > 0.5
        result = json.loads(out)
        assert result == {"state": "finished", "created": 58, "portal": 58, "errors": []}
    finally:
        with contextlib.suppress(Exception):
            run("stack.close()")
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "–"),
        (float("inf"), "–"),
        (0.04, "0.0 s"),
        (0.6, "0.6 s"),
        (42.4, "42 s"),
        (185, "3 min 05 s"),
        (3720, "1 h 02 min"),
    ],
)
def test_durations_read_naturally(seconds: float | None, text: str) -> None:
    assert fmt.duration(seconds) == text


def test_status_by_action_counts_each_action_by_outcome_in_scope() -> None:
    plan = pd.DataFrame(
        {
            "action": ["create_app", "create_app", "add_credential", "blocked", "skip_existing", "create_app"],
            "status": pd.Series(["created", None, "dry_run", "blocked", "skipped", "failed"], dtype="str"),
        }
    )
    keep = pd.Series([True, True, True, True, True, False])
    table = fmt.status_by_action(plan, keep).set_index("action")
    assert list(table.columns) == ["created", "skipped", "failed", "blocked", "dry run", "pending"]
    assert table.loc["create app + credential"].tolist() == [1, 0, 0, 0, 0, 1]  # the failed row is out of scope
    assert table.loc["add credential", "dry run"] == 1
    assert table.loc["total in scope"].tolist() == [1, 1, 0, 1, 1, 1]
    assert "dry run" not in fmt.status_by_action(plan.iloc[:1], keep.iloc[:1]).columns


def test_the_client_impact_filter_scopes_a_run_to_one_kind(setup: Callable[..., Any], seed_data: Any) -> None:
    _, settings, _, snapshot, journal = setup(45)
    legacy = legacy_frame(seed_data, 45)
    legacy["rate"] = pd.Series([1000.0 if i % 2 else None for i in range(45)], dtype="Float64")  # per second
    legacy["per"] = pd.Series([1.0] * 45, dtype="Float64")
    plan, _ = build_plan(legacy, snapshot)
    kinds = plan["client_impact"].str.split(";")
    tighter = kinds.map(lambda ks: "rate_tighter" in ks)
    assert 0 < tighter.sum() < len(plan) and (plan["client_impact"] == "").any()  # some rows with, some without
    console = MigrationConsole(plan, settings, journal, snapshot=snapshot, widgets=True, dry_run=True)
    options = dict(console.filters["impact"].options)
    assert options[f"any impact ({int((plan['client_impact'] != '').sum())})"] == "any"
    assert options[f"rate_tighter ({int(tighter.sum())})"] == "rate_tighter"
    assert f"no impact ({int((plan['client_impact'] == '').sum())})" in options
    console.filters["impact"].value = ("any",)
    assert console.scope.sum() == int((plan["client_impact"] != "").sum())
    console.filters["impact"].value = ("rate_tighter",)
    assert console.scope.tolist() == tighter.tolist()
    assert f"<b>{int(tighter.sum()):,}</b> of {len(plan):,} rows in scope" in console.scope_label.value

    async def scenario() -> None:
        console.start_button.click()
        await console.wait()

    asyncio.run(scenario())
    assert (plan.loc[tighter, "status"] != "pending").all() and (plan.loc[~tighter, "status"] == "pending").all()
    console.clear_button.click()
    assert console.filters["impact"].value == () and console.scope.all()
