"""Behaviour knobs: the worlds the sandbox can be where the real portal and gateway are uncertain.

TYK-FACTS.md ("Revised facts") leaves several behaviours of the real Tyk Developer Portal and gateway
unconfirmed (the portal's source is closed). Each becomes a knob here, set with
``--behaviour NAME=VALUE`` (repeatable), ``SandboxConfig(behaviour={...})`` or
``PUT /__sandbox/behaviour`` while running, on top of a named bundle (``--profile``): ``strict`` (the
default, exactly the sandbox's behaviour before knobs existed), ``realistic`` (the likeliest real portal) and
``hostile`` (every knob at its worst). An explicit knob wins over the profile.

This module is the one home of the knobs: name, allowed values, default, the fact behind each, and the
profiles. The CLI's help and the table in docs/sandbox.md are generated from it (``markdown_table``,
``behaviour_help``; tests/test_sandbox_behaviour.py checks the docs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..tyk_hash import HASH_SETTINGS
from .faults import MAX_DELAY_MS, parse_rate
from .faults import shown_value as _shown

#: the portal's list endpoints, as ``paging=ignore:...`` names them
LIST_ENDPOINTS = ("users", "products", "plans", "apps", "custom_credentials")
DEFAULT_PROFILE = "strict"
_WHERE = "behaviour"
#: the largest ``paging=max:N`` (a bigger page is no different, and an unbounded N overflows)
MAX_PAGE_ROWS = 1_000_000


@dataclass(frozen=True)
class Paging:
    """``paging``: list endpoints that return every row whatever ``page`` says, and a silent ``per_page`` cap."""

    ignore: frozenset[str] = frozenset()
    max_per_page: int | None = None

    def text(self) -> str:
        parts = [f"max:{self.max_per_page}"] if self.max_per_page is not None else []
        if self.ignore:
            parts.append("ignore:" + ",".join(e for e in LIST_ENDPOINTS if e in self.ignore))
        return "+".join(parts) or "honour"


@dataclass(frozen=True)
class PartialCreate:
    """``partial-create``: rates of a credential create that half-happens (and answers 500)."""

    record_only: float = 0.0
    key_only: float = 0.0

    def text(self) -> str:
        rates = (("record-only", self.record_only), ("key-only", self.key_only))
        return "+".join(f"{kind}:{rate * 100:g}%" for kind, rate in rates if rate) or "off"


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ConfigError(f"{_WHERE}: {name}={text!r} must be one of {', '.join(allowed)}")
        return value

    return parse


def _parts(name: str, text: str) -> list[tuple[str, str]]:
    """``a:x+b:y`` -> [(a, x), (b, y)]: the syntax of knobs whose values combine."""
    out = []
    for part in text.strip().lower().split("+"):
        kind, sep, arg = part.strip().partition(":")
        if not kind:
            raise ConfigError(f"{_WHERE}: {name}={text!r} has an empty part (join parts with +)")
        out.append((kind, arg.strip() if sep else ""))
    return out


def _paging(name: str, text: str) -> Paging:
    ignore: set[str] = set()
    maximum: int | None = None
    for kind, arg in _parts(name, text):
        if kind == "honour" and not arg:
            continue
        if kind == "ignore":
            endpoints = {e.strip() for e in arg.split(",") if e.strip()}
            unknown = sorted(endpoints - set(LIST_ENDPOINTS))
            if not endpoints or unknown:
                raise ConfigError(
                    f"{_WHERE}: {name}={text!r}: ignore:<endpoint,...> takes list endpoints among "
                    f"{', '.join(LIST_ENDPOINTS)}" + (f" (not {', '.join(unknown)})" if unknown else "")
                )
            ignore |= endpoints
        elif kind == "max":
            if not arg.isdigit() or len(arg) > len(str(MAX_PAGE_ROWS)) or not 1 <= int(arg) <= MAX_PAGE_ROWS:
                raise ConfigError(
                    f"{_WHERE}: {name}={_shown(text)}: max:<N> takes a whole number of rows, at least 1 "
                    f"and at most {MAX_PAGE_ROWS:,}"
                )
            maximum = int(arg)
        else:
            raise ConfigError(f"{_WHERE}: {name}={text!r} must be honour, ignore:<endpoint,...> or max:<N>")
    return Paging(frozenset(ignore), maximum)


def _unknown_key(name: str, text: str) -> int:
    return int(_choice("401", "403")(name, text))


def _milliseconds(name: str, text: str) -> float:
    try:
        value = float(text.strip().lower().removesuffix("ms"))
    except ValueError:
        raise ConfigError(f"{_WHERE}: {name}={_shown(text)} is not a number of milliseconds") from None
    if not 0 <= value <= MAX_DELAY_MS:  # also NaN and infinity
        raise ConfigError(
            f"{_WHERE}: {name}={_shown(text)} must be a finite number, not negative, at most {MAX_DELAY_MS:,.0f}"
        )
    return value


def _partial(name: str, text: str) -> PartialCreate:
    rates = {"record-only": 0.0, "key-only": 0.0}
    for kind, arg in _parts(name, text):
        if kind == "off" and not arg:
            continue
        if kind not in rates or not arg:
            raise ConfigError(f"{_WHERE}: {name}={text!r} must be off, record-only:<rate> or key-only:<rate>")
        rates[kind] = parse_rate(f"{name}={kind}", arg, _WHERE)
    if sum(rates.values()) > 1 + 1e-9:
        raise ConfigError(f"{_WHERE}: {name}={text!r}: rates add up to more than 100%")
    return PartialCreate(rates["record-only"], rates["key-only"])


@dataclass(frozen=True)
class Knob:
    name: str
    syntax: str  # allowed values, as help and docs show them
    default: str  # strict (today's behaviour)
    meaning: str  # what each value does, one sentence
    fact: str  # the fact behind it, from TYK-FACTS.md "Revised facts"
    parse: Callable[[str, str], Any] = field(repr=False)

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")


KNOBS: tuple[Knob, ...] = (
    Knob(
        "duplicate-key",
        "refuse|overwrite",
        "refuse",
        "refuse: a KeyID already in use answers 422; overwrite: 201, the new credential takes the key over "
        "(the gateway serves the newest credential's plan and products; the older record still lists the key)",
        "Duplicate KeyID: probably not refused. The gateway's key create has no existence check and overwrites; "
        'Tyk staff: a duplicate "will just overwrite the existing one"; a portal check of its own records is (U).',
        _choice("refuse", "overwrite"),
    ),
    Knob(
        "auth-token-type",
        "both|strict|fallback",
        "both",
        "both: AUTH_TOKEN_TYPE_CUSTOM and AUTH_TOKEN_CUSTOM are custom tokens (narrowed by --auth-token-type), "
        "others 422; strict: only AUTH_TOKEN_TYPE_CUSTOM, others 422; fallback: only AUTH_TOKEN_TYPE_CUSTOM "
        "is honoured, any other value answers 201 with a key the portal generated (KeyID ignored); "
        "AUTH_TOKEN_STANDARD always generates the key, as the file says",
        "AuthTokenType: the likelier wire value on every 1.12+ portal is AUTH_TOKEN_TYPE_CUSTOM (U); Tyk's how-to "
        "page sends AUTH_TOKEN_CUSTOM; an unknown value may be accepted and fall back to a portal-generated "
        "standard key instead of a 422 (U).",
        _choice("both", "strict", "fallback"),
    ),
    Knob(
        "plans-envelope",
        "data|bare",
        "data",
        'data: GET /plans answers {"data": [...]} (the 1.13+ file); bare: a bare array (the 1.12 file)',
        'Envelopes: /plans answers {"data": [...]} in the 1.13+ spec but a bare array in the 1.12 spec, and '
        "Tyk's portal-go client and tyk-demo scripts (portal 1.16) read a bare array.",
        _choice("data", "bare"),
    ),
    Knob(
        "paging",
        "honour|ignore:<endpoint,...>|max:<N> (join with +)",
        "honour",
        "honour: page/per_page/limit as the file says; ignore:ENDPOINTS: those list endpoints return every "
        "row whatever page says; max:N: a silent per_page (and limit) maximum, asking for more returns N",
        'Paging was documented only in 2026; "a few endpoints ignore these parameters"; no documented per_page '
        "maximum. A pager must survive the same page again and a maximum below what it asked for.",
        _paging,
    ),
    Knob(
        "min-key-length",
        "refuse|accept-then-403",
        "refuse",
        "refuse: a KeyID shorter than --min-key-length answers 422; accept-then-403: created, then the gateway "
        "answers 403 for every key not longer than the minimum",
        "Min key length: gateways 5.14.0, 5.13.1, 5.8.15 answer 400 below min_token_length; older ones create the "
        "key, then answer 403 on every call, also when its length equals the minimum (the old check was <=).",
        _choice("refuse", "accept-then-403"),
    ),
    Knob(
        "unknown-key",
        "401|403",
        "401",
        "the gateway's answer to an unknown, deleted or unprovisioned key (a missing key is always 401)",
        'Gateway lookup: a missing key 401; an unknown key 403 "Access to this API has been disallowed".',
        _unknown_key,
    ),
    Knob(
        "error-shape",
        "errors|status-errors|text",
        "errors",
        'the body of every portal refusal: {"errors": [...]} (OnlyErrors); {"status": "error", "errors": [...]} '
        "(StatusWithErrors); text: text/plain, deliberately off the file",
        'Error bodies: 422 {"errors": [...]} is documented; some endpoints answer {"status": "error", '
        '"errors": [...]}; before 1.17.1 some answered text/plain.',
        _choice("errors", "status-errors", "text"),
    ),
    Knob(
        "listing-lag-ms",
        "<MS>",
        "0",
        "a new app or credential appears in list answers only this many ms after its 2xx (GET by ID at once)",
        "Creation is a chain (portal -> Dashboard -> gateway), new policies need a gateway reload (about 5 s), and "
        "finding an existing key means walking every app's custom_credentials: a list read right after a write "
        "may not show it yet (U, an assumption to rehearse).",
        _milliseconds,
    ),
    Knob(
        "partial-create",
        "off|record-only:<rate>|key-only:<rate> (join with +)",
        "off",
        "record-only: a credential create stores the portal record but provisions no gateway key, and answers "
        "500; key-only: provisions the gateway key, loses the record, answers 500; drawn from --random-seed",
        "Creation is a chain (portal -> Dashboard -> gateway): partial states are possible (a portal record "
        "without a working key, a key without a record).",
        _partial,
    ),
    Knob(
        "key-hashing",
        "off|" + "|".join(HASH_SETTINGS),
        "off",
        "off: the Dashboard part (/api) lists keys by value and answers 400 to ?hashed=true; otherwise hash_keys is "
        "on with that hash_key_function (unset: none set, murmur32 of org+key): /api/keys/detailed lists hashes "
        "only, GET /api/keys/{key} finds a key by value or (?hashed=true) by its hash, computed as Tyk does",
        "Raw keys and hashing: with hash_keys on (on in Tyk's example config, with murmur64) listings give hashes "
        "only and GET /api/keys/{hash}?hashed=true returns the session, never the token; there is no bulk export.",
        _choice("off", *HASH_SETTINGS),
    ),
)
KNOB_BY_NAME = {k.name: k for k in KNOBS}

#: profiles name only what they change from strict (the defaults)
PROFILES: dict[str, dict[str, str]] = {
    "strict": {},
    "realistic": {
        "duplicate-key": "overwrite",
        "auth-token-type": "fallback",
        "plans-envelope": "bare",
        "paging": "max:100",
        "unknown-key": "403",
        "listing-lag-ms": "300",
        "key-hashing": "murmur64",
    },
    "hostile": {
        "duplicate-key": "overwrite",
        "auth-token-type": "fallback",
        "plans-envelope": "bare",
        "paging": "max:50+ignore:plans,custom_credentials",
        "min-key-length": "accept-then-403",
        "unknown-key": "403",
        "error-shape": "text",
        "listing-lag-ms": "1000",
        "partial-create": "record-only:2%+key-only:2%",
        "key-hashing": "murmur32",
    },
}
PROFILE_MEANINGS = {
    "strict": "the default: the sandbox before knobs existed, every uncertainty resolved the safe way",
    "realistic": "the likeliest real portal from TYK-FACTS.md",
    "hostile": "every knob at its worst at once",
}


@dataclass(frozen=True)
class Behaviour:
    """One world: every knob's parsed value, plus its canonical text (``texts``)."""

    duplicate_key: str
    auth_token_type: str
    plans_envelope: str
    paging: Paging
    min_key_length: str
    unknown_key: int
    error_shape: str
    listing_lag_ms: float
    partial_create: PartialCreate
    key_hashing: str
    texts: Mapping[str, str]


def _canonical(value: Any) -> str:
    if isinstance(value, Paging | PartialCreate):
        return value.text()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def knob_values(items: Mapping[str, object] | Iterable[str] | None) -> dict[str, str]:
    """Knob settings as ``{name: text}``, from a mapping or ``NAME=VALUE`` strings; names checked."""
    if items is None:
        return {}
    pairs: list[tuple[str, object]] = []
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        for item in [items] if isinstance(items, str) else items:
            name, sep, text = str(item).partition("=")
            if not sep:
                raise ConfigError(f"{_WHERE}: {item!r} needs NAME=VALUE, e.g. duplicate-key=overwrite")
            pairs.append((name, text))
    out: dict[str, str] = {}
    for name, value in pairs:
        key = str(name).strip().lower().replace("_", "-")
        if key not in KNOB_BY_NAME:
            raise ConfigError(f"{_WHERE}: unknown knob {str(name)!r}; known: {', '.join(KNOB_BY_NAME)}")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"{_WHERE}: {key} needs a text value, got {type(value).__name__}")
        try:
            out[key] = str(value)
        except ValueError:  # an int beyond the int-to-text limit (4,300 digits): no knob takes one
            raise ConfigError(f"{_WHERE}: {key} is a number far too large") from None
    return out


def profile_values(profile: str) -> dict[str, str]:
    """Every knob's text under ``profile``."""
    name = str(profile).strip().lower()
    if name not in PROFILES:
        raise ConfigError(f"profile: unknown profile {str(profile)!r}; known: {', '.join(PROFILES)}")
    return {k.name: PROFILES[name].get(k.name, k.default) for k in KNOBS}


def build(texts: Mapping[str, str]) -> Behaviour:
    """A ``Behaviour`` from a complete ``{name: text}``; raises ``ConfigError`` naming the bad knob."""
    parsed = {k.attr: k.parse(k.name, texts[k.name]) for k in KNOBS}
    canonical = {k.name: _canonical(parsed[k.attr]) for k in KNOBS}
    return Behaviour(**parsed, texts=canonical)


def resolve(
    profile: str = DEFAULT_PROFILE,
    overrides: Mapping[str, object] | Iterable[str] | None = None,
    base: Mapping[str, str] | None = None,
) -> Behaviour:
    """The world of ``profile`` (or of ``base``, the texts of a current world) with ``overrides`` on top."""
    texts = dict(base) if base is not None else profile_values(profile)
    texts.update(knob_values(overrides))
    return build(texts)


# ----- generated documentation -----
def behaviour_help() -> str:
    """The ``--behaviour`` option's help: every knob and its values."""
    knobs = "; ".join(f"{k.name}={k.syntax}" for k in KNOBS)
    return f"Set one behaviour knob (repeatable; wins over --profile). Knobs: {knobs}. See docs/sandbox.md."


def profile_help() -> str:
    return "Bundle of behaviour knobs: " + "; ".join(f"{n} ({PROFILE_MEANINGS[n]})" for n in PROFILES) + "."


def markdown_table() -> str:
    """The knobs x profiles table of docs/sandbox.md (checked by a test, so the two never drift)."""
    names = list(PROFILES)
    lines = [
        "| knob | values | " + " | ".join(f"`{n}`" for n in names) + " | what the values do | fact behind it |",
        "| --- | --- | " + " | ".join("---" for _ in names) + " | --- | --- |",
    ]
    for knob in KNOBS:
        cells = [f"`{profile_values(n)[knob.name]}`" for n in names]
        row = [f"`{knob.name}`", f"`{knob.syntax}`", *cells, knob.meaning, knob.fact]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)
