"""One preflight's writes and waits: every create goes through here, journalled in the ledger first.

A create whose answer is lost (no answer, 5xx, a body without an ID) is looked up before anything else
happens, as the migration does: a user by email, an app by owner and name, a credential by its key or as the
one new ID in its app (only the preflight writes into its canary apps, and a portal that fell back to a key of
its own cannot be found by ours). Canary keys are ``SecretKey`` objects from ``secrets.token_urlsafe``: never
printed, never in the ledger (only their fingerprint), kept in memory to prove at the end that none still
opens the gateway.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..config import Settings
from ..errors import AuthError, PortalConnectionError, PortalServerError, Rejected, UnexpectedAnswer
from ..secrets import SecretKey, fingerprint, reveal
from .client import GatewayProbe, PreflightClient
from .ledger import Entry, Ledger

T = TypeVar("T")
#: Bytes of randomness in a canary key: 43 URL-safe characters, above any gateway's minimum length.
CANARY_KEY_BYTES = 32
APP_PREFIX = "tyk-migrate preflight"
CANARY_ALIAS = "tyk-migrate preflight canary (throwaway)"
CANARY_DESCRIPTION = "Throwaway app of tyk-migrate preflight: deleted when it ends; safe to delete."
#: errors after which a create may or may not have been applied: look before going on
UNKNOWN_OUTCOME = (PortalConnectionError, PortalServerError, UnexpectedAnswer)
#: answers that say a create made nothing
REFUSED = (Rejected, AuthError)


@dataclass(frozen=True)
class Waits:
    """How long a preflight waits for what a real portal may do late (seconds): a new object to be listed (and
    a deleted one to leave the listing), a new key to open the gateway (Tyk: ~5 s after a policy sync)."""

    listing: float = 15.0
    gateway: float = 10.0


def poll(
    probe: Callable[[], T | None], seconds: float, first: float = 0.02, most: float = 0.5
) -> tuple[T | None, float]:
    """Call ``probe`` until it answers something not None or ``seconds`` pass; (answer, seconds waited).

    The pause between calls grows from ``first`` to ``most`` (a measurement wants a small ``most``)."""
    started = time.monotonic()
    delay = first
    while True:
        found = probe()
        waited = time.monotonic() - started
        if found is not None or waited >= seconds:
            return found, waited
        time.sleep(min(delay, max(0.0, seconds - waited)))
        delay = min(delay * 1.6, most)


@dataclass
class CreateOutcome:
    """A credential create: ``created`` (with its ID), ``refused`` (nothing made) or ``unknown``."""

    state: str
    credential_id: int | None = None
    detail: str = ""
    status: int | None = None
    answered_at: float = field(default_factory=time.monotonic)  # when the answer (or the lookup) came
    #: the create's own 201 answer (None after a lost one); holds the raw key, so never shown
    answer: dict[str, Any] | None = field(default=None, repr=False)


@dataclass
class Session:
    client: PreflightClient
    ledger: Ledger
    settings: Settings
    waits: Waits = field(default_factory=Waits)
    gateway: GatewayProbe | None = None
    run: str = field(default_factory=lambda: secrets.token_hex(4))
    keys: list[SecretKey] = field(default_factory=list, repr=False)
    #: credential IDs known per canary app, so a lost create is found even when the portal changed its key
    known: dict[int, set[int]] = field(default_factory=dict)

    @property
    def portal(self) -> str:
        return self.client.base_url

    def new_key(self) -> SecretKey:
        key = SecretKey(secrets.token_urlsafe(CANARY_KEY_BYTES))
        self.keys.append(key)
        return key

    def intent(self, kind: str, **values: Any) -> Entry:
        return self.ledger.intent(kind, self.portal, self.run, **values)

    # ----- users and apps -----
    def find_user(self, email: str) -> dict[str, Any] | None:
        wanted = email.strip().casefold()
        for user in self.client.walk("/users"):
            if str(user.get("Email", "")).strip().casefold() == wanted:
                return user
        return None

    def create_user(self) -> tuple[int, str]:
        """A canary developer of the preflight's own (journalled): its ID and email."""
        email = f"tyk-migrate-preflight-{self.run}@example.invalid"
        entry = self.intent("user", name=email)
        try:
            answer = self.client.create_user(email, "tyk-migrate", f"preflight {self.run}")
            user_id = int(answer["ID"])
        except REFUSED:
            self.ledger.forget(entry)
            raise
        except (*UNKNOWN_OUTCOME, KeyError, TypeError, ValueError):
            found, _ = poll(lambda: self.find_user(email), self.waits.listing, 0.1)
            if found is None:
                raise
            user_id = int(found["ID"])
        self.ledger.created(entry, user_id)
        return user_id, email

    def create_app(self, label: str, user_id: int) -> int:
        name = f"{APP_PREFIX} {self.run} {label}"
        entry = self.intent("app", name=name, user_id=user_id)
        try:
            answer = self.client.create_app(name, user_id, description=CANARY_DESCRIPTION, visibility="personal")
            app_id = int(answer["ID"])
        except REFUSED:
            self.ledger.forget(entry)
            raise
        except (*UNKNOWN_OUTCOME, KeyError, TypeError, ValueError):
            found, _ = poll(lambda: self.find_app(name, user_id), self.waits.listing, 0.1)
            if found is None:
                raise
            app_id = found
        self.ledger.created(entry, app_id)
        self.known[app_id] = set()
        return app_id

    def find_app(self, name: str, user_id: int | None) -> int | None:
        for app in self.client.walk("/apps"):
            if app.get("Name") == name and (user_id is None or app.get("UserID") == user_id):
                return int(app["ID"])
        return None

    # ----- credentials -----
    def listed_credentials(self, app_id: int) -> list[dict[str, Any]]:
        return self.client.walk(f"/apps/{int(app_id)}/custom_credentials")

    def find_credential(self, app_id: int, key: SecretKey, seconds: float) -> int | None:
        """A credential of ``app_id`` with ``key``, or a new one the preflight did not know (bounded wait)."""

        def probe() -> int | None:
            for cred in self.listed_credentials(app_id):
                cid = int(cred["ID"])
                if cred.get("KeyID") == reveal(key) or cid not in self.known.get(app_id, set()):
                    return cid
            return None

        found, _ = poll(probe, seconds, 0.05)
        return found

    def create_credential(
        self, app_id: int, key: SecretKey, plan_id: int, product_ids: Iterable[int], token_type: str
    ) -> CreateOutcome:
        """Import ``key`` into a canary app with ``token_type``, journalled first; a lost answer is looked up."""
        entry = self.intent("credential", app_id=app_id, fingerprint=fingerprint(key))
        answer: Any = None  # stays None when the answer is lost (found by lookup instead)
        try:
            answer = self.client.create_credential(
                app_id,
                key_id=key,
                plan_id=plan_id,
                product_ids=list(product_ids),
                alias=CANARY_ALIAS,
                auth_token_type=token_type,
                authentication_method=self.settings.authentication_method,
            )
            answered = time.monotonic()  # before the ledger's fsync: listing lag counts from the answer
            cid = int(answer["ID"])
        except REFUSED as exc:
            self.ledger.forget(entry)
            return CreateOutcome("refused", None, "; ".join(exc.errors) or str(exc), exc.status)
        except (*UNKNOWN_OUTCOME, KeyError, TypeError, ValueError) as exc:
            status = getattr(exc, "status", None)
            found = self.find_credential(app_id, key, self.waits.listing)
            if found is None:  # left in the ledger: its app's deletion takes it, if it exists at all
                return CreateOutcome("unknown", None, f"no usable answer ({status or type(exc).__name__})", status)
            cid, answered = found, time.monotonic()
        self.ledger.created(entry, cid)
        self.known.setdefault(app_id, set()).add(cid)
        return CreateOutcome("created", cid, answered_at=answered, answer=answer if isinstance(answer, dict) else None)

    def record_credential(self, entry: Entry, app_id: int, cid: int) -> None:
        self.ledger.created(entry, cid)
        self.known.setdefault(app_id, set()).add(cid)

    # ----- gateway -----
    def gateway_status(self, target: str, key: SecretKey) -> int | None:
        return None if self.gateway is None else self.gateway.status(target, key)
