"""load -> validate -> fetch -> plan in one call: what the ``plan``, ``apply`` and ``reconcile`` commands start from."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .aio import Background
from .plan import PlanSettings, build_plan, load_mapping, read_mapping_file, split_mapping
from .snapshot import PortalSnapshot

if TYPE_CHECKING:
    from .dashboard_enrich import Enrichment
    from .dashboard_link import DashboardLink


@dataclass
class Prepared:
    """Everything the plan/apply/reconcile commands start from."""

    legacy: pd.DataFrame
    valid: pd.DataFrame
    rejects: pd.DataFrame
    snapshot: PortalSnapshot
    plan: pd.DataFrame
    unresolved: pd.DataFrame
    #: with a Dashboard: what it said of a file's keys (None without one, or with --from-dashboard)
    enrichment: Enrichment | None = None
    #: with a Dashboard: ``dashboard_live.live_keys`` of the valid keys (None without one)
    live: pd.DataFrame | None = None
    #: lines about the Dashboard's part (keys read or found), for the command's output
    notes: list[str] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        if self.rejects is None or not len(self.rejects) or "source_row" not in self.rejects:
            return 0
        errors = self.rejects
        if "severity" in errors:
            errors = errors[errors["severity"] == "error"]
        return int(errors["source_row"].nunique())


def prepare(
    input: str | Path | None,
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
    dashboard: DashboardLink | None = None,
    from_dashboard: bool = False,
) -> Prepared:
    """Load and validate ``input`` while the portal is fetched (unless ``snapshot`` is given), and plan.

    ``mapping`` is one file (or dict) for both steps: its ``columns`` section (or any section other than
    plans/products/owners) goes to the loader, the rest to the planner. ``portal`` is whatever
    ``fetch_snapshot`` accepts (client, Settings, or None for the environment). An export without records
    is refused (``InputError``) before the portal is read: there is nothing to plan.

    ``dashboard`` (a ``DashboardLink``): ``input`` may be a file of raw keys only, completed from each key's
    session, or, with ``from_dashboard``, is not read (``input`` may be None) and the Dashboard's keys are
    planned. Either way the live-key check runs before planning: keys live in the gateway today are flagged
    ``live_key_overwritten`` (``build_plan(live_keys=...)``), so no write is needed to see them.
    """
    from .dashboard_link import load_source
    from .dashboard_live import live_keys_hook
    from .snapshot import fetch_snapshot
    from .validate import validate_keys

    settings = settings or PlanSettings()
    settings.check()
    raw = read_mapping_file(mapping) if isinstance(mapping, str | Path) else (mapping or {})
    plan_part, column_part = split_mapping(raw)
    plan_mapping = load_mapping(plan_part)
    load_kwargs: dict[str, Any] = {"format": format, "mapping": column_part, "email_field": email_field}
    if developers is not None:
        load_kwargs["developers"] = developers
    loaded = load_source(input, load_kwargs, dashboard, from_dashboard=from_dashboard)
    legacy = loaded.frame
    # the portal is read while the file is validated (the snapshot does not depend on it), and only once the
    # export has records: an empty one is still refused before the portal is read
    fetch = None if snapshot is not None else Background(partial(fetch_snapshot, portal, progress=progress,
                                                                 concurrency=concurrency))  # fmt: skip
    valid, rejects = validate_keys(legacy, min_key_length=min_key_length)  # its errors come first, as before
    live = dashboard.live(valid) if dashboard is not None else None
    if fetch is not None:
        snapshot = fetch.result()
    assert snapshot is not None
    hook = live_keys_hook(live) if live is not None else None
    plan, unresolved = build_plan(valid, snapshot, plan_mapping, settings=settings, scope=scope, live_keys=hook)
    return Prepared(legacy, valid, rejects, snapshot, plan, unresolved, loaded.enrichment, live, loaded.notes)
