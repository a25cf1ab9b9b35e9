"""The order of a run: rows are triaged in plan order (``triage``), the rest grouped by the app they need, and
sent batch by batch through a sliding window; each row's end is counted, written to the table and reported.

Batches order the work but are no barrier: a row waiting out a Retry-After or a backoff must not hold up the
rows behind it. When a batch opens, its apps are queued first, then its rows are admitted as earlier rows
finish.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from ..concurrency import AdaptiveConcurrency
from ..journal import Journal
from ..secrets import KeyValue, fingerprinter, reveal
from ..vocabulary import CREATED, FAILED, PENDING
from .apps import Apps
from .credentials import Credentials
from .gate import Gate, Stopped
from .groups import AppGroup
from .progress import Pace, Tally
from .protocol import error_text
from .rows import PlanRow, RowTable, utcnow
from .triage import settle_app_intent, triage


class Schedule:
    """The rows of one run. ``apps`` and ``creds`` are the workflows (None in a dry run: nothing is sent)."""

    def __init__(
        self,
        *,
        rows: RowTable,
        positions: list[int],
        batch_size: int,
        window: int,
        journal: Journal,
        dry_run: bool,
        gate: Gate,
        tally: Tally,
        controller: AdaptiveConcurrency | None,
        report: Callable[[], None],
    ) -> None:
        self.rows, self.positions, self.batch_size, self.window = rows, positions, batch_size, window
        self.journal, self.dry_run, self.gate, self.tally = journal, dry_run, gate, tally
        self.controller, self.report = controller, report
        self.groups: dict[tuple[int, str], AppGroup] = {}
        self.apps: Apps | None = None
        self.creds: Credentials | None = None
        self.pace: Pace | None = None  # from when the rows that need requests begin

    # -- a row's end ------------------------------------------------------------------------------
    def finish(self, pos: int, status: str, **values: Any) -> None:
        rows, controller = self.rows, self.controller
        self.tally.finished(rows.out["status"][pos], status)
        if controller is not None and not controller.hold and self.pace is not None:
            pending = self.tally.counts[PENDING]
            controller.rows_left(pending, self.pace.rows_per_second(time.perf_counter(), pending))
        rows.set(pos, status=status, finished_at=utcnow(), **values)
        rows.flush()
        self.report()

    def finish_row(
        self, pos: int, status: str, group: AppGroup | None, *, unresolved: bool = False, **values: Any
    ) -> None:
        """``unresolved``: failed for this run, but the write may have landed; its app is not "empty"."""
        if status == PENDING:  # stopped: stays to do, with a word why
            self.rows.set(pos, **values)
            self.report()
        else:
            self.finish(pos, status, **values)
        if group is not None:
            assert self.apps is not None
            self.apps.row_done(group, status, unresolved=unresolved)

    # -- the run ----------------------------------------------------------------------------------
    async def execute(self) -> None:
        try:
            await self._execute()
        finally:
            if self.apps is not None:
                await self.apps.listing.finish()

    async def _execute(self) -> None:
        work = await self._triage_all()
        self.pace = Pace(time.perf_counter(), self.tally.counts[PENDING])
        self._group(work)
        self.rows.flush(force=True)
        window = asyncio.Semaphore(self.window)
        tasks: list[asyncio.Task[None]] = []
        try:
            for number, batch in enumerate(work, start=1):
                await self.gate.wait_running()
                if self.gate.stopping:
                    break
                self.tally.batch = number
                tasks.extend(self._open_batch(batch))
                for pos in batch:
                    await window.acquire()
                    if self.gate.stopping:
                        window.release()
                        break
                    task = asyncio.create_task(self._row_task(pos))
                    task.add_done_callback(lambda _: window.release())
                    tasks.append(task)
            if tasks:
                await asyncio.gather(*tasks)
            if self.apps is not None and self.apps.compensations:
                await asyncio.gather(*self.apps.compensations)
        except asyncio.CancelledError:
            # the run itself was cancelled (a second Ctrl-C, a notebook's interrupt): its rows end with it,
            # instead of running on against a journal and a client that are about to close
            await _cancelled(tasks)
            if self.apps is not None:  # after the rows: a row cancelled may have queued a compensation
                await _cancelled(self.apps.compensations)
            raise
        self.rows.flush(force=True)

    async def _triage_all(self) -> list[list[int]]:
        """Settle every row that needs no request; the rest, batch by batch. Once a row is found that needs a
        new app, the listing every new app waits for begins, and goes on while the other batches are triaged."""
        rows, journal, positions, size = self.rows, self.journal, self.positions, self.batch_size
        seen: dict[str, int] = {}
        work: list[list[int]] = []
        raw_fingerprint = fingerprinter()  # the secret looked up once, not once per row

        def fingerprint(key: KeyValue) -> str:
            return raw_fingerprint(reveal(key))

        for start in range(0, len(positions), size):
            keep = []
            for pos in positions[start : start + size]:
                row = rows.row(pos)
                if not self.dry_run:
                    self._settle_app_intent(row, journal)
                if self._triage(row, seen, journal, fingerprint):
                    keep.append(pos)
            work.append(keep)
            if self.apps is not None and any(rows.plan_app[pos] is None for pos in keep):
                self.apps.listing.begin()  # at most once: later calls find the listing begun
            await asyncio.sleep(0)  # the listing's requests go out between batches
        return work

    @staticmethod
    def _settle_app_intent(row: PlanRow, journal: Journal) -> None:
        """Journal an open app intent the plan shows settled (``triage.settle_app_intent``)."""
        user_id, name = row.user_id, row.app_name
        if user_id is None or name is None:
            return
        rec = journal.app(user_id, name)
        settled = settle_app_intent(row, rec)
        if settled is None or rec is None:
            return
        if settled == CREATED:
            journal.app_outcome(
                user_id, name, CREATED, app_id=row.app_id, run_id=rec.run_id, how="adopted", attempts=rec.attempts
            )
        else:
            journal.app_outcome(user_id, name, "reused", app_id=row.app_id, how="reused", attempts=rec.attempts)

    def _triage(
        self, row: PlanRow, seen: dict[str, int], journal: Journal, fingerprint: Callable[[KeyValue], str]
    ) -> bool:
        """Settle the row if it needs no request (``triage.triage``); True when it does."""
        fp = row.fingerprint
        rec = journal.credential(fp) if fp is not None else None
        first_seen = seen.get(fp) if fp is not None else None
        decision = triage(row, rec, first_seen=first_seen, dry_run=self.dry_run, fingerprint=fingerprint)
        if decision.claims_key and fp is not None:
            seen[fp] = row.number
        if decision.status is None:
            return True
        if decision.adopt is not None and fp is not None:
            adopt = decision.adopt
            journal.credential_outcome(
                fp,
                CREATED,
                credential_id=adopt.credential_id,
                app_id=adopt.app_id,
                run_id=adopt.run_id,
                how="adopted",
                attempts=adopt.attempts,
            )
        self.rows.set(row.pos, started_at=utcnow())
        self.finish(row.pos, decision.status, **decision.values)
        return False

    def _group(self, work: list[list[int]]) -> None:
        """One app per (user, app name) among the rows that need a new app, across batches."""
        for batch in work:
            for pos in batch:
                if self.rows.plan_app[pos] is None:
                    key = self._group_key(pos)
                    group = self.groups.get(key)
                    if group is None:
                        group = self.groups[key] = AppGroup(key[0], key[1], [])
                    group.rows.append(pos)
                    group.left += 1

    def _group_key(self, pos: int) -> tuple[int, str]:
        rows = self.rows
        return int(rows.user_id[pos]), str(rows.app_name[pos])  # type: ignore[arg-type]

    def _open_batch(self, batch: list[int]) -> list[asyncio.Task[None]]:
        """Queue the batch's app creations (one per group not yet started) ahead of its credentials."""
        app_tasks = []
        for pos in batch:
            if self.rows.plan_app[pos] is None:
                assert self.apps is not None
                group = self.groups[self._group_key(pos)]
                if group.future is None:
                    group.future = asyncio.get_running_loop().create_future()
                    app_tasks.append(asyncio.create_task(self.apps.task(group)))
        return app_tasks

    async def _row_task(self, pos: int) -> None:
        rows, creds = self.rows, self.creds
        assert creds is not None
        group: AppGroup | None = None
        try:
            plan_app = rows.plan_app[pos]
            if plan_app is None:
                group = self.groups[self._group_key(pos)]
                assert group.future is not None
                app_id = await group.future
                if app_id is None:
                    rows.set(pos, started_at=utcnow())
                    self.finish_row(pos, PENDING if group.stopped else FAILED, group, error=group.error)
                    return
            else:
                app_id = int(plan_app)
            await creds.write(pos, app_id, group)
        except Stopped:  # the journal failed while this row was under way: a rerun looks up what it sent
            self.finish_row(pos, PENDING, group, error="stopped when the journal failed; rerun to resolve it")
        except Exception as exc:
            self.finish_row(pos, FAILED, group, error=f"{type(exc).__name__}: {error_text(exc, rows.key[pos])}")


async def _cancelled(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until each has ended (their own cleanup runs: slots, intents)."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
