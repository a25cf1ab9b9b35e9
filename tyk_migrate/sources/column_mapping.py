"""The analyst's column mapping: ``{canonical column: source header | {"value": constant}}``, from a dict or a file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import jsontext
from .capped import MAX_MAPPING_BYTES, read_capped
from .headers import MAPPING_TARGETS

#: Sections of a shared mapping file that belong to the planner, not to the loader.
PLANNER_SECTIONS = frozenset({"plans", "owners", "client_impact"})


def load_mapping(mapping: Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    """``{canonical: source header | {"value": constant}}`` from a dict or a YAML/JSON file.

    The inverse orientation (``{source header: canonical}``) is accepted too and turned around.
    """
    if mapping is None:
        return {}
    if isinstance(mapping, str | Path):
        loaded = _read_file(Path(mapping))
        if loaded is None:
            return {}
        mapping = loaded
    if not isinstance(mapping, Mapping):
        raise InputError("mapping: expected an object {canonical_column: source_header}")
    if "columns" in mapping and isinstance(mapping["columns"], Mapping):
        mapping = mapping["columns"]
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        key = str(k).strip()
        if key in PLANNER_SECTIONS or (key == "products" and isinstance(v, Mapping) and "value" not in v):
            continue  # the planner's sections of a shared mapping file (docs/formats.md)
        if key in MAPPING_TARGETS:
            out[key] = v
        elif isinstance(v, str) and v.strip() in MAPPING_TARGETS:
            out[v.strip()] = key
        else:
            raise InputError(
                f"mapping: {key!r} is not a canonical column; use one of {', '.join(sorted(MAPPING_TARGETS))}"
            )
    return out


def _read_file(path: Path) -> Any:
    """A mapping file's document (``None`` for an empty YAML file): JSON by its ``.json`` suffix, else YAML."""
    try:
        text = read_capped(path, MAX_MAPPING_BYTES).decode("utf-8-sig")
    except (OSError, UnicodeError) as exc:
        raise InputError(f"mapping {path.name}: cannot read ({exc.__class__.__name__})") from None
    try:
        if path.suffix.lower() == ".json":
            return jsontext.loads(text)
        import yaml

        return yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError and json errors: one line either way
        raise InputError(f"mapping {path.name}: not valid YAML/JSON ({exc.__class__.__name__})") from None
