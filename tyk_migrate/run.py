"""The runner: turn a plan frame into portal apps and credentials, exactly once, fast, resumably.

How a run goes (details and reasons in docs/running.md):

* Rows are taken in plan order, in batches of ``batch_size``. In a batch, each ``(user, app name)`` group
  that needs a new app gets one ``POST /apps``; its credentials wait for that app, then go out in parallel
  under one concurrency limit shared by every request (apps, credentials, lookups, read-backs).
* Every write is journalled: intent (committed) before it, outcome after it. A write whose outcome is
  unknown (no answer, 5xx) is never simply retried: the object is first looked up in the portal (app: same
  user and name; credential: same key fingerprint in the target app) and adopted if it is there.
* 429 and 5xx are retried with capped, jittered exponential backoff that honours ``Retry-After``; a 4xx
  validation answer fails the row at once with the portal's own message.
* After each create the credential is read back and its key, plan and products compared with the request;
  a difference (e.g. a portal that issued its own key) fails the row loudly and the stray credential is
  deleted.
* Concurrency adapts (slow start, then additive increase / multiplicative decrease on 429/503 or rising
  latency) unless a fixed number is given.
* Outcomes are written back into the plan frame itself (``status``, ``app_id``, ``credential_id``,
  ``http_status``, ``error``, ``attempts``, ``started_at``, ``finished_at``, ``batch``) as the run goes, and
  reported through ``on_progress`` and the ``progress`` property; nothing is printed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from .aio import run_sync
from .concurrency import AdaptiveConcurrency, Limiter, Meter
from .config import AUTH_TOKEN_TYPES, Settings
from .errors import (
    AuthError,
    CredentialMismatch,
    JournalError,
    MigrateError,
    MissingColumnsError,
    NotFound,
    PortalConnectionError,
    PortalError,
    PortalServerError,
    RateLimited,
    Rejected,
    UnexpectedAnswer,
)
from .journal import AppRecord, Journal, input_identity, intent_landed
from .ownership import choose_app, foreign_credentials, journal_failure_message
from .plan import oldest_app
from .portal import AsyncPortalClient
from .retry import RetryPolicy
from .scrub import clip, scrub_keys
from .secrets import fingerprint, is_key

T = TypeVar("T")

PLAN_COLUMNS = ("key_id", "key_fingerprint", "user_id", "app_name", "plan_id", "product_ids", "app_id", "action")
OUTCOME_COLUMNS = (
    "status",
    "app_id",
    "credential_id",
    "http_status",
    "error",
    "attempts",
    "started_at",
    "finished_at",
    "batch",
)
STATUSES = ("pending", "created", "skipped", "failed", "blocked", "rolled_back", "dry_run")
WRITE_ACTIONS = ("create_app", "add_credential")
STATES = ("idle", "running", "paused", "stopping", "stopped", "finished")
_INT_COLS = ("app_id", "credential_id", "http_status", "attempts", "batch")
_TIME_COLS = ("started_at", "finished_at")
_STR_COLS = ("status", "error")
# Before an app is created, the apps of its owner and name are looked up in a listing at most this old (one
# walk of /apps serves every app decided in that time): an app someone made meanwhile is reused, not doubled.
APP_LISTING_MAX_AGE = 60.0
#: Longest error text a row or a journal record keeps (scrubbed first, then cut).
ERROR_TEXT_CHARS = 600


# ------------------------------------------------------------------------------------------------
# progress
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of a run, cheap to make; the UI decides how often to draw it."""

    total: int = 0
    done: int = 0
    created: int = 0
    skipped: int = 0
    failed: int = 0
    blocked: int = 0
    dry_run: int = 0
    in_flight: int = 0
    concurrency: int = 0
    requests: int = 0
    requests_per_second: float = 0.0
    recent_error_rate: float = 0.0
    eta_seconds: float | None = None
    elapsed_seconds: float = 0.0
    state: str = "idle"
    batch: int = 0
    batches: int = 0

    @property
    def pending(self) -> int:
        return self.total - self.done


# ------------------------------------------------------------------------------------------------
# concurrency
# ------------------------------------------------------------------------------------------------
class _Stopped(Exception):
    """A row was not (or no further) attempted because the run is stopping."""


class _Unresolved(Exception):
    """A write's outcome could not be settled (lookups kept failing): the journal keeps the intent."""


class _NoListing(Exception):
    """The portal's apps could not be listed, so whether the app already exists is unknown: nothing is sent."""


@dataclass(slots=True)
class _Group:
    user_id: int
    app_name: str
    rows: list[int]
    app_id: int | None = None
    created_here: bool = False
    error: str | None = None
    stopped: bool = False
    future: asyncio.Future[int | None] | None = None
    left: int = 0
    created: int = 0
    failed: int = 0


_NAT = np.iinfo(np.int64).min  # pandas' NaT as int64 nanoseconds


def _utcnow() -> int:
    """Now as UTC epoch nanoseconds: kept as ints while running, turned into datetimes when flushed."""
    return time.time_ns()


def _ns(value: Any) -> int:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return _NAT
    try:
        return int(pd.Timestamp(value).value)
    except (TypeError, ValueError):
        return _NAT


def _int_or_none(value: Any) -> int | None:
    if value is None or value is pd.NA:
        return None
    try:
        if isinstance(value, float) and math.isnan(value):
            return None
        return int(value)
    except (TypeError, ValueError):
        return None


def _ids(value: Any) -> list[int]:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return []
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        return []


def _message(exc: BaseException, key: object = None) -> str:
    """An error's text for the frame and the journal, the row's own key (plain, escaped or cut) scrubbed before
    the text is cut, so a key echoed near the limit cannot survive as a prefix."""
    text = str(exc) or type(exc).__name__
    return clip(text, ERROR_TEXT_CHARS, None if key is None else lambda t: scrub_keys(t, [key]))


def _key_exists(exc: PortalError) -> bool:
    """A credential create refused because the key is already in the portal (409, or the key named as existing)."""
    return exc.status == 409 or any("keyid" in e.lower() and "exist" in e.lower() for e in exc.errors)


def _token_type_hint(settings: Settings) -> str:
    other = [t for t in AUTH_TOKEN_TYPES if t != settings.auth_token_type]
    alt = other[0] if other else AUTH_TOKEN_TYPES[0]
    return (
        f" (this portal may expect the other AuthTokenType spelling: set TYK_AUTH_TOKEN_TYPE={alt}; "
        f"now {settings.auth_token_type})"
    )


def apps_by_owner_name(apps: list[dict[str, Any]]) -> dict[tuple[int, str], list[int]]:
    """App IDs by ``(owner, name)``, from a portal listing of apps: the identity an app has in the journal."""
    index: dict[tuple[int, str], list[int]] = {}
    for app in apps:
        uid, name, aid = _int_or_none(app.get("UserID")), app.get("Name"), _int_or_none(app.get("ID"))
        if uid is not None and isinstance(name, str) and aid is not None:
            index.setdefault((uid, name), []).append(aid)
    return index


def compare_credential(
    answer: dict[str, Any], *, key_fingerprint: str, plan_id: int, product_ids: list[int]
) -> list[str]:
    """What differs between a credential as the portal shows it and what was asked (empty: all good).

    Differences name fingerprints, never keys. ``PlanID`` comes back as a string in Tyk's answers.
    """
    problems: list[str] = []
    key = answer.get("KeyID")
    if not isinstance(key, str) or not key:
        problems.append("the portal shows no KeyID")
    else:
        got = fingerprint(key)
        if got != key_fingerprint:
            problems.append(f"key fingerprint {got} instead of {key_fingerprint} (the portal issued its own key)")
    plan = answer.get("PlanID")
    if str(plan).strip() != str(int(plan_id)):
        problems.append(f"plan {plan!r} instead of {int(plan_id)}")
    products = answer.get("ProductIDs")
    try:
        got_products = sorted({int(p) for p in products or []})
    except (TypeError, ValueError):
        got_products = []
    if got_products != sorted(set(product_ids)):
        problems.append(f"products {got_products} instead of {sorted(set(product_ids))}")
    return problems


# ------------------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------------------
class Migration:
    """One migration run over a plan frame. See the module docstring and docs/running.md.

    ``await m.run()`` runs to the end and returns the plan frame; ``m.start()`` schedules it on the running
    loop (Jupyter) and returns the task; ``pause()``, ``resume()``, ``stop()`` may be called from any task
    of that loop; ``progress`` and ``summary()`` can be read at any time.
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
        rows: pd.Index | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        retry: RetryPolicy | None = None,
        max_attempts: int = 8,
        max_rate_limited: int = 60,
        force_journal: bool = False,
        flush_interval: float = 0.25,
    ) -> None:
        missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
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
        self.scope = rows
        self.on_progress = on_progress
        self.retry = retry or RetryPolicy()
        self.max_attempts = max_attempts
        self.max_rate_limited = max_rate_limited
        self.force_journal = force_journal
        self.flush_interval = flush_interval

        self.state = "idle"
        self.run_id: int | None = None
        self.fatal_error: str | None = None
        self.journal_error: str | None = None  # the journal could not be written: the run stopped at once
        self.journal: Journal | None = journal if isinstance(journal, Journal) else None
        self.client: AsyncPortalClient | None = None
        self.limiter = Limiter(self.initial_concurrency if self.adaptive else self.fixed_concurrency)
        self.controller: AdaptiveConcurrency | None = None
        self.meter = Meter()
        self._task: asyncio.Task[pd.DataFrame] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: asyncio.Event | None = None
        self._stop_event: asyncio.Event | None = None
        self._halt_event: asyncio.Event | None = None  # set when the journal fails: even follow-ups end
        self._started = 0.0
        self._counts: collections.Counter[str] = collections.Counter()
        self._total = 0
        self._batch = 0
        self._batches = 0
        self._done_times: collections.deque[float] = collections.deque(maxlen=400)
        self._last_flush = 0.0
        self._dirty = False
        self._flush_cost = 0.0
        self._apps_index: dict[tuple[int, str], list[int]] = {}
        self._apps_refresh: asyncio.Task[None] | None = None
        self._apps_refresh_started = -math.inf
        self._compensations: list[asyncio.Task[None]] = []
        self._groups: dict[tuple[int, str], _Group] = {}

    # -- control ----------------------------------------------------------------------------------
    def start(self) -> asyncio.Task[pd.DataFrame]:
        """Schedule the run on the current event loop (e.g. a Jupyter cell) and return its task."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="tyk-migrate run")
        return self._task

    def pause(self) -> None:
        """Send no new request until ``resume()``; requests already sent finish and are journalled."""
        if self.state == "running":
            self.state = "paused"
            if self._running is not None:
                self._running.clear()
            self._report()

    def resume(self) -> None:
        if self.state == "paused":
            self.state = "running"
            if self._running is not None:
                self._running.set()
            self._report()

    def stop(self) -> None:
        """Finish what is in flight, start nothing new; unstarted rows stay ``pending`` for a rerun."""
        if self.state in ("idle", "running", "paused"):
            self.state = "stopping"
            if self._stop_event is not None:
                self._stop_event.set()
            if self._running is not None:
                self._running.set()
            self._report()

    @property
    def progress(self) -> Progress:
        now = time.perf_counter()
        c = self._counts
        done = sum(c[s] for s in STATUSES if s != "pending")
        rate = self._rows_per_second(now)
        remaining = self._total - done
        eta = remaining / rate if rate > 0 else None
        return Progress(
            total=self._total,
            done=done,
            created=c["created"],
            skipped=c["skipped"],
            failed=c["failed"],
            blocked=c["blocked"],
            dry_run=c["dry_run"],
            in_flight=self.limiter.in_use,
            concurrency=self.limiter.limit,
            requests=self.meter.total,
            requests_per_second=self.meter.rate(now),
            recent_error_rate=self.meter.error_rate,
            eta_seconds=eta if self.state in ("running", "paused") else (0.0 if remaining == 0 else None),
            elapsed_seconds=(now - self._started) if self._started else 0.0,
            state=self.state,
            batch=self._batch,
            batches=self._batches,
        )

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
        table = table.reindex(columns=[s for s in STATUSES if s in table.columns])
        table.loc["total"] = table.sum()
        return table

    # -- the run ----------------------------------------------------------------------------------
    async def run(self) -> pd.DataFrame:
        if self.state not in ("idle",):
            raise MigrateError(f"this run is {self.state}; make a new Migration to run again")
        self._loop = asyncio.get_running_loop()
        self._running = asyncio.Event()
        self._running.set()
        self._stop_event = asyncio.Event()
        self._halt_event = asyncio.Event()
        stop_requested = self.state == "stopping"
        self.state = "running"
        self._started = time.perf_counter()
        own_journal = self.journal is None
        restore_hook: tuple[AsyncPortalClient, Any, Any] | None = None
        own_client = False
        try:
            if self.journal is None:  # inside the try: a journal that cannot be opened ends the run as stopped
                self.journal = Journal(self._journal_arg)  # type: ignore[arg-type]
            if not self.dry_run:
                self.journal.bind(input_identity(self.plan["key_fingerprint"]), force=self.force_journal)
            self._prepare_rows()
            if not self.dry_run:
                self.client, own_client = self._make_client()
                self.journal.bind_portal(self.client.base_url)
                restore_hook = (self.client, self.client.on_response, self.client.retry)
                previous = self.client.on_response
                self.client.on_response = self._hooked(previous)
                self.client.retry = replace(self.client.retry, attempts=1)  # the runner owns retries
                if self.adaptive:
                    self.controller = AdaptiveConcurrency(
                        self.limiter, initial=self.initial_concurrency, maximum=self.max_concurrency
                    )
                self.run_id = self.journal.begin_run()
                self.journal.start_group_commit()
            if stop_requested:
                self.state = "stopping"
                self._stop_event.set()
            await self._execute()
            self.state = "stopped" if self.state == "stopping" or self.fatal_error else "finished"
        except BaseException:
            self.state = "stopped"
            raise
        finally:
            self._flush(force=True)
            if self.run_id is not None and self.journal is not None:
                with contextlib.suppress(MigrateError):
                    self.journal.end_run(self.run_id, self.state)
                try:
                    self.journal.stop_group_commit()
                except JournalError as exc:  # records queued at the end were lost: the same one-line end
                    self._journal_failed(exc)
                    self.state = "stopped"
            if restore_hook is not None:
                client, hook, retry = restore_hook
                client.on_response, client.retry = hook, retry
            if own_client and self.client is not None:
                await self.client.aclose()
            if own_journal and self.journal is not None:
                self.journal.close()
            self._report()
        if self.journal_error is not None:
            raise JournalError(self.journal_error)
        return self.plan

    def _journal_failed(self, exc: JournalError) -> None:
        """The journal cannot record: stop the whole run now (no request goes out that it could not record)."""
        if self.journal_error is None:
            detail = self.journal.write_error if self.journal is not None else None
            path = self.journal.path if self.journal is not None else self._journal_arg
            # not fatal_error (the portal refusing the token): run() raises this one as a JournalError at its end
            self.journal_error = journal_failure_message(path, detail or str(exc))
            if self._halt_event is not None:
                self._halt_event.set()
            self.stop()

    @property
    def _halted(self) -> bool:
        return self.journal_error is not None

    async def _durable(self) -> None:
        """Wait until the intent just recorded is on disk; if it cannot be, halt the run (``_Stopped``)."""
        assert self.journal is not None
        try:
            await asyncio.wrap_future(self.journal.durable())
        except JournalError as exc:
            self._journal_failed(exc)
            raise _Stopped from None

    def _make_client(self) -> tuple[AsyncPortalClient, bool]:
        arg = self._client_arg
        if isinstance(arg, AsyncPortalClient):
            return arg, False
        settings = arg if isinstance(arg, Settings) else Settings.from_env()
        return AsyncPortalClient(settings=settings), True

    @property
    def settings(self) -> Settings:
        if self.client is not None:
            return self.client.settings
        if isinstance(self._client_arg, Settings):
            return self._client_arg
        return Settings()

    def _hooked(self, previous: Any) -> Callable[[str, str, int | None, float], None]:
        meter = self.meter

        def hook(method: str, path: str, status: int | None, seconds: float) -> None:
            meter.observe(status, time.perf_counter())
            if self.controller is not None:
                self.controller.observe(status, seconds)
            if previous is not None:
                previous(method, path, status, seconds)

        return hook

    # -- preparing rows -----------------------------------------------------------------------------
    def _scope_index(self) -> pd.Index:
        if self.scope is None:
            return self.plan.index
        return self.plan.index[self.plan.index.isin(self.scope)]

    def _prepare_rows(self) -> None:
        plan = self.plan
        n = len(plan)
        # outcome columns: created once (in place), kept for out-of-scope rows on a rerun
        for col in OUTCOME_COLUMNS:
            if col == "app_id":
                if plan["app_id"].dtype != "Int64":
                    plan["app_id"] = pd.array([_int_or_none(v) for v in plan["app_id"]], dtype="Int64")
                continue
            if col in plan.columns:
                continue
            if col in _INT_COLS:
                plan[col] = pd.array([None] * n, dtype="Int64")
            elif col in _TIME_COLS:
                plan[col] = pd.Series(pd.NaT, index=plan.index, dtype="datetime64[ns, UTC]")
            elif col == "status":
                plan[col] = pd.Series(["pending"] * n, index=plan.index, dtype="str")
            else:
                plan[col] = pd.Series([None] * n, index=plan.index, dtype="str")
        if "credential_id" in plan.columns and plan["credential_id"].dtype != "Int64":
            plan["credential_id"] = pd.array([_int_or_none(v) for v in plan["credential_id"]], dtype="Int64")

        self._cols: dict[str, list[Any]] = {
            "status": list(plan["status"].astype(object).where(plan["status"].notna(), None)),
            "app_id": [_int_or_none(v) for v in plan["app_id"]],
            "credential_id": [_int_or_none(v) for v in plan["credential_id"]],
            "http_status": [_int_or_none(v) for v in plan["http_status"]],
            "error": list(plan["error"].astype(object).where(plan["error"].notna(), None)),
            "attempts": [_int_or_none(v) for v in plan["attempts"]],
            "started_at": [_ns(v) for v in plan["started_at"]],
            "finished_at": [_ns(v) for v in plan["finished_at"]],
            "batch": [_int_or_none(v) for v in plan["batch"]],
        }
        in_scope = plan.index.isin(self._scope_index()) if self.scope is not None else [True] * n
        positions = [i for i in range(n) if in_scope[i]]
        self._positions = positions
        self._total = len(positions)
        self._batches = math.ceil(len(positions) / self.batch_size) if positions else 0

        self._key = list(plan["key_id"])
        self._fp = [str(v) if isinstance(v, str) else None for v in plan["key_fingerprint"]]
        self._user = [_int_or_none(v) for v in plan["user_id"]]
        self._app_name = [v if isinstance(v, str) else None for v in plan["app_name"]]
        self._plan_id = [_int_or_none(v) for v in plan["plan_id"]]
        self._products = [_ids(v) for v in plan["product_ids"]]
        self._action = [str(v) if isinstance(v, str) else "" for v in plan["action"]]
        self._plan_app = list(self._cols["app_id"])
        self._plan_cred = list(self._cols["credential_id"])
        # rows this frame itself saw created (a Continue after Stop): their journal record needs no lookup
        self._seen_created = [status == "created" for status in self._cols["status"]]
        self._reason = (
            [v if isinstance(v, str) else None for v in plan["reason"]] if "reason" in plan.columns else [None] * n
        )
        self._alias = [v if isinstance(v, str) else "" for v in plan["alias"]] if "alias" in plan.columns else [""] * n
        self._source_row = [_int_or_none(v) for v in plan["source_row"]] if "source_row" in plan.columns else [None] * n
        for k, pos in enumerate(positions):
            self._set(
                pos,
                status="pending",
                http_status=None,
                error=None,
                attempts=None,
                started_at=_NAT,
                finished_at=_NAT,
                batch=k // self.batch_size + 1,
                app_id=self._plan_app[pos],
                credential_id=self._plan_cred[pos],
            )
        self._counts = collections.Counter({"pending": len(positions)})
        self._flush(force=True)

    # -- writing back -------------------------------------------------------------------------------
    def _set(self, pos: int, **values: Any) -> None:
        cols = self._cols
        for name, value in values.items():
            cols[name][pos] = value
        self._dirty = True

    def _flush(self, force: bool = False) -> None:
        """Copy the outcome lists into the frame's columns (in place): at most every ``flush_interval``."""
        if not getattr(self, "_dirty", False) or not hasattr(self, "_cols"):
            return
        now = time.perf_counter()
        if not force and now - self._last_flush < max(self.flush_interval, 20 * self._flush_cost):
            return
        plan, cols = self.plan, self._cols
        began = time.perf_counter()
        for name in _INT_COLS:
            plan[name] = pd.array(cols[name], dtype="Int64")
        for name in _TIME_COLS:
            values = np.asarray(cols[name], dtype=np.int64).view("datetime64[ns]")
            plan[name] = pd.Series(values, index=plan.index).dt.tz_localize("UTC")
        for name in _STR_COLS:
            plan[name] = pd.Series(cols[name], index=plan.index, dtype="str")
        self._last_flush = time.perf_counter()
        self._dirty = False
        # keep flushing cheap on big frames: at most ~5% of the time goes to copying columns
        self._flush_cost = self._last_flush - began

    def _finish(self, pos: int, status: str, **values: Any) -> None:
        old = self._cols["status"][pos]
        self._counts[old] -= 1
        self._counts[status] += 1
        if self.controller is not None and not self.controller.hold:
            # the last few rounds gain nothing from probing for more; a refused probe would delay the end
            self.controller.hold = self._counts["pending"] < 4 * self.controller.limit
        self._set(pos, status=status, finished_at=_utcnow(), **values)
        self._done_times.append(time.perf_counter())
        self._flush()
        self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)

    def _rows_per_second(self, now: float) -> float:
        times = self._done_times
        while times and now - times[0] > 10.0:
            times.popleft()
        if len(times) < 2:
            return 0.0
        return len(times) / max(now - times[0], 1e-3)

    # -- scheduling ----------------------------------------------------------------------------------
    async def _execute(self) -> None:
        assert self.journal is not None
        journal = self.journal
        seen: dict[str, int] = {}
        work: list[list[int]] = []
        if not self.dry_run:
            for pos in self._positions:
                self._settle_app_intent(pos, journal)
        for start in range(0, len(self._positions), self.batch_size):
            chunk = self._positions[start : start + self.batch_size]
            work.append([pos for pos in chunk if not self._settle_without_request(pos, seen, journal)])
        # one app per (user, app name) among the rows that need a new app, across batches
        for rows in work:
            for pos in rows:
                if self._plan_app[pos] is None:
                    key = (int(self._user[pos]), str(self._app_name[pos]))  # type: ignore[arg-type]
                    group = self._groups.get(key)
                    if group is None:
                        group = self._groups[key] = _Group(key[0], key[1], [])
                    group.rows.append(pos)
                    group.left += 1
        self._flush(force=True)
        # A sliding window of rows, not a barrier per batch: a row waiting out a Retry-After or a backoff
        # must not hold up the rows behind it. Batches still order the work: when a batch opens, its apps
        # are queued first, then its rows are admitted as earlier rows finish.
        window = asyncio.Semaphore(max(2 * self.batch_size, 4 * self.max_concurrency))
        tasks: list[asyncio.Task[None]] = []
        for number, rows in enumerate(work, start=1):
            await self._wait_running()
            if self.state == "stopping":
                break
            self._batch = number
            tasks.extend(self._open_batch(rows))
            for pos in rows:
                await window.acquire()
                if self.state == "stopping":
                    window.release()
                    break
                task = asyncio.create_task(self._row_task(pos))
                task.add_done_callback(lambda _: window.release())
                tasks.append(task)
        if tasks:
            await asyncio.gather(*tasks)
        if self._compensations:
            await asyncio.gather(*self._compensations)
        self._flush(force=True)

    def _settle_app_intent(self, pos: int, journal: Journal) -> None:
        """An app intent left open (killed after its POST, before the outcome) whose app the plan now names:
        if the portal did not list that app when the intent was made, the POST made it: journal it created by
        that run (rollback then removes it). An app listed before the intent is never taken for ours."""
        app_id, user_id, name = self._plan_app[pos], self._user[pos], self._app_name[pos]
        if app_id is None or user_id is None or name is None or self._action[pos] == "blocked":
            return
        rec = journal.app(user_id, name)
        if rec is None or rec.state != "intent":
            return
        if rec.made_after_intent([app_id]):
            journal.app_outcome(
                user_id, name, "created", app_id=app_id, run_id=rec.run_id, how="adopted", attempts=rec.attempts
            )
        elif rec.prior_app_ids is None:  # a version-1 intent: nothing tells its POST's app from someone else's
            journal.app_outcome(user_id, name, "reused", app_id=app_id, how="reused", attempts=rec.attempts)
        # else: the plan names an app that was there before the intent; the intent stays open for rollback

    def _settle_without_request(self, pos: int, seen: dict[str, int], journal: Journal) -> bool:
        """Rows that need no request: blocked, skipped, done per the journal, incomplete plan rows."""
        action = self._action[pos]
        fp = self._fp[pos]
        now = _utcnow()
        if action == "blocked":
            self._set(pos, started_at=now)
            self._finish(pos, "blocked", error=self._reason[pos] or "blocked by the plan")
            return True
        if fp is None:
            self._set(pos, started_at=now)
            self._finish(pos, "failed", error="the row has no key fingerprint")
            return True
        if fp in seen:
            self._set(pos, started_at=now)
            self._finish(pos, "failed", error=f"the same key appears twice in the plan (first at row {seen[fp]})")
            return True
        seen[fp] = self._source_row[pos] or pos + 1
        rec = journal.credential(fp)
        # "created" settles a row only when the fresh plan agrees the key is there, or when this frame saw that
        # very credential created; otherwise the plan still asks for the write because the credential was
        # deleted since (or never landed), and _credential looks it up first
        confirmed = rec is not None and (
            action not in WRITE_ACTIONS or (self._seen_created[pos] and self._plan_cred[pos] == rec.credential_id)
        )
        if rec is not None and (rec.state == "mismatch" or (rec.state == "created" and confirmed)):
            self._set(pos, started_at=now)
            if rec.state == "created":
                self._finish(
                    pos,
                    "created",
                    app_id=rec.app_id,
                    credential_id=rec.credential_id,
                    http_status=rec.http_status,
                    attempts=rec.attempts,
                    error=rec.error,
                )
            else:
                self._finish(
                    pos,
                    "failed",
                    app_id=rec.app_id,
                    credential_id=rec.credential_id,
                    http_status=rec.http_status,
                    attempts=rec.attempts,
                    error=rec.error or "the credential read back differs from the request",
                )
            return True
        if intent_landed(rec, action) and self._plan_cred[pos] is not None:
            # our write whose answer was lost (the planner now sees the key): it is ours, adopt it
            if not self.dry_run:
                journal.credential_outcome(
                    fp,
                    "created",
                    credential_id=self._plan_cred[pos],
                    app_id=self._plan_app[pos],
                    run_id=rec.run_id,
                    how="adopted",
                    attempts=rec.attempts,
                )
            self._set(pos, started_at=now)
            self._finish(pos, "created", credential_id=self._plan_cred[pos], attempts=rec.attempts)
            return True
        if action == "skip_existing":
            self._set(pos, started_at=now)
            self._finish(pos, "skipped", error=None, http_status=None)
            return True
        if action not in WRITE_ACTIONS:
            self._set(pos, started_at=now)
            self._finish(pos, "failed", error=f"unknown plan action {action!r}")
            return True
        problems = []
        if self._user[pos] is None:
            problems.append("no portal user")
        if self._plan_id[pos] is None:
            problems.append("no plan")
        if not self._products[pos]:
            problems.append("no products")
        if self._plan_app[pos] is None and not self._app_name[pos]:
            problems.append("no app name")
        key = self._key[pos]
        if not is_key(key) or not key:
            problems.append("no key value")
        elif fingerprint(key) != fp:
            problems.append("key_fingerprint does not match key_id")
        if problems:
            self._set(pos, started_at=now)
            self._finish(pos, "failed", error="incomplete plan row: " + ", ".join(problems))
            return True
        if self.dry_run:
            self._set(pos, started_at=now)
            self._finish(pos, "dry_run", error=None)
            return True
        return False

    def _open_batch(self, rows: list[int]) -> list[asyncio.Task[None]]:
        """Queue the batch's app creations (one per group not yet started) ahead of its credentials."""
        app_tasks = []
        for pos in rows:
            if self._plan_app[pos] is None:
                group = self._groups[(int(self._user[pos]), str(self._app_name[pos]))]  # type: ignore[arg-type]
                if group.future is None:
                    group.future = asyncio.get_running_loop().create_future()
                    app_tasks.append(asyncio.create_task(self._app_task(group)))
        return app_tasks

    async def _wait_running(self) -> None:
        if self._running is not None and not self._running.is_set():
            await self._running.wait()

    @contextlib.asynccontextmanager
    async def _slot(self, *, new_write: bool, urgent: bool = False) -> AsyncIterator[None]:
        """One request's place under the concurrency limit; waits while paused.

        When stopping, new writes are refused (``_Stopped``) but follow-ups of a started row (lookups,
        read-backs, compensation) still run so the journal ends consistent.
        """
        while True:
            await self._wait_running()
            if (new_write and self.state == "stopping") or self._halted:
                raise _Stopped
            await self.limiter.acquire(urgent or not new_write)
            # paused or stopped while queued for the slot: give it back and look again
            if (self._running is None or self._running.is_set()) and not (new_write and self.state == "stopping"):
                break
            self.limiter.release()
        try:
            yield
        finally:
            self.limiter.release()

    async def _sleep(self, seconds: float, *, abortable: bool = True) -> None:
        """``abortable``: a stop ends the wait; otherwise only a failed journal does (nothing can be recorded)."""
        if seconds <= 0:
            return
        event = self._stop_event if abortable else self._halt_event
        if event is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    async def _read(self, make: Callable[[], Awaitable[T]]) -> T:
        """A read with the runner's retries (the slot is released while waiting)."""
        retry = 0
        while True:
            retry += 1
            try:
                async with self._slot(new_write=False):
                    return await make()
            except (PortalConnectionError, PortalServerError, RateLimited) as exc:
                if retry >= self.max_attempts:
                    raise
                await self._sleep(self.retry.delay(retry, getattr(exc, "retry_after", None)), abortable=False)

    # -- apps -------------------------------------------------------------------------------------------
    async def _app_task(self, group: _Group) -> None:
        assert group.future is not None
        try:
            group.app_id = await self._ensure_app(group)
        except _Stopped:
            group.stopped = True
            group.error = (
                "stopped: the journal failed before its app was settled; rerun to resume"
                if self._halted
                else "stopped before its app was created; rerun to resume"
            )
        except _NoListing as exc:
            group.error = f"app not created: the portal's apps could not be listed to look for it ({exc}); rerun"
        except _Unresolved as exc:
            group.error = f"app creation outcome unknown ({exc}); rerun to resolve it"
        except PortalError as exc:
            group.error = f"app not created: {_message(exc)}"
        except Exception as exc:
            group.error = f"app not created: {type(exc).__name__}: {_message(exc)}"
        group.future.set_result(group.app_id)

    async def _ensure_app(self, group: _Group) -> int:
        journal, client = self.journal, self.client
        assert journal is not None and client is not None and self.run_id is not None
        run_id, user_id, name = self.run_id, group.user_id, group.app_name
        rec = journal.app(user_id, name)
        # Who holds this owner and name now? A listing of this run, at most APP_LISTING_MAX_AGE old, decides:
        # the plan may be stale, or another journal may have made the app since. Nothing is sent without it.
        try:
            listed = await self._app_ids(user_id, name, max(self._started, time.perf_counter() - APP_LISTING_MAX_AGE))
        except _Unresolved as exc:
            raise _NoListing(str(exc)) from None
        choice = choose_app(rec, listed)
        if choice.kind != "post":
            assert choice.app_id is not None
            return self._take_app(group, rec, choice.kind, choice.app_id)
        prior = listed  # the apps of this owner and name before the POST (none): only a new one can be ours
        sent = rec.attempts if rec is not None and rec.state in ("intent", "created") else 0
        unknown, unknown_since = False, -math.inf
        failures = rate_limited = 0
        last: PortalError | None = None
        while True:
            if unknown:
                found = await self._app_ids(user_id, name, unknown_since)
                current = journal.app(user_id, name)
                made = oldest_app(current.made_after_intent(found)) if current is not None else None
                if made is not None:
                    journal.app_outcome(
                        user_id,
                        name,
                        "created",
                        app_id=made,
                        run_id=run_id,
                        how="adopted",
                        attempts=sent,
                        http_status=last.status if last else None,
                    )
                    group.created_here = True
                    return made
                prior, unknown = found, False
            if failures >= self.max_attempts or rate_limited >= self.max_rate_limited:
                error = f"gave up after {sent} attempts: {_message(last) if last else 'no answer'}"
                journal.app_outcome(
                    user_id, name, "failed", attempts=sent, http_status=last.status if last else None, error=error
                )
                raise last if last is not None else MigrateError(error)
            try:
                async with self._slot(new_write=True, urgent=True):
                    sent += 1
                    journal.app_intent(user_id, name, run_id=run_id, attempts=sent, prior_app_ids=prior)
                    await self._durable()  # the intent is on disk before the write
                    body = await client.create_app(name, user_id)
            except RateLimited as exc:  # refused before anything was done: safe to send again
                last, rate_limited = exc, rate_limited + 1
                await self._sleep(self.retry.delay(min(rate_limited, 6), exc.retry_after))
                continue
            except (Rejected, NotFound, AuthError) as exc:
                journal.app_outcome(user_id, name, "failed", attempts=sent, http_status=exc.status, error=_message(exc))
                if isinstance(exc, AuthError):
                    self._fatal(exc)
                raise
            except (PortalConnectionError, PortalServerError, UnexpectedAnswer) as exc:
                last, unknown, unknown_since, failures = exc, True, time.perf_counter(), failures + 1
                await self._sleep(self.retry.delay(failures, getattr(exc, "retry_after", None)), abortable=False)
                continue
            app_id = _int_or_none(body.get("ID")) if isinstance(body, dict) else None
            if app_id is None:
                last = UnexpectedAnswer("the app answer has no ID", method="POST", path="/apps")
                unknown, unknown_since, failures = True, time.perf_counter(), failures + 1
                continue
            journal.app_outcome(
                user_id, name, "created", app_id=app_id, run_id=run_id, how="posted", http_status=200, attempts=sent
            )
            self._apps_index.setdefault((user_id, name), []).append(app_id)
            group.created_here = True
            return app_id

    def _take_app(self, group: _Group, rec: AppRecord | None, kind: str, app_id: int) -> int:
        """Use an app that exists: ours (journalled created), made by an open intent's POST, or reused."""
        journal, run_id = self.journal, self.run_id
        assert journal is not None and run_id is not None
        user_id, name = group.user_id, group.app_name
        attempts = rec.attempts if rec is not None else 0
        if kind == "ours":
            group.created_here = rec is not None and rec.run_id == run_id
        elif kind == "adopt":  # an earlier run's POST whose answer it never got: the app is ours
            journal.app_outcome(
                user_id, name, "created", app_id=app_id, run_id=run_id, how="adopted", attempts=attempts
            )
            group.created_here = True
        elif rec is None or (rec.state, rec.app_id) != ("reused", app_id):
            # someone else's app of this owner and name: the keys go into it, the migration never deletes it
            journal.app_outcome(user_id, name, "reused", app_id=app_id, run_id=run_id, how="reused", attempts=attempts)
        return app_id

    async def _app_ids(self, user_id: int, name: str, since: float) -> list[int]:
        """IDs of the apps with this owner and name, from an index of all apps listed after ``since``."""
        tries = 0
        while True:
            tries += 1
            try:
                await self._refresh_apps(since)
                break
            except PortalError as exc:
                if tries >= 4:
                    raise _Unresolved(_message(exc)) from exc
                await self._sleep(self.retry.delay(tries), abortable=False)
        return self._apps_index.get((user_id, name), [])

    async def _refresh_apps(self, since: float) -> None:
        """List every app once for all rows waiting on a lookup (coalesced: one walk serves many)."""
        while True:
            task = self._apps_refresh
            failed = task is not None and task.done() and (task.cancelled() or task.exception() is not None)
            if task is None or failed or (task.done() and self._apps_refresh_started < since):
                self._apps_refresh_started = time.perf_counter()
                self._apps_refresh = asyncio.create_task(self._list_apps())
                continue
            if self._apps_refresh_started >= since:
                await asyncio.shield(task)
                return
            with contextlib.suppress(Exception):
                await asyncio.shield(task)  # a listing begun before our write: wait, then list again

    async def _list_apps(self) -> None:
        assert self.client is not None
        client = self.client
        self._apps_index = apps_by_owner_name(await self._read(lambda: client.list_apps()))

    # -- credentials ------------------------------------------------------------------------------------
    async def _row_task(self, pos: int) -> None:
        group: _Group | None = None
        try:
            if self._plan_app[pos] is None:
                group = self._groups[(int(self._user[pos]), str(self._app_name[pos]))]  # type: ignore[arg-type]
                assert group.future is not None
                app_id = await group.future
                if app_id is None:
                    self._set(pos, started_at=_utcnow())
                    self._finish_row(pos, "pending" if group.stopped else "failed", group, error=group.error)
                    return
            else:
                app_id = int(self._plan_app[pos])
            await self._credential(pos, app_id, group)
        except _Stopped:  # the journal failed while this row was under way: a rerun looks up what it sent
            self._finish_row(pos, "pending", group, error="stopped when the journal failed; rerun to resolve it")
        except Exception as exc:
            self._finish_row(pos, "failed", group, error=f"{type(exc).__name__}: {_message(exc, self._key[pos])}")

    def _finish_row(
        self, pos: int, status: str, group: _Group | None, *, unresolved: bool = False, **values: Any
    ) -> None:
        """``unresolved``: failed for this run, but the write may have landed; its app is not "empty"."""
        if status == "pending":  # stopped: stays to do, with a word why
            self._set(pos, **values)
            self._report()
        else:
            self._finish(pos, status, **values)
        if group is None:
            return
        group.left -= 1
        if status == "created":
            group.created += 1
        elif status == "failed" and not unresolved:
            group.failed += 1
        if (
            group.left == 0
            and self.delete_empty_apps
            and group.created_here
            and group.app_id is not None
            and group.failed == len(group.rows)
        ):
            self._compensations.append(asyncio.create_task(self._delete_empty_app(group)))

    async def _credential(self, pos: int, app_id: int, group: _Group | None) -> None:
        journal, client = self.journal, self.client
        assert journal is not None and client is not None and self.run_id is not None
        run_id, fp = self.run_id, self._fp[pos]
        assert fp is not None
        key, plan_id, products = self._key[pos], int(self._plan_id[pos]), self._products[pos]  # type: ignore[arg-type]
        self._set(pos, started_at=_utcnow(), app_id=app_id)
        rec = journal.credential(fp)
        # an intent (outcome unknown) or a "created" the plan contradicts: either way, look it up before a write
        unknown = rec is not None and rec.state in ("intent", "created") and rec.app_id is not None
        doubted = unknown  # some earlier write of this key may have landed: a "key exists" answer is then ours
        conflict: Rejected | None = None
        if unknown and rec is not None and rec.app_id is not None and rec.app_id != app_id:
            # an earlier run wrote to another app (the plan changed since): settle it there first
            found = await self._find_credential(rec.app_id, fp)
            if found is not None:
                await self._accept(pos, rec.app_id, found, rec.attempts, group, how="adopted", status=None)
                return
            unknown = False
        sent = rec.attempts if unknown and rec is not None else 0
        failures = rate_limited = 0
        last: PortalError | None = None
        settings = self.settings
        while True:
            if unknown:
                try:
                    found = await self._find_credential(app_id, fp)
                except _Unresolved as exc:
                    self._finish_row(
                        pos,
                        "failed",
                        group,
                        unresolved=True,
                        attempts=sent,
                        http_status=last.status if last else None,
                        error=f"outcome of the last write unknown ({exc}); rerun to resolve it",
                    )
                    return
                if found is not None:
                    await self._accept(pos, app_id, found, sent, group, how="adopted", status=None)
                    return
                if conflict is not None:
                    # Our lost write may have landed where the listing does not show it yet, or the key may be
                    # someone else's: the intent stays open, and the rerun's fresh plan (or rollback) settles it.
                    error = (
                        f"the portal says the key exists, but app {app_id} does not list it (yet); an earlier "
                        f"write may have landed: rerun to resolve it ({_message(conflict, key)})"
                    )
                    self._finish_row(
                        pos, "failed", group, unresolved=True, attempts=sent, http_status=conflict.status, error=error
                    )
                    return
                unknown = False
            if failures >= self.max_attempts or rate_limited >= self.max_rate_limited:
                error = f"gave up after {sent} attempts: {_message(last, key) if last else 'no answer'}"
                self._fail_credential(pos, group, attempts=sent, http_status=last.status if last else None, error=error)
                return
            try:
                async with self._slot(new_write=True):
                    sent += 1
                    journal.credential_intent(
                        fp,
                        app_id=app_id,
                        run_id=run_id,
                        attempts=sent,
                        source_row=self._source_row[pos],
                        user_id=self._user[pos],
                        app_name=self._app_name[pos],
                        batch=self._cols["batch"][pos],
                    )
                    await self._durable()  # the intent is on disk before the write
                    body = await client.create_credential(
                        app_id,
                        key_id=key,
                        plan_id=plan_id,
                        product_ids=products,
                        alias=self._alias[pos],
                        auth_token_type=settings.auth_token_type,
                        authentication_method=settings.authentication_method,
                    )
            except _Stopped:
                if self._halted:
                    error = "not sent: the journal could not record it; rerun to resume"
                elif not sent:
                    error = "stopped before this row was sent; rerun to resume"
                else:
                    error = "stopped before a retry; rerun to resume"
                self._finish_row(pos, "pending", group, attempts=sent or None, error=error)
                return
            except RateLimited as exc:  # refused before anything was done: safe to send again
                last, rate_limited = exc, rate_limited + 1
                await self._sleep(self.retry.delay(min(rate_limited, 6), exc.retry_after))
                continue
            except (Rejected, NotFound, AuthError) as exc:
                if doubted and isinstance(exc, Rejected) and _key_exists(exc):
                    conflict, unknown = exc, True  # our lost write landed after all? look it up (in this app)
                    continue
                error = _message(exc, key)
                if isinstance(exc, Rejected) and any(
                    w in error.lower() for w in ("authtokentype", "auth token type", "auth_token")
                ):
                    error += _token_type_hint(settings)
                self._fail_credential(pos, group, attempts=sent, http_status=exc.status, error=error)
                if isinstance(exc, AuthError):
                    self._fatal(exc)
                return
            except (PortalConnectionError, PortalServerError, UnexpectedAnswer) as exc:
                last, unknown, doubted, failures = exc, True, True, failures + 1
                await self._sleep(self.retry.delay(failures, getattr(exc, "retry_after", None)), abortable=False)
                continue
            await self._accept(pos, app_id, body, sent, group, how="posted", status=201)
            return

    def _fail_credential(
        self, pos: int, group: _Group | None, *, attempts: int, http_status: int | None, error: str
    ) -> None:
        """Journal and report a credential row that failed."""
        fp = self._fp[pos]
        assert self.journal is not None and fp is not None
        self.journal.credential_outcome(fp, "failed", attempts=attempts, http_status=http_status, error=error)
        self._finish_row(pos, "failed", group, attempts=attempts, http_status=http_status, error=error)

    async def _accept(
        self, pos: int, app_id: int, body: Any, attempts: int, group: _Group | None, *, how: str, status: int | None
    ) -> None:
        """Journal a credential that exists, read it back, and fail the row loudly if it differs."""
        journal = self.journal
        assert journal is not None
        fp = self._fp[pos]
        assert fp is not None
        cred_id = _int_or_none(body.get("ID")) if isinstance(body, dict) else None
        if cred_id is None:
            error = "the portal answered the create without a credential ID"
            self._fail_credential(pos, group, attempts=attempts, http_status=status, error=error)
            return
        journal.credential_outcome(
            fp,
            "created",
            credential_id=cred_id,
            app_id=app_id,
            run_id=self.run_id,
            how=how,
            http_status=status,
            attempts=attempts,
        )
        plan_id, products = int(self._plan_id[pos]), self._products[pos]  # type: ignore[arg-type]
        note = None
        if self.verify_readback:
            problems = (
                compare_credential(body, key_fingerprint=fp, plan_id=plan_id, product_ids=products)
                if how == "adopted" or "KeyID" in body
                else []
            )
            if not problems and how == "posted":
                try:
                    client = self.client
                    assert client is not None
                    answer = await self._read(lambda: client.get_credential(app_id, cred_id))
                    problems = compare_credential(answer, key_fingerprint=fp, plan_id=plan_id, product_ids=products)
                except PortalError as exc:
                    note = f"created, but the read-back failed: {_message(exc)}"
            if problems:
                await self._mismatch(pos, app_id, cred_id, attempts, status, problems, group)
                return
        if note:
            journal.credential_outcome(fp, "created", http_status=status, error=note)
        self._finish_row(
            pos,
            "created",
            group,
            app_id=app_id,
            credential_id=cred_id,
            http_status=status,
            attempts=attempts,
            error=note,
        )

    async def _mismatch(
        self,
        pos: int,
        app_id: int,
        cred_id: int,
        attempts: int,
        status: int | None,
        problems: list[str],
        group: _Group | None,
    ) -> None:
        journal, client = self.journal, self.client
        assert journal is not None and client is not None
        fp = self._fp[pos]
        assert fp is not None
        err = CredentialMismatch(f"credential {cred_id} read back differs from the request: " + "; ".join(problems))
        error = str(err)
        if any("issued its own key" in p for p in problems):
            error += _token_type_hint(self.settings)
        try:
            await self._delete(lambda: client.delete_credential(app_id, cred_id))
            error += "; the credential was deleted"
            journal.credential_outcome(fp, "failed", attempts=attempts, http_status=status, error=error)
            cred: int | None = None
        except PortalError as exc:
            error += f"; deleting it failed ({_message(exc)}): rollback removes it"
            journal.credential_outcome(fp, "mismatch", attempts=attempts, http_status=status, error=error)
            cred = cred_id
        self._finish_row(
            pos,
            "failed",
            group,
            app_id=app_id,
            credential_id=cred,
            http_status=status,
            attempts=attempts,
            error=error,
        )

    async def _find_credential(self, app_id: int, fp: str) -> dict[str, Any] | None:
        assert self.client is not None
        client = self.client
        try:
            items = await self._read(lambda: client.list_credentials(app_id))
        except NotFound:
            return None
        except PortalError as exc:
            raise _Unresolved(_message(exc)) from exc
        for item in items:
            key = item.get("KeyID") if isinstance(item, dict) else None
            if isinstance(key, str) and key and fingerprint(key) == fp:
                return item
        return None

    async def _delete(self, make: Callable[[], Awaitable[Any]]) -> None:
        """DELETE is idempotent: retry freely; NotFound after a lost answer means done."""
        try:
            await self._read(make)
        except NotFound:
            return

    async def _delete_empty_app(self, group: _Group) -> None:
        """Compensation: an app this run created whose every credential failed is removed again, but only if it
        holds nothing the migration did not put there (listed first: someone may have added a key of their own)."""
        journal, client = self.journal, self.client
        assert journal is not None and client is not None and group.app_id is not None
        app_id = group.app_id
        if self._halted:  # a deletion the journal cannot record is not made
            return
        try:
            try:
                items = await self._read(lambda: client.list_credentials(app_id))
            except NotFound:
                items = []
            foreign = foreign_credentials(items, journal.credentials_of_app(app_id))
            if foreign:
                note = f"; its app {app_id} was kept: it holds {foreign} credential(s) the migration did not create"
                for pos in group.rows:
                    self._set(pos, error=(self._cols["error"][pos] or "") + note)
                self._flush()
                return
            await self._delete(lambda: client.delete_app(app_id))
        except _Stopped:
            return
        except PortalError as exc:
            note = f"; its app {app_id} (created by this run, no credential succeeded) could not be deleted: "
            note += _message(exc)
            for pos in group.rows:
                self._set(pos, error=(self._cols["error"][pos] or "") + note)
            return
        journal.app_outcome(group.user_id, group.app_name, "deleted", app_id=app_id)
        for rec in list(journal.credentials_of_app(app_id)):
            if rec.state in ("intent", "mismatch"):
                journal.credential_outcome(rec.fingerprint, "failed", error=(rec.error or "") + " (app deleted)")
        note = f"; its app {app_id} was deleted again because no credential of it succeeded"
        for pos in group.rows:
            self._set(pos, app_id=None, credential_id=None, error=(self._cols["error"][pos] or "") + note)
        self._flush()
        self._report()

    def _fatal(self, exc: PortalError) -> None:
        if self.fatal_error is None:
            self.fatal_error = f"stopped: the portal refused the token ({_message(exc)})"
            self.stop()


def apply_plan(
    plan: pd.DataFrame,
    client: AsyncPortalClient | Settings | None,
    journal: Journal | str | Path,
    **kw: Any,
) -> pd.DataFrame:
    """Run a migration to the end and return the plan frame with its outcome columns (sync wrapper)."""
    migration = Migration(plan, client, journal, **kw)
    return run_sync(migration.run)


# ------------------------------------------------------------------------------------------------
# rollback
# ------------------------------------------------------------------------------------------------
