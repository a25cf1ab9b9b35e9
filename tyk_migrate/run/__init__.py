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
* After each create the credential's answer (and, where it cannot settle it, a read-back: ``readback.py``)
  is compared with the request, key, plan and products;
  a difference (e.g. a portal that issued its own key) fails the row loudly and the stray credential is
  deleted.
* Concurrency adapts (slow start, then additive increase / multiplicative decrease on 429/503 or rising
  latency) unless a fixed number is given.
* Outcomes are written back into the plan frame itself (``status``, ``app_id``, ``credential_id``,
  ``http_status``, ``error``, ``attempts``, ``started_at``, ``finished_at``, ``batch``) as the run goes, and
  reported through ``on_progress`` and the ``progress`` property; nothing is printed.

The package, by module:

* ``rows``: the row table (input and outcome columns by name) and its write-back into the frame;
* ``triage``: which rows need no request (pure functions of the row, its journal record, the plan);
* ``gate``: the run's state (pause, resume, stop, halt) and the places under the concurrency limit;
* ``protocol``: the exactly-once write protocol (intent, durable, send, look up, adopt or retry), once for
  every kind of object; ``apps`` and ``credentials`` are its two kinds and their workflows;
* ``context``: ``RunContext``, the collaborators one run hands to each workflow (journal, client, gate, …);
* ``progress``: ``Progress`` snapshots and the rates behind them;
* ``migration``: ``Migration``, wiring it all, and ``apply_plan``.
"""

from __future__ import annotations

from ..vocabulary import WRITE_ACTIONS
from .app_listing import APP_LISTING_MAX_AGE
from .credentials import compare_credential
from .gate import STATES
from .groups import apps_by_owner_name
from .migration import Migration, apply_plan
from .progress import Progress
from .protocol import ERROR_TEXT_CHARS, error_text
from .rows import OUTCOME_COLUMNS, PLAN_COLUMNS, STATUSES, int_or_none

# the names other modules and tests have imported from the single-module runner
_message = error_text
_int_or_none = int_or_none

__all__ = [
    "APP_LISTING_MAX_AGE",
    "ERROR_TEXT_CHARS",
    "OUTCOME_COLUMNS",
    "PLAN_COLUMNS",
    "STATES",
    "STATUSES",
    "WRITE_ACTIONS",
    "Migration",
    "Progress",
    "apply_plan",
    "apps_by_owner_name",
    "compare_credential",
    "error_text",
]
