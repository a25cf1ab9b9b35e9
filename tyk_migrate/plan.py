"""Decide what happens to every legacy key before anything is written: tyk-migrate's ``terraform plan``.

``build_plan(valid_keys, snapshot)`` is pure (no network): it joins the validated legacy frame to a
``PortalSnapshot`` and gives every row exactly one ``action``:

- ``create_app``: the first key of a (portal user, app name) group whose app does not exist yet;
- ``add_credential``: a key going into an existing app (``app_id`` set) or into the app its group's
  ``create_app`` row creates (``app_id`` null until the runner has made it);
- ``skip_existing``: the key is already in the portal with the same owner, plan and products;
- ``blocked``: cannot be migrated as is; ``reason`` says why and what to do about it.

Rows are resolved per distinct value (emails, policy combinations), not per row, so a plan of 100,000
keys costs little more than the number of distinct owners and policy sets. ``prepare`` chains
load -> validate -> fetch -> plan for the ``plan``, ``apply`` and ``reconcile`` commands.
"""

from __future__ import annotations

import difflib
import json
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from .errors import ConfigError, InputError, MissingColumnsError
from .snapshot import PortalSnapshot

ACTIONS = ("create_app", "add_credential", "skip_existing", "blocked")
LEGACY_REQUIRED = ("source_row", "key_id", "key_fingerprint", "owner_email", "app_name", "alias", "plan", "products")
PLAN_COLUMNS = ("legacy_app_name", "user_id", "plan_id", "product_ids", "app_id", "action", "reason", "credential_id")
MAPPING_SECTIONS = ("plans", "products", "owners")


def oldest_app(app_ids: Iterable[int]) -> int | None:
    """The app to use among several of one owner and name: the oldest (lowest ID), as planner and runner agree."""
    return min(app_ids, default=None)


SCOPE_KEYS = ("owners", "plans", "products", "orgs")
#: Fields a format-string app naming rule may use.
APP_NAME_FIELDS = (
    "app_name", "alias", "plan", "plan_display", "plan_id", "owner", "first", "last", "org", "source_id",
    "legacy_plan",
)  # fmt: skip
DEFAULT_APP_NAME = "Migrated keys"


# -- settings and mapping ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanSettings:
    """How keys are grouped into apps.

    ``app_name``: ``"legacy"`` (default: the legacy app name, else ``fallback_app_name``), ``"alias"``
    (the key's alias, else the legacy app name, else the fallback), or a format string over
    ``APP_NAME_FIELDS`` such as ``"{plan} keys"`` or ``"{app_name} ({org})"``; an empty result falls
    back too. ``suggestions``: how many close matches to offer for a value that matches nothing.
    """

    app_name: str = "legacy"
    fallback_app_name: str = DEFAULT_APP_NAME
    suggestions: int = 3

    def check(self) -> None:
        if not self.fallback_app_name.strip():
            raise ConfigError("the fallback app name cannot be empty")
        if self.app_name in ("legacy", "alias"):
            return
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(self.app_name) if f is not None]
        except ValueError as exc:
            raise ConfigError(f"app name rule {self.app_name!r} is not a valid format string: {exc}") from None
        if not names:
            raise ConfigError(
                f"app name rule {self.app_name!r}: use 'legacy', 'alias' or a format string with fields "
                f"such as '{{plan}} keys' (fields: {', '.join(APP_NAME_FIELDS)})"
            )
        unknown = [f for f in names if f not in APP_NAME_FIELDS]
        if unknown:
            raise ConfigError(
                f"app name rule {self.app_name!r}: unknown field(s) {', '.join(unknown)}; "
                f"use {', '.join(APP_NAME_FIELDS)}"
            )


def _norm(value: object) -> str:
    return str(value).strip().casefold()


@dataclass(frozen=True)
class PlanMapping:
    """Explicit legacy -> portal translations (keys normalised: trimmed, case-folded).

    ``plans``/``products`` map a legacy policy ID or name to portal names/IDs (a list maps one legacy
    policy to several products; an empty list or null means "ignore this legacy value"); ``owners`` maps a
    legacy owner email to the portal user's email.
    """

    plans: dict[str, tuple[str, ...]] = field(default_factory=dict)
    products: dict[str, tuple[str, ...]] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.plans or self.products or self.owners)


def read_mapping_file(path: str | Path) -> dict[str, Any]:
    """Parse a YAML or JSON mapping file into a dict (one line InputError if unusable)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"mapping {path.name}: cannot read ({exc.strerror or exc.__class__.__name__})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError(f"mapping {path.name}: not valid YAML/JSON ({exc.__class__.__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"mapping {path.name}: expected an object with plans/products/owners sections")
    return data


def split_mapping(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One mapping file serves the loader and the planner: (plan sections, column mapping or None)."""
    ours = {k: v for k, v in data.items() if k in MAPPING_SECTIONS}
    others = {k: v for k, v in data.items() if k not in MAPPING_SECTIONS}
    columns = data.get("columns", others)
    return ours, (columns or None)


def _targets(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
            raise InputError(f"mapping {where}: a list must hold portal names or IDs")
        return tuple(str(v) for v in value)
    if isinstance(value, str | int) and not isinstance(value, bool):
        return (str(value),)
    raise InputError(f"mapping {where}: expected a portal name, an ID, a list of them, or null")


def load_mapping(source: PlanMapping | dict[str, Any] | str | Path | None) -> PlanMapping:
    """A ``PlanMapping`` from a dict, a YAML/JSON file, or None (no mapping).

    Sections other than plans/products/owners are left to the loader (column mapping); a section name
    that looks like a typo of ours is refused rather than silently ignored.
    """
    if source is None:
        return PlanMapping()
    if isinstance(source, PlanMapping):
        return source
    data = read_mapping_file(source) if isinstance(source, str | Path) else source
    if not isinstance(data, dict):
        raise InputError("mapping: expected an object with plans/products/owners sections")
    for key in data:
        close = difflib.get_close_matches(str(key).lower(), MAPPING_SECTIONS, n=1, cutoff=0.75)
        if key not in MAPPING_SECTIONS and close:
            raise InputError(f"mapping: unknown section {key!r}; did you mean {close[0]!r}?")
    sections: dict[str, dict[str, Any]] = {}
    for name in MAPPING_SECTIONS:
        section = data.get(name) or {}
        if not isinstance(section, dict):
            raise InputError(f"mapping {name}: expected an object {{legacy value: portal value}}")
        sections[name] = section
    owners: dict[str, str] = {}
    for legacy, portal in sections["owners"].items():
        if not isinstance(portal, str) or "@" not in portal:
            raise InputError(f"mapping owners.{legacy}: expected the portal user's email, got {portal!r}")
        owners[_norm(legacy)] = _norm(portal)
    return PlanMapping(
        plans={_norm(k): _targets(v, f"plans.{k}") for k, v in sections["plans"].items()},
        products={_norm(k): _targets(v, f"products.{k}") for k, v in sections["products"].items()},
        owners=owners,
    )


# -- resolving names --------------------------------------------------------------------------------

Ref = tuple[str, int]  # ("plan" | "product", portal ID)
LEVELS = ("reference_id", "name", "display_name", "id", "api_id")


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
        for kind, frame, id_col in (("plan", snapshot.plans, "plan_id"), ("product", snapshot.products, "product_id")):
            for row in frame.itertuples(index=False):
                ref: Ref = (kind, int(getattr(row, id_col)))
                self.labels[ref] = f"{kind} {row.name!r} (ID {ref[1]})"
                values = {"reference_id": row.reference_id, "name": row.name, "display_name": row.display_name}
                values["id"] = str(ref[1])
                for api_id in getattr(row, "api_ids", None) or []:  # a legacy key's access_rights API IDs
                    self.index["api_id"].setdefault(_norm(api_id), []).append(ref)
                for level, value in values.items():
                    if value is None or (isinstance(value, float) and np.isnan(value)) or not str(value).strip():
                        continue
                    self.index[level].setdefault(_norm(value), []).append(ref)
                    if level != "id":
                        self.vocabulary[kind].setdefault(_norm(value), f"{str(value)!r} ({kind} {ref[1]})")
        self._mapped: dict[tuple[str, str], list[Ref]] = {}
        self._resolved: dict[tuple[str, str], list[Ref] | None] = {}
        self._suggested: dict[tuple[str, str | None], str] = {}
        for kind, section in (("plan", mapping.plans), ("product", mapping.products)):
            for legacy, targets in section.items():
                refs: list[Ref] = []
                for target in targets:
                    found = self._lookup(target, kind, only=kind)
                    if not found:
                        hint = self.suggest(target, kind=kind)
                        raise InputError(
                            f"mapping {kind}s.{legacy}: {target!r} is not a portal {kind}"
                            + (f" (did you mean {hint}?)" if hint else "")
                        )
                    if len(found) > 1:
                        names = ", ".join(self.labels[r] for r in found)
                        raise InputError(
                            f"mapping {kind}s.{legacy}: {target!r} names several {kind}s ({names}); use the ID"
                        )
                    refs.extend(found)
                self._mapped[(kind, legacy)] = refs

    def _lookup(self, value: str, hint: str, only: str | None = None) -> list[Ref]:
        key = _norm(value)
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
        key = _norm(value)
        mapped = [refs for (kind, legacy), refs in self._mapped.items() if legacy == key]
        found = [r for refs in mapped for r in refs] if mapped else (self._lookup(value, hint) or None)
        self._resolved[cache_key] = found
        return found

    def suggest(self, value: str, kind: str | None = None) -> str:
        cache_key = (value, kind)
        if cache_key not in self._suggested:
            self._suggested[cache_key] = self._suggest(value, kind)
        return self._suggested[cache_key]

    def _suggest(self, value: str, kind: str | None) -> str:
        vocab = self.vocabulary[kind] if kind is not None else {**self.vocabulary["product"], **self.vocabulary["plan"]}
        close = difflib.get_close_matches(_norm(value), list(vocab), n=self.n_suggestions, cutoff=0.6)
        return ", ".join(vocab[c] for c in close)

    def label(self, ref: Ref) -> str:
        return self.labels.get(ref, f"{ref[0]} ID {ref[1]}")


@dataclass
class PolicyResult:
    """How one distinct (plan, products) combination of legacy values resolves."""

    plan_id: int | None
    product_ids: list[int]
    plan_candidates: frozenset[int]
    product_candidates: frozenset[int]
    unknown: list[str]
    reason: str


def _as_list(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, Iterable):
        return [str(v) for v in value if v is not None and str(v).strip()]
    return [str(value)]


def resolve_policies(resolver: Resolver, plan_value: Any, products: Sequence[str]) -> PolicyResult:
    tokens: dict[str, tuple[str, str]] = {}  # norm -> (original, hint)
    for value in _as_list(plan_value):
        tokens.setdefault(_norm(value), (value.strip(), "plan"))
    for value in products:
        tokens.setdefault(_norm(value), (value.strip(), "product"))
    plans: dict[int, list[str]] = {}
    products_found: dict[int, list[str]] = {}
    unknown: list[str] = []
    for original, hint in tokens.values():
        refs = resolver.resolve(original, hint)
        if refs is None:
            unknown.append(original)
            continue
        for kind, ref_id in refs:
            (plans if kind == "plan" else products_found).setdefault(ref_id, []).append(original)
    reasons: list[str] = []
    for value in unknown:
        hint = resolver.suggest(value)
        reasons.append(
            f"legacy policy {value!r} matches no portal plan or product"
            + (f" (did you mean {hint}?)" if hint else "")
            + ": add it to the mapping file (plans:/products:, or null to ignore it)"
        )

    def show(found: dict[int, list[str]], kind: str) -> str:
        return ", ".join(f"{vals[0]!r} -> {resolver.label((kind, i))}" for i, vals in found.items())

    if not plans:
        seen = f" (found only {show(products_found, 'product')})" if products_found else ""
        if tokens and not unknown:
            reasons.append(
                f"no portal plan among the key's policies{seen}: map its plan policy under plans: in the mapping file"
            )
        elif not tokens:
            reasons.append("the key has no plan or policies: fill in its plan and products in the export")
    elif len(plans) > 1:
        reasons.append(
            f"{len(plans)} portal plans among the key's policies ({show(plans, 'plan')}); a credential takes "
            "exactly one: map the extra ones to null or to a product in the mapping file"
        )
    if plans and not products_found and not unknown:
        reasons.append(
            f"no portal product among the key's policies ({show(plans, 'plan')}): map the key's API policies "
            "or names under products: in the mapping file"
        )
    plan_id = next(iter(plans)) if len(plans) == 1 else None
    return PolicyResult(
        plan_id=plan_id,
        product_ids=sorted(products_found),
        plan_candidates=frozenset(plans),
        product_candidates=frozenset(products_found),
        unknown=unknown,
        reason="; ".join(reasons),
    )


@dataclass
class OwnerResult:
    user_id: int | None
    org_id: int | None
    unknown: bool
    reason: str


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
            return OwnerResult(None, None, True, "the key has no owner email: fill in owner_email in the export")
        users = self.by_email.get(email)
        if not users:
            hint = self.suggest(email)
            return OwnerResult(
                None,
                None,
                True,
                f"owner {email!r} is not a portal user"
                + (f" (did you mean {hint}?)" if hint else "")
                + ": create or invite the user in the portal, or map the email under owners: in the mapping file",
            )
        if len(users) > 1:
            ids = ", ".join(str(u[0]) for u in users)
            return OwnerResult(
                None,
                None,
                False,
                f"owner {email!r} matches {len(users)} portal users (IDs {ids}): remove the duplicate account "
                "in the portal or map the email to another under owners:",
            )
        uid, active, admin, org = users[0]
        if admin:
            return OwnerResult(
                uid,
                org,
                False,
                f"owner {email!r} is a portal admin account (user {uid}), not a developer: give the key to a "
                "developer account (owners: in the mapping file or the export)",
            )
        if not active:
            return OwnerResult(
                uid,
                org,
                False,
                f"portal user {email!r} (user {uid}) is inactive: activate the user in the portal or move "
                "the key to another owner, then plan again",
            )
        return OwnerResult(uid, org, False, "")


# -- app names --------------------------------------------------------------------------------------


def _clean(values: pd.Series) -> pd.Series:
    """Trimmed strings with empty values as missing."""
    text = values.astype(object).where(values.notna(), None)
    text = text.map(lambda v: v.strip() if isinstance(v, str) else (None if v is None else str(v).strip()))
    return text.where(text.astype(bool), None)


def app_names(frame: pd.DataFrame, settings: PlanSettings, fields: dict[str, pd.Series]) -> pd.Series:
    """The portal app name of each row under the naming rule (never empty)."""
    fallback = settings.fallback_app_name.strip()
    legacy = _clean(frame["app_name"])
    if settings.app_name == "legacy":
        names = legacy
    elif settings.app_name == "alias":
        names = _clean(frame["alias"]).fillna(legacy) if "alias" in frame else legacy
    else:
        used = [f for _, f, _, _ in string.Formatter().parse(settings.app_name) if f]
        columns = {name: fields[name].astype(object).where(fields[name].notna(), "").tolist() for name in used}
        rendered = [
            settings.app_name.format_map({n: ("" if v is None else v) for n, v in zip(used, row, strict=True)})
            for row in zip(*columns.values(), strict=True)
        ] if used else [settings.app_name] * len(frame)  # fmt: skip
        names = _clean(pd.Series(rendered, index=frame.index, dtype=object))
    return names.fillna(fallback).astype(object)


# -- the plan frame model ---------------------------------------------------------------------------
# Here until tyk_migrate/schemas.py exists; then it moves there under "# --- plan ---".


class PlanFrame(pa.DataFrameModel):
    """The plan: legacy columns plus the decision for each row (extra legacy columns allowed)."""

    source_row: Series[int]
    key_id: Series[object]
    key_fingerprint: Series[str]
    owner_email: Series[str] = pa.Field(nullable=True)
    app_name: Series[object] = pa.Field(nullable=True)
    legacy_app_name: Series[object] = pa.Field(nullable=True)
    user_id: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    plan_id: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    product_ids: Series[object]
    app_id: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    action: Series[str] = pa.Field(isin=list(ACTIONS))
    reason: Series[str]
    credential_id: Series[pd.Int64Dtype] = pa.Field(nullable=True)

    class Config:
        strict = False

    @pa.dataframe_check
    @classmethod
    def explained(cls, df: pd.DataFrame) -> pd.Series:
        """Every blocked or skipped row says why; every row that writes names its app."""
        quiet = df["action"].isin(["blocked", "skip_existing"]) & (df["reason"].str.strip() == "")
        nameless = df["action"].isin(["create_app", "add_credential"]) & df["app_name"].isna()
        return ~(quiet | nameless)

    @pa.dataframe_check
    @classmethod
    def one_create_per_app(cls, df: pd.DataFrame) -> bool:
        creates = df[df["action"] == "create_app"]
        return not creates.duplicated(["user_id", "app_name"]).any()


# -- planning ---------------------------------------------------------------------------------------


def _check_scope(scope: dict[str, Any] | None) -> dict[str, list[str]]:
    if not scope:
        return {}
    unknown = [k for k in scope if k not in SCOPE_KEYS]
    if unknown:
        raise ConfigError(f"unknown scope key(s) {', '.join(unknown)}; use {', '.join(SCOPE_KEYS)}")
    out: dict[str, list[str]] = {}
    for key, values in scope.items():
        items = _as_list(values)
        if items:
            out[key] = items
    return out


def _scope_refs(resolver: Resolver, values: list[str], kind: str, legacy_values: set[str]) -> set[int]:
    ids: set[int] = set()
    for value in values:
        found = [r for r in (resolver._lookup(value, kind, only=kind) or []) if r[0] == kind]
        mapped = resolver.resolve(value, kind)
        if mapped:
            found += [r for r in mapped if r[0] == kind]
        if not found and _norm(value) not in legacy_values:
            hint = resolver.suggest(value, kind=kind)
            raise ConfigError(
                f"scope {kind} {value!r} matches no portal {kind}" + (f" (did you mean {hint}?)" if hint else "")
            )
        ids.update(r[1] for r in found)
    return ids


def _int64(values: Sequence[Any] | np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(pd.array(list(values), dtype="Int64"), index=index)


def build_plan(
    valid_keys: pd.DataFrame,
    snapshot: PortalSnapshot,
    mapping: PlanMapping | dict[str, Any] | str | Path | None = None,
    *,
    settings: PlanSettings | None = None,
    scope: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Plan every valid legacy key against the snapshot: returns ``(plan, unresolved)``.

    ``plan`` keeps the legacy columns (``app_name`` becomes the final portal app name; the legacy value
    moves to ``legacy_app_name``) and adds ``user_id, plan_id, product_ids, app_id, action, reason,
    credential_id``. ``unresolved`` lists legacy owners and policies that matched nothing, with row
    counts and close matches. ``scope`` (``owners``/``plans``/``products``/``orgs`` lists) keeps only
    matching rows; how many were left out is in ``plan.attrs["out_of_scope"]``.
    """
    settings = settings or PlanSettings()
    settings.check()
    plan_mapping = load_mapping(mapping)
    scope_values = _check_scope(scope)
    missing = [c for c in LEGACY_REQUIRED if c not in valid_keys.columns]
    if missing:
        raise MissingColumnsError(missing, list(valid_keys.columns), "legacy frame")

    legacy_columns = list(valid_keys.columns)
    frame = valid_keys.reset_index(drop=True).copy()
    index = frame.index
    resolver = Resolver(snapshot, plan_mapping, settings.suggestions)
    owners = OwnerIndex(snapshot.users, settings.suggestions)

    # owners: one lookup per distinct email
    email_list = frame["owner_email"].astype("str").str.strip().str.lower().fillna("").tolist()
    if plan_mapping.owners:
        email_list = [plan_mapping.owners.get(e, e) for e in email_list]
    emails = pd.Series(email_list, index=index, dtype=object)
    email_code, distinct_emails = pd.factorize(emails)
    owner_results = {e: owners.resolve(e) for e in distinct_emails}
    per_email = [owner_results[e] for e in distinct_emails]
    user_arr = np.array([-1 if r.user_id is None else r.user_id for r in per_email], dtype=np.int64)[email_code]
    org_arr = np.array([r.org_id for r in per_email], dtype=object)[email_code]
    owner_reason = np.array([r.reason for r in per_email], dtype=object)[email_code]

    # policies: one resolution per distinct (plan, products) combination
    combos: dict[tuple[str, tuple[str, ...]], int] = {}  # canonical (plan, sorted products) -> code
    seen: dict[tuple[Any, ...], int] = {}  # the values as given -> code (cheap to build per row)
    results: list[PolicyResult] = []
    codes: list[int] = []
    for plan_value, products in zip(frame["plan"].tolist(), frame["products"].tolist(), strict=True):
        raw = (plan_value, *products) if type(products) is list else (plan_value, repr(products))
        code = seen.get(raw)
        if code is None:
            key = (plan_value if isinstance(plan_value, str) else "", tuple(sorted(set(_as_list(products)))))
            code = combos.get(key)
            if code is None:
                code = combos[key] = len(results)
                results.append(resolve_policies(resolver, key[0], key[1]))
            seen[raw] = code
        codes.append(code)
    combo_of_row = np.array(codes, dtype=np.int64)

    # scope
    keep = np.ones(len(frame), dtype=bool)
    if "owners" in scope_values:
        keep &= emails.isin({_norm(v) for v in scope_values["owners"]}).to_numpy(bool)
    for kind in ("plans", "products"):
        if kind in scope_values:
            single = kind[:-1]
            legacy_values = {_norm(v) for v in frame["plan"].dropna()} if kind == "plans" else set()
            if kind == "products":
                legacy_values = {_norm(v) for values in frame["products"] for v in _as_list(values)}
            ids = _scope_refs(resolver, scope_values[kind], single, legacy_values)
            wanted = {_norm(v) for v in scope_values[kind]}
            in_scope = np.array(
                [
                    bool((r.plan_candidates if kind == "plans" else r.product_candidates) & ids)
                    or bool(wanted & {_norm(v) for v in ([k[0]] if kind == "plans" else list(k[1]))})
                    for k, r in zip(combos, results, strict=True)
                ],
                dtype=bool,
            )
            keep &= in_scope[combo_of_row]
    if "orgs" in scope_values:
        wanted_orgs = {_norm(v) for v in scope_values["orgs"]}
        portal_org = np.array([str(o) in wanted_orgs if o is not None else False for o in org_arr], dtype=bool)
        if "org" in frame:
            portal_org |= (
                frame["org"].map(lambda o: _norm(o) in wanted_orgs if isinstance(o, str) else False).to_numpy(bool)
            )
        keep &= portal_org
    out_of_scope = int((~keep).sum())
    if out_of_scope:
        frame = frame.loc[keep].reset_index(drop=True)
        emails = emails.loc[keep].reset_index(drop=True)
        user_arr, org_arr, owner_reason = user_arr[keep], org_arr[keep], owner_reason[keep]
        combo_of_row = combo_of_row[keep]
        index = frame.index
    user_id = pd.Series(pd.array(user_arr, dtype="Int64"), index=index).mask(user_arr == -1)

    combo_plan = np.array([-1 if r.plan_id is None else r.plan_id for r in results], dtype=np.int64)
    plan_arr = combo_plan[combo_of_row] if len(results) else np.empty(0, dtype=np.int64)
    plan_id = pd.Series(pd.array(plan_arr, dtype="Int64"), index=index).mask(plan_arr == -1)
    product_ids = pd.Series([list(results[c].product_ids) for c in combo_of_row.tolist()], index=index, dtype=object)
    combo_reason = np.array([r.reason for r in results], dtype=object)
    policy_reason = combo_reason[combo_of_row] if len(results) else np.empty(0, dtype=object)

    # app names under the naming rule
    plan_names = dict(zip(snapshot.plans["plan_id"].tolist(), snapshot.plans["name"].tolist(), strict=True))
    plan_display = dict(zip(snapshot.plans["plan_id"].tolist(), snapshot.plans["display_name"].tolist(), strict=True))
    user_rows = snapshot.users.set_index("user_id")
    first = user_rows["first"].to_dict()
    last = user_rows["last"].to_dict()
    fields = {
        "app_name": frame["app_name"],
        "alias": frame["alias"],
        "plan": plan_id.map(plan_names),
        "plan_display": plan_id.map(plan_display),
        "plan_id": plan_id.astype(object),
        "owner": emails,
        "first": user_id.map(first),
        "last": user_id.map(last),
        "org": frame["org"] if "org" in frame else pd.Series(org_arr, index=index).fillna(""),
        "source_id": frame["source_id"] if "source_id" in frame else pd.Series("", index=index),
        "legacy_plan": frame["plan"],
    }
    final_app = app_names(frame, settings, fields)

    # decide: most rows need no per-row work; loops below visit only rows with a problem or a known key
    n = len(frame)
    action = np.full(n, "", dtype=object)
    reason = np.full(n, "", dtype=object)
    app_id: list[int | None] = [None] * n
    credential_id: list[int | None] = [None] * n
    app_name_out = final_app.tolist()
    uid_list: list[int | None] = [None if u == -1 else int(u) for u in user_arr.tolist()]

    fps = frame["key_fingerprint"].astype(object).tolist()
    source_rows = frame["source_row"].tolist()
    by_source = frame[["key_fingerprint", "source_row"]].reset_index(drop=True).sort_values("source_row", kind="stable")
    dup_mask = by_source.duplicated("key_fingerprint").to_numpy()
    first_of = dict(
        zip(by_source["key_fingerprint"][~dup_mask].tolist(), by_source["source_row"][~dup_mask].tolist(), strict=True)
    )
    duplicate_of = {int(i): first_of[fps[int(i)]] for i in by_source.index.to_numpy()[dup_mask]}

    existing = snapshot.credentials_by_fingerprint
    in_portal = existing.index.intersection(pd.Index([f for f in fps if isinstance(f, str)]))
    creds = existing.loc[in_portal] if len(in_portal) else existing.iloc[0:0]
    cred_by_fp = {
        fp: (int(c), int(a), int(u), None if pd.isna(p) else int(p), list(pr))
        for fp, c, a, u, p, pr in zip(
            creds.index, creds["credential_id"], creds["app_id"], creds["user_id"], creds["plan_id"],
            creds["product_ids"], strict=True,
        )
    }  # fmt: skip
    app_label = dict(zip(snapshot.apps["app_id"].tolist(), snapshot.apps["name"].tolist(), strict=True))
    user_email = dict(zip(snapshot.users["user_id"].tolist(), snapshot.users["email"].tolist(), strict=True))

    def where(cred: tuple[int, int, int, int | None, list[int]]) -> str:
        return f"credential {cred[0]} in app {cred[1]} {app_label.get(cred[1], '?')!r}"

    has_problem = (owner_reason != "") | (policy_reason != "")
    if duplicate_of:
        has_problem[list(duplicate_of)] = True
    known_key = np.fromiter((f in cred_by_fp for f in fps), dtype=bool, count=n) if cred_by_fp else np.zeros(n, bool)
    for i in map(int, np.flatnonzero(has_problem | known_key)):
        problems = [p for p in (owner_reason[i], policy_reason[i]) if p]
        if i in duplicate_of:
            problems.append(
                f"same key as source row {duplicate_of[i]}, which is planned instead: remove the duplicate row"
            )
        cred = cred_by_fp.get(fps[i]) if i not in duplicate_of else None
        if problems:
            if cred is not None:
                problems.append(f"note: the key is already in the portal as {where(cred)}")
            action[i], reason[i] = "blocked", "; ".join(problems)
            continue
        if cred is None:
            continue
        result = results[combo_of_row[i]]
        diffs = []
        if cred[2] != uid_list[i]:
            portal_owner = f"{user_email.get(cred[2], '?')!r} user {cred[2]}"
            diffs.append(f"owner (portal: {portal_owner} vs legacy: {emails.iat[i]!r} user {uid_list[i]})")
        if cred[3] != result.plan_id:
            portal_plan = resolver.label(("plan", cred[3])) if cred[3] is not None else "none"
            diffs.append(f"plan (portal: {portal_plan} vs legacy: {resolver.label(('plan', result.plan_id or -1))})")
        if sorted(cred[4]) != result.product_ids:
            portal_products = ", ".join(resolver.label(("product", p)) for p in sorted(cred[4])) or "none"
            legacy_products = ", ".join(resolver.label(("product", p)) for p in result.product_ids)
            diffs.append(f"products (portal: {portal_products} vs legacy: {legacy_products})")
        credential_id[i], app_id[i] = cred[0], cred[1]
        app_name_out[i] = app_label.get(cred[1], app_name_out[i])
        if diffs:
            action[i] = "blocked"
            reason[i] = (
                f"conflict: the key is already in the portal as {where(cred)} with a different "
                + " and ".join(diffs)
                + ": fix or delete that credential in the portal, or correct the legacy row, then plan again"
            )
        else:
            action[i] = "skip_existing"
            reason[i] = f"already in the portal as {where(cred)} with the same owner, plan and products"

    # apps: reuse the user's app of that name, else the group's first row creates it
    apps_named = snapshot._apps_by_owner_name
    for i in map(int, np.flatnonzero(action == "")):
        owner_id = uid_list[i]
        named = apps_named.get((owner_id, app_name_out[i])) if owner_id is not None else None
        if named:
            app_id[i] = oldest_app(named)
            action[i] = "add_credential"
            if len(named) > 1:
                reason[i] = (
                    f"user {owner_id} has {len(named)} apps named {app_name_out[i]!r} (IDs "
                    f"{', '.join(map(str, named))}); using the oldest, {app_id[i]}"
                )
    creating = np.flatnonzero(action == "")
    if len(creating):
        groups = pd.DataFrame(
            {
                "u": [uid_list[i] for i in creating],
                "a": [app_name_out[i] for i in creating],
                "s": [source_rows[i] for i in creating],
            },
            index=creating,
        ).sort_values("s", kind="stable")
        later = groups.duplicated(["u", "a"]).to_numpy()
        action[groups.index.to_numpy()[~later]] = "create_app"
        action[groups.index.to_numpy()[later]] = "add_credential"

    plan = frame[legacy_columns].copy()
    plan["app_name"] = pd.Series(app_name_out, index=index, dtype=object)
    plan["legacy_app_name"] = frame["app_name"].astype(object)
    plan["user_id"] = user_id
    plan["plan_id"] = plan_id
    plan["product_ids"] = product_ids
    plan["app_id"] = _int64(app_id, index)
    plan["action"] = pd.Series(action, index=index, dtype="str")
    plan["reason"] = pd.Series(reason, index=index, dtype="str")
    plan["credential_id"] = _int64(credential_id, index)
    plan.attrs["out_of_scope"] = out_of_scope
    plan.attrs["portal_url"] = snapshot.portal_url
    plan.attrs["snapshot_fetched_at"] = snapshot.fetched_at.isoformat()
    if len(plan):
        PlanFrame.validate(plan)

    unresolved = _unresolved(emails, owner_results, combo_of_row, list(combos), results, resolver, owners)
    return plan, unresolved


def _unresolved(
    emails: pd.Series,
    owner_results: dict[str, OwnerResult],
    combo_of_row: np.ndarray,
    combos: list[tuple[str, tuple[str, ...]]],
    results: list[PolicyResult],
    resolver: Resolver,
    owners: OwnerIndex,
) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for email, count in emails.value_counts(sort=False).items():
        if owner_results[str(email)].unknown:
            rows.append(
                {"kind": "owner", "value": email, "rows": int(count), "suggestions": owners.suggest(str(email))}
            )
    per_token: Counter[str] = Counter()
    for code, count in zip(*np.unique(combo_of_row, return_counts=True), strict=True):
        for token in results[int(code)].unknown:
            per_token[token] += int(count)
    for token, count in per_token.items():
        rows.append({"kind": "policy", "value": token, "rows": count, "suggestions": resolver.suggest(token)})
    frame = pd.DataFrame(rows, columns=["kind", "value", "rows", "suggestions"])
    frame["rows"] = frame["rows"].astype("int64")
    return frame.sort_values(["rows", "kind", "value"], ascending=[False, True, True], ignore_index=True)


_QUOTED = re.compile(r"'[^']*'")
_SUGGESTION = re.compile(r" \(did you mean [^)]*\)")
_NUMBER = re.compile(r"\b\d+\b")


def reason_kind(reason: str) -> str:
    """A reason with its specific values blanked, so rows blocked for the same cause count together."""
    text = _SUGGESTION.sub("", reason)
    text = _QUOTED.sub("'…'", text)
    return _NUMBER.sub("N", text)


def summarize(plan: pd.DataFrame, top: int = 5) -> dict[str, Any]:
    """Counts by action and the most common kinds of blocking problem (values blanked) with row counts.

    A blocked row's reason lists its problems separated by ``"; "``; each counts on its own here.
    """
    counts = {a: int((plan["action"] == a).sum()) for a in ACTIONS}
    blocked = plan.loc[plan["action"] == "blocked", "reason"]
    problems = blocked.str.split("; ").explode()
    problems = problems[~problems.str.startswith("note:")]
    kinds = problems.map(reason_kind).value_counts().head(top)
    return {
        "counts": counts,
        "rows": len(plan),
        "out_of_scope": int(plan.attrs.get("out_of_scope", 0)),
        "top_reasons": [(str(r), int(c)) for r, c in kinds.items()],
    }


# -- load + validate + fetch + plan -----------------------------------------------------------------


@dataclass
class Prepared:
    """Everything the plan/apply/reconcile commands start from."""

    legacy: pd.DataFrame
    valid: pd.DataFrame
    rejects: pd.DataFrame
    snapshot: PortalSnapshot
    plan: pd.DataFrame
    unresolved: pd.DataFrame

    @property
    def rejected_rows(self) -> int:
        if self.rejects is None or not len(self.rejects) or "source_row" not in self.rejects:
            return 0
        errors = self.rejects
        if "severity" in errors:
            errors = errors[errors["severity"] == "error"]
        return int(errors["source_row"].nunique())


def prepare(
    input: str | Path,
    *,
    format: str = "auto",
    mapping: dict[str, Any] | str | Path | None = None,
    developers: str | Path | None = None,
    email_field: str = "email",
    settings: PlanSettings | None = None,
    scope: dict[str, Any] | None = None,
    portal: Any = None,
    snapshot: PortalSnapshot | None = None,
    progress: bool | None = None,
    concurrency: int = 16,
    min_key_length: int = 8,
) -> Prepared:
    """Load and validate ``input``, fetch the portal (unless ``snapshot`` is given), and plan.

    ``mapping`` is one file (or dict) for both steps: its ``columns`` section (or any section other than
    plans/products/owners) goes to the loader, the rest to the planner. ``portal`` is whatever
    ``fetch_snapshot`` accepts (client, Settings, or None for the environment). An export without records
    is refused (``InputError``) before the portal is read: there is nothing to plan.
    """
    from .snapshot import fetch_snapshot
    from .sources import load_keys, require_records
    from .validate import validate_keys

    settings = settings or PlanSettings()
    settings.check()
    raw = read_mapping_file(mapping) if isinstance(mapping, str | Path) else (mapping or {})
    plan_part, column_part = split_mapping(raw)
    plan_mapping = load_mapping(plan_part)
    load_kwargs: dict[str, Any] = {"format": format, "mapping": column_part, "email_field": email_field}
    if developers is not None:
        load_kwargs["developers"] = developers
    legacy = require_records(load_keys(input, **load_kwargs), input)
    valid, rejects = validate_keys(legacy, min_key_length=min_key_length)
    if snapshot is None:
        snapshot = fetch_snapshot(portal, progress=progress, concurrency=concurrency)
    plan, unresolved = build_plan(valid, snapshot, plan_mapping, settings=settings, scope=scope)
    return Prepared(legacy, valid, rejects, snapshot, plan, unresolved)
