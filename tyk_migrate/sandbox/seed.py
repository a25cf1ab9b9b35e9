"""Reading and checking a sandbox seed: the portal's starting state as one JSON object.

Format (see docs/sandbox.md): ``{"users": [...], "products": [...], "plans": [...], "apps": [...],
"custom_credentials": [...]}``. Each object uses the field names the official portal API's GET returns;
credentials carry one extra field, ``AppID``, because the API only lists them under their app. Optional
``dashboard_keys`` and ``dashboard_developers`` give the gateway legacy sessions (``legacy.py``).
A seed is checked whole before the sandbox starts, so a typo fails at start with one line, not at the
first request.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import legacy
from .jsonin import BadNumber, check_numbers, loads

KINDS = ("users", "products", "plans", "apps", "custom_credentials")
REQUIRED_KINDS = ("users", "products", "plans")

_RATE_TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*calls?\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+?)\(?s?\)?\s*$", re.I)
_UNIT_SECONDS = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600, "day": 86400, "month": 2592000}


def parse_rate_text(text: str) -> tuple[float, float] | None:
    """``"600 calls / 1 minute(s)"`` -> (600, 60); ``"unlimited"`` or junk -> None.

    Older portal versions show plans in this text form (the file's unused ``Plan-show`` schema); a seed
    written that way is accepted and turned into the numeric ``RateLimit``/``Per`` of the ``Plan`` schema.
    """
    m = _RATE_TEXT.match(text)
    if not m:
        return None
    unit = m.group(3).lower().rstrip("s")
    seconds = _UNIT_SECONDS.get(unit)
    if seconds is None:
        return None
    return float(m.group(1)), float(m.group(2) or 1) * seconds


def _normalise_plan(plan: dict[str, Any]) -> None:
    rate = plan.get("RateLimit")
    if isinstance(rate, str):
        parsed = parse_rate_text(rate)
        if parsed is None:
            plan["RateLimit"], plan["UnlimitedRateLimit"] = 0, True
        else:
            plan["RateLimit"], plan["Per"] = parsed
    quota = plan.get("Quota")
    if isinstance(quota, str):
        parsed = parse_rate_text(quota)
        if parsed is None:
            plan["Quota"], plan["UnlimitedQuota"] = -1, True
        else:
            plan["Quota"], plan["QuotaRenewalRate"] = int(parsed[0]), int(parsed[1])


def _fail(where: str, message: str) -> InputError:
    return InputError(f"sandbox seed: {where}: {message}")


def load_seed(source: str | Path | dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """Read and check a seed (file path, parsed dict, or None for an empty portal); returns a deep copy.

    Raises ``InputError`` with one line naming the first problem: unreadable file, bad JSON, missing
    list, object without an integer ``ID``, duplicate IDs, a credential whose ``AppID``/``PlanID``/
    ``ProductIDs`` point nowhere, or a ``KeyID`` used twice.
    """
    if source is None:
        return {kind: [] for kind in (*KINDS, *legacy.SECTIONS)}
    raw, name = _read(source)
    if not isinstance(raw, dict):
        raise _fail(name, "must be one JSON object with lists users, products, plans")
    unknown = sorted(set(raw) - set(KINDS) - set(legacy.SECTIONS))
    if unknown:
        known = ", ".join((*KINDS, *legacy.SECTIONS))
        raise _fail(name, f"unknown section(s) {', '.join(unknown)}; expected {known}")
    seed = {kind: _checked_kind(raw, kind, name) for kind in KINDS}
    for plan in seed["plans"]:
        _normalise_plan(plan)
    _check_links(seed)
    seed.update(legacy.check_sections(raw, (c["KeyID"] for c in seed["custom_credentials"])))
    return seed


def _read(source: str | Path | dict[str, Any]) -> tuple[Any, str]:
    """``(the seed as parsed, the name errors give it)``: a dict is copied, so checking never edits the caller's.
    NaN, Infinity, 1e999 or a 5,000-digit number is one line, not a traceback (stored, it would make every
    answer carrying it a 500)."""
    if isinstance(source, dict):
        raw = copy.deepcopy(source)
        try:
            check_numbers(raw)
        except BadNumber as exc:
            raise _fail("seed", str(exc)) from None
        return raw, "seed"
    if not isinstance(source, str | Path):
        return source, "seed"
    path = Path(source)
    try:
        return loads(path.read_text(encoding="utf-8")), str(path)
    except FileNotFoundError:
        raise InputError(f"sandbox seed: file not found: {path}") from None
    except (OSError, UnicodeError) as exc:
        raise InputError(f"sandbox seed: cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"sandbox seed: {path} is not JSON: {exc}") from None
    except BadNumber as exc:
        raise _fail(str(path), f"{exc}; numbers must be finite") from None
    except RecursionError:
        raise InputError(f"sandbox seed: {path} is nested too deeply to be a seed") from None


def _checked_kind(raw: dict[str, Any], kind: str, name: str) -> list[dict[str, Any]]:
    """One section's objects in ID order, each an object with a positive integer ``ID`` of its own."""
    items = raw.get(kind, [] if kind not in REQUIRED_KINDS else None)
    if not isinstance(items, list):
        raise _fail(name, f"'{kind}' must be a list" + (" (required)" if items is None else ""))
    seen: set[int] = set()
    for i, item in enumerate(items):
        where = f"{kind}[{i}]"
        if not isinstance(item, dict):
            raise _fail(where, "must be an object")
        oid = item.get("ID")
        if not isinstance(oid, int) or isinstance(oid, bool) or oid < 1:
            raise _fail(where, "needs a positive integer ID")
        if oid in seen:
            raise _fail(where, f"duplicate ID {oid}")
        seen.add(oid)
    return sorted(items, key=lambda o: o["ID"])


def _check_links(seed: dict[str, list[dict[str, Any]]]) -> None:
    users = {u["ID"] for u in seed["users"]}
    products = {p["ID"] for p in seed["products"]}
    plans = {p["ID"] for p in seed["plans"]}
    apps = {a["ID"] for a in seed["apps"]}
    for app in seed["apps"]:
        if app.get("UserID") not in users:
            raise _fail(f"apps ID {app['ID']}", f"UserID {app.get('UserID')!r} is not a seeded user")
    keys: set[str] = set()
    for cred in seed["custom_credentials"]:
        where = f"custom_credentials ID {cred['ID']}"
        if cred.get("AppID") not in apps:
            raise _fail(where, f"AppID {cred.get('AppID')!r} is not a seeded app")
        try:
            plan_id = int(cred.get("PlanID"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _fail(where, f"PlanID {cred.get('PlanID')!r} is not a plan ID") from None
        if plan_id not in plans:
            raise _fail(where, f"PlanID {plan_id} is not a seeded plan")
        cred["PlanID"] = str(plan_id)
        pids = cred.get("ProductIDs")
        if not isinstance(pids, list) or not all(p in products for p in pids):
            raise _fail(where, f"ProductIDs {pids!r} must list seeded product IDs")
        key = cred.get("KeyID")
        if not isinstance(key, str) or not key:
            raise _fail(where, "needs a KeyID")
        if key in keys:
            raise _fail(where, "KeyID already used by another seeded credential")
        keys.add(key)
