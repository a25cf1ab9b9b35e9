"""The runner against the sandbox (no faults): outcomes in the frame, resume, dry run, control, read-back,
compensation and rollback. Fault runs are in test_run_faults.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pandas as pd
import pytest
from run_helpers import make_plan, portal_audit, portal_requests, post_count

from tyk_migrate.concurrency import AdaptiveConcurrency, Limiter
from tyk_migrate.config import Settings
from tyk_migrate.errors import JournalError
from tyk_migrate.journal import Journal
from tyk_migrate.rollback import rollback
from tyk_migrate.run import Migration, apply_plan, compare_credential
from tyk_migrate.secrets import fingerprint, reveal


def settings_for(sb) -> Settings:
    return Settings(portal_url=sb.portal_url, token=sb.token)


def test_every_row_is_created_once_and_the_frame_tells_the_truth(sandbox, tmp_path):
    plan = make_plan(60)
    seen = []
    out = apply_plan(plan, settings_for(sandbox), tmp_path / "j", batch_size=25, on_progress=seen.append)
    assert out is plan  # outcomes written in place
    assert set(plan["status"]) == {"created"}
    state = sandbox.snapshot()
    audit = portal_audit(state, plan)
    assert audit == {
        "missing": [],
        "duplicate_credentials": [],
        "wrong": [],
        "status_mismatch": [],
        "duplicate_apps": [],
    }
    assert plan["credential_id"].dtype == "Int64" and plan["app_id"].notna().all()
    assert plan["http_status"].eq(201).all() and plan["attempts"].eq(1).all()
    assert list(plan["batch"].unique()) == [1, 2, 3]
    assert (plan["finished_at"] >= plan["started_at"]).all()
    # one app per group of three, created by a single POST each
    assert plan.groupby("app_name")["app_id"].nunique().eq(1).all()
    assert plan["app_id"].nunique() == 20
    assert seen[-1].state == "finished" and seen[-1].created == 60 and seen[-1].done == 60
    assert len(seen) >= 60  # one callback per row at least


def test_a_rerun_with_the_same_journal_writes_nothing(sandbox, tmp_path):
    plan = make_plan(30)
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    before = post_count(sandbox.snapshot())
    again = make_plan(30)  # a fresh frame of the same input: the journal answers
    apply_plan(again, settings_for(sandbox), tmp_path / "j")
    assert post_count(sandbox.snapshot()) == before
    assert set(again["status"]) == {"created"}
    assert again["credential_id"].tolist() == plan["credential_id"].tolist()


def test_dry_run_writes_nothing_and_marks_rows(sandbox, tmp_path):
    plan = make_plan(9)
    plan.loc[2, "action"] = "blocked"
    plan.loc[2, "reason"] = "owner not found in the portal"
    apply_plan(plan, settings_for(sandbox), tmp_path / "j", dry_run=True)
    assert portal_requests(sandbox.snapshot()) == 0
    assert plan["status"].value_counts().to_dict() == {"dry_run": 8, "blocked": 1}
    assert plan.loc[2, "error"] == "owner not found in the portal"
    with Journal(tmp_path / "j") as journal:
        assert journal.credentials() == [] and journal.input_id is None


def test_skipped_blocked_and_incomplete_rows_need_no_request(sandbox, tmp_path):
    plan = make_plan(6, keys_per_app=1)
    plan.loc[0, "action"] = "skip_existing"
    plan.loc[0, "credential_id"] = 3
    plan.loc[1, "action"] = "blocked"
    plan.loc[2, "plan_id"] = pd.NA
    plan.loc[4, ["key_id", "key_fingerprint"]] = plan.loc[3, ["key_id", "key_fingerprint"]].tolist()
    plan.loc[5, "key_fingerprint"] = "0" * 16
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    assert plan["status"].tolist() == ["skipped", "blocked", "failed", "created", "failed", "failed"]
    assert plan.loc[0, "credential_id"] == 3
    assert "no plan" in plan.loc[2, "error"]
    assert "twice" in plan.loc[4, "error"]
    assert "does not match" in plan.loc[5, "error"]


def test_a_journal_of_another_input_is_refused(sandbox, tmp_path):
    apply_plan(make_plan(3), settings_for(sandbox), tmp_path / "j")
    with pytest.raises(JournalError, match="another input"):
        apply_plan(make_plan(4, seed=2), settings_for(sandbox), tmp_path / "j")


def test_no_raw_key_in_the_journal_file(sandbox, tmp_path):
    plan = make_plan(6)
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for key in plan["key_id"]:
        assert reveal(key).encode() not in blob
    assert plan["key_fingerprint"].iloc[0].encode() in blob


def test_pause_resume_and_stop_from_another_task(make_sandbox, tmp_path):
    sb = make_sandbox(latency_ms=15)
    plan = make_plan(120)

    async def drive() -> Migration:
        m = Migration(plan, settings_for(sb), tmp_path / "j", concurrency=4, batch_size=40)
        task = m.start()
        while m.progress.done < 10:
            await asyncio.sleep(0.01)
        m.pause()
        await asyncio.sleep(0.2)  # in-flight requests settle
        settled = m.progress.done
        requests = m.progress.requests
        await asyncio.sleep(0.3)
        assert m.progress.state == "paused"
        assert m.progress.requests == requests and m.progress.done == settled  # nothing sent while paused
        m.resume()
        while m.progress.done < settled + 10:
            await asyncio.sleep(0.01)
        m.stop()
        await task
        return m

    m = asyncio.run(drive())
    assert m.state == "stopped"
    counts = plan["status"].value_counts().to_dict()
    assert counts.get("pending", 0) > 0 and counts.get("failed", 0) == 0, counts
    # the journal is consistent: finishing the run creates exactly the missing rows
    rest = apply_plan(plan, settings_for(sb), tmp_path / "j")
    assert set(rest["status"]) == {"created"}
    audit = portal_audit(sb.snapshot(), plan)
    assert not any(audit.values()), audit


def test_a_paused_run_says_its_frame_is_behind_and_copies_it_on_request(make_sandbox, tmp_path):
    """What the console relies on (ui/control.py settle_frame): while paused, ``_dirty`` tells that finished
    rows are not in the frame yet, and ``copy_outcomes()`` copies them."""
    sb = make_sandbox(latency_ms=15)
    plan = make_plan(60)

    async def drive() -> None:
        m = Migration(plan, settings_for(sb), tmp_path / "j", concurrency=4, flush_interval=3600)
        task = m.start()
        while m.progress.created < 10:
            await asyncio.sleep(0.01)
        m.pause()
        while m.limiter.in_use:
            await asyncio.sleep(0.01)
        created = m.progress.created
        assert m._dirty and int((plan["status"] == "created").sum()) < created
        m.copy_outcomes()
        assert not m._dirty and int((plan["status"] == "created").sum()) == created
        m.resume()
        await task

    asyncio.run(drive())
    assert set(plan["status"]) == {"created"}


def test_a_portal_that_issues_its_own_key_fails_rows_loudly(sandbox, tmp_path):
    # AUTH_TOKEN_STANDARD makes the sandbox (like the portal) generate the key and ignore KeyID
    odd = replace(settings_for(sandbox), auth_token_type="AUTH_TOKEN_STANDARD")
    plan = make_plan(6)
    seeded = {c["KeyID"] for c in sandbox.snapshot()["custom_credentials"]}
    apply_plan(plan, odd, tmp_path / "j")
    # the first generated key stops the run (own14): rows already sent fail loudly, the rest stay pending
    failed = plan[plan["status"] == "failed"]
    assert set(plan["status"]) <= {"failed", "pending"} and len(failed) >= 1
    assert failed["error"].str.contains("read back differs").all()
    assert failed["error"].str.contains("TYK_AUTH_TOKEN_TYPE").all()
    state = sandbox.snapshot()
    # nothing left behind: the stray credentials were deleted, and the apps whose every row failed
    assert not {c["KeyID"] for c in state["custom_credentials"]} - seeded
    if set(plan["status"]) == {"failed"}:
        assert not [a for a in state["apps"] if a["Name"].startswith("mig app")]
        assert all(plan["app_id"].isna())


def test_a_refused_token_type_spelling_hints_at_the_setting(make_sandbox, tmp_path):
    sb = make_sandbox(accept_auth_token_types=("AUTH_TOKEN_CUSTOM",))
    plan = make_plan(3)
    apply_plan(plan, settings_for(sb), tmp_path / "j")
    assert set(plan["status"]) == {"failed"} and plan["http_status"].eq(422).all()
    assert plan["error"].str.contains("TYK_AUTH_TOKEN_TYPE=AUTH_TOKEN_CUSTOM").all()
    fixed = replace(settings_for(sb), auth_token_type="AUTH_TOKEN_CUSTOM")
    apply_plan(plan, fixed, tmp_path / "j")  # the failed rows are retried on a rerun
    assert set(plan["status"]) == {"created"}
    assert not any(portal_audit(sb.snapshot(), plan).values())


def test_rollback_deletes_what_the_run_created_and_only_that(sandbox, tmp_path):
    seed_state = sandbox.snapshot()
    plan = make_plan(9)
    # three keys go to a pre-existing app (ID 1, user 19) instead of a new one
    for row in (6, 7, 8):
        plan.loc[row, ["user_id", "app_name", "action"]] = [19, "Reporting", "add_credential"]
        plan.loc[row, "app_id"] = 1
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    assert set(plan["status"]) == {"created"}
    # someone adds a credential by hand to one of the new apps: that app must survive rollback
    foreign_app = int(plan.loc[3, "app_id"])
    import httpx

    httpx.post(
        f"{sandbox.portal_url}/apps/{foreign_app}/custom_credentials",
        headers={"Authorization": sandbox.token},
        json={
            "Type": "CREDENTIAL_TYPE_TYK_MANAGED",
            "PlanID": 7,
            "ProductIDs": [1],
            "KeyID": "handmade-key-123456",
            "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM",
            "AuthenticationMethod": "Auth Token",
        },
    ).raise_for_status()
    report = rollback(tmp_path / "j", settings_for(sandbox))
    state = sandbox.snapshot()
    keys = {c["KeyID"] for c in state["custom_credentials"]}
    assert keys == {c["KeyID"] for c in seed_state["custom_credentials"]} | {"handmade-key-123456"}
    app_ids = {a["ID"] for a in state["apps"]}
    assert app_ids == {a["ID"] for a in seed_state["apps"]} | {foreign_app}
    assert (report["result"] == "kept").sum() == 1
    with Journal(tmp_path / "j") as journal:
        assert {c.state for c in journal.credentials()} == {"rolled_back"}
    # after a rollback, the same journal migrates again
    again = make_plan(9)
    for row in (6, 7, 8):
        again.loc[row, ["user_id", "app_name", "action"]] = [19, "Reporting", "add_credential"]
        again.loc[row, "app_id"] = 1
    apply_plan(again, settings_for(sandbox), tmp_path / "j")
    assert set(again["status"]) == {"created"}


def test_summary_counts_rows_per_batch_and_status(sandbox, tmp_path):
    plan = make_plan(10, keys_per_app=2)
    plan.loc[9, "action"] = "blocked"
    m = Migration(plan, settings_for(sandbox), tmp_path / "j", batch_size=4)
    asyncio.run(m.run())
    table = m.summary()
    assert table.loc[1, "created"] == 4 and table.loc[3, "blocked"] == 1
    assert table.loc["total"].sum() == 10


def test_compare_credential_names_every_difference_without_keys():
    key = "legacy-key-0123456789"
    answer = {"KeyID": key, "PlanID": "8", "ProductIDs": [2, 1]}
    assert compare_credential(answer, key_fingerprint=fingerprint(key), plan_id=8, product_ids=[1, 2]) == []
    bad = {"KeyID": "generated-by-portal-000", "PlanID": "7", "ProductIDs": [1]}
    problems = compare_credential(bad, key_fingerprint=fingerprint(key), plan_id=8, product_ids=[1, 2])
    assert len(problems) == 3 and "issued its own key" in problems[0]
    assert not any(key in p or "generated-by-portal" in p for p in problems)


def test_limiter_resizes_while_tasks_wait():
    async def go() -> list[int]:
        limiter = Limiter(1)
        peak = [0]

        async def worker() -> None:
            await limiter.acquire()
            peak[0] = max(peak[0], limiter.in_use)
            await asyncio.sleep(0.01)
            limiter.release()

        tasks = [asyncio.create_task(worker()) for _ in range(20)]
        await asyncio.sleep(0.005)
        first = peak[0]
        limiter.set_limit(5)
        await asyncio.gather(*tasks)
        return [first, peak[0], limiter.in_use]

    assert asyncio.run(go()) == [1, 5, 0]


def test_adaptive_concurrency_backs_off_and_settles_below_a_cap():
    limiter = Limiter(1)
    ctl = AdaptiveConcurrency(limiter, initial=8, maximum=64)
    cap = 20
    for _ in range(4000):  # a portal that refuses more than `cap` requests in flight
        limiter._used = ctl.limit
        status = 429 if ctl.limit > cap else 200
        ctl.observe(status, 0.05)
    assert ctl.decreases >= 1 and not ctl.slow_start
    assert cap - 4 <= ctl.limit <= cap + 1
    fixed = Limiter(4)
    assert fixed.limit == 4


def test_outcome_columns_follow_the_outcomes_schema(sandbox, tmp_path):
    from tyk_migrate.schemas import Outcomes

    plan = make_plan(8)
    plan.loc[7, "action"] = "blocked"
    apply_plan(plan, settings_for(sandbox), tmp_path / "j")
    Outcomes.validate(plan)


def test_a_journal_is_tied_to_its_portal(make_sandbox, tmp_path):
    first, second = make_sandbox(), make_sandbox()
    plan = make_plan(6)
    apply_plan(plan, settings_for(first), tmp_path / "j")
    assert set(plan["status"]) == {"created"}
    before = post_count(second.snapshot())
    # the same journal against another portal would mark every row created there without creating any
    with pytest.raises(JournalError, match="records a migration into"):
        apply_plan(make_plan(6), settings_for(second), tmp_path / "j")
    # and a rollback there would delete apps with the same IDs that belong to someone else
    with pytest.raises(JournalError, match="refusing to delete"):
        rollback(tmp_path / "j", settings_for(second))
    assert post_count(second.snapshot()) == before
    assert len(second.snapshot()["apps"]) == len(first.snapshot()["apps"]) - 2  # two apps made on the first only


def test_a_journal_that_cannot_be_opened_ends_the_run_as_stopped(sandbox, tmp_path):
    migration = Migration(make_plan(3), settings_for(sandbox), tmp_path)  # a directory, not a file
    with pytest.raises(Exception):  # noqa: B017 - whatever sqlite or the journal says, the state must settle
        asyncio.run(migration.run())
    assert migration.state == "stopped"


def test_one_frozen_context_serves_every_workflow_of_a_run(sandbox, tmp_path):
    from dataclasses import FrozenInstanceError

    from tyk_migrate.aio import run_sync
    from tyk_migrate.run.context import RunContext

    m = Migration(make_plan(6), settings_for(sandbox), tmp_path / "j")
    run_sync(m.run)
    ctx = m.context
    assert isinstance(ctx, RunContext) and ctx.run_id == m.run_id and ctx.rows is m.rows
    assert m._schedule is not None and m._schedule.apps.ctx is ctx and m._schedule.creds.ctx is ctx
    with pytest.raises(FrozenInstanceError):
        ctx.run_id = 0  # type: ignore[misc]
    dry = Migration(make_plan(3), settings_for(sandbox), tmp_path / "d", dry_run=True)
    run_sync(dry.run)
    assert dry.context is None  # a dry run sends nothing, so it has no workflows to share one
