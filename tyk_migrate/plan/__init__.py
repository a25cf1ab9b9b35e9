"""Decide what happens to every legacy key before anything is written: tyk-migrate's ``terraform plan``.

``build_plan(valid_keys, snapshot)`` is pure (no network): it joins the validated legacy frame to a
``PortalSnapshot`` and gives every row exactly one ``action``:

- ``create_app``: the first key of a (portal user, app name) group whose app does not exist yet;
- ``add_credential``: a key going into an existing app (``app_id`` set) or into the app its group's
  ``create_app`` row creates (``app_id`` null until the runner has made it);
- ``skip_existing``: the key is already in the portal with the same owner, plan and products;
- ``blocked``: cannot be migrated as is; ``reason`` says why and what to do about it, ``reason_code``
  which cause it is (the registry in ``reasons``).

Rows are resolved per distinct value (emails, policy combinations), not per row, so a plan of 100,000
keys costs little more than the number of distinct owners and policy sets.

The steps, one module each: ``mapping`` (the mapping file), ``resolvers`` (owners, plans, products,
apps), ``rows`` (every row's resolution), ``scope``, ``naming`` (settings and the app naming rule),
``impact`` (what the keys' clients would notice), ``decide`` (the per-row decision), ``reasons`` (the
registry of reason codes and sentences), ``summary``, ``build`` (``build_plan`` itself) and ``export``
(plan.csv). ``tyk_migrate.pipeline.prepare`` chains load -> validate -> fetch -> plan for the commands.
"""

from __future__ import annotations

from ..schemas import ACTIONS
from .build import LEGACY_REQUIRED, PLAN_COLUMNS, build_plan
from .export import PLAN_EXPORT_COLUMNS, export_plan, plan_for_export
from .impact import DEFAULT_POLICY, IMPACT_KINDS, Impact, assess, impact_policy, live_key_overwrites
from .mapping import MAPPING_SECTIONS, PlanMapping, load_mapping, read_mapping_file, split_mapping
from .naming import APP_NAME_FIELDS, DEFAULT_APP_NAME, PlanSettings, app_names
from .reasons import BLOCKING_CODES, REASONS, Finding, Reason
from .resolvers import LEVELS, OwnerIndex, OwnerResult, PolicyResult, Ref, Resolver, oldest_app, resolve_policies
from .scope import SCOPE_KEYS
from .summary import impact_counts, impact_line, reason_counts, summarize

__all__ = [
    "ACTIONS",
    "APP_NAME_FIELDS",
    "BLOCKING_CODES",
    "DEFAULT_APP_NAME",
    "DEFAULT_POLICY",
    "IMPACT_KINDS",
    "LEGACY_REQUIRED",
    "LEVELS",
    "MAPPING_SECTIONS",
    "PLAN_COLUMNS",
    "PLAN_EXPORT_COLUMNS",
    "REASONS",
    "SCOPE_KEYS",
    "Finding",
    "Impact",
    "OwnerIndex",
    "OwnerResult",
    "PlanMapping",
    "PlanSettings",
    "PolicyResult",
    "Reason",
    "Ref",
    "Resolver",
    "app_names",
    "assess",
    "build_plan",
    "export_plan",
    "impact_counts",
    "impact_line",
    "impact_policy",
    "live_key_overwrites",
    "load_mapping",
    "oldest_app",
    "plan_for_export",
    "read_mapping_file",
    "reason_counts",
    "resolve_policies",
    "split_mapping",
    "summarize",
]
