"""Legacy values -> portal objects: owners to users, policy values to plans and products, names to apps.

Each distinct value is resolved once (the planner calls these per distinct email and per distinct
(plan, products) combination, not per row). What cannot be resolved comes back as a ``Finding`` from the
reason registry, with close matches where there are some.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..snapshot import PortalSnapshot
from . import reasons as R
from .mapping import PlanMapping, as_list, norm

Ref = tuple[str, int]  # ("plan" | "product", portal ID)
LEVELS = ("reference_id", "name", "display_name", "id", "api_id")


def oldest_app(app_ids: Iterable[int]) -> int | None:
    """The app to use among several of one owner and name: the oldest (lowest ID), as planner and runner agree."""
    return min(app_ids, default=None)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or not str(value).strip()


class Resolver:
    """Legacy policy IDs / names -> portal plans and products, in the documented order.

    A value is looked up by ``ReferenceID`` first (the Dashboard policy ID a provider sync stored), then
    ``Name``, ``DisplayName``, ``ID``, and for products the gateway API IDs they bundle (a Dashboard key's
    ``access_rights``); the first level where it matches anything decides. If that level
    holds both a plan and a product, the column the value came from breaks the tie (``plan`` -> plan).
    An explicit mapping entry wins over all of this.
    """

    def __init__(self, snapshot: PortalSnapshot, mapping: PlanMapping, suggestions: int = 3) -> None:
        self.snapshot = snapshot
        self.mapping = mapping
        self.n_suggestions = suggestions
        self.index: dict[str, dict[str, list[Ref]]] = {level: {} for level in LEVELS}
        self.labels: dict[Ref, str] = {}
        self.vocabulary: dict[str, dict[str, str]] = {"plan": {}, "product": {}}
        self._resolved: dict[tuple[str, str], list[Ref] | None] = {}
        self._suggested: dict[tuple[str, str | None], str] = {}
        for kind, frame, id_col in (("plan", snapshot.plans, "plan_id"), ("product", snapshot.products, "product_id")):
            for row in frame.itertuples(index=False):
                self._add(kind, int(getattr(row, id_col)), row)
        self._mapped = {
            (kind, legacy): self._mapping_refs(kind, legacy, targets)
            for kind, section in (("plan", mapping.plans), ("product", mapping.products))
            for legacy, targets in section.items()
        }

    def _add(self, kind: str, portal_id: int, row: Any) -> None:
        ref: Ref = (kind, portal_id)
        self.labels[ref] = f"{kind} {row.name!r} (ID {portal_id})"
        values = {"reference_id": row.reference_id, "name": row.name, "display_name": row.display_name}
        values["id"] = str(portal_id)
        for api_id in getattr(row, "api_ids", None) or []:  # a legacy key's access_rights API IDs
            self.index["api_id"].setdefault(norm(api_id), []).append(ref)
        for level, value in values.items():
            if _blank(value):
                continue
            self.index[level].setdefault(norm(value), []).append(ref)
            if level != "id":
                self.vocabulary[kind].setdefault(norm(value), f"{str(value)!r} ({kind} {portal_id})")

    def _mapping_refs(self, kind: str, legacy: str, targets: Sequence[str]) -> list[Ref]:
        """The portal objects a mapping entry names: each target must name exactly one."""
        refs: list[Ref] = []
        for target in targets:
            found = self.lookup(target, kind, only=kind)
            if not found:
                hint = R.did_you_mean(self.suggest(target, kind=kind))
                raise InputError(f"mapping {kind}s.{legacy}: {target!r} is not a portal {kind}{hint}")
            if len(found) > 1:
                names = ", ".join(self.labels[r] for r in found)
                raise InputError(f"mapping {kind}s.{legacy}: {target!r} names several {kind}s ({names}); use the ID")
            refs.extend(found)
        return refs

    def lookup(self, value: str, hint: str, only: str | None = None) -> list[Ref]:
        """The portal objects ``value`` names at the first level that has any (mapping not consulted)."""
        key = norm(value)
        for level in LEVELS:
            refs = self.index[level].get(key)
            if only is not None and refs:
                refs = [r for r in refs if r[0] == only]
            if not refs:
                continue
            kinds = {r[0] for r in refs}
            if len(kinds) > 1:
                refs = [r for r in refs if r[0] == hint]
            return refs
        return []

    def resolve(self, value: str, hint: str) -> list[Ref] | None:
        """Portal refs for a legacy value; ``[]`` when the mapping says ignore it; None when unknown."""
        cache_key = (value, hint)
        if cache_key in self._resolved:
            return self._resolved[cache_key]
        key = norm(value)
        mapped = [refs for (kind, legacy), refs in self._mapped.items() if legacy == key]
        found = [r for refs in mapped for r in refs] if mapped else (self.lookup(value, hint) or None)
        self._resolved[cache_key] = found
        return found

    def suggest(self, value: str, kind: str | None = None) -> str:
        cache_key = (value, kind)
        if cache_key not in self._suggested:
            self._suggested[cache_key] = self._suggest(value, kind)
        return self._suggested[cache_key]

    def _suggest(self, value: str, kind: str | None) -> str:
        vocab = self.vocabulary[kind] if kind is not None else {**self.vocabulary["product"], **self.vocabulary["plan"]}
        close = difflib.get_close_matches(norm(value), list(vocab), n=self.n_suggestions, cutoff=0.6)
        return ", ".join(vocab[c] for c in close)

    def label(self, ref: Ref) -> str:
        return self.labels.get(ref, f"{ref[0]} ID {ref[1]}")


# -- policies ---------------------------------------------------------------------------------------


@dataclass
class PolicyResult:
    """How one distinct (plan, products) combination of legacy values resolves."""

    plan_id: int | None
    product_ids: list[int]
    plan_candidates: frozenset[int]
    product_candidates: frozenset[int]
    unknown: list[str]
    findings: list[R.Finding]


def _tokens(plan_value: Any, products: Sequence[str]) -> list[tuple[str, str]]:
    """Distinct legacy values as (original, column hint); a value in both columns counts as the plan."""
    tokens: dict[str, tuple[str, str]] = {}
    for value in as_list(plan_value):
        tokens.setdefault(norm(value), (value.strip(), "plan"))
    for value in products:
        tokens.setdefault(norm(value), (value.strip(), "product"))
    return list(tokens.values())


def _policy_findings(
    resolver: Resolver,
    has_tokens: bool,
    unknown: list[str],
    plans: dict[int, list[str]],
    products: dict[int, list[str]],
) -> list[R.Finding]:
    found = [R.POLICY_UNKNOWN(value=v, did_you_mean=R.did_you_mean(resolver.suggest(v))) for v in unknown]

    def show(refs: dict[int, list[str]], kind: str) -> str:
        return ", ".join(f"{vals[0]!r} -> {resolver.label((kind, i))}" for i, vals in refs.items())

    if not plans and has_tokens and not unknown:
        only = f" (found only {show(products, 'product')})" if products else ""
        found.append(R.PLAN_UNMAPPED(found_only=only))
    elif not plans and not has_tokens:
        found.append(R.POLICIES_MISSING())
    elif len(plans) > 1:
        found.append(R.PLAN_AMBIGUOUS(count=len(plans), plans=show(plans, "plan")))
    if plans and not products and not unknown:
        found.append(R.PRODUCT_UNMAPPED(plans=show(plans, "plan")))
    return found


def resolve_policies(resolver: Resolver, plan_value: Any, products: Sequence[str]) -> PolicyResult:
    """Resolve one key's plan value and product values together: exactly one plan, at least one product."""
    tokens = _tokens(plan_value, products)
    plans: dict[int, list[str]] = {}
    products_found: dict[int, list[str]] = {}
    unknown: list[str] = []
    for original, hint in tokens:
        refs = resolver.resolve(original, hint)
        if refs is None:
            unknown.append(original)
            continue
        for kind, ref_id in refs:
            (plans if kind == "plan" else products_found).setdefault(ref_id, []).append(original)
    return PolicyResult(
        plan_id=next(iter(plans)) if len(plans) == 1 else None,
        product_ids=sorted(products_found),
        plan_candidates=frozenset(plans),
        product_candidates=frozenset(products_found),
        unknown=unknown,
        findings=_policy_findings(resolver, bool(tokens), unknown, plans, products_found),
    )


# -- owners -----------------------------------------------------------------------------------------


@dataclass
class OwnerResult:
    user_id: int | None
    org_id: int | None
    unknown: bool
    finding: R.Finding | None


class OwnerIndex:
    """Trimmed, lower-case email -> portal user, with close-match suggestions for unknown owners."""

    def __init__(self, users: pd.DataFrame, suggestions: int = 3) -> None:
        self.n_suggestions = suggestions
        self.by_email: dict[str, list[tuple[int, bool, bool, int]]] = {}
        for uid, email, active, admin, org in zip(
            users["user_id"], users["email"], users["active"], users["is_admin"], users["org_id"], strict=True
        ):
            self.by_email.setdefault(str(email), []).append((int(uid), bool(active), bool(admin), int(org)))
        self.by_domain: dict[str, list[str]] = {}
        for email in self.by_email:
            self.by_domain.setdefault(email.rpartition("@")[2], []).append(email)

    def suggest(self, email: str) -> str:
        pool = self.by_domain.get(email.rpartition("@")[2])
        if pool is None:
            pool = list(self.by_email) if len(self.by_email) <= 5000 else []
        close = difflib.get_close_matches(email, pool, n=self.n_suggestions, cutoff=0.75)
        return ", ".join(repr(c) for c in close)

    def resolve(self, email: str) -> OwnerResult:
        if not email:
            return OwnerResult(None, None, True, R.OWNER_MISSING())
        users = self.by_email.get(email)
        if not users:
            hint = R.did_you_mean(self.suggest(email))
            return OwnerResult(None, None, True, R.OWNER_UNKNOWN(email=email, did_you_mean=hint))
        if len(users) > 1:
            ids = ", ".join(str(u[0]) for u in users)
            return OwnerResult(None, None, False, R.OWNER_AMBIGUOUS(email=email, count=len(users), user_ids=ids))
        uid, active, admin, org = users[0]
        if admin:
            return OwnerResult(uid, org, False, R.OWNER_ADMIN(email=email, user_id=uid))
        if not active:
            return OwnerResult(uid, org, False, R.OWNER_INACTIVE(email=email, user_id=uid))
        return OwnerResult(uid, org, False, None)
