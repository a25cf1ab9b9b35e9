"""Why a plan row is blocked, skipped or annotated: one registry of stable codes and their sentences.

Every sentence the planner writes into a plan's ``reason`` column comes from a ``Reason`` here, and its
``code`` goes into ``reason_code`` beside it (DESIGN.md, "Plan frame: ``reason_code``"). A row with several
problems joins its sentences with ``"; "`` and its codes with ``";"``, in the same order. Codes are a
contract (scripts filter on them, summaries count them): add new ones, never rename one. The table in
docs/planning.md lists them all (a test checks it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["block", "skip", "note"]
#: Separators of a row's sentences in ``reason`` and of its codes in ``reason_code``.
REASON_SEPARATOR = "; "
CODE_SEPARATOR = ";"


class _Blank:
    """Stands for any value in a reason's ``label``, so rows blocked for the same cause read the same."""

    def __format__(self, spec: str) -> str:
        return "…"

    def __str__(self) -> str:
        return "…"

    def __repr__(self) -> str:
        return "'…'"


class _Blanks(dict[str, Any]):
    def __init__(self, optional: frozenset[str]) -> None:
        super().__init__({name: "" for name in optional})

    def __missing__(self, key: str) -> _Blank | str:
        # counts and single IDs read as "N", as in "matches N portal users (IDs …)"
        return "N" if key in ("count", "source_row") or key.endswith("_id") else _Blank()


@dataclass(frozen=True)
class Finding:
    """One sentence of a row's ``reason`` with the code of the ``Reason`` that wrote it."""

    code: str
    text: str


@dataclass(frozen=True)
class Reason:
    """A stable ``code``, what it does to the row (``kind``) and the ``template`` of its sentence.

    ``template`` is a ``str.format`` string over named values; ``optional`` names the values that are
    whole optional clauses (e.g. ``did_you_mean``), left out of ``label``.
    """

    code: str
    kind: Kind
    template: str
    optional: frozenset[str] = field(default_factory=frozenset)

    def __call__(self, **values: Any) -> Finding:
        return Finding(self.code, self.template.format(**values))

    @property
    def label(self) -> str:
        """The sentence with its values blanked (``'…'``): the same for every row with this cause."""
        return self.template.format_map(_Blanks(self.optional))


def did_you_mean(hint: str) -> str:
    """The optional clause offering close matches (empty when there are none)."""
    return f" (did you mean {hint}?)" if hint else ""


_HINT = frozenset({"did_you_mean"})

OWNER_MISSING = Reason("owner_missing", "block", "the key has no owner email: fill in owner_email in the export")
OWNER_UNKNOWN = Reason(
    "owner_unknown",
    "block",
    "owner {email!r} is not a portal user{did_you_mean}: create or invite the user in the portal, or map the "
    "email under owners: in the mapping file",
    _HINT,
)
OWNER_AMBIGUOUS = Reason(
    "owner_ambiguous",
    "block",
    "owner {email!r} matches {count} portal users (IDs {user_ids}): remove the duplicate account in the portal "
    "or map the email to another under owners:",
)
OWNER_ADMIN = Reason(
    "owner_admin",
    "block",
    "owner {email!r} is a portal admin account (user {user_id}), not a developer: give the key to a developer "
    "account (owners: in the mapping file or the export)",
)
OWNER_INACTIVE = Reason(
    "owner_inactive",
    "block",
    "portal user {email!r} (user {user_id}) is inactive: activate the user in the portal or move the key to "
    "another owner, then plan again",
)
POLICY_UNKNOWN = Reason(
    "policy_unknown",
    "block",
    "legacy policy {value!r} matches no portal plan or product{did_you_mean}: add it to the mapping file "
    "(plans:/products:, or null to ignore it)",
    _HINT,
)
POLICIES_MISSING = Reason(
    "policies_missing", "block", "the key has no plan or policies: fill in its plan and products in the export"
)
PLAN_UNMAPPED = Reason(
    "plan_unmapped",
    "block",
    "no portal plan among the key's policies{found_only}: map its plan policy under plans: in the mapping file",
    frozenset({"found_only"}),
)
PLAN_AMBIGUOUS = Reason(
    "plan_ambiguous",
    "block",
    "{count} portal plans among the key's policies ({plans}); a credential takes exactly one: map the extra "
    "ones to null or to a product in the mapping file",
)
PRODUCT_UNMAPPED = Reason(
    "product_unmapped",
    "block",
    "no portal product among the key's policies ({plans}): map the key's API policies or names under products: "
    "in the mapping file",
)
DUPLICATE_KEY_IN_EXPORT = Reason(
    "duplicate_key_in_export",
    "block",
    "same key as source row {source_row}, which is planned instead: remove the duplicate row",
)
KEY_EXISTS_ELSEWHERE = Reason(
    "key_exists_elsewhere",
    "block",
    "conflict: the key is already in the portal as credential {credential_id} in app {app_id} {app_name!r} "
    "with a different {differences}: fix or delete that credential in the portal, or correct the legacy row, "
    "then plan again",
)
ALREADY_MIGRATED = Reason(
    "already_migrated",
    "skip",
    "already in the portal as credential {credential_id} in app {app_id} {app_name!r} with the same owner, "
    "plan and products",
)
KEY_IN_PORTAL = Reason(
    "key_in_portal",
    "note",
    "note: the key is already in the portal as credential {credential_id} in app {app_id} {app_name!r}",
)
CLIENT_IMPACT_BLOCKED = Reason(
    "client_impact_blocked",
    "block",
    "clients would notice ({kinds}): {detail}: move the key to a portal plan and products that keep what its "
    "clients use (mapping file), or set client_impact {kinds} to warn to accept it",
)
APP_NAME_AMBIGUOUS = Reason(
    "app_name_ambiguous",
    "note",
    "user {user_id} has {count} apps named {app_name!r} (IDs {app_ids}); using the oldest, {app_id}",
)

#: code -> Reason, in the order docs/planning.md lists them.
REASONS: dict[str, Reason] = {
    r.code: r
    for r in (
        OWNER_UNKNOWN, OWNER_AMBIGUOUS, OWNER_INACTIVE, OWNER_ADMIN, OWNER_MISSING, POLICY_UNKNOWN,
        PLAN_UNMAPPED, PLAN_AMBIGUOUS, PRODUCT_UNMAPPED, POLICIES_MISSING, DUPLICATE_KEY_IN_EXPORT,
        KEY_EXISTS_ELSEWHERE, CLIENT_IMPACT_BLOCKED, ALREADY_MIGRATED, KEY_IN_PORTAL, APP_NAME_AMBIGUOUS,
    )
}  # fmt: skip
#: The codes that block a row (what a plan summary counts).
BLOCKING_CODES = frozenset(code for code, r in REASONS.items() if r.kind == "block")


def join(findings: Iterable[Finding]) -> tuple[str, str]:
    """A row's ``(reason, reason_code)`` from its findings, in order; ``("", "")`` for none."""
    found = list(findings)
    return (
        REASON_SEPARATOR.join(f.text for f in found),
        CODE_SEPARATOR.join(f.code for f in found),
    )


def split_codes(reason_code: str) -> list[str]:
    """The codes of one ``reason_code`` cell (empty list for an empty cell)."""
    return [code for code in reason_code.split(CODE_SEPARATOR) if code]


def difference(what: str, portal: str, legacy: str) -> str:
    """One part of a ``key_exists_elsewhere`` reason's ``differences``: what the portal and the row each say."""
    return f"{what} (portal: {portal} vs legacy: {legacy})"
