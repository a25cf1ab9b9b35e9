"""Whether a run may send: its state (running, paused, stopping, ...), the places under the concurrency limit,
and the waits that a stop or a failed journal cut short.

A stop refuses new writes but lets follow-ups of a started row (lookups, read-backs, compensation) finish,
so the journal ends consistent; a halt (the journal cannot record) refuses everything at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from ..concurrency import Limiter
from ..pacing import Pacer

STATES = ("idle", "running", "paused", "stopping", "stopped", "finished")


class Stopped(Exception):
    """A row was not (or no further) attempted because the run is stopping."""


class Paused(Exception):
    """A write journalled ahead gave its place back: the run paused before the write's slot came."""


class Gate:
    """The run's state machine. ``on_change`` is called after a pause, resume or stop (to report it)."""

    def __init__(self, limiter: Limiter, on_change: Callable[[], None] | None = None) -> None:
        self.limiter = limiter
        # writes whose intent is journalled while they wait for a slot: as many again as may be in flight
        self.ahead = Limiter(2 * limiter.limit)
        self.pacer = Pacer(lambda: self.limiter.limit)  # fed the answers to writes by the run (Migration._hooked)
        self.on_change = on_change
        self.state = "idle"
        self.fatal_error: str | None = None  # the portal refused the token: the run stopped
        self.journal_error: str | None = None  # the journal could not be written: the run stopped at once
        self._running: asyncio.Event | None = None
        self._stop_event: asyncio.Event | None = None
        self._halt_event: asyncio.Event | None = None  # set when the journal fails: even follow-ups end

    def open(self) -> bool:
        """The run begins (on the running loop): True if ``stop()`` was called before it did."""
        self._running = asyncio.Event()
        self._running.set()
        self._stop_event = asyncio.Event()
        self._halt_event = asyncio.Event()
        stop_requested = self.state == "stopping"
        self.state = "running"
        return stop_requested

    def begin_stopping(self) -> None:
        """Enter ``stopping`` without a report (a stop asked for before the run began, applied now)."""
        self.state = "stopping"
        if self._stop_event is not None:
            self._stop_event.set()
        if self._running is not None:
            self._running.set()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def pause(self) -> None:
        if self.state == "running":
            self.state = "paused"
            if self._running is not None:
                self._running.clear()
            self._changed()

    def resume(self) -> None:
        if self.state == "paused":
            self.state = "running"
            if self._running is not None:
                self._running.set()
            self._changed()

    def stop(self) -> None:
        if self.state in ("idle", "running", "paused"):
            self.begin_stopping()
            self._changed()

    def fatal(self, message: str) -> None:
        """Stop because the portal refused the token (the first reason is kept)."""
        if self.fatal_error is None:
            self.fatal_error = message
            self.stop()

    def halt(self, message: str) -> None:
        """Stop now, follow-ups included: the journal cannot record (the first reason is kept)."""
        if self.journal_error is None:
            self.journal_error = message
            if self._halt_event is not None:
                self._halt_event.set()
            self.stop()

    @property
    def halted(self) -> bool:
        return self.journal_error is not None

    @property
    def stopping(self) -> bool:
        return self.state == "stopping"

    def _is_running(self) -> bool:
        return self._running is None or self._running.is_set()

    async def wait_running(self) -> None:
        if self._running is not None and not self._running.is_set():
            await self._running.wait()

    @contextlib.asynccontextmanager
    async def slot(self, *, new_write: bool, urgent: bool = False, leave_on_pause: bool = False) -> AsyncIterator[None]:
        """One request's place under the concurrency limit; waits while paused (``leave_on_pause``: raises
        ``Paused`` instead, for a write whose intent is journalled: a pause must not hold intents open).

        When stopping, new writes are refused (``Stopped``) but follow-ups of a started row (lookups,
        read-backs, compensation) still run so the journal ends consistent.
        """
        while True:
            if leave_on_pause and not self._is_running():
                raise Paused
            await self.wait_running()
            if (new_write and self.stopping) or self.halted:
                raise Stopped
            await self.limiter.acquire(urgent or not new_write)
            try:
                await self.pacer.wait()  # with the slot: what it spreads out is the moment a freed slot is used
            except BaseException:
                self.limiter.release()
                raise
            # paused, stopped or halted while queued for the slot or its turn to send: give it back, look again
            # (a halt refuses follow-ups too: one waiting in the pacer when the journal failed must not go out)
            if self._is_running() and not (new_write and self.stopping) and not self.halted:
                break
            self.limiter.release()
        try:
            yield
        finally:
            self.limiter.release()

    @contextlib.asynccontextmanager
    async def queued(self, *, urgent: bool = False) -> AsyncIterator[None]:
        """A new write's place among those journalled ahead of their slot (``ExactlyOnce._attempt``): at most
        as many wait for a slot as may be in flight, so a stop or a kill leaves few intents to settle."""
        while True:
            self.ahead.set_limit(2 * self.limiter.limit)  # follows the adaptive limit
            await self.wait_running()
            if self.stopping or self.halted:
                raise Stopped
            await self.ahead.acquire(urgent)
            if self._is_running() or self.stopping:  # paused while queued: give the place back, wait
                break
            self.ahead.release()
        try:
            if self.stopping or self.halted:
                raise Stopped
            yield
        finally:
            self.ahead.release()

    async def sleep(self, seconds: float, *, abortable: bool = True) -> None:
        """``abortable``: a stop ends the wait; otherwise only a failed journal does (nothing can be recorded)."""
        if seconds <= 0:
            return
        event = self._stop_event if abortable else self._halt_event
        if event is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
