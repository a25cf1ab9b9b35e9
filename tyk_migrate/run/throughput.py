"""The honest limit of a migration: how many keys per second a portal allows this job at best.

A portal that holds at most ``cap`` requests in flight, each taking ``latency`` seconds, answers at most
``cap / latency`` requests per second. A job that must send ``R`` requests per key therefore moves at most
``cap / (R x latency)`` keys per second. ``R`` is taken from the plan, not from what the tool happened to
send: one credential POST per key written plus one app POST per new app (``unavoidable``). Every other
request (the snapshot, read-backs, look-ups, refused requests) is the tool's own choice and counts against
it, which the "own requests/key" ratio (``R`` counted by the portal) shows beside it.

The one home of the formula: the benchmarks, ``apply``'s summary and ``benchmarks/projection.py`` use it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..vocabulary import CREATE_APP, CREATED, WRITE_ACTIONS

#: plan actions that each send one credential POST; ``create_app`` also sends one app POST
CREDENTIAL_ACTIONS = WRITE_ACTIONS
APP_ACTION = CREATE_APP


def limit_keys_per_second(cap: float, requests_per_key: float, latency_seconds: float) -> float | None:
    """``cap / (requests_per_key x latency)``; None when any factor is unknown or not positive."""
    if not all(
        isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in (cap, requests_per_key, latency_seconds)
    ):
        return None
    return float(cap) / (float(requests_per_key) * float(latency_seconds))


def unavoidable_requests_per_key(credentials: int, apps: int) -> float | None:
    """(credentials to create + apps to create) / keys written; None when the plan writes no key."""
    if credentials <= 0:
        return None
    return (credentials + max(0, apps)) / credentials


def plan_counts(actions: Iterable[Any]) -> tuple[int, int]:
    """(credentials to create, apps to create) from a plan's ``action`` column."""
    credentials = apps = 0
    for action in actions:
        if action in CREDENTIAL_ACTIONS:
            credentials += 1
            apps += action == APP_ACTION
    return credentials, apps


@dataclass(frozen=True)
class HonestLimit:
    """One run against its limit: ``achieved`` keys/s as a share of ``limit`` keys/s."""

    keys: int  #: keys written (credentials created) in ``seconds``
    seconds: float
    credentials: int  #: credentials the plan creates
    apps: int  #: apps the plan creates
    cap: float  #: requests in flight the portal allows (or the run used)
    latency_ms: float  #: mean portal latency per request

    @property
    def requests_per_key(self) -> float | None:
        return unavoidable_requests_per_key(self.credentials, self.apps)

    @property
    def limit(self) -> float | None:
        rpk = self.requests_per_key
        return limit_keys_per_second(self.cap, rpk, self.latency_ms / 1000) if rpk else None

    @property
    def achieved(self) -> float | None:
        return self.keys / self.seconds if self.seconds > 0 else None

    @property
    def share(self) -> float | None:
        limit, achieved = self.limit, self.achieved
        return achieved / limit if limit and achieved is not None else None

    def fields(self) -> dict[str, Any]:
        """For ``--json``: the inputs and the three results, rounded."""
        out: dict[str, Any] = asdict(self)
        for name, digits in (("requests_per_key", 3), ("limit", 2), ("achieved", 2), ("share", 4)):
            value = getattr(self, name)
            out[{"limit": "limit_keys_per_second", "achieved": "keys_per_second", "share": "share_of_limit",
                 "requests_per_key": "unavoidable_requests_per_key"}[name]] = (
                round(value, digits) if value is not None else None
            )  # fmt: skip
        out["latency_ms"] = round(self.latency_ms, 2)
        out["seconds"] = round(self.seconds, 3)
        return out

    def line(self) -> str | None:
        """ "X keys/s = Y% of this portal's limit Z keys/s (cap C, L ms/request, R unavoidable requests/key)"."""
        limit, achieved, share, rpk = self.limit, self.achieved, self.share, self.requests_per_key
        if limit is None or achieved is None or share is None or rpk is None:
            return None
        return (
            f"{achieved:.1f} keys/s = {100 * share:.0f}% of this portal's limit {limit:.1f} keys/s "
            f"(cap {self.cap:g}, {self.latency_ms:.1f} ms/request, {rpk:.2f} unavoidable requests/key)"
        )


def run_cap(migration: Any) -> float | None:
    """The cap a run worked under: the fixed concurrency, or the ceiling the adaptive controller found (its
    maximum when the portal never pushed back)."""
    if not getattr(migration, "adaptive", False):
        return float(migration.fixed_concurrency)
    controller = getattr(migration, "controller", None)
    if controller is None:
        return None
    return float(controller.ceiling) if math.isfinite(controller.ceiling) else float(controller.maximum)


def run_limit(migration: Any, statuses: Mapping[str, int]) -> HonestLimit | None:
    """The honest limit of a finished ``Migration``, or None (dry run, nothing written, no latency seen)."""
    cap, latency = run_cap(migration), migration.meter.mean_latency
    credentials, apps = plan_counts(migration.plan["action"])
    if cap is None or latency is None or not credentials:
        return None
    progress = migration.progress
    return HonestLimit(
        keys=int(statuses.get(CREATED, 0)),
        seconds=progress.elapsed_seconds,
        credentials=credentials,
        apps=apps,
        cap=cap,
        latency_ms=1000 * latency,
    )
