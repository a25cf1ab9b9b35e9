"""The console's view model without widgets: what each state shows, from hand-made frames and progress.

Then the same rules through the real console against a sandbox: issue 19's run paused at 21 % of 8
batches (the batch counter claimed 8/8; the results table lagged the badges), and the table of failed
and blocked rows (fingerprints, aliases and owners; never a key, not even masked).
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tyk_migrate import ui_format as fmt
from tyk_migrate.config import Settings
from tyk_migrate.plan import build_plan
from tyk_migrate.plan import reasons as R
from tyk_migrate.run import STATUSES, Progress
from tyk_migrate.secrets import fingerprint, mask, reveal, secret_series
from tyk_migrate.snapshot import fetch_snapshot
from tyk_migrate.ui import NEXT_STEP, ConsoleState, MigrationConsole, problems_of, view_of

ROWS, BATCH = 80, 10  # 8 batches
BLOCKED_ROW, FAILED_ROW = 5, 7
OFF = {"start": False, "pause": False, "resume": False, "stop": False}


# -- hand-made frames ---------------------------------------------------------------------------------------


def plan_frame(done: int | None) -> pd.DataFrame:
    """``ROWS`` planned keys; ``done`` of them (in plan order) with an outcome, None for a frame never run."""
    keys = [f"viewkey{i:04d}Qx7pL2mZ9tR4{i:04d}" for i in range(ROWS)]  # masks differ: last four characters
    frame = pd.DataFrame(
        {
            "key_id": secret_series(keys),
            "key_fingerprint": [fingerprint(k) for k in keys],
            "owner_email": [f"dev{i // 3}@example.test" for i in range(ROWS)],
            "alias": [f"alias {i}" for i in range(ROWS)],
            "action": ["create_app" if i % 3 == 0 else "add_credential" for i in range(ROWS)],
            "reason": [""] * ROWS,
            "reason_code": [""] * ROWS,
        }
    )
    unknown = R.OWNER_UNKNOWN(email="ghost@nowhere.example", did_you_mean="")
    frame.loc[BLOCKED_ROW, ["action", "reason", "reason_code"]] = ["blocked", unknown.text, unknown.code]
    frame.loc[BLOCKED_ROW, "owner_email"] = "ghost@nowhere.example"
    if done is None:
        return frame
    # as the runner leaves it: the blocked row settles at once, then rows finish in plan order
    status = ["created" if i < done else "pending" for i in range(ROWS)]
    status[BLOCKED_ROW] = "blocked"
    if done > FAILED_ROW:
        status[FAILED_ROW] = "failed"
    frame["status"] = pd.Series(status, dtype="str")
    frame["batch"] = pd.array([i // BATCH + 1 for i in range(ROWS)], dtype="Int64")
    frame["error"] = pd.Series([None] * ROWS, dtype="str")
    frame["http_status"] = pd.array([None] * ROWS, dtype="Int64")
    if done > FAILED_ROW:
        frame.loc[FAILED_ROW, "error"] = f"key {keys[FAILED_ROW]} is too short"  # a portal echoing the key
        frame.loc[FAILED_ROW, "http_status"] = 422
    return frame


def runner_progress(plan: pd.DataFrame, state: str, **extra: Any) -> Progress:
    """The runner's counters for ``plan`` (what its counters say when the frame is up to date)."""
    counts = plan["status"].value_counts()
    n = {s: int(counts.get(s, 0)) for s in STATUSES}
    done = ROWS - n["pending"]
    fields: dict[str, Any] = {"total": ROWS, "done": done, "batch": 8, "batches": 8, "state": state}
    fields.update({s: n[s] for s in ("created", "skipped", "failed", "blocked", "dry_run")})
    return Progress(**{**fields, **extra})


def state_of(plan: pd.DataFrame, journal_done: frozenset[str] = frozenset(), **facts: Any) -> ConsoleState:
    scope = pd.Series(True, index=plan.index)
    preview = fmt.action_preview(plan, scope, journal_done)
    return ConsoleState(plan=plan, scope=scope, preview=preview, scrub=fmt.Scrubber(plan["key_id"]), **facts)


def created(plan: pd.DataFrame) -> frozenset[str]:
    return frozenset(plan.loc[plan["status"] == "created", "key_fingerprint"])


def idle() -> ConsoleState:
    return state_of(plan_frame(None))


def running() -> ConsoleState:
    plan = plan_frame(40)
    p = runner_progress(plan, "running", concurrency=4, in_flight=3, requests_per_second=12.5, eta_seconds=30.0)
    return state_of(plan, runner=p, runner_state="running", running=True, same_scope=True)


def paused() -> ConsoleState:
    plan = plan_frame(17)  # 17 of 80 rows: 21 %, while the runner has opened all 8 batches
    p = runner_progress(plan, "paused", concurrency=2)
    return state_of(plan, runner=p, runner_state="paused", running=True, same_scope=True)


def finished() -> ConsoleState:
    plan = plan_frame(ROWS)
    p = runner_progress(plan, "finished", eta_seconds=0.0)
    return state_of(plan, created(plan), runner=p, runner_state="finished", same_scope=True)


def failed_fatal() -> ConsoleState:
    """The portal refused the token: the runner stopped itself after a few rows."""
    plan = plan_frame(3)
    p = runner_progress(plan, "stopped")
    return state_of(plan, created(plan), runner=p, runner_state="stopped", same_scope=True, fatal=True)


CASES: list[tuple[Callable[[], ConsoleState], dict[str, Any]]] = [
    (
        idle,
        {
            "state": "ready", "note": "", "percent": "0%", "bar": (0, 80, ""), "batch": "–", "locked": False,
            "enabled": {**OFF, "start": True}, "styles": {"start": "primary", "pause": "", "resume": "", "stop": ""},
            "start_label": "Start", "counts": {"created": 0, "failed": 0, "blocked": 0, "pending": 80}, "eta": "–",
        },
    ),
    (
        running,
        {
            "state": "running", "note": "", "percent": "50%", "bar": (40, 80, "danger"), "batch": "5/8",
            "locked": True, "enabled": {**OFF, "pause": True, "stop": True},
            "styles": {"start": "", "pause": "", "resume": "", "stop": "danger"},
            "counts": {"created": 38, "failed": 1, "blocked": 1, "pending": 40}, "eta": "30 s", "concurrency": "4",
        },
    ),
    (
        paused,
        {
            "state": "paused", "note": "", "percent": "21%", "bar": (17, 80, "warning"), "batch": "2/8",
            "locked": True, "enabled": {**OFF, "resume": True, "stop": True},
            "styles": {"start": "", "pause": "", "resume": "info", "stop": "danger"},
            "counts": {"created": 15, "failed": 1, "blocked": 1, "pending": 63},
        },
    ),
    (
        finished,
        {
            "state": "finished", "note": NEXT_STEP, "percent": "100%", "bar": (80, 80, "warning"), "batch": "8/8",
            "locked": False, "enabled": {**OFF, "start": True}, "start_label": "Continue",
            "counts": {"created": 78, "failed": 1, "blocked": 1, "pending": 0}, "eta": "–",
        },
    ),
    (
        failed_fatal,
        {
            "state": "stopped", "note": "error: see Messages", "colour": fmt.COLOURS["failed"], "percent": "5%",
            "bar": (4, 80, "danger"), "batch": "1/8", "enabled": {**OFF, "start": True}, "start_label": "Continue",
            "counts": {"created": 3, "failed": 0, "blocked": 1, "pending": 76},
        },
    ),
]  # fmt: skip


@pytest.mark.parametrize(("make", "expected"), CASES, ids=[make.__name__ for make, _ in CASES])
def test_each_state_shows_what_it_should(make: Callable[[], ConsoleState], expected: dict[str, Any]) -> None:
    view = view_of(make())
    metrics = {b.label: b.value for b in view.metrics}
    shown: dict[str, Any] = {
        "state": view.state,
        "note": view.note,
        "colour": view.state_colour,
        "percent": view.percent,
        "bar": (view.bar_value, view.bar_max, view.bar_style),
        "batch": metrics["batch"],
        "locked": view.locked,
        "enabled": view.enabled,
        "styles": view.button_styles,
        "start_label": view.start_label,
        "counts": {label: view.count(label) for label in expected.get("counts", {})},
        "eta": metrics["ETA"],
        "concurrency": metrics["concurrency"],
    }
    assert {k: shown[k] for k in expected} == expected


def test_paused_at_21_percent_does_not_claim_the_last_batch() -> None:
    """Issue 19: the runner's ``batch`` is the last batch it opened, 8 of 8 long before 8 are done."""
    state = paused()
    assert state.runner is not None and state.runner.batch == state.runner.batches == 8
    view = view_of(state)
    assert view.batch == "2/8"  # rows 10-19 (batch 2) are the first still unfinished
    assert {b.label: b.value for b in view.metrics}["batch"] == "2/8"


@pytest.mark.parametrize("make", [running, paused, finished, failed_fatal])
def test_badges_and_results_table_agree(make: Callable[[], ConsoleState]) -> None:
    view = view_of(make())
    assert view.results is not None
    total = view.results.set_index("action").loc["total in scope"]
    for label in ("created", "skipped", "failed", "blocked", "pending"):
        assert view.count(label) == int(total[label]), label


def test_another_scope_after_a_run_reads_ready_with_that_scope_s_rows() -> None:
    state = finished()
    scope = pd.Series([i >= 40 for i in range(ROWS)])
    view = view_of(replace(state, scope=scope, same_scope=False))
    assert view.state == "ready" and view.progress.total == 40 and view.batch == "–"
    assert view.count("created") == 40 and view.count("pending") == 0  # console.results' rows in that scope


def test_a_stop_the_user_pressed_is_amber_not_an_error() -> None:
    view = view_of(replace(failed_fatal(), fatal=False))
    assert view.state == "stopped" and view.bar_style == "" and view.state_colour == fmt.COLOURS["blocked"]
    assert view.note.startswith("by you")


def test_tables_only_when_asked() -> None:
    view = view_of(replace(running(), tables=False, failures=False))
    assert view.results is None and view.problems is None and view.failures is None
    assert view.batch == "5/8"  # the counter is not a table: it follows every redraw


def test_problems_group_blocked_rows_by_reason_code_with_the_registry_label() -> None:
    plan = plan_frame(ROWS)
    note = R.KEY_IN_PORTAL(credential_id=1, app_id=2, app_name="x")
    two = R.join([R.OWNER_UNKNOWN(email="a@b.example", did_you_mean=""), note])
    three = R.join([R.PLAN_UNMAPPED(found_only=""), R.PRODUCT_UNMAPPED(plans="gold")])
    for row, (reason, code) in {20: two, 30: three}.items():
        plan.loc[row, ["action", "status", "reason", "reason_code"]] = ["blocked", "blocked", reason, code]
    problems = problems_of(plan, pd.Series(True, index=plan.index), 100, fmt.Scrubber(plan["key_id"]))
    assert (problems.failed, problems.blocked) == (1, 3)
    causes = {(r["status"], r["cause"]): (r["rows"], r["what it means"]) for _, r in problems.causes.iterrows()}
    assert causes[("blocked", "owner_unknown")] == (2, R.OWNER_UNKNOWN.label)  # a note code is no cause
    assert causes[("blocked", "plan_unmapped")] == (1, R.PLAN_UNMAPPED.label)
    assert causes[("blocked", "product_unmapped")] == (1, R.PRODUCT_UNMAPPED.label)
    assert ("blocked", "key_in_portal") not in causes
    failed = causes[("failed", "HTTP 422")]
    assert failed[0] == 1 and "too short" in failed[1] and reveal(plan.loc[FAILED_ROW, "key_id"]) not in failed[1]
    rows = problems.rows
    assert list(rows.columns) == ["status", "key_fingerprint", "alias", "owner", "code", "reason"]
    assert rows["status"].tolist() == ["failed", "blocked", "blocked", "blocked"]  # failed first
    assert rows.loc[1, "key_fingerprint"] == plan.loc[BLOCKED_ROW, "key_fingerprint"]
    assert rows.loc[1, ["alias", "owner", "code"]].tolist() == ["alias 5", "ghost@nowhere.example", "owner_unknown"]
    assert "The first" not in problems.title and "1 failed, 3 blocked" in problems.title
    assert "the first 2 below" in problems_of(plan, pd.Series(True, index=plan.index), 2).title


def test_problems_show_no_key_not_even_masked() -> None:
    plan = plan_frame(ROWS)
    problems = problems_of(plan, pd.Series(True, index=plan.index), 100, fmt.Scrubber(plan["key_id"]))
    text = problems.rows.to_string() + problems.causes.to_string()
    assert not [k for k in plan["key_id"] if reveal(k) in text]
    assert mask(plan.loc[BLOCKED_ROW, "key_id"]) not in text  # the key column is not shown at all
    # only a key the portal's own error echoed appears, scrubbed to its mask
    shown = [k for k in plan["key_id"] if mask(k) in text]
    assert shown == [plan.loc[FAILED_ROW, "key_id"]] and f"key {mask(shown[0])} is too short" in text


# -- the real console -----------------------------------------------------------------------------------------


@pytest.fixture
def console_run(make_sandbox: Callable[..., Any], seed_data: dict[str, Any], tmp_path: Path) -> Callable[..., Any]:
    from test_ui import legacy_frame

    def make(n: int, latency_ms: float = 0, **options: Any) -> MigrationConsole:
        sandbox = make_sandbox(latency_ms=latency_ms)
        settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
        plan, _ = build_plan(legacy_frame(seed_data, n), fetch_snapshot(settings))
        return MigrationConsole(plan, settings, tmp_path / "j.journal", widgets=True, **options)

    return make


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def badges(console: MigrationConsole) -> dict[str, str]:
    """What the stats block shows, label -> value (the number before each label)."""
    pairs = re.findall(r">([^<>]+)</span> <span[^>]*>([^<>]+)</span>", console.stats.value)
    return {label: value for value, label in pairs}


def results_total(console: MigrationConsole) -> dict[str, str]:
    """The ``total in scope`` row of the results table, column -> value."""
    table = console.results_table.value
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    last = re.findall(r"<tr>(.*?)</tr>", table)[-1]
    return dict(zip(heads, re.findall(r"<td[^>]*>([^<]*)</td>", last), strict=True))


def test_console_paused_at_21_percent_counts_agree_and_the_batch_is_honest(console_run: Callable[..., Any]) -> None:
    """Issue 19 through the widgets: paused at ~21 % of 8 batches, what the badges, table and counter say."""
    # flush_interval=60: the runner copies outcomes into the frame only when forced, so the table can only
    # agree with the badges if a pause brings the frame up to date
    console = console_run(ROWS, latency_ms=25, batch_size=BATCH, concurrency=2, flush_interval=60)
    plan = console.plan

    def agree() -> bool:
        shown, table, p = badges(console), results_total(console), console.progress
        counts = {s: int(shown[s].replace(",", "")) for s in ("created", "failed", "blocked", "pending")}
        return counts == {s: int(table[s]) for s in counts} == {s: getattr(p, s) for s in counts}

    async def scenario() -> None:
        console.start_button.click()
        await until(lambda: console.progress.done >= 17)
        console.pause_button.click()
        await until(lambda: console.progress.in_flight == 0)
        assert console.progress.done < 40 and console.progress.batch == 8  # the runner opened every batch
        await until(agree, timeout=3)
        pending = plan.loc[plan["status"] == "pending", "batch"]
        assert badges(console)["batch"] == f"{int(pending.min())}/8" != "8/8"
        console.stop_button.click()
        await console.wait()

    asyncio.run(scenario())
    assert console.errors == []


def test_console_lists_failed_and_blocked_rows_with_fingerprints_only(console_run: Callable[..., Any]) -> None:
    from test_ui import GHOST_ROW, SHORT_KEY_ROW

    console = console_run(24, batch_size=10)
    plan = console.plan
    assert "tyk-problems" in console.problems._dom_classes and console.problems.selected_index is None  # folded
    assert "0 failed, 1 blocked" in console.problems.titles[0]  # blocked by the plan, before any run
    assert "owner_unknown" in console.problems_table.value

    async def scenario() -> None:
        console.start_button.click()
        await console.wait()

    asyncio.run(scenario())
    assert console.errors == []
    assert console.problems.titles[0] == "Failed and blocked rows in scope: 1 failed, 1 blocked"
    table = console.problems_table.value
    for row in (GHOST_ROW, SHORT_KEY_ROW):
        assert plan.loc[row, "key_fingerprint"] in table and html.escape(plan.loc[row, "alias"]) in table
    assert "ghost@nowhere.example" in table and html.escape(R.OWNER_UNKNOWN.label) in table
    assert "HTTP 422" in table and "too short" in table
    shown = table + console.problems.titles[0]
    for key in plan["key_id"]:
        assert reveal(key) not in shown and mask(key) not in shown
    view = console.view()  # the same, as data
    assert view.problems is not None and (view.problems.failed, view.problems.blocked) == (1, 1)
    assert view.state == "finished" and view.batch == "3/3" and view.count("created") == 22
    assert "failed and blocked rows by cause" in console.render_text()
