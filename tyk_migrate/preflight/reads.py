"""The read-only checks: the admin token, the ``/plans`` envelope, the plan and products to use, paging, and a
short ramp of GETs for latency and a safe starting concurrency. Nothing here writes to the portal."""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, NotFound
from ..paging import could_be_a_maximum
from ..portal import DEFAULT_PER_PAGE, Call
from ..portal_errors import error_for
from .client import PreflightClient, api_target, json_of, rows_of
from .result import Check

#: Rows asked for to find a silent ``per_page`` cap: the pager's own ask, so a cap below it is what is found.
PER_PAGE_PROBE = DEFAULT_PER_PAGE
#: In flight at each step of the ramp, and the GETs each worker sends per step.
RAMP_LEVELS = (1, 2, 4, 8, 16)
RAMP_ROUNDS = 3
#: Latency counts as doubled only when it also grew by this much (a local portal's 1 ms jitter is no signal).
RAMP_NOISE_SECONDS = 0.02
#: The largest integer ID a Go portal reads (int32 is the narrowest it may use): an unknown plan for the 422.
MAX_ID = 2**31 - 1


def check_token(client: PreflightClient) -> Check:
    call = Call("GET", "/users", params={"page": 1, "per_page": 1})
    response, _ = client.exchange(call)
    if response.status_code in (401, 403):
        raise ConfigError(
            f"the portal refused the admin token ({response.status_code} on GET /users): check --token / "
            "TYK_PORTAL_TOKEN (the raw token of a portal admin, without 'Bearer')"
        )
    if response.status_code != 200:
        raise error_for(call, response)
    return Check("admin token", "GET /users answers 200", "the token reads the portal (writes are tried below)")


@dataclass
class Choice:
    """The plan and products the canaries use, and the gateway path of one of the products' APIs."""

    plan_id: int
    product_ids: list[int]
    target: str | None
    known_plan_ids: list[int]


def check_plans(client: PreflightClient) -> tuple[Check, str | None, list[dict[str, Any]]]:
    call = Call("GET", "/plans", params={"page": 1, "per_page": DEFAULT_PER_PAGE})
    response, _ = client.exchange(call)
    if response.status_code != 200:
        raise error_for(call, response)
    body = json_of(response)
    rows = rows_of(body) or []
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        return (
            Check("plans envelope", 'GET /plans answers {"data": [...]}', "the 1.13+ file's shape", "info"),
            "data",
            rows,
        )
    if isinstance(body, list):
        meaning = (
            "the 1.12 file's shape (and Tyk's portal-go client's): readers of /plans must accept a bare array; "
            "one that expects the envelope stops with a one-line error before writing anything"
        )
        return Check("plans envelope", "GET /plans answers a bare array", meaning, "warn"), "bare", rows
    meaning = "neither the file's envelope nor a bare array: tyk-migrate cannot read this portal's plans"
    return Check("plans envelope", "GET /plans answers something else", meaning, "unsafe"), None, []


def choose(
    client: PreflightClient, plans: list[dict[str, Any]], plan_id: int | None, product_ids: list[int] | None
) -> Choice:
    """The given plan and products (each checked to exist), else the first plan and first product with an API."""
    known = [int(p["ID"]) for p in plans if isinstance(p.get("ID"), int)]
    if plan_id is not None:
        try:
            client.get_plan(plan_id)
        except NotFound:
            raise ConfigError(f"--plan-id {plan_id}: the portal has no such plan") from None
    elif not known:
        raise ConfigError("the portal lists no plan: preflight needs one (sync the Dashboard provider first)")
    chosen_plan = plan_id if plan_id is not None else known[0]
    details: list[dict[str, Any]] = []
    if product_ids:
        for pid in product_ids:
            try:
                details.append(client.get_product(pid))
            except NotFound:
                raise ConfigError(f"--product-id {pid}: the portal has no such product") from None
        chosen = list(product_ids)
    else:
        listed = client.get_rows("/products", page=1, per_page=DEFAULT_PER_PAGE)
        if not listed:
            raise ConfigError("the portal lists no product: preflight needs one (sync the Dashboard provider first)")
        first = next((p for p in listed if p.get("APIDetails")), listed[0])
        details = [client.get_product(int(first["ID"]))]
        chosen = [int(first["ID"])]
    target = next((t for t in (api_target(d) for d in details if isinstance(d, dict)) if t), None)
    return Choice(chosen_plan, chosen, target, known)


def paging_of(client: PreflightClient, path: str) -> str:
    """``honoured``, ``ignores per_page``, ``ignores page`` or why it could not be told (one or no row)."""
    first = client.get_rows(path, page=1, per_page=1)
    if len(first) > 1:
        return "ignores per_page"
    if not first:
        return "not tested (empty)"
    second = client.get_rows(path, page=2, per_page=1)
    if not second:
        return "not tested (one row)"
    return "ignores page" if second[0].get("ID") == first[0].get("ID") else "honoured"


def per_page_cap(client: PreflightClient, path: str = "/users") -> tuple[int | None, int]:
    """(a silent cap on ``per_page`` or None, rows seen): ask for many, and look past a short page."""
    first = client.get_rows(path, page=1, per_page=PER_PAGE_PROBE)
    if len(first) >= PER_PAGE_PROBE or not first:
        return None, len(first)
    second = client.get_rows(path, page=2, per_page=PER_PAGE_PROBE)
    ids = {row.get("ID") for row in first}
    if any(row.get("ID") not in ids for row in second):
        return len(first), len(first) + len(second)
    return None, len(first)


def paging_checks(client: PreflightClient, paging: dict[str, str], cap: int | None, rows_seen: int) -> list[Check]:
    checks = []
    odd = {path: how for path, how in paging.items() if how.startswith("ignores")}
    saw = "; ".join(f"{path}: {how}" for path, how in paging.items())
    if odd:
        meaning = (
            f"{', '.join(odd)} answer every row whatever page/per_page say: a pager that stops only at a short "
            "page would read such a list forever once it holds a full page; tyk-migrate's walks must stop at a "
            "page with nothing new"
        )
        checks.append(Check("paging", saw, meaning, "warn"))
    else:
        checks.append(Check("paging", saw, "page and per_page work as the file says", "ok"))
    if cap is None:
        saw = f"no cap up to {min(rows_seen, PER_PAGE_PROBE)} rows a page"
        meaning = (
            f"pages of {DEFAULT_PER_PAGE} come whole"
            if rows_seen >= PER_PAGE_PROBE  # a shorter list cannot show a cap between its length and the ask
            else f"no cap below {rows_seen} rows (the list is that short); the pager follows one above it"
        )
        checks.append(Check("per_page maximum", saw, meaning, "ok"))
    elif could_be_a_maximum(cap):
        meaning = (
            f"tyk-migrate asks {DEFAULT_PER_PAGE} a page; it takes a short page of this size for a possible cap, "
            f"confirms it with one more request and walks at {cap}"
        )
        checks.append(Check("per_page maximum", f"{cap} rows a page at most (silently)", meaning, "warn"))
    else:
        meaning = (
            f"a short page of {cap} looks like the end of a list to a pager that asks {DEFAULT_PER_PAGE}: "
            "lists would be read incompletely (keys missed, apps made twice); do not migrate, report this portal"
        )
        checks.append(Check("per_page maximum", f"{cap} rows a page at most (silently)", meaning, "unsafe"))
    return checks


@dataclass
class Ramp:
    latency_ms: float
    start: int
    stopped: str  # why the ramp ended


def ramp(client: PreflightClient, path: str, levels: tuple[int, ...] = RAMP_LEVELS) -> Ramp:
    """GETs of ``path`` with 1, 2, 4 … in flight; stop at a 429/503 or once latency doubles."""
    base: float | None = None
    start = levels[0]
    for n in levels:
        timings, statuses = _burst(client, path, n)
        if any(s in (429, 503) for s in statuses):
            return Ramp(_ms(base, timings), start, f"{len([x for x in statuses if x in (429, 503)])} x 429/503 at {n}")
        median = statistics.median(timings)
        if base is None:
            base = median
        elif median > 2 * base and median - base > RAMP_NOISE_SECONDS:
            return Ramp(base * 1000, start, f"latency {median * 1000:.0f} ms at {n} in flight")
        start = n
    return Ramp(_ms(base, []), start, f"no 429 and no slowdown up to {levels[-1]} in flight")


def _ms(base: float | None, timings: list[float]) -> float:
    if base is not None:
        return base * 1000
    return statistics.median(timings) * 1000 if timings else 0.0


def _burst(client: PreflightClient, path: str, n: int) -> tuple[list[float], list[int | None]]:
    timings: list[float] = []
    statuses: list[int | None] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(RAMP_ROUNDS):
            started = time.perf_counter()
            try:
                response, _ = client.exchange(Call("GET", path), retry=False)
                status: int | None = response.status_code
            except Exception:  # no answer counts as trouble, like a 503
                status = 503
            with lock:
                timings.append(time.perf_counter() - started)
                statuses.append(status)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return timings, statuses


def ramp_checks(result: Ramp) -> list[Check]:
    latency = Check(
        "latency",
        f"{result.latency_ms:.{0 if result.latency_ms >= 10 else 1}f} ms a GET (median, one at a time)",
        "each key costs about 3 requests: create, read-back and its share of app creates",
        "info",
    )
    concurrency = Check(
        "start concurrency",
        f"{result.start} in flight ({result.stopped})",
        f"the portal took {result.start} in flight without 429s or slowing down: a safe start for apply "
        f"(--concurrency {result.start}; adaptive concurrency moves from its start by the portal's answers)",
        "info",
    )
    return [latency, concurrency]
