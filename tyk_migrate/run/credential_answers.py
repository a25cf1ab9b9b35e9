"""What a credential answer or refusal says: whether a refusal means "the key is already there", whether a
credential as the portal shows it is the one asked for, and the lines a run says when the portal keeps the
wrong ``AuthTokenType``. Split from ``credentials.py`` (the workflow), which re-exports ``compare_credential``.
"""

from __future__ import annotations

from typing import Any

from ..config import AUTH_TOKEN_TYPES, Settings
from ..errors import PortalError
from ..secrets import fingerprint

#: Phrasings that deny existence: "KeyID: organisation does not exist" names the key's field, but what it says is
#: that something else is missing, never that the key is already there.
DENIALS = ("not exist", "n't exist", "doesnt exist", "dont exist", "nonexist", "non-exist", "no such")


def key_exists(exc: PortalError) -> bool:
    """A credential create refused because the key is already in the portal: 409, or a message naming the KeyID
    as existing (and not saying that something does *not* exist)."""
    return exc.status == 409 or any(_says_key_exists(e.lower()) for e in exc.errors)


def _says_key_exists(text: str) -> bool:
    return "keyid" in text and "exist" in text and not any(denial in text for denial in DENIALS)


def token_type_hint(settings: Settings) -> str:
    other = [t for t in AUTH_TOKEN_TYPES if t != settings.auth_token_type]
    alt = other[0] if other else AUTH_TOKEN_TYPES[0]
    return (
        f" (this portal may expect the other AuthTokenType spelling: set TYK_AUTH_TOKEN_TYPE={alt}; "
        f"now {settings.auth_token_type})"
    )


def issued_key_stop(settings: Settings, cred_id: int) -> str:
    """The one line a run stops with when the portal issued its own key instead of the one sent."""
    return (
        f"stopped: the portal issued its own key instead of the one sent (credential {cred_id}, deleted again: "
        "see its row); it "
        f"ignores AuthTokenType {settings.auth_token_type}: set TYK_AUTH_TOKEN_TYPE to the spelling it honours "
        "(run `tyk-migrate preflight` to find it), then rerun to resume the rows left pending"
    )


def compare_credential(
    answer: dict[str, Any], *, key_fingerprint: str, plan_id: int, product_ids: list[int]
) -> list[str]:
    """What differs between a credential as the portal shows it and what was asked (empty: all good).

    Differences name fingerprints, never keys. ``PlanID`` comes back as a string in Tyk's answers.
    """
    problems: list[str] = []
    key = answer.get("KeyID")
    if not isinstance(key, str) or not key:
        problems.append("the portal shows no KeyID")
    else:
        got = fingerprint(key)
        if got != key_fingerprint:
            problems.append(f"key fingerprint {got} instead of {key_fingerprint} (the portal issued its own key)")
    plan = answer.get("PlanID")
    if str(plan).strip() != str(int(plan_id)):
        problems.append(f"plan {plan!r} instead of {int(plan_id)}")
    products = answer.get("ProductIDs")
    try:
        got_products = sorted({int(p) for p in products or []})
    except (TypeError, ValueError):
        got_products = []
    if got_products != sorted(set(product_ids)):
        problems.append(f"products {got_products} instead of {sorted(set(product_ids))}")
    return problems
