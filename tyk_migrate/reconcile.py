"""Compare the legacy keys with what the portal holds now: the auditor's view of a migration.

For each legacy key ``reconcile`` finds the portal credentials carrying the same key (by fingerprint) and
says, in ``recon_status``:

    present         exactly one credential, owned by the legacy owner, on the expected plan and products
    missing         no credential holds the key
    duplicated      more than one credential holds the key (the portal should refuse that: investigate)
    wrong_owner     one credential, but its app belongs to another portal user than the legacy owner
    wrong_plan      one credential, right owner, on another plan than the legacy plan resolves to
    wrong_products  one credential, right owner and plan, but another set of products

(the first that applies, in this order; ``recon_detail`` says what differs, all mismatches included).
``unexplained`` lists portal credentials that no legacy key accounts for (portal-born keys, keys of
another migration, leftovers). The expected portal user / plan / products of a legacy row come from the
planner's resolution (``plan.py``), so reconciliation and planning can never disagree on what a legacy
plan or product value means.

Everything here is pure: frames in, frames out. Key values never enter the result: rows carry the
fingerprint and the masked key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from .errors import InputError, MissingColumnsError
from .reconcile_charts import Charts, figure_png_data_uri, figure_svg, status_charts
from .reconcile_rules import (
    _as_list,
    _ints,
    _judge,
    _lookups,
    _names,
    _nullable_int,
    _portal_fields,
    _records,
)
from .secrets import fingerprint, is_key, mask
from .sources.canonical import by_unique_source_row
from .vocabulary import DUPLICATED, MISSING, PRESENT, RECON_STATUSES, WRONG_OWNER, WRONG_PLAN, WRONG_PRODUCTS

if TYPE_CHECKING:
    from .snapshot import PortalSnapshot

#: Re-exported for the callers that import them from here (``report_html``, notebooks, tests).
__all__ = [
    "RECON_STATUSES",
    "ROW_COLUMNS",
    "STATUS_ADVICE",
    "UNEXPLAINED_COLUMNS",
    "Charts",
    "Reconciliation",
    "expected_targets",
    "figure_png_data_uri",
    "figure_svg",
    "fingerprints_of",
    "reconcile",
]

#: What each status means for the analyst, and what to do (also in docs/reporting.md).
STATUS_ADVICE = {
    PRESENT: "In the portal as expected. Nothing to do.",
    MISSING: "Not in the portal. If the plan blocked it, fix the reason and rerun apply; if it was created "
    "and is gone, someone deleted it: rerun apply to recreate it.",
    WRONG_OWNER: "The key sits in another user's app. Check the legacy owner e-mail; move it by deleting "
    "the credential and rerunning apply.",
    WRONG_PLAN: "The credential is on another plan than the legacy key's policy maps to. Check the "
    "mapping, then change the plan in the portal (or delete and rerun apply).",
    WRONG_PRODUCTS: "The credential grants other products than the legacy key. Check the product "
    "mapping; fix the credential in the portal.",
    DUPLICATED: "The same key value is held by more than one credential: keep one, delete the others.",
}

#: Column order of ``Reconciliation.rows``.
ROW_COLUMNS = [
    "source_row",
    "key_fingerprint",
    "key_masked",
    "owner_email",
    "app_name",
    "alias",
    "legacy_plan",
    "legacy_products",
    "migration_status",
    "recon_status",
    "recon_detail",
    "portal_count",
    "credential_id",
    "app_id",
    "portal_app_name",
    "portal_owner_email",
    "portal_user_id",
    "expected_user_id",
    "portal_plan",
    "portal_plan_id",
    "expected_plan",
    "expected_plan_id",
    "portal_products",
    "portal_product_ids",
    "expected_products",
    "expected_product_ids",
    "portal_alias",
]

#: Column order of ``Reconciliation.unexplained``.
UNEXPLAINED_COLUMNS = [
    "credential_id",
    "app_id",
    "portal_app_name",
    "portal_user_id",
    "portal_owner_email",
    "key_fingerprint",
    "key_masked",
    "portal_alias",
    "portal_plan_id",
    "portal_plan",
    "portal_product_ids",
    "portal_products",
]

_LEGACY_NEEDS = ("key_fingerprint", "owner_email", "plan", "products")


# -- expectations: what the planner says each legacy row should become ------------------------------------


def expected_targets(
    legacy: pd.DataFrame, snapshot: PortalSnapshot, mapping: Any = None, *, plan: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per legacy fingerprint: ``expected_user_id``, ``expected_plan_id``, ``expected_product_ids``.

    Taken from ``plan`` when given (a plan or outcome frame), else from the planner run on ``legacy``
    against ``snapshot``. Unresolvable values are null / empty: they cannot be checked.
    """
    source = plan
    if source is None or not {"plan_id", "product_ids"} <= set(source.columns):
        from pathlib import Path

        from .plan import build_plan, read_mapping_file, split_mapping

        if isinstance(mapping, (str, Path)):  # one file for loader and planner: keep the planner's part
            mapping = read_mapping_file(mapping)
        if isinstance(mapping, dict):
            mapping, _ = split_mapping(mapping)
        built, unresolved = build_plan(legacy, snapshot, mapping)
        frames = [f for f in (built, unresolved) if isinstance(f, pd.DataFrame) and "key_fingerprint" in f.columns]
        source = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    expected: dict[str, dict[str, Any]] = {}
    if "key_fingerprint" in source.columns:
        for row in _records(source):
            fp = row.get("key_fingerprint")
            if not isinstance(fp, str) or fp in expected:
                continue
            expected[fp] = {
                "expected_user_id": _nullable_int(row.get("user_id")),
                "expected_plan_id": _nullable_int(row.get("plan_id")),
                "expected_product_ids": sorted(set(_ints(row.get("product_ids")))),
                "migration_status": row.get("status") if isinstance(row.get("status"), str) else None,
            }
    out = pd.DataFrame.from_dict(expected, orient="index")
    if out.empty:
        out = pd.DataFrame(columns=["expected_user_id", "expected_plan_id", "expected_product_ids", "migration_status"])
    out.index.name = "key_fingerprint"
    return out


# -- the result ------------------------------------------------------------------------------------------


@dataclass
class Reconciliation:
    """``rows``: one per legacy key; ``unexplained``: portal credentials no legacy key explains;
    ``summary``: counts per status overall, per plan and per product (``group`` = all / plan / product)."""

    rows: pd.DataFrame
    unexplained: pd.DataFrame
    summary: pd.DataFrame
    portal_url: str = ""
    fetched_at: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> pd.Series:
        """Keys per ``recon_status`` (every status listed, zeros included) plus ``unexplained``."""
        counts = self.rows["recon_status"].value_counts().reindex(list(RECON_STATUSES), fill_value=0)
        counts["unexplained"] = len(self.unexplained)
        return counts.astype(int)

    @property
    def problems(self) -> pd.DataFrame:
        """Rows whose status is not ``present``."""
        return self.rows[self.rows["recon_status"] != PRESENT]

    def all_present(self, fingerprints: Iterable[str] | None = None) -> bool:
        """True when every given key (default: every legacy key) is ``present``."""
        rows = self.rows
        if fingerprints is not None:
            wanted = set(fingerprints)
            rows = rows[rows["key_fingerprint"].isin(wanted)]
            if len(set(rows["key_fingerprint"])) < len(wanted):
                return False
        return bool((rows["recon_status"] == PRESENT).all())

    def charts(self) -> Charts:
        """Three bar charts: keys per status, and status split per plan and per product."""
        return status_charts(self.counts, self.summary)

    def _repr_html_(self) -> str:
        counts = self.counts.to_frame("keys").to_html()
        return f"<b>Reconciliation</b> against {self.portal_url or 'the portal'}{counts}"

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.counts.items())
        return f"Reconciliation({len(self.rows)} legacy keys: {shown})"


# -- the comparison --------------------------------------------------------------------------------------


def _summary(rows: pd.DataFrame) -> pd.DataFrame:
    def table(frame: pd.DataFrame, group: str, by: str) -> pd.DataFrame:
        if frame.empty:
            return pd.DataFrame(columns=["group", "name", *RECON_STATUSES, "total"])
        counts = pd.crosstab(frame[by], frame["recon_status"]).reindex(columns=list(RECON_STATUSES), fill_value=0)
        counts["total"] = counts.sum(axis=1)
        counts = counts.sort_values(["total"], ascending=False, kind="stable")
        counts.insert(0, "name", counts.index.astype(str))
        counts.insert(0, "group", group)
        return counts.reset_index(drop=True)

    overall = rows.assign(_all="all keys")
    plans = rows.assign(
        _plan=[
            e if isinstance(e, str) and e else f"{p} (unresolved)"
            for e, p in zip(rows["expected_plan"], rows["legacy_plan"], strict=True)
        ]
    )
    product_names = [
        list(e) if len(e) else [f"{p} (unresolved)" for p in lp]
        for e, lp in zip(rows["expected_products"], rows["legacy_products"], strict=True)
    ]
    products = rows.assign(_product=pd.Series(product_names, index=rows.index, dtype=object)).explode("_product")
    products = products[products["_product"].notna()]
    parts = [table(overall, "all", "_all"), table(plans, "plan", "_plan"), table(products, "product", "_product")]
    summary = (
        pd.concat([p for p in parts if not p.empty], ignore_index=True) if any(not p.empty for p in parts) else parts[0]
    )
    for column in (*RECON_STATUSES, "total"):
        summary[column] = summary[column].astype(int)
    return summary


def _check_legacy(legacy: pd.DataFrame) -> None:
    missing = [c for c in _LEGACY_NEEDS if c not in legacy.columns]
    if missing:
        raise MissingColumnsError(missing, list(map(str, legacy.columns)), source="reconcile legacy frame")
    if legacy["key_fingerprint"].isna().any():
        raise InputError("reconcile: some legacy rows have no key_fingerprint (validate the export first)")


def _credentials_by_fingerprint(creds: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    by_fp: dict[str, list[dict[str, Any]]] = {}
    for cred in _records(creds):
        fp = cred.get("key_fingerprint")
        if isinstance(fp, str) and fp:
            by_fp.setdefault(fp, []).append(cred)
    return by_fp


def _legacy_row(
    rec: dict[str, Any],
    expected: pd.DataFrame,
    look: dict[str, dict[int, Any]],
    by_fp: Mapping[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """One row of ``Reconciliation.rows``: the legacy key, what it should be, what the portal holds, the verdict."""
    fp = str(rec["key_fingerprint"])
    key = rec.get("key_id")
    exp = expected.loc[fp].to_dict() if fp in expected.index else {}
    exp_products = _ints(exp.get("expected_product_ids"))
    exp_plan = _nullable_int(exp.get("expected_plan_id"))
    row: dict[str, Any] = {
        "source_row": rec.get("source_row"),
        "key_fingerprint": fp,
        "key_masked": mask(key) if is_key(key) else "",
        "owner_email": rec.get("owner_email"),
        "app_name": rec.get("app_name"),
        "alias": rec.get("alias"),
        "legacy_plan": rec.get("plan"),
        "legacy_products": [str(p) for p in _as_list(rec.get("products"))],
        "migration_status": exp.get("migration_status") or rec.get("status"),
        "expected_user_id": _nullable_int(exp.get("expected_user_id")),
        "expected_plan_id": exp_plan,
        "expected_plan": look["plan"].get(exp_plan) if exp_plan is not None else None,
        "expected_product_ids": exp_products,
        "expected_products": _names(exp_products, look["product"]),
    }
    matches = by_fp.get(fp, [])
    row["portal_count"] = len(matches)
    if matches:
        row.update(_portal_fields(matches[0], look))
    if not matches:
        row["recon_status"], row["recon_detail"] = MISSING, "no credential holds this key"
    elif len(matches) > 1:
        ids = ", ".join(str(m.get("credential_id")) for m in matches)
        row["recon_status"], row["recon_detail"] = DUPLICATED, f"{len(matches)} credentials hold it: {ids}"
    else:
        row["recon_status"], row["recon_detail"] = _judge(row)
    return row


def _rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=ROW_COLUMNS)
    if "migration_status" in frame and frame["migration_status"].isna().all():
        frame["migration_status"] = None
    for column in ("portal_count", "credential_id", "app_id", "portal_user_id", "expected_user_id"):
        frame[column] = frame[column].astype("Int64")
    for column in ("portal_plan_id", "expected_plan_id"):
        frame[column] = frame[column].astype("Int64")
    for column in (
        "legacy_products",
        "portal_products",
        "portal_product_ids",
        "expected_products",
        "expected_product_ids",
    ):
        frame[column] = pd.Series(
            [v if isinstance(v, list) else [] for v in frame[column]], index=frame.index, dtype=object
        )
    return by_unique_source_row(frame)  # one row per legacy key: labelled like the legacy frame and the plan


def _unexplained(
    by_fp: Mapping[str, list[dict[str, Any]]],
    legacy_fps: set[str],
    creds: pd.DataFrame,
    look: dict[str, dict[int, Any]],
) -> pd.DataFrame:
    strangers = []
    for fp, matches in by_fp.items():
        if fp in legacy_fps:
            continue
        for cred in matches:
            strangers.append(
                {
                    **_portal_fields(cred, look),
                    "key_fingerprint": fp,
                    "key_masked": mask(cred["key_id"]) if is_key(cred.get("key_id")) else "",
                }
            )
    # credentials whose key the portal did not return cannot be matched: they are unexplained too
    for cred in _records(creds[creds["key_fingerprint"].isna()]):
        strangers.append({**_portal_fields(cred, look), "key_fingerprint": None, "key_masked": ""})
    unexplained = pd.DataFrame(strangers, columns=UNEXPLAINED_COLUMNS)
    for column in ("credential_id", "app_id", "portal_user_id", "portal_plan_id"):
        unexplained[column] = unexplained[column].astype("Int64")
    return unexplained.sort_values("credential_id", kind="stable").reset_index(drop=True)


def reconcile(
    legacy: pd.DataFrame,
    snapshot: PortalSnapshot,
    mapping: Any = None,
    *,
    plan: pd.DataFrame | None = None,
) -> Reconciliation:
    """Reconcile legacy keys (the canonical frame, valid rows) against a portal snapshot.

    ``mapping`` is the planner's mapping (legacy plan/product values -> portal ones); ``plan`` is a plan or
    outcome frame of the same keys, used for the expected targets (and ``migration_status``) instead of
    planning again. Take ``snapshot`` fresh after a run: ``fetch_snapshot(settings)``.
    """
    _check_legacy(legacy)
    expected = expected_targets(legacy, snapshot, mapping, plan=plan)
    look = _lookups(snapshot)
    creds = snapshot.credentials
    by_fp = _credentials_by_fingerprint(creds)
    records = _records(legacy)
    frame = _rows_frame([_legacy_row(rec, expected, look, by_fp) for rec in records])
    legacy_fps = {str(rec["key_fingerprint"]) for rec in records}
    return Reconciliation(
        rows=frame,
        unexplained=_unexplained(by_fp, legacy_fps, creds, look),
        summary=_summary(frame),
        portal_url=getattr(snapshot, "portal_url", ""),
        fetched_at=getattr(snapshot, "fetched_at", None),
    )


def fingerprints_of(keys: Iterable[str]) -> list[str]:
    """Fingerprints of raw keys (handy for ``Reconciliation.all_present``)."""
    return [fingerprint(k) for k in keys]
