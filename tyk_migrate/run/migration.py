"""``Migration``: one run over a plan frame, wiring the row table, the schedule (triage and dispatch), the
gate, the exactly-once protocol and the app and credential workflows together; ``apply_plan`` runs one to
the end."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..aio import run_sync
from ..concurrency import AdaptiveConcurrency, Limiter
from ..config import Settings
from ..errors import JournalError, MigrateError, MissingColumnsError
from ..journal import Journal, input_identity
from ..journal_users import users_of
from ..meter import Meter
from ..ownership import journal_failure_message
from ..portal import AsyncPortalClient
from ..portal_lock import PortalLock, take_portal_lock
from ..retry import RetryPolicy
from ..vocabulary import OUTCOME_STATUSES, RUN_INPUT_COLUMNS
from .app_listing import first_listing
from .apps import Apps
from .context import RunContext
from .credentials import Credentials
from .gate import Gate
from .progress import Progress, Tally
from .protocol import ExactlyOnce
from .readback import ReadBackPolicy
from .rows import RowTable
from .schedule import Schedule
from .users import settle_owners

if TYPE_CHECKING:
    from ..snapshot import AppsWalk


class Migration:
    """One migration run over a plan frame. See the package docstring and docs/running.md.

    ``await m.run()`` runs to the end and returns the plan frame; ``m.start()`` schedules it on the running
    loop (Jupyter) and returns the task; ``pause()``, ``resume()``, ``stop()`` may be called from any task
    of that loop; ``progress`` and ``summary()`` can be read at any time.

    ``portal_lock``: the portal's lock, taken by the caller for this journal before it read the portal
    (``tyk-migrate apply``); a run that sends claims it and releases it at its end. One of another portal or
    journal, or claimed by another run, is not used: the run takes its own (refused while that one is held).
    ``apps_listed``: the snapshot's walk of ``/apps``; begun under that lock shortly before the run
    (``first_listing``), it is the run's first listing, so the first apps are created at once.
    """

    def __init__(
        self,
        plan: pd.DataFrame,
        client: AsyncPortalClient | Settings | None,
        journal: Journal | str | Path,
        *,
        batch_size: int = 200,
        concurrency: int | str = "adaptive",
        max_concurrency: int = 64,
        initial_concurrency: int = 8,
        dry_run: bool = False,
        delete_empty_apps: bool = True,
        verify_readback: bool = True,
        read_back: str | ReadBackPolicy = "auto",
        rows: pd.Index | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        retry: RetryPolicy | None = None,
        max_attempts: int = 8,
        max_rate_limited: int = 60,
        force_journal: bool = False,
        flush_interval: float = 0.25,
        create_users: bool = True,
        activate_users: bool = True,
        portal_lock: PortalLock | None = None,
        apps_listed: AppsWalk | None = None,
    ) -> None:
        missing = [c for c in RUN_INPUT_COLUMNS if c not in plan.columns]
        if missing:
            raise MissingColumnsError(missing, list(plan.columns), source="plan")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.plan = plan
        self._client_arg = client
        self._journal_arg = journal
        self.batch_size = int(batch_size)
        self.adaptive = concurrency == "adaptive"
        if not self.adaptive:
            try:
                fixed = int(concurrency)
            except (TypeError, ValueError):
                raise ValueError("concurrency must be 'adaptive' or a whole number") from None
            if fixed < 1:
                raise ValueError("concurrency must be at least 1")
            self.fixed_concurrency = fixed
        self.max_concurrency = int(max_concurrency)
        self.initial_concurrency = int(initial_concurrency)
        self.dry_run = dry_run
        self.delete_empty_apps = delete_empty_apps
        self.verify_readback = verify_readback
        self.read_back = read_back  # "auto", "all", "none" or a policy (readback.py); made per run in _wire
        ReadBackPolicy.of(read_back)  # a bad mode fails here, before the run
        self.scope = rows
        self.on_progress = on_progress
        self.retry = retry or RetryPolicy()
        self.max_attempts = max_attempts
        self.max_rate_limited = max_rate_limited
        # the one budget of tries for writes and reads (the client's own retries are switched off while running)
        self.policy = replace(self.retry, attempts=max_attempts, rate_limited_attempts=max_rate_limited)
        self.force_journal = force_journal
        self.flush_interval = flush_interval
        # the plan's account steps (``user_action``, plan.accounts) run unless switched off here (the console)
        self.create_users, self.activate_users = create_users, activate_users

        self.run_id: int | None = None
        self.journal: Journal | None = journal if isinstance(journal, Journal) else None
        self.client: AsyncPortalClient | None = None
        self.limiter = Limiter(self.initial_concurrency if self.adaptive else self.fixed_concurrency)
        self.controller: AdaptiveConcurrency | None = None
        self.meter = Meter()
        self.gate = Gate(self.limiter, on_change=self._report)
        self.tally = Tally()
        self.rows: RowTable | None = None
        self.context: RunContext | None = None  # the workflows' collaborators, once a run that sends began
        self._task: asyncio.Task[pd.DataFrame] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._own_client = False
        self._restore: tuple[AsyncPortalClient, Any, Any] | None = None
        self._portal_lock: PortalLock | None = None  # one run per portal per machine, while this one sends
        self._given_lock, self._apps_listed = portal_lock, apps_listed
        self._positions: list[int] = []
        self._schedule: Schedule | None = None

    # -- control ----------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """idle, running, paused, stopping, stopped or finished (``gate.STATES``)."""
        return self.gate.state

    @property
    def fatal_error(self) -> str | None:
        """Why the run stopped early because the portal refused the token, or None."""
        return self.gate.fatal_error

    @property
    def journal_error(self) -> str | None:
        """The journal could not be written: the run stopped at once (``run()`` raises it as a JournalError)."""
        return self.gate.journal_error

    def start(self) -> asyncio.Task[pd.DataFrame]:
        """Schedule the run on the current event loop (e.g. a Jupyter cell) and return its task."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="tyk-migrate run")
        return self._task

    def pause(self) -> None:
        """Send no new request until ``resume()``; requests already sent finish and are journalled."""
        self.gate.pause()

    def resume(self) -> None:
        self.gate.resume()

    def stop(self) -> None:
        """Finish what is in flight, start nothing new; unstarted rows stay ``pending`` for a rerun."""
        self.gate.stop()

    @property
    def progress(self) -> Progress:
        return self.tally.snapshot(self.state, self.limiter, self.meter)

    def summary(self) -> pd.DataFrame:
        """Rows per batch and status (in scope), with a total row."""
        frame = self.plan.loc[self._scope_index()] if self.scope is not None else self.plan
        if "status" not in frame.columns:
            return pd.DataFrame()
        table = (
            frame.assign(batch=frame["batch"].astype("Int64"))
            .groupby(["batch", "status"], dropna=False)
            .size()
            .unstack(fill_value=0)
        )
        table = table.reindex(columns=[s for s in OUTCOME_STATUSES if s in table.columns])
        table.loc["total"] = table.sum()
        return table

    @property
    def settings(self) -> Settings:
        if self.client is not None:
            return self.client.settings
        if isinstance(self._client_arg, Settings):
            return self._client_arg
        return Settings()

    # -- the run ----------------------------------------------------------------------------------
    async def run(self) -> pd.DataFrame:
        if self.state not in ("idle",):
            raise MigrateError(f"this run is {self.state}; make a new Migration to run again")
        self._loop = asyncio.get_running_loop()
        stop_requested = self.gate.open()
        self.tally.started = time.perf_counter()
        own_journal = self.journal is None
        try:
            self._open()  # inside the try: a journal that cannot be opened ends the run as stopped
            if stop_requested:
                self.gate.begin_stopping()
            assert self._schedule is not None
            await settle_owners(self, self._schedule)  # accounts first: their rows' apps wait for them
            await self._schedule.execute()
            self.gate.state = "stopped" if self.state == "stopping" or self.fatal_error else "finished"
        except BaseException:
            self.gate.state = "stopped"
            raise
        finally:
            await self._close(own_journal)
        if self.journal_error is not None:
            raise JournalError(self.journal_error)
        return self.plan

    def _open(self) -> None:
        """Open the journal, read the rows, and (unless a dry run) take the client over and begin a run."""
        if self.journal is None:
            self.journal = Journal(self._journal_arg)  # type: ignore[arg-type]
        journal = self.journal
        if not self.dry_run:
            journal.bind(input_identity(self.plan["key_fingerprint"]), force=self.force_journal)
            if "user_action" in self.plan.columns:
                users_of(journal)  # its table made before the group-commit thread writes
        self._prepare_rows()
        assert self.rows is not None
        if not self.dry_run:
            self._take_client(journal)
        self._schedule = Schedule(
            rows=self.rows,
            positions=self._positions,
            batch_size=self.batch_size,
            window=max(2 * self.batch_size, 4 * self.max_concurrency),
            journal=journal,
            dry_run=self.dry_run,
            gate=self.gate,
            tally=self.tally,
            controller=self.controller,
            report=self._report,
        )
        if not self.dry_run:
            self._wire(journal, self._schedule)

    def _take_client(self, journal: Journal) -> None:
        """The client reports to this run's meter and controller and stops retrying (the runner does); begin a
        run in the journal, whose records are then committed in groups."""
        self.client, self._own_client = self._make_client()
        client = self.client
        # before the journal records a run: a second run writing to this portal from this machine (another
        # journal) is refused. A dry run never gets here (it writes nothing); rollback takes no such lock
        # (portal_lock's docstring says why).
        given = self._given_lock
        if given is not None and given.claim(self, client.base_url, journal.path):
            self._portal_lock = given
        else:
            self._portal_lock = take_portal_lock(client.settings, client.base_url, journal.path)
        journal.bind_portal(client.base_url)
        self._restore = (client, client.on_response, client.retry)
        client.on_response = self._hooked(client.on_response)
        client.retry = replace(client.retry, attempts=1)  # the runner owns retries
        if self.adaptive:
            self.controller = AdaptiveConcurrency(
                self.limiter, initial=self.initial_concurrency, maximum=self.max_concurrency
            )
        self.run_id = journal.begin_run()
        journal.start_group_commit()

    def _wire(self, journal: Journal, schedule: Schedule) -> None:
        """The run's one context, shared by the account, app and credential workflows (one exactly-once
        protocol over the run's gate, retry budget and journal)."""
        client, run_id, rows, gate = self.client, self.run_id, self.rows, self.gate
        assert client is not None and run_id is not None and rows is not None
        writer = ExactlyOnce(gate, self.policy, journal)
        lock, listed = self._portal_lock, self._apps_listed
        trusted_from = min(self.tally.started, lock.acquired_at) if lock is not None else self.tally.started
        ctx = self.context = RunContext(journal, client, run_id, writer, gate, rows, trusted_from, self.tally.started)
        schedule.apps = Apps(ctx, delete_empty=self.delete_empty_apps, report=self._report)
        if listed is not None and lock is not None and first_listing(listed, lock, self.tally.started):
            schedule.apps.listing.seed(listed.started, listed.apps)
        schedule.creds = Credentials(
            ctx,
            verify_readback=self.verify_readback,
            finish=schedule.finish_row,
            read_back=ReadBackPolicy.of(self.read_back, seed=run_id),
        )

    async def _close(self, own_journal: bool) -> None:
        # every step runs though a Ctrl-C (KeyboardInterrupt) cut the one before short; the outcomes are copied
        # last, the longest step (``run_migration`` copies again after an interrupt)
        try:
            if self.run_id is not None and self.journal is not None:
                try:
                    with contextlib.suppress(MigrateError):
                        self.journal.end_run(self.run_id, self.state)
                finally:  # the records queued are committed
                    self._stop_group_commit(self.journal)
        finally:
            try:
                if self._restore is not None:
                    client, hook, retry = self._restore
                    client.on_response, client.retry = hook, retry
                if self._portal_lock is not None:  # nothing more is sent: another run may have the portal now
                    self._portal_lock.release(by=self)
                if own_journal and self.journal is not None:
                    self.journal.close()
            finally:
                self.copy_outcomes()
        if self._own_client and self.client is not None:
            await self.client.aclose()
        self._report()

    def _stop_group_commit(self, journal: Journal) -> None:
        try:
            journal.stop_group_commit()
        except JournalError as exc:  # records queued at the end were lost: the same one-line end
            self._journal_failed(exc)
            self.gate.state = "stopped"

    def _journal_failed(self, exc: JournalError) -> None:
        """The journal cannot record: stop the whole run now (no request goes out that it could not record)."""
        detail = self.journal.write_error if self.journal is not None else None
        path = self.journal.path if self.journal is not None else self._journal_arg
        self.gate.halt(journal_failure_message(path, detail or str(exc)))

    def _make_client(self) -> tuple[AsyncPortalClient, bool]:
        arg = self._client_arg
        if isinstance(arg, AsyncPortalClient):
            return arg, False
        settings = arg if isinstance(arg, Settings) else Settings.from_env()
        return AsyncPortalClient(settings=settings), True

    def _hooked(self, previous: Any) -> Callable[[str, str, int | None, float], None]:
        meter, pacer = self.meter, self.gate.pacer

        def hook(method: str, path: str, status: int | None, seconds: float) -> None:
            meter.observe(status, time.perf_counter(), seconds)
            if method != "GET":  # the writes a run is made of: a listing's page can be far slower (break18c F2)
                pacer.observe(status, seconds)
            if self.controller is not None:
                self.controller.observe(status, seconds)
            if previous is not None:
                previous(method, path, status, seconds)

        return hook

    # -- rows -------------------------------------------------------------------------------------
    def _scope_index(self) -> pd.Index:
        if self.scope is None:
            return self.plan.index
        return self.plan.index[self.plan.index.isin(self.scope)]

    def _prepare_rows(self) -> None:
        plan = self.plan
        self.rows = RowTable(plan, flush_interval=self.flush_interval)
        if self.scope is not None:
            in_scope = plan.index.isin(self._scope_index())
            positions = [i for i in range(len(plan)) if in_scope[i]]
        else:
            positions = list(range(len(plan)))
        self._positions = positions
        self.tally.reset(len(positions), math.ceil(len(positions) / self.batch_size) if positions else 0)
        self.rows.reset(positions, self.batch_size)
        self.copy_outcomes()

    @property
    def _dirty(self) -> bool:
        """Outcomes not yet copied into the frame (the console copies a paused run's last rows itself)."""
        return self.rows is not None and self.rows.dirty

    def copy_outcomes(self) -> None:
        """Copy every row's outcome into the plan frame now, as a run's end does: a paused run's last rows (the
        console), or after an interrupt that cut the end's copy short (it leaves the table dirty: redone)."""
        if self.rows is not None:
            self.rows.flush(force=True)

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)


def apply_plan(
    plan: pd.DataFrame,
    client: AsyncPortalClient | Settings | None,
    journal: Journal | str | Path,
    **kw: Any,
) -> pd.DataFrame:
    """Run a migration to the end and return the plan frame with its outcome columns (sync wrapper)."""
    migration = Migration(plan, client, journal, **kw)
    return run_sync(migration.run)
