"""What the run's app workflow shares with the rest of the runner: the groups of rows that need one new app,
the app index of a listing, and a lookup's patient wait for the portal's listing lag."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from .gate import Gate
from .rows import int_or_none


async def patiently(gate: Gate, since: float, patience: float) -> bool:
    """Wait out what is left of ``patience`` seconds since ``since`` before a lookup's next listing; False once it
    is used up (the lookup may then say "not there"). Only a failed journal cuts the wait short.

    So a lookup lists twice at most: at once (a portal that lists a write at once answers there, and that is
    where a lost answer's write is found) and once the patience is up (what "not there" is decided from). The
    listings in between found only a write the listing lagged behind, a little earlier, and cost the portal
    eight requests per unanswered write that had not landed: a fifth of all requests under the benchmark's
    faults (``docs/benchmarks.md``, "Under faults")."""
    left = since + patience - time.perf_counter()
    if left <= 0:
        return False
    await gate.sleep(left, abortable=False)
    return True


@dataclass(slots=True)
class AppGroup:
    """The rows of one ``(user, app name)`` that need a new app, and what became of it."""

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


def apps_by_owner_name(apps: list[dict[str, Any]]) -> dict[tuple[int, str], list[int]]:
    """App IDs by ``(owner, name)``, from a portal listing of apps: the identity an app has in the journal."""
    index: dict[tuple[int, str], list[int]] = {}
    for app in apps:
        uid, name, aid = int_or_none(app.get("UserID")), app.get("Name"), int_or_none(app.get("ID"))
        if uid is not None and isinstance(name, str) and aid is not None:
            index.setdefault((uid, name), []).append(aid)
    return index
