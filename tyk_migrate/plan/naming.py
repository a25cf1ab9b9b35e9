"""Which portal app each key goes into: the planner's settings and the app naming rule."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..snapshot import PortalSnapshot
from .accounts import AccountSettings
from .impact import impact_policy

#: Fields a format-string app naming rule may use.
APP_NAME_FIELDS = (
    "app_name", "alias", "plan", "plan_display", "plan_id", "owner", "first", "last", "org", "source_id",
    "legacy_plan",
)  # fmt: skip
DEFAULT_APP_NAME = "Migrated keys"


@dataclass(frozen=True)
class PlanSettings:
    """How keys are grouped into apps.

    ``app_name``: ``"legacy"`` (default: the legacy app name, else ``fallback_app_name``), ``"alias"``
    (the key's alias, else the legacy app name, else the fallback), or a format string over
    ``APP_NAME_FIELDS`` such as ``"{plan} keys"`` or ``"{app_name} ({org})"``; an empty result falls
    back too. ``suggestions``: how many close matches to offer for a value that matches nothing.
    ``client_impact``: what each kind of client impact does (warn or block), over the defaults.
    """

    app_name: str = "legacy"
    fallback_app_name: str = DEFAULT_APP_NAME
    suggestions: int = 3
    #: ``{kind: "warn" | "block"}`` over ``impact.DEFAULT_POLICY`` (and over a mapping file's
    #: ``client_impact:`` section): what each kind of client impact does to a row (docs/planning.md).
    client_impact: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: opt-in account steps for owners without a usable account (``accounts``; off by default)
    accounts: AccountSettings = field(default_factory=AccountSettings)

    def check(self) -> None:
        impact_policy(self.client_impact, where="PlanSettings.client_impact")
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


def naming_fields(
    frame: pd.DataFrame,
    snapshot: PortalSnapshot,
    emails: pd.Series,
    user_id: pd.Series,
    plan_id: pd.Series,
    org_ids: np.ndarray,
) -> dict[str, pd.Series]:
    """The values of ``APP_NAME_FIELDS`` for every row (portal names looked up by the resolved IDs)."""
    plans, users = snapshot.plans, snapshot.users
    plan_names = dict(zip(plans["plan_id"].tolist(), plans["name"].tolist(), strict=True))
    plan_display = dict(zip(plans["plan_id"].tolist(), plans["display_name"].tolist(), strict=True))
    user_rows = users.set_index("user_id")
    index = frame.index
    return {
        "app_name": frame["app_name"],
        "alias": frame["alias"],
        "plan": plan_id.map(plan_names),
        "plan_display": plan_id.map(plan_display),
        "plan_id": plan_id.astype(object),
        "owner": emails,
        "first": user_id.map(user_rows["first"].to_dict()),
        "last": user_id.map(user_rows["last"].to_dict()),
        "org": frame["org"] if "org" in frame else pd.Series(org_ids, index=index).fillna(""),
        "source_id": frame["source_id"] if "source_id" in frame else pd.Series("", index=index),
        "legacy_plan": frame["plan"],
    }
