"""The checks that write, each with throwaway canaries in the preflight's own apps: which ``AuthTokenType``
keeps a ``KeyID`` (read back, and on the gateway), how late a new credential is listed, whether a duplicate
``KeyID`` is refused, and what a refusal looks like."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from ..config import AUTH_TOKEN_TYPES
from ..errors import PortalConnectionError
from ..portal import CREDENTIAL_TYPE_TYK_MANAGED, Call
from ..run.readback import answer_complete
from ..secrets import SecretKey, fingerprint, reveal
from .client import json_of
from .reads import MAX_ID, Choice
from .result import Check
from .session import CANARY_ALIAS, Session, poll

#: A listing lag below this is no news (the time of one more request).
LAG_NOTICE_MS = 50.0
#: What the gateway answers a key it does not know, when it guards the API (TYK-FACTS: 401, or 403 on real ones).
NOT_AUTHORISED = (401, 403)


def other_spelling(spelling: str) -> str:
    return next(t for t in AUTH_TOKEN_TYPES if t != spelling)


@dataclass
class TokenProbe:
    """What the portal (and gateway) did with one ``AuthTokenType`` spelling."""

    spelling: str
    verdict: str  # keeps | generated | refused | unknown | not on the gateway
    works: bool = False
    key: SecretKey | None = None
    credential_id: int | None = None
    detail: str = ""
    lag: tuple[Check, float | None] | None = None  # the listing lag, measured on this credential
    #: whether the create's 201 answer showed what the read-back shows (None: no answer to compare)
    answer_matches: bool | None = None


def answer_agrees(answer: dict[str, Any] | None, read: Any) -> bool | None:
    """Whether a create's answer shows the credential as a later GET does (key, plan, products), None if the
    answer lacks a field: the fact that decides if a migration may trust answers instead of reading back."""
    if answer is None or not answer_complete(answer) or not isinstance(read, dict):
        return None

    def shown(body: dict[str, Any]) -> tuple[Any, str, list[str]]:
        products = body.get("ProductIDs") or []
        return body.get("KeyID"), str(body.get("PlanID")), sorted(str(p) for p in products)

    return shown(answer) == shown(read)


def gateway_opens(
    session: Session, target: str | None, key: SecretKey, baseline: int | None
) -> tuple[bool | None, int | None]:
    """(True, status) once the gateway lets ``key`` through; (False, last status) after the wait; (None, None)
    when it cannot tell (no gateway, no API path, or an API that does not ask for a key)."""
    if session.gateway is None or target is None or baseline not in NOT_AUTHORISED:
        return None, None

    def probe() -> int | None:
        status = session.gateway_status(target, key)
        return status if status is not None and status not in NOT_AUTHORISED else None

    found, _ = poll(probe, session.waits.gateway, 0.1)
    return (True, found) if found is not None else (False, session.gateway_status(target, key))


def probe_spelling(
    session: Session, app_id: int, choice: Choice, spelling: str, baseline: int | None, *, measure_lag: bool = False
) -> TokenProbe:
    """Import a fresh canary key with ``spelling``, read it back, try it on the gateway. ``measure_lag``: first,
    time how long the new credential takes to appear in its app's listing."""
    key = session.new_key()
    out = session.create_credential(app_id, key, choice.plan_id, choice.product_ids, spelling)
    if out.state == "refused":
        return TokenProbe(spelling, "refused", detail=f"refused ({out.status})")
    if out.state == "unknown" or out.credential_id is None:
        return TokenProbe(spelling, "unknown", key=key, detail=out.detail)
    probe = TokenProbe(spelling, "keeps", key=key, credential_id=out.credential_id)
    if measure_lag:
        probe.lag = listing_lag(session, app_id, out.credential_id, out.answered_at)
    read = session.client.get_credential(app_id, out.credential_id)
    probe.answer_matches = answer_agrees(out.answer, read)
    if not isinstance(read, dict) or read.get("KeyID") != reveal(key):
        stored = read.get("AuthTokenType") if isinstance(read, dict) else None
        probe.verdict, probe.detail = "generated", f"accepted, but the portal made its own key (reads back {stored})"
        return probe
    opened, status = gateway_opens(session, choice.target, key, baseline)
    if opened is False:
        probe.verdict = "not on the gateway"
        probe.detail = f"kept, but the gateway answers {status} at {choice.target} after {session.waits.gateway:g} s"
        return probe
    probe.works = True
    probe.detail = "kept" + (f"; the gateway opens ({status})" if opened else "")
    return probe


def answer_check(probes: list[TokenProbe]) -> tuple[Check | None, bool | None]:
    """Whether the portal's 201 answers can stand in for a read-back (``ReadBackPolicy.trust_answer``)."""
    seen = [p.answer_matches for p in probes if p.answer_matches is not None]
    if not seen:
        return None, None
    if all(seen):
        saw = "the create's answer shows the key, plan and products a read-back shows"
        return Check("create answer", saw, "apply compares answers and reads back only a sample", "ok"), True
    saw = "the create's answer differs from a read-back of the same credential"
    meaning = "apply reads back every credential it creates (one more request per key)"
    return Check("create answer", saw, meaning, "ok"), False


def token_type_check(probes: list[TokenProbe], configured: str) -> tuple[Check, str | None]:
    """The row and the spelling a migration must use (the configured one when it works), or None."""
    saw = "; ".join(f"{p.spelling}: {p.detail or p.verdict}" for p in probes)
    working = [p.spelling for p in probes if p.works]
    if configured in working:
        meaning = f"{configured} (the setting) keeps the KeyID" + (
            "; so does the other spelling" if len(working) > 1 else "; keep TYK_AUTH_TOKEN_TYPE as it is"
        )
        return Check("auth token type", saw, meaning, "ok"), configured
    if working:
        chosen = working[0]
        meaning = (
            f"the setting {configured} does not keep the KeyID: every key would fail or be replaced by one the "
            f"portal makes up; set TYK_AUTH_TOKEN_TYPE={chosen} before migrating"
        )
        return Check("auth token type", saw, meaning, "unsafe"), chosen
    if all(p.verdict == "unknown" for p in probes):
        meaning = (
            "no credential create had a usable answer and none was listed: the chain portal -> Dashboard -> "
            "gateway is failing (a gateway key without a portal record may be left: see cleanup); do not migrate "
            "before a preflight gets through"
        )
        return Check("auth token type", saw, meaning, "unsafe"), None
    not_gateway = any(p.verdict == "not on the gateway" for p in probes)
    meaning = (
        "neither AUTH_TOKEN_TYPE_CUSTOM nor AUTH_TOKEN_CUSTOM keeps the KeyID"
        + (" and opens the gateway" if not_gateway else "")
        + ": the portal cannot take keys by value as configured; check that it supports custom credentials "
        "(1.12+), the plan and product, and the gateway URL; do not migrate"
    )
    return Check("auth token type", saw, meaning, "unsafe"), None


def listing_lag(session: Session, app_id: int, cid: int, answered_at: float) -> tuple[Check, float | None]:
    """Milliseconds from a create's answer (``answered_at``, monotonic) until its app's listing shows it."""

    def listed() -> bool | None:
        return True if any(c.get("ID") == cid for c in session.listed_credentials(app_id)) else None

    found, _ = poll(listed, session.waits.listing, 0.01, 0.05)
    if not found:
        meaning = (
            f"a new credential was not listed within {session.waits.listing:g} s: lookups after a lost answer "
            "would miss what was made; migrate only once the portal lists new objects (rerun preflight)"
        )
        return Check("listing lag", f"not listed after {session.waits.listing:g} s", meaning, "unsafe"), None
    lag = max(0.0, (time.monotonic() - answered_at) * 1000)
    saw = f"a new credential listed after {lag:.0f} ms"
    if lag < LAG_NOTICE_MS:
        return Check("listing lag", saw, "a listing right after a write shows it", "ok"), lag
    meaning = (
        f"a listing read within ~{lag:.0f} ms of a write may not show it: a lookup after a lost answer can miss it "
        "(the journal then keeps the intent open and a rerun settles it before writing again)"
    )
    return Check("listing lag", saw, meaning, "warn"), lag


def duplicate_check(
    session: Session, app_id: int | None, choice: Choice, working: TokenProbe | None
) -> tuple[Check, str | None]:
    """The same canary key into a second canary app: refused, or taken over."""
    if app_id is None or working is None or working.key is None:
        return Check("duplicate KeyID", "not tested", "needs a spelling that keeps the KeyID", "info"), None
    out = session.create_credential(app_id, working.key, choice.plan_id, choice.product_ids, working.spelling)
    if out.state == "refused":
        meaning = "a key already in the portal fails its row instead of being taken over (and a retry cannot duplicate)"
        return Check("duplicate KeyID", f"refused ({out.status})", meaning, "ok"), "refuse"
    if out.state == "created":
        meaning = (
            "accepted as a second credential, as the gateway overwrites: the portal will not stop a key that is "
            "already live (in another app, or in the gateway from the Classic Portal or Dashboard). Survivable: "
            "the plan blocks keys already in the portal and the runner looks a lost create up before resending "
            "it; check keys live in the Dashboard before migrating (client impact live_key_overwritten)"
        )
        return Check(
            "duplicate KeyID", "accepted (201): a second credential took the key", meaning, "warn"
        ), "overwrite"
    meaning = "could not tell (the create had no usable answer and nothing was listed): treat as overwrite"
    return Check("duplicate KeyID", out.detail, meaning, "warn"), None


def classify_error(response: httpx.Response) -> str:
    body = json_of(response)
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return "status-errors" if "status" in body else "errors"
    if body is None and response.text.strip():
        return "text"
    return "other"


_ERROR_MEANINGS = {
    "errors": ("the file's {\"errors\": [...]}: a refused row carries the portal's messages", "ok"),
    "status-errors": ('{"status": "error", "errors": [...]}: read the same way, the messages reach the rows', "ok"),
    "text": ("text/plain (portals before 1.17.1): rows carry the text, keys scrubbed, cut to 200 characters", "info"),
    "other": ("an error body tyk-migrate does not read: refused rows show the status only", "warn"),
}


def error_shape_check(session: Session, app_id: int, choice: Choice, spelling: str) -> tuple[Check, str | None]:
    """Provoke a refusal: a credential with a plan that does not exist (journalled: a portal may take it)."""
    key = session.new_key()
    bogus = min(MAX_ID, max([*choice.known_plan_ids, choice.plan_id]) + 1_000_000)
    entry = session.intent("credential", app_id=app_id, fingerprint=fingerprint(key))
    body = {
        "Alias": CANARY_ALIAS,
        "Type": CREDENTIAL_TYPE_TYK_MANAGED,
        "PlanID": bogus,
        "AuthenticationMethod": session.settings.authentication_method,
        "ProductIDs": list(choice.product_ids),
        "AuthTokenType": spelling,
        "KeyID": reveal(key),
    }
    call = Call("POST", f"/apps/{app_id}/custom_credentials", json=body, expect=(200, 201), secrets=(key,))
    try:
        response: httpx.Response | None = session.client.exchange(call)[0]
    except PortalConnectionError:
        response = None
    status = None if response is None else response.status_code
    if response is not None and status is not None and 400 <= status < 500:
        session.ledger.forget(entry)  # refused: nothing was made
        shape = classify_error(response)
        meaning, verdict = _ERROR_MEANINGS[shape]
        kind = response.headers.get("content-type", "").split(";")[0] or "no content type"
        return Check("error shape", f"unknown plan -> {status} {kind}: {shape}", meaning, verdict), shape
    # accepted, or no telling: a credential may have been made, find it so the cleanup deletes it
    answer = json_of(response) if response is not None else None
    cid = answer.get("ID") if isinstance(answer, dict) and isinstance(answer.get("ID"), int) else None
    cid = cid if cid is not None else session.find_credential(app_id, key, session.waits.listing)
    if cid is not None:
        session.record_credential(entry, app_id, cid)
    if status is not None and status < 300:
        saw = f"{status}: a credential with unknown plan {bogus} was accepted"
        meaning = "the portal does not check PlanID: a plan deleted after planning would be taken; plan just before"
        return Check("error shape", saw, meaning, "warn"), None
    saw = f"no refusal to read ({status or 'no answer'})"
    return Check("error shape", saw, "could not provoke a refusal: error bodies unknown", "info"), None
