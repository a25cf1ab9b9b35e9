"""``run_preflight``: prove what this portal does before a real migration, with throwaway objects.

Order: the token; leftovers of an earlier, interrupted preflight (deleted first); the read-only checks (plans
envelope, the plan and products to use, paging and a ``per_page`` cap, a ramp of GETs); then the writes, each
journalled in the ledger before it is sent: a canary developer (given, or made for the purpose), two canary
apps, one credential per ``AuthTokenType`` spelling (read back, and tried on the gateway), the same key into
the second app (duplicate), a credential with an unknown plan (the error shape); last, whatever happened,
everything made is deleted and proven gone.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from ..config import Settings
from ..errors import AuthError, ConfigError, Rejected
from ..lock import JournalLock
from ..secrets import SecretKey
from ..verify import _gateway_base
from .cleanup import CleanupReport, clean
from .client import GatewayProbe, PreflightClient
from .ledger import Ledger, default_ledger_path
from .reads import (
    RAMP_LEVELS,
    Choice,
    check_plans,
    check_token,
    choose,
    paging_checks,
    paging_of,
    per_page_cap,
    ramp,
    ramp_checks,
)
from .result import Check, PreflightResult
from .session import Session, Waits, poll
from .writes import (
    NOT_AUTHORISED,
    TokenProbe,
    answer_check,
    duplicate_check,
    error_shape_check,
    other_spelling,
    probe_spelling,
    token_type_check,
)

LIST_ENDPOINTS = ("/users", "/products", "/plans", "/apps")


def run_preflight(
    settings: Settings,
    *,
    canary_user: str | None,
    plan_id: int | None = None,
    product_ids: list[int] | None = None,
    gateway_url: str | None = None,
    journal_path: str | Path | None = None,
    waits: Waits | None = None,
    ramp_levels: tuple[int, ...] = RAMP_LEVELS,
) -> PreflightResult:
    """Check the portal of ``settings`` (and its gateway: ``gateway_url`` or ``settings.gateway_url``).

    ``canary_user``: the email of a test developer to own the canary apps, or None to create one (and delete it
    after). ``journal_path``: the ledger of the preflight's own writes (default ``default_ledger_path()``).
    Raises ``ConfigError`` for settings it cannot work with (CLI exit 2); a result with ``ok=False`` says what
    makes a migration unsafe. Ctrl-C or a failure halfway still deletes what was made (and re-raises); what a
    killed process left is deleted by the next preflight.
    """
    base, _ = settings.require_portal()
    url = (gateway_url or settings.gateway_url or "").strip()
    gateway_base = _gateway_base(url, settings.allow_insecure_http) if url else None
    ledger_path = Path(journal_path) if journal_path is not None else default_ledger_path()
    ledger_path.parent.mkdir(parents=True, exist_ok=True)
    client = PreflightClient(settings=settings)
    with client, JournalLock(ledger_path):
        gateway = GatewayProbe(gateway_base, settings) if gateway_base else None
        try:
            session = Session(client, Ledger(ledger_path), settings, waits or Waits(), gateway)
            return _Preflight(session, base, gateway_base).run(canary_user, plan_id, product_ids, ramp_levels)
        finally:
            if gateway is not None:
                gateway.close()


class _Preflight:
    def __init__(self, session: Session, portal: str, gateway: str | None) -> None:
        self.session = session
        self.portal = portal
        self.gateway = gateway
        self.checks: list[Check] = []

    def run(
        self, canary_user: str | None, plan_id: int | None, product_ids: list[int] | None, levels: tuple[int, ...]
    ) -> PreflightResult:
        session, client = self.session, self.session.client
        self.checks.append(check_token(client))
        cleaned_before = self._earlier_leftovers()
        plans_check, envelope, plans = check_plans(client)
        self.checks.append(plans_check)
        choice = choose(client, plans, plan_id, product_ids)
        given_user = self._given_user(canary_user) if canary_user else None
        paging = {path: paging_of(client, path) for path in LIST_ENDPOINTS}
        cap, rows_seen = per_page_cap(client)
        ramped = ramp(client, f"/plans/{choice.plan_id}", levels)
        baseline = self._gateway_baseline(choice.target)
        target = choice.target if baseline in NOT_AUTHORISED else None
        result = PreflightResult(
            ok=False,
            portal=self.portal,
            checked_at=datetime.now(UTC).isoformat(timespec="seconds"),
            tool_version=__version__,
            auth_token_type=None,
            duplicate_key=None,
            plans_envelope=envelope,
            per_page_max=cap,
            listing_lag_ms=None,
            latency_ms=round(ramped.latency_ms, 1),
            start_concurrency=ramped.start,
            leftovers=0,
            gateway=self.gateway,
            unknown_key_status=baseline,
            cleaned_before=cleaned_before,
            plan_id=choice.plan_id,
            product_ids=list(choice.product_ids),
        )
        try:
            self._writes(result, choice, given_user, baseline, paging)
        finally:
            report = clean(session, session.ledger.pending(self.portal, run=session.run), session.keys, target)
        self.checks += paging_checks(client, paging, cap, rows_seen)
        self.checks += ramp_checks(ramped)
        self.checks.append(self._cleanup_check(report))
        result.paging = paging
        result.leftovers = len(report.leftovers)
        result.checks = self.checks
        result.ok = not result.problems
        return result

    # ----- steps -----
    def _earlier_leftovers(self) -> int:
        ledger = self.session.ledger
        others = ledger.other_portals(self.portal)
        if others:
            saw = f"the ledger names canaries of {len(others)} other portal(s): {', '.join(others)}"
            self.checks.append(Check("other portals", saw, "run preflight against them to delete those", "info"))
        earlier = ledger.pending(self.portal, not_run=self.session.run)
        if not earlier:
            return 0
        report = clean(self.session, earlier)
        saw = f"{len(earlier)} ledger entries of an interrupted preflight: {report.removed} objects deleted"
        if report.leftovers:
            meaning = "still there: " + "; ".join(report.leftovers)
            self.checks.append(Check("earlier leftovers", saw, meaning, "unsafe" if report.unsafe else "warn"))
        else:
            self.checks.append(Check("earlier leftovers", saw, "deleted and proven gone before any new write", "info"))
        return report.removed

    def _given_user(self, email: str) -> tuple[int, str]:
        found = self.session.find_user(email)
        if found is None:
            raise ConfigError(f"--canary-user {email}: no portal user has this email (a test developer's, please)")
        return int(found["ID"]), str(found.get("Email", email))

    def _gateway_baseline(self, target: str | None) -> int | None:
        session = self.session
        if session.gateway is None:
            meaning = "keys are proven in the portal only; pass --gateway-url to prove they open the gateway"
            self.checks.append(Check("gateway", "no gateway URL", meaning, "info"))
            return None
        if target is None:
            meaning = "the product has no API to call: keys are proven in the portal only (pass --product-id)"
            self.checks.append(Check("gateway", "no API path on the product", meaning, "warn"))
            return None
        status = session.gateway_status(target, SecretKey(secrets.token_urlsafe(32)))
        saw = f"a key it does not know -> {status or 'no answer'} at {target}"
        if status in NOT_AUTHORISED:
            self.checks.append(Check("gateway", saw, "verify counts 401 and 403 alike as not authorised", "ok"))
        else:
            meaning = (
                "the gateway does not refuse an unknown key there, so it cannot prove a canary key: keys are proven "
                "in the portal only (check --gateway-url, or pass a --product-id whose API needs a key)"
            )
            self.checks.append(Check("gateway", saw, meaning, "warn"))
        return status

    def _canary(self, given: tuple[int, str] | None) -> tuple[int, str]:
        if given is not None:
            return given
        try:
            return self.session.create_user()
        except AuthError as exc:
            raise ConfigError(_read_only(exc, "a canary developer")) from None
        except Rejected as exc:
            raise ConfigError(
                f"the portal refused to create a canary developer ({exc.status}: {'; '.join(exc.errors)}): pass "
                "--canary-user EMAIL of a test developer"
            ) from None

    def _app(self, label: str, user: tuple[int, str]) -> int:
        try:
            return self.session.create_app(label, user[0])
        except AuthError as exc:
            raise ConfigError(_read_only(exc, "a canary app")) from None
        except Rejected as exc:
            raise ConfigError(
                f"the portal refused a canary app for {user[1]} ({exc.status}: {'; '.join(exc.errors)}): pass "
                "--canary-user EMAIL of an active developer who may own apps"
            ) from None

    def _writes(
        self,
        result: PreflightResult,
        choice: Choice,
        given: tuple[int, str] | None,
        baseline: int | None,
        paging: dict[str, str],
    ) -> None:
        session = self.session
        user = self._canary(given)
        result.canary_user = user[1]
        app_a = self._app("A", user)
        configured = session.settings.auth_token_type
        probes: list[TokenProbe] = []
        for spelling in (configured, other_spelling(configured)):
            lag_first = not any(p.credential_id is not None for p in probes)
            probes.append(probe_spelling(session, app_a, choice, spelling, baseline, measure_lag=lag_first))
        result.auth_token_types = {p.spelling: p.verdict for p in probes}
        token_check, result.auth_token_type = token_type_check(probes, configured)
        self.checks.append(token_check)
        answers, result.answer_matches_read_back = answer_check(probes)
        if answers is not None:
            self.checks.append(answers)
        lagged = next((p.lag for p in probes if p.lag is not None), None)
        if lagged is not None:
            self.checks.append(lagged[0])
            result.listing_lag_ms = None if lagged[1] is None else round(lagged[1], 1)
        working = next((p for p in probes if p.works and p.spelling == result.auth_token_type), None)
        app_b = self._app("B", user) if working is not None else None  # only a kept key can be duplicated
        dup_check, result.duplicate_key = duplicate_check(session, app_b, choice, working)
        self.checks.append(dup_check)
        shape_check, result.error_shape = error_shape_check(
            session, app_a, choice, result.auth_token_type or configured
        )
        self.checks.append(shape_check)
        # its credentials listed (listing lag) before the page size is judged on them
        made = len(session.known.get(app_a, ()))
        poll(lambda: True if len(session.listed_credentials(app_a)) >= made else None, session.waits.listing, 0.05)
        paging["/apps/{id}/custom_credentials"] = paging_of(session.client, f"/apps/{app_a}/custom_credentials")

    @staticmethod
    def _cleanup_check(report: CleanupReport) -> Check:
        saw = f"{report.removed} canary objects deleted and proven gone (by ID and listing)"
        if not report.leftovers:
            return Check("cleanup", saw, "the portal is as it was (canary keys closed on the gateway too)", "ok")
        meaning = "left: " + "; ".join(report.leftovers)
        if report.kept:
            meaning += ". The ledger keeps the portal objects: the next preflight tries again"
        return Check("cleanup", saw, meaning, "unsafe" if report.unsafe else "warn")


def _read_only(exc: AuthError, what: str) -> str:
    return (
        f"the portal refused to create {what} ({exc.status}): the admin token reads but may not write; preflight "
        "(and the migration) need a portal admin's token"
    )
