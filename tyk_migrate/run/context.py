"""``RunContext``: the collaborators one run shares among its workflows (accounts, apps, credentials).

``Migration`` builds it once, when a run that sends begins (a dry run has none), and hands the same one to
each workflow, which keeps beside it only what is its own (options, listings, callbacks). Frozen: nothing a
workflow does may swap the run's journal, client or gate under the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..journal import Journal
from ..portal import AsyncPortalClient
from .gate import Gate
from .protocol import ExactlyOnce, since_journalled
from .rows import RowTable


@dataclass(frozen=True, slots=True)
class RunContext:
    """What every workflow of one run writes through."""

    journal: Journal
    client: AsyncPortalClient
    run_id: int  #: the journal's run this one records under (``Journal.begin_run``)
    writer: ExactlyOnce  #: the exactly-once protocol over the run's gate, retry budget and journal
    gate: Gate
    rows: RowTable
    #: ``time.perf_counter()`` from which a listing is trusted: when the run began, or when it took the portal's
    #: lock if it did so earlier (``Migration(portal_lock=...)``): a listing begun before is not trusted
    started: float
    #: ``time.perf_counter()`` when this run began: every write an earlier run left in doubt was sent before it
    began: float = 0.0

    def latest_send(self, intent_at: str | None) -> float:
        """The latest an earlier run's write in doubt may have been sent, for its lookup's patience: this run's
        start, unless its journalled intent is later (an intent is journalled before its write waits for a
        slot, and the POST may have left seconds later, just before the run was killed)."""
        return max(since_journalled(intent_at), self.began)
