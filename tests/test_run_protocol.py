"""The exactly-once write protocol on its own, driven by a write kind that is neither an app nor a credential:
``POST /users`` against an in-memory portal behind ``httpx.MockTransport``, looked up by e-mail after a lost
answer (the kind the runner gets next). Each test scripts what the portal does with each POST and lookup.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from tyk_migrate.concurrency import Limiter
from tyk_migrate.errors import JournalError, PortalError, PortalServerError, RateLimited, Rejected
from tyk_migrate.portal import Call, connection_error
from tyk_migrate.portal_errors import read_answer
from tyk_migrate.retry import RetryPolicy
from tyk_migrate.run.gate import Gate
from tyk_migrate.run.protocol import AnswerWithoutId, ExactlyOnce, Outcome, Unresolved

EMAIL = "dev@example.test"
FAST = RetryPolicy(attempts=3, base=0.0, cap=0.0, rate_limited_attempts=5)


class Portal:
    """Users by e-mail. ``posts``/``gets``: what each next request does (then ``ok``); ``listed``: whether a
    lookup shows users yet (a lagging listing when False); ``meanwhile``: a user another client registers
    while a POST fails without reaching the portal."""

    def __init__(self, posts: list[str] | None = None, gets: list[str] | None = None) -> None:
        self.posts, self.gets = list(posts or []), list(gets or [])
        self.users: list[dict[str, Any]] = []
        self.listed = True
        self.post_count = self.get_count = 0
        self.meanwhile: dict[str, Any] | None = None
        self.on_get: Callable[[], None] = lambda: None

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.post_count += 1
            return self._post(request, self.posts.pop(0) if self.posts else "ok")
        self.get_count += 1
        self.on_get()
        if (self.gets.pop(0) if self.gets else "ok") == "500":
            return httpx.Response(500, json={"errors": ["listing failed"]})
        email = request.url.params.get("email")
        shown = [u for u in self.users if u["Email"] == email] if self.listed else []
        return httpx.Response(200, json=shown)

    def _post(self, request: httpx.Request, how: str) -> httpx.Response:
        if how == "drop":  # never reached the portal
            if self.meanwhile is not None:
                self.users.append(self.meanwhile)
            raise httpx.ConnectError("connection refused", request=request)
        if how == "reset":  # read, not applied, and no answer: the client cannot tell it from "lost"
            raise httpx.ReadError("connection reset", request=request)
        if how in ("429", "401", "422", "502"):
            return httpx.Response(int(how), headers={"Retry-After": "0"}, json={"errors": [f"said {how}"]})
        email = json.loads(request.content)["Email"]
        if how == "409" or any(u["Email"] == email for u in self.users):
            return httpx.Response(409, json={"errors": ["a user with this email exists"]})
        user = {"ID": 100 + len(self.users), "Email": email}
        self.users.append(user)
        if how == "lost":  # applied, but the answer never arrives
            raise httpx.ReadError("connection reset", request=request)
        if how == "noid":
            return httpx.Response(201, json={"Email": email})
        return httpx.Response(201, json=user)


class UserWrite:
    """A write kind in full: how to journal, send, look up and settle one ``POST /users``."""

    urgent = False

    def __init__(self, http: httpx.AsyncClient, email: str, log: list[tuple[Any, ...]], gate: Gate) -> None:
        self.http, self.email, self.log, self.gate = http, email, log, gate

    async def _call(self, call: Call) -> Any:
        try:
            response = await self.http.request(call.method, call.path, params=call.params, json=call.json)
        except httpx.TransportError as exc:
            raise connection_error(call, exc) from exc
        return read_answer(call, response)

    def intent(self, attempt: int) -> Callable[[], None]:
        self.log.append(("intent", attempt))
        return lambda: self.log.append(("withdraw", attempt))

    async def send(self) -> int:
        body = await self._call(Call("POST", "/users", json={"Email": self.email}, expect=(201,)))
        if not isinstance(body, dict) or "ID" not in body:
            raise AnswerWithoutId("the user answer has no ID", method="POST", path="/users")
        return int(body["ID"])

    async def look_up(self, since: float) -> int | None:
        self.log.append(("look_up",))
        return await self._find()

    async def made_by_another(self) -> int | None:
        self.log.append(("made_by_another",))
        return await self._find()

    async def _find(self) -> int | None:
        try:
            found = await self._call(Call("GET", "/users", params={"email": self.email}))
        except PortalError as exc:
            raise Unresolved(str(exc)) from exc
        return int(found[0]["ID"]) if found else None

    def exists(self, refusal: Rejected) -> bool:
        return any("exists" in e for e in refusal.errors)

    async def settle(self, outcome: Outcome[int]) -> Outcome[int]:
        self.log.append(("settle", outcome.kind, self.gate.state))
        return outcome


class Durable:
    """The journal as the protocol sees it; ``fail``: nothing can be committed (a full disk)."""

    path = "users.journal"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    @property
    def write_error(self) -> str | None:
        return "database or disk is full" if self.fail else None

    def durable(self) -> concurrent.futures.Future[None]:
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        if self.fail:
            done.set_exception(JournalError("journal users.journal: database or disk is full"))
        else:
            done.set_result(None)
        return done


def drive(
    portal: Portal,
    *,
    policy: RetryPolicy = FAST,
    journal: Durable | None = None,
    before: Callable[[Gate], None] | None = None,
    **kw: Any,
) -> tuple[Outcome[int], list[tuple[Any, ...]], Gate]:
    """One user written through the protocol; returns its outcome, what the kind was asked, and the gate."""
    log: list[tuple[Any, ...]] = []

    async def main() -> tuple[Outcome[int], Gate]:
        gate = Gate(Limiter(4))
        gate.open()
        if before is not None:
            before(gate)
        writer = ExactlyOnce(gate, policy, journal or Durable())
        transport = httpx.MockTransport(portal.handle)
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
            outcome = await writer.write(UserWrite(http, EMAIL, log, gate), **kw)
        return outcome, gate

    outcome, gate = asyncio.run(main())
    return outcome, log, gate


def test_a_written_object_is_posted_once_after_a_durable_intent() -> None:
    portal = Portal()
    outcome, log, _ = drive(portal)
    assert (outcome.kind, outcome.value, outcome.attempts) == ("posted", 100, 1)
    assert log == [("intent", 1), ("settle", "posted", "running")]
    assert portal.post_count == 1 and portal.get_count == 0


def test_a_lost_answer_is_looked_up_and_the_object_adopted_not_sent_again() -> None:
    portal = Portal(posts=["lost"])
    outcome, log, _ = drive(portal)
    assert (outcome.kind, outcome.value, outcome.attempts) == ("adopted", 100, 1)
    assert log == [("intent", 1), ("look_up",), ("settle", "adopted", "running")]
    assert portal.post_count == 1 and len(portal.users) == 1
    assert outcome.error is not None and "no answer" in str(outcome.error)  # the failure it recovered from


def test_an_answer_that_names_nothing_is_looked_up_at_once() -> None:
    portal = Portal(posts=["noid"])
    started = time.perf_counter()
    outcome, log, _ = drive(portal, policy=RetryPolicy(attempts=3, base=5.0, cap=5.0))
    assert time.perf_counter() - started < 2.0  # no backoff: the portal did answer
    assert (outcome.kind, outcome.value) == ("adopted", 100)
    assert log == [("intent", 1), ("look_up",), ("settle", "adopted", "running")]
    assert portal.post_count == 1 and len(portal.users) == 1


def test_a_lookup_that_finds_nothing_sends_again_after_a_new_intent() -> None:
    portal = Portal(posts=["reset"])
    outcome, log, _ = drive(portal)
    assert (outcome.kind, outcome.value, outcome.attempts) == ("posted", 100, 2)
    assert log == [("intent", 1), ("look_up",), ("intent", 2), ("settle", "posted", "running")]
    assert portal.post_count == 2 and len(portal.users) == 1


def test_a_send_that_reached_nothing_is_not_looked_up_as_ours_and_is_sent_again() -> None:
    portal = Portal(posts=["drop"])
    outcome, log, _ = drive(portal)
    assert (outcome.kind, outcome.value, outcome.attempts) == ("posted", 100, 2)
    # no lookup for a write of ours (none can be there), only: has someone else made it meanwhile? And its intent
    # is taken back at once, so a kill in the backoff leaves nothing open a rerun could settle by adopting
    want = [("intent", 1), ("withdraw", 1), ("made_by_another",), ("intent", 2), ("settle", "posted", "running")]
    assert log == want
    assert portal.post_count == 2 and len(portal.users) == 1


def test_what_another_client_made_while_nothing_of_ours_was_sent_is_held_by_them_never_adopted() -> None:
    portal = Portal(posts=["drop"])
    portal.meanwhile = {"ID": 55, "Email": EMAIL}  # registered by another client as our POST failed to connect
    outcome, log, _ = drive(portal)
    assert (outcome.kind, outcome.value, outcome.attempts, outcome.landed) == ("held", 55, 1, False)
    assert outcome.error is not None and "ConnectError" in str(outcome.error)
    assert ("look_up",) not in log and portal.post_count == 1  # never adopted, never a second POST
    # the same object after a send that did reach the portal is adopted as ours: the rule is "nothing sent"
    portal = Portal(posts=["reset", "drop"])
    portal.meanwhile = {"ID": 56, "Email": EMAIL}
    outcome, log, _ = drive(portal)
    assert (outcome.kind, outcome.value, outcome.landed) == ("adopted", 56, True)
    assert ("made_by_another",) not in log


def test_an_earlier_runs_open_intent_keeps_a_send_that_reached_nothing_in_doubt() -> None:
    portal = Portal(posts=["drop"])
    portal.meanwhile = {"ID": 57, "Email": EMAIL}
    outcome, log, _ = drive(portal, attempts=1, maybe_landed=True)  # an earlier run's send may have landed
    assert (outcome.kind, outcome.value, outcome.landed) == ("adopted", 57, True)
    assert ("made_by_another",) not in log


def test_when_nothing_was_sent_a_failed_check_or_a_stop_says_nothing_landed() -> None:
    portal = Portal(posts=["drop"], gets=["500"])
    outcome, log, _ = drive(portal)
    assert log[:3] == [("intent", 1), ("withdraw", 1), ("made_by_another",)]
    assert (outcome.kind, outcome.attempts, outcome.landed) == ("unresolved", 1, False)
    assert portal.post_count == 1
    portal = Portal(posts=["drop"] * 5)
    outcome, _, _ = drive(portal)
    assert (outcome.kind, outcome.attempts, outcome.landed) == ("gave_up", 3, False)

    def stop_on_check(gate: Gate) -> None:
        portal.on_get = gate.stop

    portal = Portal(posts=["drop"])
    outcome, _, _ = drive(portal, before=stop_on_check)
    assert (outcome.kind, outcome.attempts, outcome.landed) == ("stopped", 1, False)
    assert portal.post_count == 1


def test_an_earlier_runs_unknown_outcome_is_looked_up_before_any_send() -> None:
    found = Portal()
    found.users.append({"ID": 7, "Email": EMAIL})
    outcome, log, _ = drive(found, attempts=2, look_up_first=True)
    assert (outcome.kind, outcome.value, outcome.attempts) == ("adopted", 7, 2)
    assert found.post_count == 0
    missing = Portal()
    outcome, log, _ = drive(missing, attempts=2, look_up_first=True)
    assert (outcome.kind, outcome.attempts) == ("posted", 3)  # the try count goes on from the earlier run's
    assert log[:2] == [("look_up",), ("intent", 3)]


def test_failures_have_a_budget_and_each_one_is_looked_up() -> None:
    portal = Portal(posts=["502"] * 10)
    outcome, log, _ = drive(portal)
    assert (outcome.kind, outcome.attempts) == ("gave_up", 3)
    assert isinstance(outcome.error, PortalServerError) and outcome.http_status == 502
    assert log.count(("look_up",)) == 3 and portal.post_count == 3


def test_429s_have_a_budget_of_their_own_and_are_never_looked_up() -> None:
    portal = Portal(posts=["429"] * 4)
    outcome, log, _ = drive(portal)  # four 429s: more than the 3 failures allowed, fewer than the 5 429s
    assert (outcome.kind, outcome.attempts) == ("posted", 5)
    assert ("look_up",) not in log  # refused before anything was done: nothing to look up
    portal = Portal(posts=["429"] * 10)
    outcome, log, _ = drive(portal)
    assert (outcome.kind, outcome.attempts) == ("gave_up", 5)
    assert isinstance(outcome.error, RateLimited) and portal.post_count == 5


def test_a_429_waits_for_its_retry_after() -> None:
    portal = Portal(posts=["429"])
    slept: list[float] = []

    def record(gate: Gate) -> None:
        async def sleep(seconds: float, *, abortable: bool = True) -> None:
            slept.append(seconds)

        gate.sleep = sleep  # type: ignore[method-assign]

    outcome, _, _ = drive(portal, policy=RetryPolicy(attempts=3, base=5.0, cap=5.0), before=record)
    assert outcome.kind == "posted" and slept == [0.0]  # the portal's Retry-After: 0, not the 5 s backoff


def test_a_failed_lookup_leaves_the_outcome_unresolved_and_sends_nothing_more() -> None:
    portal = Portal(posts=["lost"], gets=["500"])
    outcome, log, _ = drive(portal)
    assert (outcome.kind, outcome.attempts) == ("unresolved", 1)
    assert outcome.reason is not None and "listing failed" in outcome.reason
    assert log == [("intent", 1), ("look_up",), ("settle", "unresolved", "running")]
    assert portal.post_count == 1  # the write may have landed: never sent blind


def test_exists_after_a_send_that_may_have_landed_is_looked_up_and_kept_open_if_not_found() -> None:
    portal = Portal(posts=["reset", "409"])
    portal.listed = False  # the listing lags: the lookup cannot show it
    outcome, log, _ = drive(portal)
    assert outcome.kind == "conflict" and isinstance(outcome.error, Rejected)
    assert log.count(("look_up",)) == 2 and portal.post_count == 2
    portal = Portal(posts=["reset", "409"])
    portal.users.append({"ID": 9, "Email": EMAIL})  # it is there after all
    outcome, _, _ = drive(portal)
    assert (outcome.kind, outcome.value) == ("adopted", 9)


def test_exists_on_a_first_send_is_a_refusal() -> None:
    portal = Portal(posts=["409"])
    outcome, log, _ = drive(portal)
    assert outcome.kind == "refused" and outcome.http_status == 409
    assert ("look_up",) not in log
    portal = Portal(posts=["drop", "409"])  # after a send that reached nothing, too: nothing of ours is there
    outcome, log, _ = drive(portal)
    assert (outcome.kind, outcome.http_status, outcome.landed) == ("refused", 409, False)
    assert ("look_up",) not in log


def test_a_refused_token_stops_the_run_after_the_outcome_is_settled() -> None:
    portal = Portal(posts=["401"])
    outcome, log, gate = drive(portal)
    assert outcome.kind == "refused" and outcome.http_status == 401
    assert log[-1] == ("settle", "refused", "running")  # journalled and reported first
    assert gate.state == "stopping" and gate.fatal_error is not None and "refused the token" in gate.fatal_error


def test_a_journal_that_cannot_make_the_intent_durable_stops_the_run_before_sending() -> None:
    portal = Portal()
    outcome, log, gate = drive(portal, journal=Durable(fail=True))
    assert (outcome.kind, outcome.attempts) == ("stopped", 0)  # attempts are sends: none went out
    assert portal.post_count == 0  # the intent was not on disk: nothing went out
    assert log == [("intent", 1), ("settle", "stopped", "stopping")]
    assert gate.halted and gate.state == "stopping"
    assert gate.journal_error is not None and "users.journal" in gate.journal_error
    assert "database or disk is full" in gate.journal_error


def test_a_stopped_run_sends_no_new_write() -> None:
    portal = Portal()
    outcome, log, _ = drive(portal, before=lambda gate: gate.stop())
    assert (outcome.kind, outcome.attempts) == ("stopped", 0)
    assert log == [("settle", "stopped", "stopping")] and portal.post_count == 0


def test_a_validation_answer_is_final() -> None:
    portal = Portal(posts=["422"])
    outcome, log, _ = drive(portal)
    assert outcome.kind == "refused" and outcome.attempts == 1 and outcome.http_status == 422
    assert log == [("intent", 1), ("settle", "refused", "running")] and portal.post_count == 1
