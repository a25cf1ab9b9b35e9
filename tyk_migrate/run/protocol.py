"""The exactly-once write protocol, once for every kind of object a run creates (apps, credentials, ...).

A write whose answer is lost may still have been applied, so no write is ever simply sent again:

1. **intent**: the kind journals that it is about to send (with the try number);
2. **durable**: the run waits until that record is on disk; if it cannot be, nothing is sent and the run halts;
3. **send**: the request goes out under the run's gate (pause, stop, concurrency limit);
4. on an **unknown outcome** (no answer, 5xx, an answer that does not name the object) the kind **looks the
   object up**: found, it is **adopted**; not found, the write is sent again (a new intent first);
5. a failure that **sent nothing** (``PortalConnectionError.sent`` False: no connection was ever made) is not
   an unknown outcome. While no send of the object can have landed (none of this run's, no open intent of an
   earlier run's, no 5xx or odd answer), whatever a lookup finds cannot be ours: the kind is asked only
   whether *someone else* made it meanwhile (``made_by_another``); found, the object is **held** by them
   (never adopted, never changed or deleted by the migration), else the write is sent again;
6. 429 is the portal refusing before doing anything: sent again after its ``Retry-After``, on a budget of
   its own; any other 4xx is final.

How many tries and how long between them come from one ``RetryPolicy`` (``attempts`` for failures,
``rate_limited_attempts`` for 429s). A kind says only how to journal, send, look up and settle
(``WriteKind``); ``ExactlyOnce.write`` runs the loop and returns what ``settle`` made of the ``Outcome``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

from ..errors import (
    AuthError,
    JournalError,
    NotFound,
    PortalConnectionError,
    PortalError,
    PortalServerError,
    RateLimited,
    Rejected,
    UnexpectedAnswer,
)
from ..ownership import journal_failure_message
from ..retry import RetryPolicy
from ..scrub import clip, scrub_keys
from .gate import Gate, Paused, Stopped

T = TypeVar("T")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

#: Longest error text a row or a journal record keeps (scrubbed first, then cut).
ERROR_TEXT_CHARS = 600
#: a run of 429s backs off no longer than a sixth failure would (the portal asked to slow down, not failed)
RATE_LIMITED_BACKOFF_STEPS = 6


def error_text(exc: BaseException, key: object = None) -> str:
    """An error's text for the frame and the journal, the row's own key (plain, escaped or cut) scrubbed before
    the text is cut, so a key echoed near the limit cannot survive as a prefix."""
    text = str(exc) or type(exc).__name__
    return clip(text, ERROR_TEXT_CHARS, None if key is None else lambda t: scrub_keys(t, [key]))


def token_refused(exc: PortalError) -> str:
    """Why a run stopped when the portal refused its token."""
    return (
        f"stopped: the portal refused the token ({error_text(exc)}); "
        "TYK_PORTAL_TOKEN must be an admin API token of this portal"
    )


def sent_nothing(exc: PortalError) -> bool:
    """A failure before any byte of the request can have reached the portal (no connection was made)."""
    return isinstance(exc, PortalConnectionError) and not exc.sent


def since_journalled(stamp: str | None) -> float:
    """The ``time.perf_counter()`` reading of a journalled wall-clock time (an earlier run's intent), for a
    lookup's patience: a write a killed run sent a moment ago may not be listed yet. Unknown: now."""
    now = time.perf_counter()
    try:
        when = datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        when = None
    if when is None:
        return now
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return now - max(0.0, (datetime.now(UTC) - when).total_seconds())


class Unresolved(Exception):
    """A write's outcome could not be settled (lookups kept failing): the journal keeps the intent."""


class AnswerWithoutId(UnexpectedAnswer):
    """The portal answered a create without naming what it made: the outcome is unknown, look it up at once
    (no backoff: the portal did answer)."""


OutcomeKind = Literal["posted", "adopted", "held", "refused", "gave_up", "unresolved", "conflict", "stopped"]


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """How a write ended. ``attempts``: sends made (an earlier run's included).

    * ``posted``: the answer named the object (``value``); ``adopted``: a lookup found it (``value``);
      ``error`` is then the last failure before it, if any.
    * ``held``: no send can have landed, and someone else made the object meanwhile (``value``, as
      ``made_by_another`` found it; ``error``: the failure that sent nothing): theirs, not ours.
    * ``refused``: a final 4xx (``error``); ``gave_up``: the budget ran out (``error``: the last failure).
    * ``unresolved``: a lookup failed (``reason``; ``error``: the last failure): the intent stays open.
    * ``conflict``: the portal said the object exists (``error``) but no lookup finds it: the intent stays open.
    * ``stopped``: the run stopped (or halted) before this send.

    ``landed``: whether some send of the object (this run's, or an earlier run's open intent) may have reached
    the portal. False: every intent of this run was followed by a failure that sent nothing, so nothing of
    ours can be there and an open intent may be closed (a rerun or rollback would otherwise look it up, and
    take someone else's object for ours).
    """

    kind: OutcomeKind
    attempts: int
    value: T | None = None
    error: PortalError | None = None
    reason: str | None = None
    landed: bool = True

    @property
    def http_status(self) -> int | None:
        return self.error.status if self.error is not None else None


class WriteKind(Protocol[T, R_co]):
    """What a kind of object tells the protocol. One instance per object to create."""

    #: sent ahead of other requests waiting for a slot (apps: their credentials wait for them)
    urgent: bool

    def intent(self, attempt: int) -> Callable[[], None]:
        """Journal the intent of send number ``attempt`` (not yet durable: the protocol waits for that); return
        how to take it back (the record as it was) if the run stops before it is sent."""

    async def send(self) -> T:
        """Send the create; return the object as the answer names it (raise ``AnswerWithoutId`` if it does not)."""

    async def look_up(self, since: float) -> T | None:
        """The object an earlier send may have made, or None; from a listing made after ``since``
        (``time.perf_counter()``) where that matters. Raise ``Unresolved`` when the lookup itself fails."""

    async def made_by_another(self) -> T | None:
        """After a failure that sent nothing, with no send of ours that can have landed: the object if another
        client made it meanwhile (theirs: the outcome is ``held``), else None to send again; one fresh
        lookup, no listing lag to wait out (nothing of ours is on its way). ``Unresolved`` if it fails. A kind
        whose next send cannot double someone else's object returns None without a request."""

    def exists(self, refusal: Rejected) -> bool:
        """Whether a refusal says the object already exists (after a send that may have landed: look it up)."""

    async def settle(self, outcome: Outcome[T]) -> R_co:
        """Journal the outcome and report it; the result (or exception) is what ``ExactlyOnce.write`` gives."""


class Durable(Protocol):
    """The journal as the protocol needs it: a future done when every record so far is on disk."""

    path: Any

    def durable(self) -> Any: ...

    @property
    def write_error(self) -> str | None: ...


@dataclass
class _Attempt:
    """The loop's state for one object."""

    sent: int
    unknown: bool
    maybe_landed: bool
    unknown_since: float = -math.inf
    failures: int = 0
    rate_limited: int = 0
    last: PortalError | None = None
    conflict: Rejected | None = None
    unsent: bool = False  # the last send failed before reaching the portal, and no earlier one can have landed

    def lost(self, exc: PortalError) -> None:
        """The send failed: its outcome is unknown (look it up before anything else), unless it sent nothing
        while no earlier send can have landed (then only someone else's object can be there)."""
        self.last, self.failures = exc, self.failures + 1
        if sent_nothing(exc) and not self.maybe_landed:
            self.unsent = True
            return
        self.unknown, self.maybe_landed, self.unknown_since = True, True, time.perf_counter()


class ExactlyOnce:
    """The protocol over one run's gate, retry policy and journal; also its idempotent reads and deletes."""

    def __init__(self, gate: Gate, policy: RetryPolicy, journal: Durable) -> None:
        self.gate, self.policy, self.journal = gate, policy, journal

    async def write(
        self,
        kind: WriteKind[T, R],
        *,
        attempts: int = 0,
        look_up_first: bool = False,
        maybe_landed: bool = False,
        sent_at: float | None = None,
    ) -> R:
        """Create one object exactly once and return ``kind.settle(outcome)``.

        ``attempts``: sends an earlier run made; ``look_up_first``: an earlier send's outcome is unknown;
        ``maybe_landed``: some earlier send may have landed (a refusal saying "exists" is then looked up);
        ``sent_at``: when that earlier send was made (``since_journalled``; unknown: now), so the first lookup
        waits out the listing lag from then, as a lookup in the run that sent it would.
        """
        attempt = _Attempt(attempts, look_up_first, maybe_landed or look_up_first)
        if look_up_first:
            attempt.unknown_since = time.perf_counter() if sent_at is None else sent_at
        outcome = await self._attempt(kind, attempt)
        try:
            return await kind.settle(outcome)  # may raise: a kind may report failures as exceptions
        finally:
            if outcome.kind == "refused" and isinstance(outcome.error, AuthError):
                self.gate.fatal(token_refused(outcome.error))  # after the row is journalled and reported

    async def _attempt(self, kind: WriteKind[T, R], a: _Attempt) -> Outcome[T]:
        """The loop's outcome, saying whether any send of it (or the caller's earlier one) may have landed."""
        outcome = await self._attempts(kind, a)
        return outcome if a.maybe_landed or outcome.kind == "posted" else replace(outcome, landed=False)

    async def _attempts(self, kind: WriteKind[T, R], a: _Attempt) -> Outcome[T]:
        policy = self.policy
        while True:
            settled = await self._look_up(kind, a) if a.unknown else await self._made_by_another(kind, a)
            if settled is not None:
                return settled
            if a.failures >= policy.attempts or a.rate_limited >= policy.rate_limited_attempts:
                return Outcome("gave_up", a.sent, error=a.last)
            try:
                answer = await self._send(kind, a)
            except Stopped:
                return Outcome("stopped", a.sent)
            except RateLimited as exc:  # refused before anything was done: safe to send again
                a.last, a.rate_limited = exc, a.rate_limited + 1
                steps = min(a.rate_limited, RATE_LIMITED_BACKOFF_STEPS)
                await self.gate.sleep(policy.delay(steps, exc.retry_after))
                continue
            except AnswerWithoutId as exc:
                a.lost(exc)
                continue
            except (Rejected, NotFound, AuthError) as exc:
                if a.maybe_landed and isinstance(exc, Rejected) and kind.exists(exc):
                    a.conflict, a.unknown = exc, True  # our lost write landed after all? look it up
                    continue
                return Outcome("refused", a.sent, error=exc)
            except (PortalConnectionError, PortalServerError, UnexpectedAnswer) as exc:
                a.lost(exc)
                await self.gate.sleep(policy.delay(a.failures, getattr(exc, "retry_after", None)), abortable=False)
                continue
            return Outcome("posted", a.sent, value=answer)

    async def _send(self, kind: WriteKind[T, R], a: _Attempt) -> T:
        """Journal the intent, wait for it to be on disk and for a slot, send. The commit overlaps the wait for
        the slot instead of holding it (a slot is a request in flight at the portal); a stop that comes before
        the slot takes the intent back: nothing was sent."""
        while True:
            async with self.gate.queued(urgent=kind.urgent):
                a.sent += 1
                withdraw, sending = kind.intent(a.sent), False
                written = self.journal.durable()
                try:
                    async with self.gate.slot(new_write=True, urgent=kind.urgent, leave_on_pause=True):
                        await self._on_disk(written)  # the intent is on disk before the write
                        sending = True
                        return await kind.send()
                except (Stopped, Paused, asyncio.CancelledError) as exc:
                    if not sending:  # nothing went out: no intent may stay open (a failed journal keeps its)
                        a.sent -= 1
                        self._withdraw(withdraw)
                    if not isinstance(exc, Paused):
                        raise
                except PortalConnectionError as exc:
                    # it sent nothing, and nothing before it can have landed: take the intent back before the
                    # backoff, or a cancel or kill in it would leave an open intent a rerun settles by adopting
                    # whatever holds the key (break14c F1); the retry journals a new one
                    if sent_nothing(exc) and not a.maybe_landed:
                        self._withdraw(withdraw)
                    raise
            # paused before the slot came: the place is given back; journalled again once the run resumes

    def _withdraw(self, withdraw: Callable[[], None]) -> None:
        if not self.gate.halted:  # a failed journal records nothing more
            with contextlib.suppress(JournalError):  # closed under a cancel: the intent stays open (looked up)
                withdraw()

    async def durable(self) -> None:
        """Wait until the records made so far are on disk; if they cannot be, halt the run (``Stopped``)."""
        await self._on_disk(self.journal.durable())

    async def _on_disk(self, written: Any) -> None:
        try:
            if written.done():  # the usual case: wrap_future would still cost two trips round a busy loop
                written.result()
            else:
                await asyncio.wrap_future(written)
        except JournalError as exc:
            self.gate.halt(journal_failure_message(self.journal.path, self.journal.write_error or str(exc)))
            raise Stopped from None

    async def _look_up(self, kind: WriteKind[T, R], a: _Attempt) -> Outcome[T] | None:
        """After an unknown outcome: the outcome if the lookup settles the write, None to send again."""
        a.unknown = False
        try:
            found = await kind.look_up(a.unknown_since)
        except Unresolved as exc:
            return Outcome("unresolved", a.sent, error=a.last, reason=str(exc))
        if found is not None:
            return Outcome("adopted", a.sent, value=found, error=a.last)
        if a.conflict is not None:
            # Our lost write may have landed where the listing does not show it yet, or the object may be
            # someone else's: the intent stays open, and a rerun's fresh plan (or rollback) settles it.
            return Outcome("conflict", a.sent, error=a.conflict)
        return None

    async def _made_by_another(self, kind: WriteKind[T, R], a: _Attempt) -> Outcome[T] | None:
        """After a send that sent nothing (and none that can have landed): nothing of ours can be there, so
        the kind is asked only whether someone else made the object since; None to send again (or when the
        last send was not such a failure)."""
        if not a.unsent:
            return None
        a.unsent = False
        try:
            theirs = await kind.made_by_another()
        except Unresolved as exc:
            return Outcome("unresolved", a.sent, error=a.last, reason=str(exc))
        return None if theirs is None else Outcome("held", a.sent, value=theirs, error=a.last)

    async def read(self, make: Callable[[], Awaitable[T]]) -> T:
        """A read (or an idempotent write) with the policy's retries; the slot is released while waiting."""
        retry = 0
        while True:
            retry += 1
            try:
                async with self.gate.slot(new_write=False):
                    return await make()
            except (PortalConnectionError, PortalServerError, RateLimited) as exc:
                if retry >= self.policy.attempts:
                    raise
                await self.gate.sleep(self.policy.delay(retry, getattr(exc, "retry_after", None)), abortable=False)

    async def delete(self, make: Callable[[], Awaitable[Any]]) -> None:
        """DELETE is idempotent: retry freely; NotFound after a lost answer means done."""
        try:
            await self.read(make)
        except NotFound:
            return
