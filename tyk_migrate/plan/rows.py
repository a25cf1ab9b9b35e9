"""Every legacy row's owner and policy resolution, computed once per distinct value.

An export of 100,000 keys has far fewer distinct owner emails and (plan, products) combinations: each is
resolved once and the per-row columns are gathered from those results with numpy indexing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from . import reasons as R
from .mapping import PlanMapping, as_list
from .resolvers import OwnerIndex, OwnerResult, PolicyResult, Resolver, resolve_policies

Combo = tuple[str, tuple[str, ...]]  # canonical (legacy plan value, sorted distinct product values)


def int64(values: Any, index: pd.Index) -> pd.Series:
    """A nullable Int64 column (None -> <NA>)."""
    return pd.Series(pd.array(list(values), dtype="Int64"), index=index)


@dataclass
class Resolved:
    """The legacy rows (``frame``, index 0..n-1) and what their owners and policies resolve to.

    Per row: ``emails`` (after the owners mapping), ``user_ids`` (-1 for none), ``org_ids``,
    ``owner_findings`` (a ``Finding`` or None) and ``combo_of_row`` (a position in ``combos``/``results``).
    ``owner_results`` and ``results`` hold one resolution per distinct email / combination.
    """

    frame: pd.DataFrame
    emails: pd.Series
    user_ids: np.ndarray
    org_ids: np.ndarray
    owner_findings: np.ndarray
    owner_results: dict[str, OwnerResult]
    combos: list[Combo]
    results: list[PolicyResult]
    combo_of_row: np.ndarray

    def subset(self, keep: np.ndarray) -> Resolved:
        """Only the rows where ``keep`` is true (renumbered from 0); the distinct results are shared."""
        if keep.all():
            return self
        return Resolved(
            self.frame.loc[keep].reset_index(drop=True),
            self.emails.loc[keep].reset_index(drop=True),
            self.user_ids[keep],
            self.org_ids[keep],
            self.owner_findings[keep],
            self.owner_results,
            self.combos,
            self.results,
            self.combo_of_row[keep],
        )

    def row_result(self, i: int) -> PolicyResult:
        return self.results[int(self.combo_of_row[i])]

    def user_id(self) -> pd.Series:
        return pd.Series(pd.array(self.user_ids, dtype="Int64"), index=self.frame.index).mask(self.user_ids == -1)

    @cached_property
    def users(self) -> list[int | None]:
        """Per row, the portal user ID or None."""
        return [None if u == -1 else int(u) for u in self.user_ids.tolist()]

    def plan_id(self) -> pd.Series:
        combo_plan = np.array([-1 if r.plan_id is None else r.plan_id for r in self.results], dtype=np.int64)
        plans = combo_plan[self.combo_of_row] if len(self.results) else np.empty(0, dtype=np.int64)
        return pd.Series(pd.array(plans, dtype="Int64"), index=self.frame.index).mask(plans == -1)

    def product_ids(self) -> pd.Series:
        values = [list(self.results[c].product_ids) for c in self.combo_of_row.tolist()]
        return pd.Series(values, index=self.frame.index, dtype=object)

    def problems(self, i: int) -> list[R.Finding]:
        """Row ``i``'s owner and policy problems, owner first."""
        owner = self.owner_findings[i]
        return ([owner] if owner is not None else []) + self.row_result(i).findings

    def has_problem(self) -> np.ndarray:
        owner = np.array([f is not None for f in self.owner_findings], dtype=bool)
        combo = np.array([bool(r.findings) for r in self.results], dtype=bool)
        return owner | (combo[self.combo_of_row] if len(self.results) else np.zeros(0, dtype=bool))


def _resolve_owners(frame: pd.DataFrame, owners: OwnerIndex, mapping: PlanMapping) -> dict[str, Any]:
    email_list = frame["owner_email"].astype("str").str.strip().str.lower().fillna("").tolist()
    if mapping.owners:
        email_list = [mapping.owners.get(e, e) for e in email_list]
    emails = pd.Series(email_list, index=frame.index, dtype=object)
    email_code, distinct = pd.factorize(emails)
    owner_results = {e: owners.resolve(e) for e in distinct}
    per_email = [owner_results[e] for e in distinct]
    return {
        "emails": emails,
        "user_ids": np.array([-1 if r.user_id is None else r.user_id for r in per_email], dtype=np.int64)[email_code],
        "org_ids": np.array([r.org_id for r in per_email], dtype=object)[email_code],
        "owner_findings": np.array([r.finding for r in per_email], dtype=object)[email_code],
        "owner_results": owner_results,
    }


def _resolve_combos(frame: pd.DataFrame, resolver: Resolver) -> dict[str, Any]:
    combos: dict[Combo, int] = {}  # canonical (plan, sorted products) -> position in results
    seen: dict[tuple[Any, ...], int] = {}  # the values as given -> position (cheap to build per row)
    results: list[PolicyResult] = []
    codes: list[int] = []
    for plan_value, products in zip(frame["plan"].tolist(), frame["products"].tolist(), strict=True):
        raw = (plan_value, *products) if type(products) is list else (plan_value, repr(products))
        code = seen.get(raw)
        if code is None:
            key = (plan_value if isinstance(plan_value, str) else "", tuple(sorted(set(as_list(products)))))
            code = combos.get(key)
            if code is None:
                code = combos[key] = len(results)
                results.append(resolve_policies(resolver, key[0], key[1]))
            seen[raw] = code
        codes.append(code)
    return {"combos": list(combos), "results": results, "combo_of_row": np.array(codes, dtype=np.int64)}


def resolve_rows(valid_keys: pd.DataFrame, owners: OwnerIndex, resolver: Resolver, mapping: PlanMapping) -> Resolved:
    """Resolve every row's owner (one lookup per distinct email) and policies (one per distinct combination)."""
    frame = valid_keys.reset_index(drop=True).copy()
    return Resolved(frame=frame, **_resolve_owners(frame, owners, mapping), **_resolve_combos(frame, resolver))
