"""How ``apply`` and the console use a preflight: find a passing one of the same portal, apply what it found.

    found = find_preflight(settings.portal_url, path=None)      # the default file of this portal, or path
    used = use_preflight(settings, path=None, required=True, explicit_auth_token_type=False)
    used.settings, used.initial_concurrency, used.listing_lag_ms, used.note

A preflight is *usable* when its file says ``ok``, names the same portal, is younger than a day (and not from
the future) and was written by a compatible tool version (the same major and minor version: the checks and
the file's fields are those of this release). ``preflight`` writes every result to
``default_result_path(portal)`` (``$TYK_MIGRATE_HOME/preflight/<host>[_<port>].json``, beside the ledger) as
well as to ``--out``, so ``apply`` and the console find it from any folder.

What is used: the ``AuthTokenType`` spelling that kept the ``KeyID`` (unless the user chose one: an
environment variable or a config file), ``start_concurrency`` as the adaptive controller's start, and the
listing lag as the runner's lookup patience (``Settings.lookup_patience``: never lowered, 3x the lag).

Why a portal off this machine needs one: the sandbox's behaviour is a guess; a real portal must be proven
before the first real key is written. Loopback (``localhost``, 127.0.0.0/8, ``::1``) is a rehearsal portal
and needs none. Dry runs write nothing and are never refused.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .. import __version__
from ..config import AUTH_TOKEN_TYPES, ENV_VARS, Settings, is_loopback, portal_api_base
from ..errors import ConfigError
from ..fingerprint_key import key_file_path
from .result import PreflightResult, portal_host_port, read_result, same_portal

#: How old a preflight may be and still count (the portal may be upgraded or reconfigured any day).
MAX_AGE = timedelta(days=1)
#: A clock a little ahead on the machine that wrote the file is not "from the future".
CLOCK_SKEW = timedelta(minutes=5)
RESULTS_DIR = "preflight"
#: The lookup patience: this many times the measured listing lag (one sample, so a margin), at least this long.
PATIENCE_FACTOR = 3.0
PATIENCE_FLOOR_S = 1.0
PREFLIGHT_COMMAND = "tyk-migrate preflight"


def default_result_path(portal_url: str) -> Path:
    """``$TYK_MIGRATE_HOME/preflight/<host>[_<port>].json`` (else ``~/.config/tyk-migrate/preflight/…``): of
    ``portal_identity``, so every spelling of one portal (``HTTPS://PORTAL…:443/``) names one file."""
    hostname, port = portal_host_port(portal_url)
    host = re.sub(r"[^A-Za-z0-9.-]", "-", hostname)
    name = f"{host}_{port}" if port else host
    return key_file_path().parent / RESULTS_DIR / f"{name}.json"


def needs_preflight(portal_url: str) -> bool:
    """A portal that is not on this machine (loopback: a rehearsal sandbox) needs a preflight before a write."""
    return not is_loopback(portal_api_base(portal_url))


def compatible_version(version: str, ours: str = __version__) -> bool:
    """The same major and minor version: a patch release keeps the checks and the file's fields."""

    def major_minor(text: str) -> tuple[str, ...]:
        return tuple(re.findall(r"\d+", text)[:2])

    found = major_minor(str(version))
    return len(found) == 2 and found == major_minor(ours)


def problem_of(result: PreflightResult, portal_url: str, now: datetime | None = None) -> str:
    """Why ``result`` cannot be used for ``portal_url`` ("" when it can)."""
    now = now or datetime.now(UTC)
    if not same_portal(result.portal, portal_url):  # one spelling of both: case, default port, slash
        return f"it is of another portal ({result.portal})"
    if not compatible_version(result.tool_version):
        return f"it was written by tyk-migrate {result.tool_version}, this is {__version__}"
    age = now - result.checked_at_time()
    if age < -CLOCK_SKEW:
        return f"its time ({result.checked_at}) is in the future"
    if age > MAX_AGE:
        return f"it is {_age_text(age)} old (at most a day counts)"
    if result.ok is not True or result.problems:  # an unsafe row is unsafe whatever ``ok`` says
        first = result.problems[0].name if result.problems else "a finding"
        return f"it found the portal UNSAFE to migrate ({first}): change what it says, then run it again"
    return ""


def _age_text(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} hours"


@dataclass(frozen=True)
class Found:
    """The preflight file looked at (``path``), its result when usable, else why not (``problem``)."""

    path: Path
    result: PreflightResult | None
    problem: str


def find_preflight(portal_url: str, path: str | Path | None = None, now: datetime | None = None) -> Found:
    """The preflight in ``path`` (default: ``default_result_path(portal_url)``), judged for ``portal_url``.

    A file that is there but is no preflight result is an ``InputError`` (one line)."""
    target = Path(path) if path is not None else default_result_path(portal_url)
    result = read_result(target)
    if result is None:
        return Found(target, None, "there is none")
    problem = problem_of(result, portal_url, now)
    return Found(target, None if problem else result, problem)


def explicit_auth_token_type(config_settings: Mapping[str, Any] | None = None) -> bool:
    """Whether the user chose an ``AuthTokenType`` (``TYK_AUTH_TOKEN_TYPE``, or the config file's setting):
    then it is kept, whatever the preflight found."""
    if os.environ.get(ENV_VARS["auth_token_type"], "").strip():
        return True
    return bool(config_settings and config_settings.get("auth_token_type"))


def lookup_patience(result: PreflightResult, current: float = 0.0) -> float:
    """Seconds a lookup after a lost answer should wait for a credential to show in listings."""
    lag_s = (result.listing_lag_ms or 0.0) / 1000.0
    return max(float(current), PATIENCE_FLOOR_S if lag_s else 0.0, PATIENCE_FACTOR * lag_s)


def apply_result(settings: Settings, result: PreflightResult, *, explicit_auth_token_type: bool = False) -> Settings:
    """``settings`` with what the preflight found: its ``AuthTokenType`` (unless chosen) and lookup patience."""
    changes: dict[str, Any] = {}
    spelling = result.auth_token_type
    if not explicit_auth_token_type and spelling in AUTH_TOKEN_TYPES and spelling != settings.auth_token_type:
        changes["auth_token_type"] = spelling
    if result.listing_lag_ms:  # the runner's lookups after a lost answer wait out this portal's lag
        changes["lookup_patience"] = lookup_patience(result, settings.lookup_patience)
    return dataclasses.replace(settings, **changes) if changes else settings


@dataclass(frozen=True)
class Used:
    """What a run takes from its preflight: settings, the adaptive start, the listing lag, one line to show."""

    settings: Settings
    result: PreflightResult | None = None
    path: Path | None = None
    initial_concurrency: int | None = None
    note: str = ""

    @property
    def listing_lag_ms(self) -> float | None:
        return self.result.listing_lag_ms if self.result is not None else None

    @property
    def trust_answer(self) -> bool | None:
        """Whether this portal's create answers can stand in for a read-back (``ReadBackPolicy``)."""
        return self.result.answer_matches_read_back if self.result is not None else None

    def migration_options(self, concurrency: int | str, max_concurrency: int) -> dict[str, Any]:
        """``initial_concurrency`` for an adaptive run (at most its ceiling); nothing for a fixed one."""
        if self.initial_concurrency is None or concurrency != "adaptive":
            return {}
        return {"initial_concurrency": max(1, min(self.initial_concurrency, int(max_concurrency)))}


def refusal(portal_url: str, found: Found, *, option: str = "--no-preflight") -> str:
    host = urlsplit(portal_api_base(portal_url)).netloc
    return (
        f"no passing preflight of {host} newer than a day ({found.path}: {found.problem}): run "
        f"`{PREFLIGHT_COMMAND} --portal-url {portal_url.strip()}` first (or point at its file with --preflight "
        f"FILE; {option} writes without one)"
    )


def use_preflight(
    settings: Settings,
    *,
    path: str | Path | None = None,
    enabled: bool = True,
    dry_run: bool = False,
    explicit_auth_token_type: bool = False,
    option: str = "--no-preflight",
) -> Used:
    """The settings and concurrency start of a run, from a passing preflight of ``settings``' portal.

    Raises ``ConfigError`` (exit 2, one line naming the command to run) when a live run against a portal
    off this machine has none, or when ``path`` was given and is not usable. ``enabled=False``: none is
    looked at. A dry run, or a loopback portal without ``path``, uses a passing one when there is one and is
    never refused.
    """
    if not enabled:
        unproven = f"preflight: none used ({option}): this portal's behaviour is unproven"
        return Used(settings, note=unproven if needs_preflight(settings.portal_url) else "")
    found = find_preflight(settings.portal_url, path)
    required = not dry_run and (path is not None or needs_preflight(settings.portal_url))
    if found.result is None:
        if required:
            raise ConfigError(refusal(settings.portal_url, found, option=option))
        return Used(settings)
    result = found.result
    adjusted = apply_result(settings, result, explicit_auth_token_type=explicit_auth_token_type)
    start = int(result.start_concurrency) if result.start_concurrency and result.start_concurrency > 0 else None
    note = (
        f"preflight {found.path} of {result.checked_at}: AuthTokenType {adjusted.auth_token_type}"
        + (f", adaptive start {start}" if start else "")
        + (f", listing lag {result.listing_lag_ms:g} ms" if result.listing_lag_ms else "")
    )
    return Used(adjusted, result, found.path, start, note)
