"""Prove that migrated keys open the gateway: one call per key, with the key the client already has.

``verify_access`` takes the outcome frame of a run (``status`` created/skipped rows are the migrated keys),
calls the gateway on an API of each key's products and records what the gateway answered. A ``200`` means
the key, its plan and its products are live; ``401`` and ``403`` that the gateway refuses it (unknown,
not provisioned by a half-done create, too short for the gateway's minimum, or not allowed on that API:
``verify_error`` says which it can tell, and what to do), ``429`` that its plan's rate limit was hit even
after a short backoff.

The raw key goes only into the request header of the call; errors are recorded with the key scrubbed,
and the frame keeps its ``SecretKey`` objects, so displaying the result never shows a key.

The work is async (httpx) with bounded concurrency and an optional global rate; the sync entry point runs
the loop itself, or in a worker thread when a loop is already running (JupyterLab), so a notebook cell is
one plain call.

Parts by job: ``verify_targets`` (header, gateway URL, each key's API, sample, pacing), ``verify_hints``
(what a 401 or 403 means), ``verify_frames`` (summaries of a verified frame), ``verify_journal`` (an outcome
frame from a journal); every public name stays importable from here.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pandas as pd

from . import vocabulary
from .aio import run_sync
from .errors import ConfigError, InputError
from .retry import RetryPolicy, parse_retry_after
from .scrub import scrub_keys
from .secrets import KeyValue, is_key, reveal
from .transport import lean_transport
from .verify_frames import MEANINGS, verification_attempted, verification_summary, verified_ok
from .verify_hints import GatewayHints
from .verify_journal import outcomes_from_journal
from .verify_targets import (
    HEADER_STYLES,
    RateLimiter,
    _gateway_base,
    _target_for,
    api_targets,
    auth_headers,
    select_sample,
)

if TYPE_CHECKING:
    from .snapshot import PortalSnapshot

# split by job (verify_targets, verify_frames, verify_journal, verify_hints); importable from here as before
__all__ = [
    "HEADER_STYLES",
    "MEANINGS",
    "MIGRATED_STATUSES",
    "VERIFY_COLUMNS",
    "RateLimiter",
    "_gateway_base",
    "api_targets",
    "auth_headers",
    "outcomes_from_journal",
    "select_sample",
    "verification_attempted",
    "verification_summary",
    "verified_ok",
    "verify_access",
    "verify_access_async",
]

#: Outcome statuses whose key is in the portal after the run, hence worth a gateway call.
MIGRATED_STATUSES = vocabulary.MIGRATED_STATUSES
#: Columns ``verify_access`` adds (or overwrites).
VERIFY_COLUMNS = ("verify_status", "verify_error", "verified_at", "verify_target")

#: Progress callback: (calls done, calls to make).
Progress = Callable[[int, int], None]
T = TypeVar("T")


def _scrub(text: str, key: KeyValue) -> str:
    return scrub_keys(text, [key])  # escaped and cut echoes of the key too


@dataclass
class _Job:
    label: Any
    key: KeyValue
    url: str
    target: str
    fingerprint: Any = None
    product_id: int | None = None


@dataclass
class _Result:
    status: int | None
    error: str | None
    at: datetime


async def _call(
    http: httpx.AsyncClient,
    job: _Job,
    header_style: str,
    gate: asyncio.Semaphore,
    limiter: RateLimiter,
    policy: RetryPolicy,
) -> _Result:
    """One key's call. A 429 is the key's own plan limit (per key, so not a sign of load: concurrency stays):
    it is tried again up to ``policy.attempts`` times in all, after ``Retry-After`` or the policy's backoff,
    with the slot given back meanwhile so other keys go on; a 429 after that is the recorded answer."""
    tries = 0
    while True:
        tries += 1
        async with gate:
            await limiter.wait()
            try:
                response = await http.get(job.url, headers=auth_headers(job.key, header_style))
            except (httpx.HTTPError, ValueError) as exc:  # ValueError: a key that is not a legal header value
                message = _scrub(f"{type(exc).__name__}: {exc}".rstrip(": "), job.key)
                return _Result(None, message, datetime.now(UTC))
        if response.status_code != 429 or tries >= policy.attempts:
            error = f"rate limited by the gateway after {tries} tries" if response.status_code == 429 else None
            return _Result(response.status_code, error, datetime.now(UTC))
        await asyncio.sleep(policy.delay(tries, parse_retry_after(response.headers.get("Retry-After"))))


async def verify_access_async(
    outcomes: pd.DataFrame,
    gateway_url: str | None = None,
    *,
    snapshot: PortalSnapshot | None = None,
    sample: int | float | None = None,
    header_style: str = "authorization",
    concurrency: int = 16,
    rate_per_second: float | None = None,
    path: str = "/",
    progress: Progress | None = None,
    timeout: float = 10.0,
    retries_429: int = 3,
    max_backoff: float = 5.0,
    seed: int = 0,
    verify_tls: bool = True,
    allow_insecure_http: bool | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    min_key_length: int | None = None,
) -> pd.DataFrame:
    """Async form of :func:`verify_access` (same arguments); use it from async code."""
    _check_arguments(outcomes, header_style, concurrency)
    base = _gateway_base(gateway_url, allow_insecure_http)
    suffix = "/" + path.lstrip("/") if path else "/"

    result = outcomes.copy()
    migrated = result[result["status"].isin(MIGRATED_STATUSES)]
    chosen = select_sample(migrated, sample, seed)
    jobs, errors = _jobs(result, chosen, snapshot, base, suffix)
    statuses: dict[Any, int | None] = {}
    stamps: dict[Any, datetime | None] = {}
    where: dict[Any, str | None] = {job.label: job.target for job in jobs}

    total = len(jobs)
    done = 0
    if progress is not None:
        progress(0, total)
    if jobs:
        limiter = RateLimiter(rate_per_second)
        gate = asyncio.Semaphore(concurrency)
        hints = GatewayHints.build(snapshot, min_key_length)
        # the shared backoff (0.25 s doubling, jittered, at most max_backoff; Retry-After wins, as bounded)
        policy = RetryPolicy(
            attempts=retries_429 + 1, base=0.25, cap=max_backoff, max_retry_after=max_backoff, rng=random.Random(seed)
        )
        async with httpx.AsyncClient(**_client_options(base, concurrency, timeout, verify_tls, transport)) as http:

            async def one(job: _Job) -> None:
                nonlocal done
                outcome = await _call(http, job, header_style, gate, limiter, policy)
                statuses[job.label] = outcome.status
                errors[job.label] = outcome.error or hints.explain(
                    outcome.status, key_length=len(reveal(job.key)), fingerprint=job.fingerprint,
                    product_id=job.product_id,
                )  # fmt: skip
                stamps[job.label] = outcome.at
                done += 1
                if progress is not None:
                    progress(done, total)

            await asyncio.gather(*(one(job) for job in jobs))

    _write_columns(result, statuses, errors, stamps, where)
    return result


def _check_arguments(outcomes: pd.DataFrame, header_style: str, concurrency: int) -> None:
    if header_style not in HEADER_STYLES:
        raise ConfigError(f"header style must be one of {', '.join(HEADER_STYLES)}, got {header_style!r}")
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    missing = [c for c in ("status", "key_id") if c not in outcomes.columns]
    if missing:
        raise InputError(
            f"verify needs an outcome frame (from apply) with column(s) {', '.join(missing)}; "
            f"got columns: {', '.join(map(str, outcomes.columns[:20]))}"
        )


def _jobs(
    result: pd.DataFrame, chosen: pd.Index, snapshot: PortalSnapshot | None, base: str, suffix: str
) -> tuple[list[_Job], dict[Any, str | None]]:
    """One call per chosen row that has a key and (with a snapshot) an API; why not, for the others."""
    targets = api_targets(snapshot)
    errors: dict[Any, str | None] = {}
    jobs: list[_Job] = []
    for label in chosen:
        row = result.loc[label]
        key = row["key_id"]
        if not is_key(key) or not key:
            errors[label] = "no key value in the frame (load the export again: keys are never stored)"
            continue
        target, product_id = "", None
        if snapshot is not None:
            found = _target_for(row, targets)
            if found is None:
                errors[label] = "no API to call: none of the key's products has a listen path or API ID"
                continue
            product_id, target = found
        called = (target + suffix) if target else suffix
        jobs.append(_Job(label, key, base + called, called, row.get("key_fingerprint"), product_id))
    return jobs, errors


def _client_options(
    base: str, concurrency: int, timeout: float, verify_tls: bool, transport: httpx.AsyncBaseTransport | None
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    options: dict[str, Any] = {"timeout": httpx.Timeout(timeout), "limits": limits, "follow_redirects": False}
    # the lean transport: httpx's default pool costs milliseconds per call with many in flight
    transport = transport or lean_transport(base, verify=verify_tls, timeout=timeout, max_connections=concurrency)
    if transport is not None:
        options["transport"] = transport
    else:
        options["verify"] = verify_tls
    return options


def _write_columns(
    frame: pd.DataFrame,
    statuses: dict[Any, int | None],
    errors: dict[Any, str | None],
    stamps: dict[Any, datetime | None],
    where: dict[Any, str | None],
) -> None:
    """Set the verify columns: rows not verified this time are left empty (null)."""
    frame["verify_status"] = pd.array([statuses.get(label) for label in frame.index], dtype="Int64")
    frame["verify_error"] = pd.array([errors.get(label) for label in frame.index], dtype=object)
    stamped = pd.Series([stamps.get(label) for label in frame.index], index=frame.index, dtype=object)
    frame["verified_at"] = pd.to_datetime(stamped, utc=True)
    frame["verify_target"] = pd.array([where.get(label) for label in frame.index], dtype=object)


def verify_access(
    outcomes: pd.DataFrame,
    gateway_url: str | None = None,
    *,
    snapshot: PortalSnapshot | None = None,
    sample: int | float | None = None,
    header_style: str = "authorization",
    concurrency: int = 16,
    rate_per_second: float | None = None,
    path: str = "/",
    progress: Progress | None = None,
    timeout: float = 10.0,
    retries_429: int = 3,
    max_backoff: float = 5.0,
    seed: int = 0,
    verify_tls: bool = True,
    allow_insecure_http: bool | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    min_key_length: int | None = None,
) -> pd.DataFrame:
    """Call the gateway with every migrated key (or a sample) and return a copy with the answers.

    Rows whose ``status`` is ``created`` or ``skipped`` are called; with ``snapshot`` each key is sent to
    ``gateway_url`` + the listen path (else API ID) of the first of its ``product_ids`` that has one,
    + ``path``; without a snapshot every key goes to ``gateway_url`` + ``path``.

    Adds ``verify_status`` (HTTP status, nullable Int64; null when no answer or not verified),
    ``verify_error`` (why there is no usable answer: connection error, no API, persistent 429; for a 401
    or 403, what the refusal means and what to do, from the key's length against ``min_key_length``, the
    gateway's ``min_token_length``, default ``TYK_MIN_KEY_LENGTH`` when set, and the snapshot's
    credentials holding the key: see ``verify_hints``), ``verified_at`` (UTC) and ``verify_target`` (the
    path called, never the key). The input frame is not modified. ``sample`` is a count or a fraction
    (deterministic under ``seed``). ``concurrency`` bounds calls in flight, ``rate_per_second`` spaces
    their starts; a 429 is retried ``retries_429`` times after ``Retry-After`` or a short backoff (at most
    ``max_backoff`` s), then recorded as 429.
    ``header_style``: ``authorization`` (``Authorization: <key>``, Tyk's default), ``bearer``
    (``Authorization: Bearer <key>``) or ``x-api-key``. ``progress(done, total)`` is called as calls end.

    Works from scripts and from a running notebook loop alike.
    """
    kwargs = dict(
        snapshot=snapshot,
        sample=sample,
        header_style=header_style,
        concurrency=concurrency,
        rate_per_second=rate_per_second,
        path=path,
        progress=progress,
        timeout=timeout,
        retries_429=retries_429,
        max_backoff=max_backoff,
        seed=seed,
        verify_tls=verify_tls,
        allow_insecure_http=allow_insecure_http,
        transport=transport,
        min_key_length=min_key_length,
    )
    return run_sync(lambda: verify_access_async(outcomes, gateway_url, **kwargs))  # type: ignore[arg-type]
