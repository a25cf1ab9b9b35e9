"""Whether an account the portal shows is provably the one a ``POST /users`` of ours made.

An e-mail absent before our intent and present after it is not proof enough: a first POST may have been
refused with a 500 that made nothing (or the run killed before sending), and a colleague may have made that
e-mail by hand meanwhile. Adopting that account as *created* would let rollback delete someone else's
account. So an account is ours only when its ``User-show`` answer (the official file: ``GET /users/{id}``
carries ``CreatedAt``, ``YYYY-MM-DD HH:MM``, and the ``User-basis`` fields) has

* the fields we sent (``PROOF_FIELDS``: First, Last, Role, OrganisationID, compared trimmed), and
* a ``CreatedAt`` not before the intent, allowing ``CLOCK_SKEW`` between our clock and the portal's (and the
  minute the portal's stamp is truncated to).

Anything else (fields differ, no or unreadable ``CreatedAt``, no record of what was sent) is someone else's:
used as ``existing``, never deleted. Within the same minute a hand-made account with the very fields we
sent cannot be told apart; that is the residual risk, and it needs a person to type our exact names.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

#: the ``User-create`` fields whose values prove an account is the one we sent (the e-mail matched already)
PROOF_FIELDS = ("First", "Last", "Role", "OrganisationID")
#: how far the portal's clock may lag ours
CLOCK_SKEW = timedelta(seconds=5)
#: the portal's ``CreatedAt`` is truncated to the minute
_STAMP_GRAIN = timedelta(minutes=1)


def sent_fields(body: dict[str, Any]) -> str:
    """What the journal keeps of a ``POST /users`` body to prove the account later (no secret in it)."""
    return json.dumps({k: body.get(k) for k in PROOF_FIELDS}, sort_keys=True)


def _stamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _same(sent: Any, shown: Any) -> bool:
    if isinstance(sent, str) or isinstance(shown, str):
        return str(sent if sent is not None else "").strip() == str(shown if shown is not None else "").strip()
    return bool(sent == shown)


def proven_ours(shown: dict[str, Any], sent: str | None, intent_at: str | None) -> bool:
    """``shown``: the account's ``User-show`` answer; ``sent``/``intent_at``: the journal's record of our POST."""
    if not sent or not intent_at:
        return False
    try:
        fields = json.loads(sent)
    except ValueError:
        return False
    began, created = _stamp(intent_at), _stamp(shown.get("CreatedAt"))
    if began is None or created is None or created + _STAMP_GRAIN + CLOCK_SKEW <= began:
        return False
    for name in PROOF_FIELDS:
        if name == "OrganisationID" and fields.get(name) is None:
            continue  # not sent: the portal's default, nothing to compare
        if not _same(fields.get(name), shown.get(name)):
            return False
    return True
