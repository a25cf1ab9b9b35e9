"""The words of the HTML report: what to do per blocking reason code, column headers, and the glossary.

``action_items`` groups a plan's blocked keys by ``reason_code`` (plan/reasons.py) and says, per code, one
action and what it names (the users to activate, the policies to map, …); the values named in a reason's
sentence are read back through the registry's own template, so the two cannot drift apart.
"""

from __future__ import annotations

import ast
import contextlib
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from .report_summary import STAGES, plural
from .vocabulary import (
    ADD_CREDENTIAL,
    BLOCKED,
    CREATE_APP,
    CREATED,
    DRY_RUN,
    DUPLICATED,
    FAILED,
    MISSING,
    PENDING,
    PRESENT,
    ROLLED_BACK,
    SKIP_EXISTING,
    SKIPPED,
    WRONG_OWNER,
    WRONG_PLAN,
    WRONG_PRODUCTS,
)

if TYPE_CHECKING:
    from .plan.reasons import Reason

# -- the action list ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Todo:
    """What to do about keys blocked for one reason code: ``verb`` N ``noun`` ``rest``, then the
    ``subject`` values (a plan column, or ``reason:<field>`` of the code's sentence in ``reason``)."""

    verb: str
    noun: tuple[str, str]
    rest: str
    subject: str
    each: str = "{}"


#: One action per blocking reason code (plan/reasons.py); a test checks every blocking code has one.
TODOS: dict[str, Todo] = {
    "owner_unknown": Todo(
        "create or invite", ("portal user", "portal users"), " (or map the e-mails under owners:)", "owner_email"
    ),
    "owner_ambiguous": Todo(
        "remove the duplicate portal accounts of", ("e-mail", "e-mails"), " (or map them under owners:)", "owner_email"
    ),
    "owner_inactive": Todo(
        "activate", ("user", "users"), " in the portal (or move their keys to another owner)", "owner_email"
    ),
    "owner_admin": Todo(
        "give the keys of", ("admin account", "admin accounts"), " to developer accounts (owners:)", "owner_email"
    ),
    "owner_missing": Todo("fill in owner_email for", ("row", "rows"), " of the export", "source_row"),
    "policy_unknown": Todo(
        "map", ("legacy policy", "legacy policies"), " in the mapping file (plans:/products:, or null)", "reason:value"
    ),
    "policies_missing": Todo("fill in plan and products for", ("row", "rows"), " of the export", "source_row"),
    "plan_unmapped": Todo("map", ("policy", "policies"), " under plans: in the mapping file", "plan"),
    "plan_ambiguous": Todo(
        "keep one plan in", ("policy set", "policy sets"), " (map the others to null or a product)", "reason:plans"
    ),
    "product_unmapped": Todo("map", ("policy", "policies"), " under products: in the mapping file", "products"),
    "duplicate_key_in_export": Todo("remove", ("duplicate row", "duplicate rows"), " from the export", "source_row"),
    "key_exists_elsewhere": Todo(
        "fix or delete", ("conflicting credential", "conflicting credentials"),
        " in the portal (or correct the legacy rows)", "reason:credential_id", "credential {}",
    ),
    "client_impact_blocked": Todo(
        "move", ("key", "keys"), " to portal products and plans that keep what their clients use (or set "
        "client_impact: warn)", "source_row", "row {}",
    ),
}  # fmt: skip
#: How many subjects an action item names before "and N more".
SHOWN_SUBJECTS = 8


@dataclass(frozen=True)
class ActionItem:
    """Keys blocked for one reason code and what to do about them."""

    code: str
    keys: int
    action: str
    subjects: list[str]

    @property
    def shown(self) -> list[str]:
        """The subjects named in the report (the first ``SHOWN_SUBJECTS``)."""
        return self.subjects[:SHOWN_SUBJECTS]

    @property
    def more(self) -> int:
        """How many subjects are not named."""
        return len(self.subjects) - len(self.shown)

    @property
    def text(self) -> str:
        """``"owner_inactive: activate 3 users in the portal (…): a@x, b@y, c@z"``."""
        listed = ", ".join(self.shown) + (f" and {self.more} more" if self.more else "")
        return f"{self.code}: {self.action}" + (f": {listed}" if listed else "")


def _pattern(reason: Reason) -> tuple[re.Pattern[str], dict[str, str]]:
    """A regex finding ``reason``'s sentence in a ``reason`` cell, a group per named value (and its conversion)."""
    parts, conversions = [], {}
    for literal, name, _spec, conversion in string.Formatter().parse(reason.template):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(f"(?P<{name}>.*?)" if name not in conversions else ".*?")
            conversions[name] = conversion or ""
    return re.compile("".join(parts) + "(?=; |$)"), conversions


def _field_values(code: str, name: str, texts: Iterable[object]) -> list[str]:
    """The values ``name`` took in the sentences of ``code`` (unquoted where the template used ``!r``)."""
    from .plan.reasons import REASONS  # the plan package is heavy: loaded when a report has blocked keys

    pattern, conversions = _pattern(REASONS[code])
    found = []
    for text in texts:
        for match in pattern.finditer(str(text)) if isinstance(text, str) else ():
            value = match.group(name)
            if conversions.get(name) == "r":
                with contextlib.suppress(ValueError, SyntaxError):  # not a literal: keep the text as it is
                    value = str(ast.literal_eval(value))
            found.append(value)
    return found


def _subjects(rows: pd.DataFrame, code: str, subject: str) -> list[str]:
    if subject.startswith("reason:"):
        values = _field_values(code, subject.removeprefix("reason:"), rows.get("reason", pd.Series(dtype=object)))
    elif subject in rows.columns:
        values = []
        for value in rows[subject]:
            items = value if isinstance(value, (list, tuple)) else [value]
            values.extend(str(v) for v in items if v is not None and not (isinstance(v, float) and v != v))
    else:
        values = []
    distinct = dict.fromkeys(v for v in values if v)
    numeric = all(v.isdigit() for v in distinct)
    return sorted(distinct, key=lambda v: (int(v), v) if numeric else (0, v))


def action_items(frame: pd.DataFrame | None) -> list[ActionItem]:
    """The blocked keys of a plan or outcome frame grouped by blocking ``reason_code`` (a key blocked for
    two reasons counts under both), most keys first, each with one action sentence and what it names."""
    from .plan.reasons import split_codes
    from .plan.summary import reason_counts

    if frame is None or "action" not in frame.columns or "reason_code" not in frame.columns:
        return []
    blocked = frame[frame["action"] == BLOCKED]
    codes = blocked["reason_code"].astype(object).map(lambda c: set(split_codes(c)) if isinstance(c, str) else set())
    items = []
    for code, keys in reason_counts(frame).items():
        todo = TODOS.get(str(code), Todo("fix", ("row", "rows"), " (see the reason column)", "source_row"))
        rows = blocked[codes.map(lambda found, c=code: c in found)]
        subjects = [todo.each.format(s) for s in _subjects(rows, str(code), todo.subject)]
        action = f"{todo.verb} {plural(len(subjects), *todo.noun)}{todo.rest}"
        items.append(ActionItem(str(code), int(keys), action, subjects))
    return items


# -- headers and glossary -----------------------------------------------------------------------------------

#: Column name -> the header a reader sees; other columns get their name with spaces, capitalised.
HEADERS = {
    "source_row": "Row", "source_id": "Source ID", "key_fingerprint": "Key fingerprint", "key_masked": "Key",
    "owner_email": "Owner", "app_name": "App", "alias": "Alias", "plan": "Plan", "products": "Products",
    "status": "Run status", "action": "Plan action", "http_status": "HTTP", "why": "Why", "reason": "Reason",
    "reason_code": "Reason code", "keys": "Keys", "rows": "Rows", "severity": "Severity", "column": "Column",
    "check": "Check", "message": "Message", "value": "Value", "verify_status": "Gateway answer",
    "verify_target": "Path called", "verify_error": "Gateway error", "meaning": "Meaning",
    "migration_status": "Run status", "recon_status": "Reconciliation", "recon_detail": "What differs",
    "credential_id": "Credential", "app_id": "App ID", "portal_app_name": "Portal app",
    "portal_user_id": "Portal user", "portal_owner_email": "Portal owner", "portal_alias": "Portal alias",
    "portal_plan": "Portal plan", "portal_plan_id": "Plan ID", "portal_products": "Portal products",
    "portal_product_ids": "Product IDs", "group": "Group", "name": "Name", "total": "Total",
    "what to do": "What to do",
    "client_impact": "Client impact", "client_impact_detail": "What the clients would notice",
    "kind": "Kind", "setting": "Setting", BLOCKED: "Blocked", "warned": "Warned only", "example": "Example",
}  # fmt: skip


def header(column: object) -> str:
    """The human header of a column (status names, e.g. ``wrong_plan``, stay as they are: the glossary has them)."""
    name = str(column)
    if name in HEADERS:
        return HEADERS[name]
    return name if name in RECON_MEANINGS else name.replace("_", " ").capitalize()


#: Every reconciliation status (``reconcile.RECON_STATUSES`` and ``unexplained``) and what it means.
RECON_MEANINGS = {
    PRESENT: "exactly one credential holds the key, owned by the legacy owner, on the expected plan and products",
    MISSING: "no portal credential holds the key",
    WRONG_OWNER: "one credential holds the key, but its app belongs to another portal user",
    WRONG_PLAN: "one credential, right owner, but on another plan than the legacy plan maps to",
    WRONG_PRODUCTS: "one credential, right owner and plan, but another set of products",
    DUPLICATED: "more than one credential holds the key",
    "unexplained": "a portal credential no legacy key accounts for (portal-born, another migration, a leftover)",
}
UNEXPLAINED_ADVICE = "Not an error, but an auditor will ask: find out who made it, keep or delete it."
#: Every run status and what it means.
RUN_MEANINGS = {
    PENDING: "not written yet: the run stopped before it (run apply again)",
    CREATED: "written by this run: the credential (and its app, if new) now exists",
    SKIPPED: "already in the portal with the same owner, plan and products: nothing written",
    FAILED: "the portal refused the write, or it could not be confirmed: see the error",
    BLOCKED: "not attempted: the plan found a problem (see What to do)",
    ROLLED_BACK: "created, then removed again by rollback",
    DRY_RUN: "would be written; a dry run writes nothing",
}
#: Every plan action and what it means.
ACTION_MEANINGS = {
    CREATE_APP: "the first key of a new developer app: the app is created with it",
    ADD_CREDENTIAL: "added to an app that exists (or that the plan creates)",
    SKIP_EXISTING: "already in the portal as planned: nothing to write",
    BLOCKED: "cannot migrate until its reason is fixed",
}


#: Every kind of client impact (``plan.IMPACT_KINDS``): what the key's clients would notice, and what to do.
IMPACT_MEANINGS = {
    "rate_tighter": (
        "the target plan's rate limit allows fewer requests per second than the key has today",
        "accept it (warn), or map the key to a plan with a rate limit at least as high",
    ),
    "quota_lower": (
        "the target plan's quota is lower than today's (normalised per second when the periods differ), or a "
        "lifetime cap replaces a renewing quota",
        "accept it (warn), or map the key to a plan with a quota at least as high",
    ),
    "api_lost": (
        "the key calls a gateway API today that none of its target products exposes: those calls would fail",
        "add a product exposing the API to the key's products (mapping file), or set client_impact api_lost to warn",
    ),
    "expiry_changes": (
        "the key never expired, or expired later, and the plan's KeyExpiresIn now ends it sooner",
        "accept it, or use a plan without KeyExpiresIn (or a longer one) for these keys",
    ),
    "live_key_overwritten": (
        "the key works in the gateway today (the Dashboard knows it): the import replaces its session with the "
        "plan's (policies, limits, expiry, owner)",
        "check the live key's owner; keys of another owner are blocked by default (block_other_owner)",
    ),
}


def glossary() -> list[tuple[str, list[tuple[str, str, str]]]]:
    """``(group, [(term, meaning, what to do), …])`` for every status and action the report shows."""
    from .reconcile import STATUS_ADVICE
    from .verify import MEANINGS

    advice = {**STATUS_ADVICE, "unexplained": UNEXPLAINED_ADVICE}
    return [
        ("Funnel", [(k, v, "") for k, v in STAGES.items()]),
        ("Plan actions", [(k, v, "") for k, v in ACTION_MEANINGS.items()]),
        ("Run statuses", [(k, v, "") for k, v in RUN_MEANINGS.items()]),
        ("Gateway answers", [(k, v, "") for k, v in MEANINGS.items()]),
        ("Reconciliation statuses", [(k, v, advice.get(k, "")) for k, v in RECON_MEANINGS.items()]),
        ("Client impact", [(k, meaning, todo) for k, (meaning, todo) in IMPACT_MEANINGS.items()]),
    ]
