"""A write's intent is journalled while it waits for its slot, so the commit never holds a place in flight;
a stop before the slot comes takes the intent back, in the protocol and in the journal file."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tyk_migrate.concurrency import Limiter
from tyk_migrate.errors import PortalConnectionError
from tyk_migrate.journal import Journal
from tyk_migrate.retry import RetryPolicy
from tyk_migrate.run.gate import Gate
from tyk_migrate.run.protocol import ExactlyOnce, Outcome

FAST = RetryPolicy(attempts=3, base=0.0, cap=0.0)


class OnDisk:
    """The journal as the protocol sees it: every record is on disk at once."""

    path = "test.journal"
    write_error = None

    def durable(self) -> concurrent.futures.Future[None]:
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        done.set_result(None)
        return done


class Held:
    """A write kind whose send waits until ``release`` is set; ``log`` says what it was asked, in order."""

    urgent = False

    def __init__(self, name: str, log: list[tuple[str, str]], release: asyncio.Event) -> None:
        self.name, self.log, self.release = name, log, release

    def intent(self, attempt: int) -> Callable[[], None]:
        self.log.append(("intent", self.name))
        return lambda: self.log.append(("withdraw", self.name))

    async def send(self) -> int:
        self.log.append(("send", self.name))
        await self.release.wait()
        return 1

    async def look_up(self, since: float) -> int | None:
        raise AssertionError("nothing is looked up here")

    def exists(self, refusal: Any) -> bool:
        return False

    async def settle(self, outcome: Outcome[int]) -> Outcome[int]:
        return outcome


async def start(
    names: list[str], log: list[tuple[str, str]], limit: int = 1
) -> tuple[Gate, list[asyncio.Task[Outcome[int]]], asyncio.Event]:
    """Writes ``names`` started in order under a gate of ``limit`` slots, their sends held until the event."""
    gate = Gate(Limiter(limit))
    gate.open()
    writer = ExactlyOnce(gate, FAST, OnDisk())
    release = asyncio.Event()
    tasks = [asyncio.create_task(writer.write(Held(name, log, release))) for name in names]
    for _ in range(20 + 5 * len(names)):
        await asyncio.sleep(0)
    return gate, tasks, release


def test_the_next_intent_is_journalled_while_the_only_slot_is_in_flight_and_a_stop_takes_it_back() -> None:
    log: list[tuple[str, str]] = []

    async def main() -> tuple[Outcome[int], Outcome[int]]:
        gate, (first, second), release = await start(["first", "second"], log)
        assert sorted(log) == [("intent", "first"), ("intent", "second"), ("send", "first")]  # journalled ahead
        gate.stop()
        release.set()
        return await first, await second

    first, second = asyncio.run(main())
    assert (first.kind, first.attempts) == ("posted", 1)  # in flight when the stop came: it finishes
    assert (second.kind, second.attempts) == ("stopped", 0)  # never sent, and its intent taken back
    assert log[-1] == ("withdraw", "second") and ("send", "second") not in log


def test_no_more_intents_wait_for_a_slot_than_may_be_in_flight() -> None:
    log: list[tuple[str, str]] = []

    async def main() -> None:
        _, tasks, release = await start([str(i) for i in range(10)], log, limit=2)
        sent = [n for what, n in log if what == "send"]
        waiting = [n for what, n in log if what == "intent" and n not in sent]
        assert len(sent) == 2 and len(waiting) == 2  # 2 in flight, 2 journalled ahead, 6 not yet journalled
        release.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())


def test_a_withdrawn_intent_leaves_the_journal_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "run.journal.sqlite"
    with Journal(path) as journal:
        journal.credential_intent("fp-new", app_id=5, run_id=1, attempts=1)
        journal.withdraw_credential_intent("fp-new", None)  # a first intent: no record at all
        journal.credential_intent("fp-old", app_id=5, run_id=1, attempts=1)
        before = journal.credential_before_intent("fp-old")
        journal.credential_intent("fp-old", app_id=5, run_id=2, attempts=2)
        journal.withdraw_credential_intent("fp-old", before)  # a second try: back to the first one's record
        journal.app_intent(3, "App", run_id=1, attempts=1, marker="m1")
        journal.withdraw_app_intent(3, "App", None)
    with Journal(path) as reopened:
        assert reopened.credential("fp-new") is None and reopened.app(3, "App") is None
        old = reopened.credential("fp-old")
        assert old is not None and (old.state, old.attempts, old.run_id) == ("intent", 1, 1)


def test_a_pause_gives_back_the_places_of_writes_journalled_ahead_and_resume_journals_them_again() -> None:
    log: list[tuple[str, str]] = []

    async def main() -> Outcome[int]:
        gate, (first, second), release = await start(["first", "second"], log)
        gate.pause()
        release.set()  # the one in flight ends while paused: nothing may stay journalled for the waiting one
        await first
        for _ in range(20):
            await asyncio.sleep(0)
        assert log[-1] == ("withdraw", "second") and ("send", "second") not in log
        gate.resume()
        return await second

    second = asyncio.run(main())
    assert (second.kind, second.attempts) == ("posted", 1)  # its first real send
    assert log[-2:] == [("intent", "second"), ("send", "second")]


def test_a_cancelled_write_that_was_not_sent_takes_its_intent_back() -> None:
    log: list[tuple[str, str]] = []

    async def main() -> None:
        _, (first, second), _ = await start(["first", "second"], log)
        second.cancel()
        first.cancel()  # in flight: sent, so its intent stays open for the lookup
        await asyncio.gather(first, second, return_exceptions=True)

    asyncio.run(main())
    assert ("withdraw", "second") in log and ("withdraw", "first") not in log


class FailsUnsent(Held):
    """A send that fails before any byte left (a refused connection)."""

    async def send(self) -> int:
        self.log.append(("send", self.name))
        raise PortalConnectionError("no answer (ConnectError)", method="POST", path="/x", sent=False)


def test_a_send_that_sent_nothing_takes_its_intent_back_before_the_backoff() -> None:
    """A cancel (or kill) in the backoff must not leave an open intent: a rerun would adopt whatever then holds
    the key (break14c F1)."""
    log: list[tuple[str, str]] = []

    async def main() -> None:
        gate = Gate(Limiter(1))
        gate.open()
        writer = ExactlyOnce(gate, RetryPolicy(attempts=3, base=5.0, cap=5.0), OnDisk())
        task = asyncio.create_task(writer.write(FailsUnsent("refused", log, asyncio.Event())))
        for _ in range(30):
            await asyncio.sleep(0)
        assert log[-1] == ("withdraw", "refused")  # already, while it waits out the backoff
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    assert log == [("intent", "refused"), ("send", "refused"), ("withdraw", "refused")]
