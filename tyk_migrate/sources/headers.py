"""Header recognition: which of a table's headers is which canonical column.

Headers are compared after normalising (``norm``): by the analyst's mapping first, then by the common names
of ``SYNONYMS``, best first. ``first_line_is_data`` decides whether a table's first line is certainly a
header, so that errors naming the "headers" of a headerless file mask every value of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import InputError, MissingColumnsError, safe_names, show_names
from . import canonical
from .header_line import column_name_shaped
from .limits import LIMIT_COLUMNS, LIMIT_SYNONYMS

#: Header names recognised per canonical column, best first; compared after lower-casing and removing
#: spaces, underscores, hyphens and dots ("API Key" == "api_key" == "apikey").
SYNONYMS: dict[str, tuple[str, ...]] = {
    "key_id": (
        "key_id",
        "key",
        "token",
        "api_key",
        "apikey",
        "access_token",
        "key_value",
        "auth_token",
        "custom_key",
        "credential",
        "secret",
    ),
    "owner_email": (
        "owner_email",
        "email",
        "developer_email",
        "user_email",
        "owner",
        "developer",
        "user",
        "email_address",
        "contact_email",
        "mail",
        "e_mail",
    ),
    "plan": (
        "plan",
        "plan_id",
        "policy",
        "policy_id",
        "tier",
        "plan_name",
        "policy_name",
        "usage_plan",
        "usage_plan_id",
        "subscription_plan",
    ),
    "products": (
        "products",
        "product_ids",
        "apis",
        "api",
        "product",
        "api_ids",
        "api_names",
        "access_rights",
        "catalogue",
        "catalog",
    ),
    "expires_at": (
        "expires_at",
        "expires",
        "expiry",
        "expiration",
        "expiry_date",
        "expiration_date",
        "expires_on",
        "valid_until",
    ),
    "alias": ("alias", "key_alias", "name", "key_name", "label"),
    "app_name": ("app_name", "app", "application", "application_name", "client_name", "client"),
    "org": (
        "org",
        "org_id",
        "organisation",
        "organization",
        "organisation_name",
        "organization_name",
        "company",
        "org_name",
    ),
    "active": (
        "active",
        "is_active",
        "enabled",
        "status",
        "state",
        "is_inactive",
        "inactive",
        "disabled",
        "is_disabled",
        "revoked",
    ),
    "source_id": ("source_id", "id", "record_id", "row_id", "key_hash"),
    **LIMIT_SYNONYMS,
}
#: Status headers whose true value means "not active".
INVERTED_ACTIVE = frozenset({"isinactive", "inactive", "disabled", "isdisabled", "revoked"})
#: Extra mapping target: a column whose true value means the key is inactive.
MAPPING_TARGETS = frozenset(
    set(canonical.COLUMNS) - {"key_fingerprint", "source_row", "expires_raw"} | {"inactive", *LIMIT_COLUMNS}
)


def norm(header: object) -> str:
    return re.sub(r"[\s_\-.]+", "", str(header)).lower()


#: Every header name the loader knows, normalised.
KNOWN_HEADERS = frozenset(norm(n) for names in SYNONYMS.values() for n in names) | {norm(c) for c in MAPPING_TARGETS}
_GENERATED_HEADER = re.compile(r"column_\d+(?:\.\d+)?")  # unique_headers' name for a blank header


def first_line_is_data(names: list[str]) -> bool:
    """True unless a table's first line is certainly a header: then errors mask every value of it.

    Certainly a header: some name is one the loader knows, and every other one has a column name's shape
    (``header_line.column_name_shaped``), so no name is key-, passphrase-, email-, number- or date-shaped.
    A headerless file's first record ("correct-horse-battery-staple,developer,gold,active") can hold
    known words; one value shaped like no column name gives it away.
    """
    written = [n for n in names if not _GENERATED_HEADER.fullmatch(n)]
    unknown = [n for n in written if norm(n) not in KNOWN_HEADERS]
    return len(unknown) == len(written) or not all(column_name_shaped(n) for n in unknown)


def columns_found(names: list[str]) -> str:
    """The end of a read error that names the header: the names, or why they are not shown."""
    if first_line_is_data(names):
        return f"the first line looks like data, not column names ({show_names(safe_names(names, mask_all=True))})"
    return f"columns found: {show_names(safe_names(names))}"


def unique_headers(header: list[str]) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        name = h.strip() or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        names.append(name)
    return names


def match_headers(headers: list[str], mapping: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
    """``({canonical: source header | {"value": c}}, inverted_active)`` for a table's headers."""
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(norm(h), h)
    chosen: dict[str, Any] = {}
    used: set[str] = set()
    inverted = False
    for target, spec in (mapping or {}).items():
        canon = "active" if target == "inactive" else target
        if isinstance(spec, Mapping) and "value" in spec:
            chosen[canon] = {"value": spec["value"]}
            continue
        header = spec if isinstance(spec, str) else None
        if header is None:
            raise InputError(f"mapping: {target} must name a column or be {{value: ...}}")
        found = header if header in headers else by_norm.get(norm(header))
        if found is None:
            # the same masking as any missing-column error: a file without a header line would print a key here
            data = first_line_is_data(headers)
            raise MissingColumnsError([f"{header} (mapped to {target})"], headers, "mapping", first_line_is_data=data)
        chosen[canon] = found
        used.add(found)
        if target == "inactive" or (target == "active" and norm(found) in INVERTED_ACTIVE):
            inverted = True
    for canon, names in SYNONYMS.items():
        if canon in chosen:
            continue
        for name in names:
            found = by_norm.get(norm(name))
            if found is not None and found not in used:
                chosen[canon] = found
                used.add(found)
                if canon == "active" and norm(found) in INVERTED_ACTIVE:
                    inverted = True
                break
    return chosen, inverted
