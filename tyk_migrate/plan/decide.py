"""The per-row decision: each resolved row gets exactly one action, and a reason when it needs one.

Most rows need no per-row work: only rows with a problem or a key already in the portal are visited one
by one; app reuse visits the rows left undecided, and the first row of each new (user, app name) group
becomes its ``create_app``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..snapshot import PortalSnapshot
from ..vocabulary import ADD_CREDENTIAL, BLOCKED, CREATE_APP, SKIP_EXISTING
from . import reasons as R
from .resolvers import PolicyResult, Resolver, oldest_app
from .rows import Resolved


class Credential(NamedTuple):
    """A portal credential holding a legacy row's key."""

    credential_id: int
    app_id: int
    user_id: int
    plan_id: int | None
    product_ids: list[int]


@dataclass
class Decision:
    """Per row, in frame order: ``action`` ("" until decided), reason findings, app and credential IDs."""

    app_name: list[str]
    action: np.ndarray
    findings: list[list[R.Finding]]
    app_id: list[int | None] = field(default_factory=list)
    credential_id: list[int | None] = field(default_factory=list)

    @classmethod
    def undecided(cls, app_names: pd.Series) -> Decision:
        n = len(app_names)
        return cls(app_names.tolist(), np.full(n, "", dtype=object), [[] for _ in range(n)], [None] * n, [None] * n)

    def reasons(self) -> tuple[list[str], list[str]]:
        """The ``reason`` and ``reason_code`` columns."""
        joined = [R.join(f) for f in self.findings]
        return [r for r, _ in joined], [c for _, c in joined]


def duplicates(frame: pd.DataFrame) -> dict[int, int]:
    """Row position -> the source_row of the first row (lowest source_row) with the same key."""
    fps = frame["key_fingerprint"].astype(object).tolist()
    by_source = frame[["key_fingerprint", "source_row"]].reset_index(drop=True).sort_values("source_row", kind="stable")
    dup = by_source.duplicated("key_fingerprint").to_numpy()
    first_of = dict(
        zip(by_source["key_fingerprint"][~dup].tolist(), by_source["source_row"][~dup].tolist(), strict=True)
    )
    return {int(i): first_of[fps[int(i)]] for i in by_source.index.to_numpy()[dup]}


def known_credentials(snapshot: PortalSnapshot, fingerprints: list[object]) -> dict[str, list[Credential]]:
    """Key fingerprint -> every portal credential holding that key (oldest first), for the rows' keys only.

    Usually one; a portal that lets a key be imported twice (TYK-FACTS.md: duplicates probably overwrite)
    can hold it in several credentials, in any apps, and each of them is compared with the legacy row.
    """
    existing = snapshot.credentials
    wanted = {f for f in fingerprints if isinstance(f, str)}
    creds = existing[existing["key_fingerprint"].isin(wanted)].sort_values("credential_id", kind="stable")
    held: dict[str, list[Credential]] = {}
    for fp, c, a, u, p, pr in zip(
        creds["key_fingerprint"], creds["credential_id"], creds["app_id"], creds["user_id"], creds["plan_id"],
        creds["product_ids"], strict=True,
    ):  # fmt: skip
        held.setdefault(str(fp), []).append(
            Credential(int(c), int(a), int(u), None if pd.isna(p) else int(p), list(pr))
        )
    return held


class _Portal:
    """The snapshot's names for the sentences: app names, user emails, plan/product labels."""

    def __init__(self, snapshot: PortalSnapshot, resolver: Resolver) -> None:
        self.app_label = dict(zip(snapshot.apps["app_id"].tolist(), snapshot.apps["name"].tolist(), strict=True))
        self.user_email = dict(zip(snapshot.users["user_id"].tolist(), snapshot.users["email"].tolist(), strict=True))
        self.resolver = resolver

    def where(self, cred: Credential) -> dict[str, object]:
        return {"credential_id": cred.credential_id, "app_id": cred.app_id, "app_name": self.app_name(cred)}

    def app_name(self, cred: Credential) -> str:
        return self.app_label.get(cred.app_id, "?")

    def differences(self, cred: Credential, email: str, user_id: int | None, result: PolicyResult) -> list[str]:
        """What differs between the credential in the portal and the legacy row (empty: the same)."""
        label = self.resolver.label
        diffs = []
        if cred.user_id != user_id:
            portal = f"{self.user_email.get(cred.user_id, '?')!r} user {cred.user_id}"
            diffs.append(R.difference("owner", portal, f"{email!r} user {user_id}"))
        if cred.plan_id != result.plan_id:
            portal = label(("plan", cred.plan_id)) if cred.plan_id is not None else "none"
            diffs.append(R.difference("plan", portal, label(("plan", result.plan_id or -1))))
        if sorted(cred.product_ids) != result.product_ids:
            portal = ", ".join(label(("product", p)) for p in sorted(cred.product_ids)) or "none"
            diffs.append(R.difference("products", portal, ", ".join(label(("product", p)) for p in result.product_ids)))
        return diffs


def _block_or_check(
    rows: Resolved, decision: Decision, portal: _Portal, creds: dict[str, list[Credential]], dup_of: dict[int, int]
) -> None:
    """Rows with a problem are blocked; rows whose key is in the portal are skipped or are a conflict.

    A key held by several credentials is skipped only when every one of them matches the row (the newest,
    which the gateway serves, is named); the first that differs makes the row a conflict.
    """
    fps = rows.frame["key_fingerprint"].astype(object).tolist()
    users = rows.users
    has_problem = rows.has_problem()
    if dup_of:
        has_problem[list(dup_of)] = True
    known = np.fromiter((f in creds for f in fps), dtype=bool, count=len(fps)) if creds else np.zeros(len(fps), bool)
    for i in map(int, np.flatnonzero(has_problem | known)):
        problems = rows.problems(i)
        if i in dup_of:
            problems.append(R.DUPLICATE_KEY_IN_EXPORT(source_row=dup_of[i]))
        held = creds.get(fps[i], []) if i not in dup_of else []
        # an inactive owner blocks writes; a key already where the row would put it needs none (a rerun after
        # the run made the account inactive): it is compared like any held key, the owner's state noted
        owner_state = [p for p in problems if p.code == R.OWNER_INACTIVE.code] if held else []
        if problems and len(owner_state) < len(problems):
            if held:
                problems.append(R.KEY_IN_PORTAL(**portal.where(held[0])))
            decision.action[i], decision.findings[i] = BLOCKED, problems
        elif held:
            email, result = str(rows.emails.iat[i]), rows.row_result(i)
            compared = [(c, portal.differences(c, email, users[i], result)) for c in held]
            cred, diffs = next(((c, d) for c, d in compared if d), compared[-1])
            decision.credential_id[i], decision.app_id[i] = cred.credential_id, cred.app_id
            decision.app_name[i] = portal.app_label.get(cred.app_id, decision.app_name[i])
            if diffs:
                found = R.KEY_EXISTS_ELSEWHERE(**portal.where(cred), differences=" and ".join(diffs))
                decision.action[i], decision.findings[i] = BLOCKED, [*owner_state, found]
            else:
                done = R.ALREADY_MIGRATED(**portal.where(cred))
                decision.action[i], decision.findings[i] = SKIP_EXISTING, [done, *owner_state]


def _reuse_apps(rows: Resolved, decision: Decision, snapshot: PortalSnapshot) -> None:
    """Undecided rows whose user already has an app of that name add to it (the oldest, if several)."""
    apps_named = snapshot._apps_by_owner_name
    users = rows.users
    for i in map(int, np.flatnonzero(decision.action == "")):
        owner_id, name = users[i], decision.app_name[i]
        named = apps_named.get((owner_id, name)) if owner_id is not None else None
        if not named:
            continue
        decision.app_id[i] = oldest_app(named)
        decision.action[i] = ADD_CREDENTIAL
        if len(named) > 1:
            decision.findings[i] = [
                R.APP_NAME_AMBIGUOUS(
                    user_id=owner_id, count=len(named), app_name=name, app_ids=", ".join(map(str, named)),
                    app_id=decision.app_id[i],
                )
            ]  # fmt: skip


def _group_new_apps(rows: Resolved, decision: Decision) -> None:
    """The rest: the first row (lowest source_row) of each (user, app name) creates the app, the others add to it."""
    creating = np.flatnonzero(decision.action == "")
    if not len(creating):
        return
    users, source_rows = rows.users, rows.frame["source_row"].tolist()
    groups = pd.DataFrame(
        {
            # an owner the run is to create has no ID yet: its e-mail keeps its apps apart (plan.accounts)
            "u": [users[i] if users[i] is not None else rows.emails.iat[int(i)] for i in creating],
            "a": [decision.app_name[i] for i in creating],
            "s": [source_rows[i] for i in creating],
        },
        index=creating,
    ).sort_values("s", kind="stable")
    later = groups.duplicated(["u", "a"]).to_numpy()
    decision.action[groups.index.to_numpy()[~later]] = CREATE_APP
    decision.action[groups.index.to_numpy()[later]] = ADD_CREDENTIAL


def _block_for_impact(decision: Decision, impact_blocks: Sequence[R.Finding | None]) -> None:
    """Rows that would be written but whose clients would notice in a way set to block are blocked; rows
    blocked already list it too (before a ``key_in_portal`` note); ``skip_existing`` rows write nothing."""
    for i, found in enumerate(impact_blocks):
        if found is None or decision.action[i] == SKIP_EXISTING:
            continue
        if decision.action[i] == "":
            decision.action[i], decision.findings[i] = BLOCKED, [found]
            continue
        notes = decision.findings[i]
        at = len(notes) - 1 if notes and notes[-1].code == R.KEY_IN_PORTAL.code else len(notes)
        notes.insert(at, found)


def decide(
    rows: Resolved,
    app_names: pd.Series,
    snapshot: PortalSnapshot,
    resolver: Resolver,
    impact_blocks: Sequence[R.Finding | None] | None = None,
) -> Decision:
    """Every row's action, reason findings, app and credential (``app_names``: the naming rule's result;
    ``impact_blocks``: per row, the ``client_impact_blocked`` finding or None)."""
    decision = Decision.undecided(app_names)
    fingerprints = rows.frame["key_fingerprint"].astype(object).tolist()
    creds = known_credentials(snapshot, fingerprints)
    _block_or_check(rows, decision, _Portal(snapshot, resolver), creds, duplicates(rows.frame))
    if impact_blocks is not None:
        _block_for_impact(decision, impact_blocks)  # before apps are grouped: a blocked row creates no app
    _reuse_apps(rows, decision, snapshot)
    _group_new_apps(rows, decision)
    return decision
