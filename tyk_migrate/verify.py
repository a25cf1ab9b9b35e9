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
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pandas as pd

from .aio import run_sync
from .config import Settings, _env_bool, check_transport
from .errors import ConfigError, InputError
from .retry import RetryPolicy, parse_retry_after
from .scrub import scrub_keys
from .secrets import KeyValue, is_key, reveal
from .transport import lean_transport
from .verify_hints import GatewayHints

if TYPE_CHECKING:
    from .snapshot import PortalSnapshot

#: ``header_style`` values and the header each one sends.
HEADER_STYLES = ("authorization", "bearer", "x-api-key")
#: Outcome statuses whose key is in the portal after the run, hence worth a gateway call.
MIGRATED_STATUSES = ("created", "skipped")
#: Columns ``verify_access`` adds (or overwrites).
VERIFY_COLUMNS = ("verify_status", "verify_error", "verified_at", "verify_target")

#: Progress callback: (calls done, calls to make).
Progress = Callable[[int, int], None]
T = TypeVar("T")


def auth_headers(key: KeyValue, header_style: str) -> dict[str, str]:
    """The header that carries ``key`` for the chosen style (the only place the raw key is used)."""
    raw = reveal(key)
    if header_style == "authorization":
        return {"Authorization": raw}
    if header_style == "bearer":
        return {"Authorization": f"Bearer {raw}"}
    if header_style == "x-api-key":
        return {"X-API-Key": raw}
    raise ConfigError(f"header style must be one of {', '.join(HEADER_STYLES)}, got {header_style!r}")


class RateLimiter:
    """Spaces call starts ``1/rate`` seconds apart across all workers (None or <= 0: no limit)."""

    def __init__(self, rate_per_second: float | None) -> None:
        self.interval = 1.0 / rate_per_second if rate_per_second and rate_per_second > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


def _gateway_base(gateway_url: str | None, allow_insecure_http: bool | None) -> str:
    url = (gateway_url or Settings.from_env().gateway_url or "").strip().rstrip("/")
    if not url:
        raise ConfigError("no gateway URL: pass --gateway-url / gateway_url= or set TYK_GATEWAY_URL")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"gateway URL must look like https://gateway.example.com, got {url!r}")
    insecure_ok = _env_bool("TYK_ALLOW_INSECURE_HTTP") if allow_insecure_http is None else allow_insecure_http
    check_transport(url, what="gateway", carried="the keys", allow_insecure_http=insecure_ok)
    return url


def api_targets(snapshot: PortalSnapshot | None) -> dict[int, str]:
    """Portal product ID -> gateway path prefix of one of its APIs (listen path, else API ID)."""
    if snapshot is None:
        return {}
    products = snapshot.products
    targets: dict[int, str] = {}
    for row in products.itertuples(index=False):
        choice = ""
        for column in ("listen_paths", "api_ids"):
            values = getattr(row, column, None)
            if isinstance(values, str):
                values = [values]
            for value in values if isinstance(values, (list, tuple)) else []:
                if isinstance(value, str) and value.strip("/ "):
                    choice = "/" + value.strip().strip("/")
                    break
            if choice:
                break
        if choice:
            targets[int(str(row.product_id))] = choice
    return targets


def _as_list(value: object) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist"):  # numpy array from parquet/pyarrow
        return list(value.tolist())
    return []


def _target_for(row: pd.Series, targets: dict[int, str]) -> tuple[int, str] | None:
    """The first of the row's products with an API to call, and that API's path."""
    for product_id in _as_list(row.get("product_ids")):
        try:
            found = targets.get(int(product_id))
        except (TypeError, ValueError):
            continue
        if found:
            return int(product_id), found
    return None


def _scrub(text: str, key: KeyValue) -> str:
    return scrub_keys(text, [key])  # escaped and cut echoes of the key too


def select_sample(frame: pd.DataFrame, sample: int | float | None, seed: int = 0) -> pd.Index:
    """Index labels to verify: all, ``sample`` rows (int), or that fraction (float in (0, 1])."""
    if sample is None:
        return frame.index
    if isinstance(sample, bool) or sample <= 0:
        raise InputError(f"sample must be a positive count or a fraction in (0, 1], got {sample!r}")
    if isinstance(sample, float) and not sample.is_integer():
        if sample > 1:
            raise InputError(f"a fractional sample must be in (0, 1], got {sample!r}")
        count = max(1, round(len(frame) * sample))
    else:
        count = int(sample)
    if count >= len(frame):
        return frame.index
    return frame.sample(n=count, random_state=seed).index.sort_values()


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
    base = _gateway_base(gateway_url, allow_insecure_http)
    suffix = "/" + path.lstrip("/") if path else "/"

    result = outcomes.copy()
    migrated = result[result["status"].isin(MIGRATED_STATUSES)]
    chosen = select_sample(migrated, sample, seed)
    targets = api_targets(snapshot)

    statuses: dict[Any, int | None] = {}
    errors: dict[Any, str | None] = {}
    stamps: dict[Any, datetime | None] = {}
    where: dict[Any, str | None] = {}
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
        where[label] = called
        jobs.append(_Job(label, key, base + called, called, row.get("key_fingerprint"), product_id))

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
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client_kw: dict[str, Any] = {"timeout": httpx.Timeout(timeout), "limits": limits, "follow_redirects": False}
        # the lean transport: httpx's default pool costs milliseconds per call with many in flight
        transport = transport or lean_transport(base, verify=verify_tls, timeout=timeout, max_connections=concurrency)
        if transport is not None:
            client_kw["transport"] = transport
        else:
            client_kw["verify"] = verify_tls
        async with httpx.AsyncClient(**client_kw) as http:

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


def verification_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts of verified rows by gateway answer, with a readable meaning for each (for reports)."""
    if "verify_status" not in frame.columns:
        return pd.DataFrame(columns=["verify_status", "meaning", "keys"])
    tried = frame[verification_attempted(frame)]
    labels = [str(int(s)) if pd.notna(s) else "no answer" for s in tried["verify_status"]]
    counts = pd.Series(labels, dtype=object).value_counts().sort_index()
    return pd.DataFrame(
        {
            "verify_status": counts.index.astype(str),
            "meaning": [MEANINGS.get(label, _meaning(label)) for label in counts.index],
            "keys": counts.to_numpy(),
        }
    )


MEANINGS = {
    "200": "key works on its API",
    "401": "gateway does not know the key (see verify_error)",
    "403": "gateway refuses the key: not on that API, not provisioned or too short (see verify_error)",
    "429": "rate limit of the key's plan hit (even after backoff)",
    "no answer": "connection error or no API to call (see verify_error)",
}


def _meaning(label: str) -> str:
    if label.startswith("2"):
        return "key accepted"
    if label.startswith("5"):
        return "gateway or upstream error"
    return "unexpected answer"


def verification_attempted(frame: pd.DataFrame) -> pd.Series:
    """Boolean per row: a call was made or tried (an answer or a recorded reason for none)."""
    status = frame["verify_status"].notna() if "verify_status" in frame.columns else pd.Series(False, index=frame.index)
    if "verify_error" in frame.columns:
        status = status | frame["verify_error"].notna()
    return status.astype(bool)


def verified_ok(frame: pd.DataFrame) -> pd.Series:
    """Boolean per row: the gateway answered 2xx."""
    status = frame.get("verify_status")
    if status is None:
        return pd.Series(False, index=frame.index)
    return status.between(200, 299).fillna(False).astype(bool)


def outcomes_from_journal(plan: pd.DataFrame, journal: Any) -> pd.DataFrame:
    """Rebuild a run's outcome frame from a plan (made again from the input) and the run's journal.

    For ``tyk-migrate verify INPUT --journal FILE``: the journal says which keys the run created (with app
    and credential IDs), failed or rolled back; rows it does not know keep the plan's verdict
    (``skip_existing`` -> ``skipped``, ``blocked`` -> ``blocked``, else ``pending``). Nothing is written.
    A journal bound to another input is refused (``JournalError``).
    """
    from .errors import JournalError
    from .journal import input_identity, intent_landed

    bound = getattr(journal, "input_id", None)
    if bound and bound != input_identity(plan["key_fingerprint"]):
        raise JournalError(f"journal {getattr(journal, 'path', '')} belongs to another input than this one")
    frame = plan.copy()
    status: list[str] = []
    columns: dict[str, list[Any]] = {
        c: [] for c in ("app_id", "credential_id", "http_status", "error", "attempts", "batch")
    }
    by_state = {"created": "created", "failed": "failed", "mismatch": "failed", "rolled_back": "rolled_back"}
    actions = frame["action"] if "action" in frame.columns else pd.Series("", index=frame.index)
    app_ids = frame["app_id"] if "app_id" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    cred_ids = (
        frame["credential_id"] if "credential_id" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    )
    for fp, action, app_id, cred_id in zip(frame["key_fingerprint"], actions, app_ids, cred_ids, strict=True):
        rec = journal.credential(fp) if isinstance(fp, str) else None
        if rec is not None and rec.state in by_state:
            status.append(by_state[rec.state])
            values = [rec.app_id, rec.credential_id, rec.http_status, rec.error, rec.attempts, rec.batch]
        elif intent_landed(rec, str(action)) and pd.notna(cred_id):
            status.append("created")  # the runner adopts it on its next pass, as its own
            values = [app_id, cred_id, None, None, rec.attempts, rec.batch]
        else:
            # as the runner reads an unsettled row: by its planned action, whatever intent the journal holds
            status.append({"skip_existing": "skipped", "blocked": "blocked"}.get(str(action), "pending"))
            values = [app_id, cred_id, None, None, None, None]
        for column, value in zip(columns, values, strict=True):
            columns[column].append(None if value is None or value is pd.NA or value != value else value)
    frame["status"] = pd.Series(status, index=frame.index, dtype=object)
    for column, values in columns.items():
        if column == "error":
            frame[column] = pd.Series(values, index=frame.index, dtype=object)
        else:
            frame[column] = pd.array(values, dtype="Int64")
    return frame
