"""What a plan amounts to: counts per action, blocked keys per reason code, and the values that matched nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from ..errors import MissingColumnsError
from ..schemas import ACTIONS
from ..vocabulary import BLOCKED
from . import reasons as R
from .impact import DEFAULT_POLICY, IMPACT_KINDS, split_kinds
from .resolvers import OwnerIndex, Resolver
from .rows import Resolved


def reason_counts(plan: pd.DataFrame) -> pd.Series:
    """Blocked keys per blocking ``reason_code`` (a key with several problems counts under each of them).

    Most keys first; equal counts in the registry's order. Index ``reason_code``, values ``keys``.
    """
    if "reason_code" not in plan.columns:
        raise MissingColumnsError(["reason_code"], list(plan.columns), "plan frame")
    per_cell = plan.loc[plan["action"] == BLOCKED, "reason_code"].value_counts(sort=False)
    keys: Counter[str] = Counter()
    for cell, count in per_cell.items():  # distinct cells: few, however many rows
        for code in set(R.split_codes(str(cell))) & R.BLOCKING_CODES:
            keys[code] += int(count)
    order = list(R.REASONS)
    ranked = sorted(keys, key=lambda code: (-keys[code], order.index(code)))
    return pd.Series([keys[c] for c in ranked], index=pd.Index(ranked, name="reason_code"), name="keys", dtype="int64")


def impact_counts(plan: pd.DataFrame) -> dict[str, int]:
    """Rows per kind of client impact (a row with several counts under each), in ``IMPACT_KINDS`` order."""
    if "client_impact" not in plan.columns:
        return {}
    rows: Counter[str] = Counter()
    for cell, count in plan["client_impact"].value_counts(sort=False).items():
        for kind in split_kinds(str(cell)):
            rows[kind] += int(count)
    return {kind: rows[kind] for kind in IMPACT_KINDS if rows[kind]}


def impact_line(summary: dict[str, Any]) -> str | None:
    """``client impact: rate_tighter 12 (warn), api_lost 1 (block)`` for a summary with any, else None."""
    counts, policy = summary.get("client_impact") or {}, summary.get("client_impact_settings") or DEFAULT_POLICY
    if not counts:
        return None
    return "client impact: " + ", ".join(f"{kind} {n} ({policy.get(kind, '?')})" for kind, n in counts.items())


def summarize(plan: pd.DataFrame, top: int = 5) -> dict[str, Any]:
    """Counts by action and the commonest blocking causes.

    ``top_reasons``: up to ``top`` (sentence with its values blanked, keys) pairs, one per reason code;
    ``reason_codes``: blocked keys per code, all of them (``reason_counts``); ``client_impact``: rows per
    kind of client impact (``impact_counts``) and ``client_impact_settings`` what each kind does.
    """
    by_code = reason_counts(plan)
    return {
        "counts": {a: int((plan["action"] == a).sum()) for a in ACTIONS},
        "rows": len(plan),
        "out_of_scope": int(plan.attrs.get("out_of_scope", 0)),
        "top_reasons": [(R.REASONS[str(code)].label, int(n)) for code, n in by_code.head(top).items()],
        "reason_codes": {str(code): int(n) for code, n in by_code.items()},
        "client_impact": impact_counts(plan),
        "client_impact_settings": dict(plan.attrs.get("client_impact") or DEFAULT_POLICY),
    }


def unresolved(rows: Resolved, owners: OwnerIndex, resolver: Resolver) -> pd.DataFrame:
    """Owners and policy values that matched nothing, with how many rows carry them and close matches."""
    found: list[dict[str, Any]] = []
    for email, count in rows.emails.value_counts(sort=False).items():
        if rows.owner_results[str(email)].unknown:
            found.append(
                {"kind": "owner", "value": email, "rows": int(count), "suggestions": owners.suggest(str(email))}
            )
    per_token: Counter[str] = Counter()
    for code, count in zip(*np.unique(rows.combo_of_row, return_counts=True), strict=True):
        for token in rows.results[int(code)].unknown:
            per_token[token] += int(count)
    for token, count in per_token.items():
        found.append({"kind": "policy", "value": token, "rows": count, "suggestions": resolver.suggest(token)})
    frame = pd.DataFrame(found, columns=["kind", "value", "rows", "suggestions"])
    frame["rows"] = frame["rows"].astype("int64")
    return frame.sort_values(["rows", "kind", "value"], ascending=[False, True, True], ignore_index=True)
