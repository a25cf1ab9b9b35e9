"""Owners without a usable portal account, made usable by the run (opt-in, never by default).

``AccountSettings(create_missing_users=True)`` (CLI ``--create-missing-users``): a row blocked *only*
because its owner has no portal account (``owner_unknown``) is planned as if the account existed (its
action is the ``create_app``/``add_credential`` it would then be) and marked ``user_action = create_user``:
the run creates the account (``POST /users``) before the row's app. ``activate_users=True``
(``--activate-users``): a row blocked only because its owner is inactive (``owner_inactive``) is marked
``activate_user`` (``PUT /users/{id}`` with ``Active: true``). A row with any other problem stays blocked
with its owner reason as before. Off, the plan is exactly what it was.

The plan then carries ``USER_COLUMNS``: ``user_action`` (``""``, ``create_user``, ``activate_user``),
``user_email`` (the account's e-mail, after the ``owners:`` mapping), and the new account's ``user_first``,
``user_last`` (from the export's name columns when it has them, else from the e-mail's local part),
``user_org_id`` (``--users-org ID``, else the mapping's ``new_users: organisation_id:``) and ``user_active``
(``--users-active`` / ``--users-inactive``, else the mapping's ``new_users: active:``, else empty: the
portal's own default).

Creating needs an organisation: the official file says a user's ``OrganisationID`` "for admin users ... is
always equal to 0", so an account made without one is what the planner (``snapshot_frames.is_portal_admin``)
calls a portal admin, and a rerun would block its keys. A plan that would create an account without
``--users-org``/``new_users: organisation_id`` is refused with one line (``ConfigError``); 0 is refused too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from ..vocabulary import BLOCKED, SKIP_EXISTING
from . import reasons as R

if TYPE_CHECKING:
    from .rows import Resolved

CREATE_USER, ACTIVATE_USER = "create_user", "activate_user"
USER_ACTIONS = ("", CREATE_USER, ACTIVATE_USER)
USER_COLUMNS = ("user_action", "user_email", "user_first", "user_last", "user_org_id", "user_active")
#: the owner reasons each setting lifts (and the step it plans instead)
_LIFTS = {R.OWNER_UNKNOWN.code: CREATE_USER, R.OWNER_INACTIVE.code: ACTIVATE_USER}
#: export columns read as the owner's names, best first (compared lower case)
FIRST_NAME_COLUMNS = ("owner_first", "owner_first_name", "first_name", "firstname", "given_name", "first")
LAST_NAME_COLUMNS = ("owner_last", "owner_last_name", "last_name", "lastname", "surname", "family_name", "last")
NEW_USERS_KEYS = ("organisation_id", "active")
NO_ORGANISATION = (
    "--create-missing-users needs the organisation new accounts join: set new_users: organisation_id in the "
    "mapping or pass --users-org ID (an account in no organisation is a portal admin, not a developer)"
)


@dataclass(frozen=True)
class AccountSettings:
    """What the planner may plan for owners without a usable account (all off by default).

    ``users_active``: whether created accounts are active (None: the mapping's ``new_users: active:``,
    else the portal's default, i.e. ``Active`` is not sent). ``users_org``: the organisation created
    accounts join (None: the mapping's ``new_users: organisation_id:``; one of the two is required).
    """

    create_missing_users: bool = False
    activate_users: bool = False
    users_active: bool | None = None
    users_org: int | None = None

    def __post_init__(self) -> None:
        if self.users_org is not None and (isinstance(self.users_org, bool) or self.users_org < 1):
            raise ConfigError(f"--users-org: expected a portal organisation ID (1 or more), got {self.users_org!r}")

    @property
    def any(self) -> bool:
        return self.create_missing_users or self.activate_users


def new_users_section(section: Any) -> dict[str, Any]:
    """The mapping file's ``new_users:`` section: ``organisation_id`` (int) and ``active`` (bool)."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise InputError("mapping new_users: expected an object with organisation_id and/or active")
    unknown = [str(k) for k in section if k not in NEW_USERS_KEYS]
    if unknown:
        raise InputError(f"mapping new_users: unknown setting(s) {', '.join(unknown)}; use {', '.join(NEW_USERS_KEYS)}")
    org, active = section.get("organisation_id"), section.get("active")
    if org is not None and (isinstance(org, bool) or not isinstance(org, int) or org < 1):
        raise InputError(f"mapping new_users.organisation_id: expected a portal organisation ID, got {org!r}")
    if active is not None and not isinstance(active, bool):
        raise InputError(f"mapping new_users.active: expected true or false, got {active!r}")
    return {k: v for k, v in (("organisation_id", org), ("active", active)) if v is not None}


@dataclass
class Lifted:
    """Per row, the account step planned (``""`` none) and the owner finding it lifted (to put back)."""

    action: np.ndarray
    findings: np.ndarray


def lift_owner_blocks(rows: Resolved, settings: AccountSettings) -> tuple[Resolved, Lifted | None]:
    """The rows as the decision should see them: owner findings the settings lift are gone (rows whose only
    problem they were then plan as for a usable owner). ``rows`` itself is not changed (``unresolved`` still
    lists the unknown owners)."""
    if not settings.any:
        return rows, None
    lifts = {code: step for code, step in _LIFTS.items() if _allowed(step, settings)}
    action = np.full(len(rows.owner_findings), "", dtype=object)
    findings = np.array(rows.owner_findings, dtype=object)
    kept = findings.copy()
    for i, found in enumerate(findings.tolist()):
        if found is not None and found.code in lifts:
            action[i], kept[i] = lifts[found.code], None
    if not (action != "").any():
        return rows, None
    return replace(rows, owner_findings=kept), Lifted(action, findings)


def _allowed(step: str, settings: AccountSettings) -> bool:
    return settings.create_missing_users if step == CREATE_USER else settings.activate_users


def restore_blocked(lifted: Lifted | None, action: np.ndarray, findings: list[list[R.Finding]]) -> None:
    """A row still blocked (another problem) or skipped gets no account step: its owner finding goes back
    first, as the plan without the setting has it."""
    if lifted is None:
        return
    for i in map(int, np.flatnonzero(lifted.action != "")):
        if action[i] == BLOCKED:
            findings[i].insert(0, lifted.findings[i])
        if action[i] in (BLOCKED, SKIP_EXISTING):
            lifted.action[i] = ""


def _names_from_email(email: str) -> tuple[str, str]:
    """``jane.doe@x`` -> ("Jane", "Doe"); ``jdoe@x`` -> ("Jdoe", ""): something a person recognises."""
    parts = [p for p in re.split(r"[._\-+]+", email.partition("@")[0]) if p and not p.isdigit()]
    if not parts:
        return email.partition("@")[0] or email, ""
    return parts[0].capitalize(), " ".join(p.capitalize() for p in parts[1:])


def _export_column(frame: pd.DataFrame, names: tuple[str, ...]) -> pd.Series | None:
    lower = {str(c).lower(): c for c in frame.columns}
    for name in names:
        if name in lower:
            return frame[lower[name]]
    return None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def account_columns(
    rows: Resolved, lifted: Lifted | None, settings: AccountSettings, new_users: dict[str, Any]
) -> dict[str, pd.Series] | None:
    """The ``USER_COLUMNS`` of the plan (None when no setting is on: the plan keeps its usual columns)."""
    if not settings.any:
        return None
    index, n = rows.frame.index, len(rows.frame)
    action = lifted.action if lifted is not None else np.full(n, "", dtype=object)
    emails = rows.emails.tolist()
    firsts, lasts = _export_column(rows.frame, FIRST_NAME_COLUMNS), _export_column(rows.frame, LAST_NAME_COLUMNS)
    active = settings.users_active if settings.users_active is not None else new_users.get("active")
    organisation = settings.users_org if settings.users_org is not None else new_users.get("organisation_id")
    if organisation is None and (action == CREATE_USER).any():
        raise ConfigError(NO_ORGANISATION)
    user_email: list[str | None] = [None] * n
    first: list[str | None] = [None] * n
    last: list[str | None] = [None] * n
    org: list[int | None] = [None] * n
    on: list[bool | None] = [None] * n
    for i in map(int, np.flatnonzero(action != "")):
        user_email[i] = str(emails[i])
        if action[i] != CREATE_USER:
            continue
        derived = _names_from_email(str(emails[i]))
        given_first = _text(firsts.iat[i]) if firsts is not None else None
        given_last = _text(lasts.iat[i]) if lasts is not None else None
        first[i] = given_first or (None if given_last else derived[0]) or ""
        last[i] = given_last or ("" if given_first else derived[1])
        org[i] = organisation
        on[i] = active
    return {
        "user_action": pd.Series(action.tolist(), index=index, dtype="str"),
        "user_email": pd.Series(user_email, index=index, dtype=object),
        "user_first": pd.Series(first, index=index, dtype=object),
        "user_last": pd.Series(last, index=index, dtype=object),
        "user_org_id": pd.Series(pd.array(org, dtype="Int64"), index=index),
        "user_active": pd.Series(pd.array(on, dtype="boolean"), index=index),
    }


def account_counts(plan: pd.DataFrame) -> dict[str, int]:
    """Accounts the plan would create and activate (distinct e-mails); empty when the plan has none planned."""
    if "user_action" not in plan.columns:
        return {}
    steps = plan.loc[plan["user_action"] != "", ["user_action", "user_email"]].drop_duplicates("user_email")
    counts = steps["user_action"].value_counts()
    return {"create": int(counts.get(CREATE_USER, 0)), "activate": int(counts.get(ACTIVATE_USER, 0))}


def account_line(counts: dict[str, int]) -> str | None:
    """``users to create: 3, users to activate: 1`` for the plan summary (None without the settings)."""
    if not counts:
        return None
    return f"users to create: {counts.get('create', 0)}, users to activate: {counts.get('activate', 0)}"
