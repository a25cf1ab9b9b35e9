"""What a preflight found: ``PreflightResult`` (the ``preflight.json`` file), its table, and ``load_preflight``.

Every check is one row: what it saw, what that means for the migration, and a verdict: ``ok``, ``info``,
``warn`` (the migration can go on, but read this) or ``unsafe`` (do not migrate before changing what the row
says). ``ok`` in the file is True when no row is unsafe.
"""

from __future__ import annotations

import json
import math
import textwrap
import types
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit, urlunsplit

from ..config import portal_api_base, split_url
from ..errors import ConfigError, InputError

VERDICTS = ("ok", "info", "warn", "unsafe")
_SHOWN = {"ok": "ok", "info": "info", "warn": "WARN", "unsafe": "UNSAFE"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def portal_identity(portal_url: str) -> str:
    """The one spelling of a portal's API base: scheme and host lower case, the scheme's default port dropped,
    no trailing slash, ``/portal-api`` appended when missing. ``https://PORTAL.example.com:443/`` and
    ``https://portal.example.com/portal-api`` are one portal: one preflight file, and one judged as its own."""
    parts = split_url(portal_api_base(portal_url), "portal")
    scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def same_portal(recorded: object, portal_url: str) -> bool:
    """Whether a file's ``portal`` names ``portal_url``'s portal (a malformed one names none)."""
    try:
        return isinstance(recorded, str) and portal_identity(recorded) == portal_identity(portal_url)
    except ConfigError:
        return False


def portal_host_port(portal_url: str) -> tuple[str, int | None]:
    """The host and the port (None: the scheme's default) of ``portal_identity(portal_url)``."""
    parts = urlsplit(portal_identity(portal_url))
    return parts.hostname or "portal", parts.port


@dataclass(frozen=True)
class Check:
    name: str
    saw: str
    meaning: str
    verdict: str = "ok"  # one of VERDICTS


@dataclass
class PreflightResult:
    """The findings; ``to_json()`` is the ``--out`` file, ``load_preflight`` reads it back."""

    ok: bool
    portal: str
    checked_at: str
    tool_version: str
    auth_token_type: str | None  # the spelling that keeps the KeyID (the configured one when both do)
    duplicate_key: str | None  # "refuse" | "overwrite" | None (not tested)
    plans_envelope: str | None  # "data" | "bare" | None
    per_page_max: int | None  # a per_page cap seen, None when none was
    listing_lag_ms: float | None  # a new credential's delay into its app's listing
    latency_ms: float | None  # median of single GETs
    start_concurrency: int
    leftovers: int  # preflight objects still in the portal (or canary keys still opening the gateway)
    gateway: str | None = None
    auth_token_types: dict[str, str] = field(default_factory=dict)  # spelling -> what the portal did with it
    error_shape: str | None = None  # "errors" | "status-errors" | "text" | "other"
    paging: dict[str, str] = field(default_factory=dict)  # list endpoint -> honoured / ignores ... / not tested
    unknown_key_status: int | None = None  # the gateway's answer to a key it does not know
    answer_matches_read_back: bool | None = None  # a create's 201 answer shows what a GET shows (None: unknown)
    cleaned_before: int = 0  # leftovers of an earlier, interrupted preflight removed first
    canary_user: str = ""
    plan_id: int | None = None
    product_ids: list[int] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "unsafe"]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "warn"]

    @property
    def exit_code(self) -> int:
        """0: the migration can proceed; 1: a finding makes it unsafe (``problems`` say what to change)."""
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreflightResult:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["checks"] = [Check(**c) for c in values.get("checks", [])]
        return cls(**values)

    def checked_at_time(self) -> datetime:
        when = datetime.fromisoformat(self.checked_at)
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    def table(self, width: int = 110) -> str:
        """The findings as a text table: result, check, what it saw, what it means for the migration."""
        rows = [("", "check", "saw", "what it means for the migration")]
        rows += [(_SHOWN[c.verdict], c.name, c.saw, c.meaning) for c in self.checks]
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        w2 = min(38, max(len(r[2]) for r in rows))
        w3 = max(30, width - w0 - w1 - w2 - 6)
        lines = []
        for i, (verdict, name, saw, meaning) in enumerate(rows):
            left = textwrap.wrap(saw, w2) or [""]
            right = textwrap.wrap(meaning, w3) or [""]
            for n in range(max(len(left), len(right))):
                cells = (verdict if n == 0 else "", name if n == 0 else "", _at(left, n), _at(right, n))
                lines.append(f"{cells[0]:<{w0}}  {cells[1]:<{w1}}  {cells[2]:<{w2}}  {cells[3]}".rstrip())
            if i == 0:
                lines.append("-" * min(width, w0 + w1 + w2 + w3 + 6))
        return "\n".join(lines)

    def verdict_lines(self) -> list[str]:
        """The last lines: proceed, or why not and what to change (one line per unsafe finding)."""
        if self.ok:
            warned = len(self.warnings)
            note = f" ({warned} warning{'s' * (warned != 1)} above)" if warned else ""
            return [f"preflight: the migration can proceed{note}"]
        problems = self.problems
        head = f"preflight: UNSAFE to migrate ({len(problems)} finding{'s' * (len(problems) != 1)}):"
        return [head, *(f"  {c.name}: {c.meaning}" for c in problems)]


def _at(lines: list[str], n: int) -> str:
    return lines[n] if n < len(lines) else ""


def write_result(result: PreflightResult, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(result.to_json() + "\n", encoding="utf-8")
    return target


def read_result(path: str | Path) -> PreflightResult | None:
    """The preflight result in ``path``, None when there is no such file; a file that is there but is not a
    preflight result is an ``InputError`` (one line), never a silent None."""
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeError) as exc:
        raise InputError(f"preflight result {target}: cannot read it: {exc}") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        _check_fields(data)
        result = PreflightResult.from_dict(data)
        result.checked_at_time()
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"preflight result {target} is not a tyk-migrate preflight file ({exc})") from None
    return result


def load_preflight(path: str | Path, portal_url: str, max_age: timedelta = timedelta(days=1)) -> PreflightResult | None:
    """The preflight result in ``path`` when it is about ``portal_url`` and younger than ``max_age``, else None.

    None also when the file does not exist; a file that is there but is not a preflight result is an
    ``InputError`` (one line), never a silent None. ``preflight.use.find_preflight`` also says why not."""
    result = read_result(path)
    if result is None or not same_portal(result.portal, portal_url):
        return None
    age = datetime.now(UTC) - result.checked_at_time()
    return result if timedelta(0) - timedelta(minutes=5) <= age <= max_age else None


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value is of the field type ``hint`` (a bool is no number; a number is finite)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is dict:
        return isinstance(value, dict) and all(_fits(k, args[0]) and _fits(v, args[1]) for k, v in value.items())
    if origin is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if hint is Check:
        names = {f.name for f in fields(Check)}
        return (
            isinstance(value, dict)
            and {"name", "saw", "meaning"} <= set(value) <= names
            and all(isinstance(v, str) for v in value.values())
            and value.get("verdict", "ok") in VERDICTS
        )
    if hint is type(None):
        return value is None
    if hint in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return False
    if hint is float:
        return math.isfinite(value)
    return isinstance(value, hint)


def _type_text(hint: Any) -> str:
    if hint is Check:
        return f"a check ({{name, saw, meaning, verdict}}, verdict one of {', '.join(VERDICTS)})"
    text = hint.__name__ if isinstance(hint, type) else str(hint)
    return text.replace("NoneType", "None").replace(f"{__name__}.", "")


def _check_fields(data: dict[str, Any]) -> None:
    """``ValueError`` naming the first field that is missing or of the wrong type: a tampered or foreign file
    is refused when read, never a ``TypeError`` later (``"ok": "false"`` would be true, ``"8"`` no number)."""
    hints = get_type_hints(PreflightResult)
    for f in fields(PreflightResult):
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ValueError(f"field {f.name} is missing")
            continue
        value, hint = data[f.name], hints[f.name]
        if not _fits(value, hint):
            if get_origin(hint) is list and isinstance(value, list):
                hint = get_args(hint)[0]
                value = next(v for v in value if not _fits(v, hint))
                raise ValueError(f"field {f.name} holds {type(value).__name__} {_short(value)}, not {_type_text(hint)}")
            raise ValueError(f"field {f.name} must be {_type_text(hint)}, not {type(value).__name__} {_short(value)}")


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= 40 else text[:39] + "…"
