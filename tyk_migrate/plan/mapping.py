"""The mapping file: explicit legacy -> portal translations of plans, products and owners.

One YAML/JSON file serves the loader (its ``columns:`` section, docs/formats.md) and the planner (the
``plans:``, ``products:`` and ``owners:`` sections, docs/planning.md "Mapping file").
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..sources.capped import MAX_MAPPING_BYTES, read_capped
from .accounts import new_users_section
from .impact import impact_policy

MAPPING_SECTIONS = ("plans", "products", "owners", "client_impact", "new_users")


def norm(value: object) -> str:
    """How the planner compares legacy and portal values: trimmed, case-folded."""
    return str(value).strip().casefold()


def as_list(value: Any) -> list[str]:
    """A legacy cell (a string, a list, None/NaN) as a list of its non-empty values."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, Iterable):
        return [str(v) for v in value if v is not None and str(v).strip()]
    return [str(value)]


@dataclass(frozen=True)
class PlanMapping:
    """Explicit legacy -> portal translations (keys normalised: trimmed, case-folded).

    ``plans``/``products`` map a legacy policy ID or name to portal names/IDs (a list maps one legacy
    policy to several products; an empty list or null means "ignore this legacy value"); ``owners`` maps a
    legacy owner email to the portal user's email; ``client_impact`` sets what a kind of client impact
    does to a row (``{kind: warn | block}``, docs/planning.md "Client impact").
    """

    plans: dict[str, tuple[str, ...]] = field(default_factory=dict)
    products: dict[str, tuple[str, ...]] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    client_impact: dict[str, str] = field(default_factory=dict)
    #: settings of accounts the run creates (``accounts.new_users_section``: organisation_id, active)
    new_users: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.plans or self.products or self.owners or self.client_impact)


def read_mapping_file(path: str | Path) -> dict[str, Any]:
    """Parse a YAML or JSON mapping file into a dict (one line InputError if unusable)."""
    import yaml

    path = Path(path)
    try:
        text = read_capped(path, MAX_MAPPING_BYTES).decode("utf-8-sig")
    except UnicodeError:
        raise InputError(f"mapping {path.name}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"mapping {path.name}: cannot read ({exc.strerror or exc.__class__.__name__})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError(f"mapping {path.name}: not valid YAML/JSON ({exc.__class__.__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"mapping {path.name}: expected an object with plans/products/owners/client_impact sections")
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


def _sections(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Our sections of ``data``; a section name that looks like a typo of ours is refused, not ignored."""
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
    return sections


def _owners(section: dict[str, Any]) -> dict[str, str]:
    owners: dict[str, str] = {}
    for legacy, portal in section.items():
        if not isinstance(portal, str) or "@" not in portal:
            raise InputError(f"mapping owners.{legacy}: expected the portal user's email, got {portal!r}")
        owners[norm(legacy)] = norm(portal)
    return owners


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
    sections = _sections(data)
    return PlanMapping(
        plans={norm(k): _targets(v, f"plans.{k}") for k, v in sections["plans"].items()},
        products={norm(k): _targets(v, f"products.{k}") for k, v in sections["products"].items()},
        owners=_owners(sections["owners"]),
        client_impact=_client_impact(sections["client_impact"]),
        new_users=new_users_section(sections["new_users"]),
    )


def _client_impact(section: dict[str, Any]) -> dict[str, str]:
    impact_policy(section, where="mapping client_impact", error=InputError)
    return {str(k): str(v) for k, v in section.items()}
