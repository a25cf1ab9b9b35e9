"""What the run's app workflow shares with the rest of the runner: the groups of rows that need one new app,
the app index of a listing, and a lookup's patient wait for the portal's listing lag."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from .gate import Gate
from .rows import int_or_none

#: seconds before a lookup's second listing; each later one waits as long as the lookup has already waited
LOOKUP_STEP = 0.25
#: a wait that ends at the patience's deadline ends this much after it
DEADLINE_SLACK = 0.005


async def patiently(gate: Gate, since: float, patience: float, step: float = LOOKUP_STEP) -> None:
    """Wait before a lookup's next listing: at least ``step``, then as long as has passed since ``since`` (the
    waits double), never past ``patience`` seconds since ``since`` (no wait once that is used up). Only a failed
    journal cuts the wait short.

    The lookup says "not there" only from a listing begun once the patience was up, never from the last
    listing before it: a listing is as late as its start, however late its answer (a slow walk begun before
    the lag could pass would hide the write and send it twice). With doubling waits a write the listing lags
    behind is found about as soon as the lag allows (0.75 s for a lag of 0.3 s), and one that did not land
    costs five listings at the default patience of 2 s, not the nine of a listing every quarter second:
    under the benchmark's faults those were a fifth of all requests."""
    now = time.perf_counter()
    left = since + patience - now
    if left > 0:
        wait = max(step, now - since)
        # the event loop may wake a timer a little early: a listing begun a hair before the deadline decides
        # nothing and would cost one more
        await gate.sleep(left + DEADLINE_SLACK if wait >= left else wait, abortable=False)


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
