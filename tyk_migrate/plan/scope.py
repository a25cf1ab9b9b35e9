"""Scoping (like decK's select tags): keep only the rows of some owners, plans, products or organisations."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from . import reasons as R
from .mapping import as_list, norm
from .resolvers import Resolver
from .rows import Resolved

SCOPE_KEYS = ("owners", "plans", "products", "orgs")


def check_scope(scope: dict[str, Any] | None) -> dict[str, list[str]]:
    """The scope's non-empty filters as lists; an unknown filter is a ConfigError."""
    if not scope:
        return {}
    unknown = [k for k in scope if k not in SCOPE_KEYS]
    if unknown:
        raise ConfigError(f"unknown scope key(s) {', '.join(unknown)}; use {', '.join(SCOPE_KEYS)}")
    out: dict[str, list[str]] = {}
    for key, values in scope.items():
        items = as_list(values)
        if items:
            out[key] = items
    return out


def scope_refs(resolver: Resolver, values: list[str], kind: str, legacy_values: set[str]) -> set[int]:
    """Portal IDs of ``kind`` the filter values name; a value naming nothing, not even a legacy value, is refused."""
    ids: set[int] = set()
    for value in values:
        found = list(resolver.lookup(value, kind, only=kind))  # a copy: the index must not grow
        mapped = resolver.resolve(value, kind)
        if mapped:
            found += [r for r in mapped if r[0] == kind]
        if not found and norm(value) not in legacy_values:
            hint = R.did_you_mean(resolver.suggest(value, kind=kind))
            raise ConfigError(f"scope {kind} {value!r} matches no portal {kind}{hint}")
        ids.update(r[1] for r in found)
    return ids


def _policy_mask(rows: Resolved, resolver: Resolver, kind: str, values: list[str]) -> np.ndarray:
    """Rows whose plan (``kind="plans"``) or products match: by portal object or by the raw legacy value."""
    frame = rows.frame
    if kind == "plans":
        legacy_values = {norm(v) for v in frame["plan"].dropna()}
    else:
        legacy_values = {norm(v) for cell in frame["products"] for v in as_list(cell)}
    ids = scope_refs(resolver, values, kind[:-1], legacy_values)
    wanted = {norm(v) for v in values}
    in_scope = np.array(
        [
            bool((r.plan_candidates if kind == "plans" else r.product_candidates) & ids)
            or bool(wanted & {norm(v) for v in ([combo[0]] if kind == "plans" else list(combo[1]))})
            for combo, r in zip(rows.combos, rows.results, strict=True)
        ],
        dtype=bool,
    )
    return in_scope[rows.combo_of_row]


def _org_mask(rows: Resolved, values: list[str]) -> np.ndarray:
    """Rows whose portal user's organisation ID, or legacy ``org`` value, is one of ``values``."""
    wanted = {norm(v) for v in values}
    keep = np.array([str(o) in wanted if o is not None else False for o in rows.org_ids], dtype=bool)
    if "org" in rows.frame:
        keep |= rows.frame["org"].map(lambda o: norm(o) in wanted if isinstance(o, str) else False).to_numpy(bool)
    return keep


def scope_mask(rows: Resolved, resolver: Resolver, scope: dict[str, list[str]]) -> np.ndarray:
    """Boolean per row: inside every given filter (all true without a scope)."""
    keep = np.ones(len(rows.frame), dtype=bool)
    if "owners" in scope:
        keep &= rows.emails.isin({norm(v) for v in scope["owners"]}).to_numpy(bool)
    for kind in ("plans", "products"):
        if kind in scope:
            keep &= _policy_mask(rows, resolver, kind, scope[kind])
    if "orgs" in scope:
        keep &= _org_mask(rows, scope["orgs"])
    return keep
