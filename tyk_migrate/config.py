"""Settings from arguments, the environment or a config file, in one frozen object.

Environment variables: ``TYK_PORTAL_URL``, ``TYK_PORTAL_TOKEN``, ``TYK_GATEWAY_URL``,
``TYK_AUTH_TOKEN_TYPE``, ``TYK_AUTHENTICATION_METHOD``, ``TYK_MIN_KEY_LENGTH``, ``TYK_CA_BUNDLE``,
``TYK_ALLOW_INSECURE_HTTP``, ``TYK_TIMEOUT``, ``TYK_LOOKUP_PATIENCE``, ``TYK_ALLOW_CONCURRENT_RUNS``, and for the
optional Tyk Dashboard connection ``TYK_DASHBOARD_URL``, ``TYK_DASHBOARD_TOKEN``.

The command line also reads ``tyk-migrate.toml`` (``load_config_file``): the settings that stay the same
between runs, with one ``[portal.NAME]`` section per portal (a rehearsal sandbox, production). It sits below
the environment and the flags, and never holds a token.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx

from .errors import ConfigError, safe_names

#: The two spellings Tyk's public sources give for a custom token (TYK-FACTS: unsettled).
#: The how-to page and portal 1.12-1.14 use the first; the OpenAPI file since 1.15 the second.
AUTH_TOKEN_TYPES = ("AUTH_TOKEN_TYPE_CUSTOM", "AUTH_TOKEN_CUSTOM")
DEFAULT_AUTH_TOKEN_TYPE = "AUTH_TOKEN_TYPE_CUSTOM"
#: Free string in the API; the UI calls it "Auth Token". The wire value is unsettled: a setting.
DEFAULT_AUTHENTICATION_METHOD = "Auth Token"
#: Keys shorter than the gateway's ``min_token_length`` are refused; set this to your gateway's value.
DEFAULT_MIN_KEY_LENGTH = 8
DEFAULT_TIMEOUT = 30.0
#: Seconds after a send whose answer was lost during which a lookup that does not find the object lists again
#: before it says "not there": a portal may list a new object only some time after its 2xx (listing lag).
DEFAULT_LOOKUP_PATIENCE = 2.0

#: Opt-out of the one-run-per-portal lock (``portal_lock``): for those who know their runs write disjoint keys.
ALLOW_CONCURRENT_RUNS_ENV = "TYK_ALLOW_CONCURRENT_RUNS"

#: The environment variable of each setting read from text (the ``allow_*`` switches are flags of their own).
ENV_VARS = {
    "portal_url": "TYK_PORTAL_URL",
    "token": "TYK_PORTAL_TOKEN",
    "gateway_url": "TYK_GATEWAY_URL",
    "auth_token_type": "TYK_AUTH_TOKEN_TYPE",
    "authentication_method": "TYK_AUTHENTICATION_METHOD",
    "ca_bundle": "TYK_CA_BUNDLE",
    "min_key_length": "TYK_MIN_KEY_LENGTH",
    "timeout": "TYK_TIMEOUT",
    "lookup_patience": "TYK_LOOKUP_PATIENCE",
    "dashboard_url": "TYK_DASHBOARD_URL",
    "dashboard_token": "TYK_DASHBOARD_TOKEN",
}


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); ``0.0.0.0`` / ``::`` (every interface) are not."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback(url: str) -> bool:
    return is_loopback_host(urlsplit(url.strip()).hostname or "")


def split_url(url: str, what: str) -> SplitResult:
    """``urlsplit`` of a settings URL, or one ``ConfigError`` line: white space or control characters, a
    backslash, a broken IPv6 literal, a bad port, or a host that changes under Unicode normalisation (which a
    client could resolve to another host than the one shown) are refused, never a traceback."""
    text = url.strip()
    if any(c.isspace() or ord(c) < 32 or c == "\\" for c in text):
        raise ConfigError(f"{what} URL holds white space, a control character or a backslash: {text!r}")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        httpx.URL(text)
    except (ValueError, httpx.InvalidURL) as exc:
        raise ConfigError(f"{what} URL is not a usable URL ({exc})") from None
    if parts.hostname and not parts.hostname.isascii():
        raise ConfigError(f"{what} URL host must be plain ASCII (punycode for an international name)")
    return parts


def check_transport(url: str, *, what: str, carried: str, allow_insecure_http: bool) -> None:
    """The one plain-http rule (portal and gateway): https anywhere, http only to a loopback host or when
    allowed. The scheme is parsed, so ``HTTP://`` is http too; any other scheme is refused."""
    parts = split_url(url, what)
    scheme = parts.scheme.lower()  # urlsplit lowercases already; said here because the rule depends on it
    if scheme not in {"http", "https"}:
        raise ConfigError(
            f"{what} URL must start with https:// (or http:// to this machine), got {scheme or 'no'} scheme"
        )
    if scheme == "http" and not (allow_insecure_http or is_loopback(url)):
        raise ConfigError(
            f"refusing plain http to a remote {what} ({parts.hostname}): {carried} would travel in clear; "
            "use https or set TYK_ALLOW_INSECURE_HTTP=1"
        )


def portal_api_base(url: str) -> str:
    """Accept ``http(s)://host:3001`` or the full ``…/portal-api`` and return the latter."""
    url = url.strip().rstrip("/")
    parts = split_url(url, "portal")
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"portal URL must look like https://portal.example.com:3001, got {url!r}")
    if parts.query or parts.fragment:  # every request's path would land in it
        raise ConfigError(f"portal URL must have no ?query or #fragment, got {url!r}")
    return url if url.endswith("/portal-api") else url + "/portal-api"


def dashboard_base(url: str) -> str:
    """Accept ``http(s)://host:3000`` or ``…/api`` and return the former: the client's paths start with ``/api``."""
    url = url.strip().rstrip("/")
    parts = split_url(url, "Dashboard")
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"Dashboard URL must look like https://dashboard.example.com:3000, got {url!r}")
    return url.removesuffix("/api")


@dataclass(frozen=True)
class Settings:
    portal_url: str = ""
    token: str = field(default="", repr=False)
    gateway_url: str = ""
    auth_token_type: str = DEFAULT_AUTH_TOKEN_TYPE
    authentication_method: str = DEFAULT_AUTHENTICATION_METHOD
    min_key_length: int = DEFAULT_MIN_KEY_LENGTH
    timeout: float = DEFAULT_TIMEOUT
    lookup_patience: float = DEFAULT_LOOKUP_PATIENCE
    ca_bundle: str | None = None
    verify_tls: bool = True
    allow_insecure_http: bool = False
    #: let a run write to a portal another run on this machine is writing to (``portal_lock``); env only
    allow_concurrent_runs: bool = False
    dashboard_url: str = ""
    dashboard_token: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, defaults: Mapping[str, object] | None = None, **overrides: object) -> Settings:
        """Built-in defaults, then ``defaults`` (a config file's settings), then the environment (variables
        that are set and not empty), then any non-None keyword overrides (CLI options, notebook parameters)."""
        env = os.environ
        values: dict[str, object] = {k: v for k, v in (defaults or {}).items() if v is not None}
        values.update({name: env[var] for name, var in ENV_VARS.items() if env.get(var, "").strip()})
        if _env_bool("TYK_ALLOW_INSECURE_HTTP"):
            values["allow_insecure_http"] = True
        if _env_bool(ALLOW_CONCURRENT_RUNS_ENV):
            values["allow_concurrent_runs"] = True
        values["ca_bundle"] = values.get("ca_bundle") or None
        try:
            values["min_key_length"] = int(values.get("min_key_length", DEFAULT_MIN_KEY_LENGTH))  # type: ignore[call-overload]
            values["timeout"] = float(values.get("timeout", DEFAULT_TIMEOUT))  # type: ignore[arg-type]
            values["lookup_patience"] = float(values.get("lookup_patience", DEFAULT_LOOKUP_PATIENCE))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"TYK_MIN_KEY_LENGTH / TYK_TIMEOUT / TYK_LOOKUP_PATIENCE must be numbers: {exc}"
            ) from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        if self.auth_token_type not in AUTH_TOKEN_TYPES:
            raise ConfigError(
                f"auth token type must be one of {', '.join(AUTH_TOKEN_TYPES)}, got {self.auth_token_type!r}"
            )
        if self.min_key_length < 1:
            raise ConfigError("minimum key length must be at least 1")
        if not 0 <= self.lookup_patience < float("inf"):
            raise ConfigError(f"lookup patience must be a number of seconds, not negative, got {self.lookup_patience}")

    def require_portal(self) -> tuple[str, str]:
        """The portal API base and token, or a ConfigError saying which is missing."""
        if not self.portal_url:
            raise ConfigError(
                f"no portal URL: pass --portal-url, set TYK_PORTAL_URL or put portal_url in {CONFIG_FILE_NAME}"
            )
        if not self.token:
            raise ConfigError("no portal token: set TYK_PORTAL_TOKEN (or pass --token; a terminal is asked for it)")
        base = portal_api_base(self.portal_url)
        check_transport(base, what="portal", carried="the token", allow_insecure_http=self.allow_insecure_http)
        return base, self.token

    def require_dashboard(self) -> tuple[str, str]:
        """The Dashboard's base URL and token (its ``Authorization`` header), or a ConfigError naming what lacks."""
        if not self.dashboard_url:
            raise ConfigError("no Dashboard URL: pass --dashboard-url or set TYK_DASHBOARD_URL")
        if not self.dashboard_token:
            raise ConfigError("no Dashboard token: set TYK_DASHBOARD_TOKEN (a Dashboard user's API access key)")
        base = dashboard_base(self.dashboard_url)
        check_transport(
            base, what="Dashboard", carried="its token and raw keys", allow_insecure_http=self.allow_insecure_http
        )
        return base, self.dashboard_token


# -- the config file (tyk-migrate.toml) ------------------------------------------------------------------

CONFIG_FILE_NAME = "tyk-migrate.toml"
#: What a config file may set: what stays the same between runs. A token never: it comes from
#: TYK_PORTAL_TOKEN or the hidden prompt, so a file that is shared or committed cannot leak it.
FILE_SETTINGS: dict[str, type | tuple[type, ...]] = {
    "portal_url": str,
    "gateway_url": str,
    "auth_token_type": str,
    "authentication_method": str,
    "min_key_length": int,
    "timeout": (int, float),
    "ca_bundle": str,
    "mapping": str,
}
#: The table of named portals: ``[portal.rehearsal]``, ``[portal.production]``.
PROFILES_TABLE = "portal"
#: Top-level key naming the portal section used when ``--portal-profile`` is not given.
DEFAULT_PROFILE_KEY = "portal_profile"
#: Settings relative to the file's folder when not absolute (the file travels with its mapping).
_PATH_SETTINGS = ("mapping", "ca_bundle")


@dataclass(frozen=True)
class ConfigFile:
    """Settings read from a config file: ``values`` are the top level with the chosen portal section over it."""

    path: Path | None = None
    profile: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def mapping(self) -> str | None:
        return self.values.get("mapping")

    @property
    def min_key_length(self) -> int | None:
        return self.values.get("min_key_length")

    def settings(self) -> dict[str, Any]:
        """The values that are ``Settings`` fields (``Settings.from_env(defaults=…)``)."""
        known = {f.name for f in dataclasses.fields(Settings)}
        return {k: v for k, v in self.values.items() if k in known}

    def describe(self) -> str:
        """``tyk-migrate.toml [portal.rehearsal]``, for log lines and messages."""
        if self.path is None:
            return "no config file"
        return f"{self.path}" + (f" [{PROFILES_TABLE}.{self.profile}]" if self.profile else "")


def _is_token_name(name: str) -> bool:
    lowered = name.lower()
    return ("token" in lowered and lowered != "auth_token_type") or lowered in {"secret", "password", "api_key"}


def _check_table(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in table.items():
        if _is_token_name(name):
            # the value is never echoed: it may be the token itself
            raise ConfigError(
                f"{where}: {name!r} looks like a token; tokens come from TYK_PORTAL_TOKEN or the prompt, never "
                "from a file: remove it"
            )
        expected = FILE_SETTINGS.get(name)
        if expected is None:
            shown = safe_names([name])[0]  # a key-shaped name is masked: it may be a pasted secret
            raise ConfigError(f"{where}: unknown setting {shown!r} (known: {', '.join(FILE_SETTINGS)})")
        if isinstance(value, bool) or not isinstance(value, expected):
            kind = "text" if expected is str else "a whole number" if expected is int else "a number"
            raise ConfigError(f"{where}: {name} must be {kind}")
        out[name] = value
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None


def _profiles(data: dict[str, Any], path: Path) -> dict[str, Mapping[str, Any]]:
    profiles = data.pop(PROFILES_TABLE, {})
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise ConfigError(f"{path}: [{PROFILES_TABLE}] must hold named sections, e.g. [{PROFILES_TABLE}.rehearsal]")
    return profiles


def load_config_file(
    path: str | Path | None = None, profile: str | None = None, *, cwd: Path | None = None
) -> ConfigFile:
    """Read ``path`` (else ``tyk-migrate.toml`` in ``cwd`` if there is one) with portal section ``profile``.

    The top level holds settings for every portal; ``[portal.NAME]`` sections hold one portal's, over them;
    ``portal_profile = "NAME"`` at the top level picks the section used when ``profile`` is None. Relative
    ``mapping`` and ``ca_bundle`` paths are relative to the file's folder. A token, an unknown key or a value
    of the wrong type is a ``ConfigError``; so is a ``profile`` with no file or no such section.
    """
    target = Path(path) if path is not None else (cwd or Path.cwd()) / CONFIG_FILE_NAME
    if not target.is_file():
        if path is not None:
            raise ConfigError(f"config file {target} not found")
        if profile:
            raise ConfigError(f"--portal-profile {profile}: no {CONFIG_FILE_NAME} here (pass --config FILE)")
        return ConfigFile()
    data = _read_toml(target)
    # every section is checked, the chosen one or not: a token in the production section is refused on a
    # rehearsal too, before anyone commits the file
    sections = {
        name: _check_table(table, f"{target} [{PROFILES_TABLE}.{name}]")
        for name, table in _profiles(data, target).items()
    }
    default = data.pop(DEFAULT_PROFILE_KEY, None)
    if default is not None and not isinstance(default, str):
        raise ConfigError(f"{target}: {DEFAULT_PROFILE_KEY} must be the name of a [{PROFILES_TABLE}.NAME] section")
    chosen = profile or default
    values = _check_table(data, str(target))
    if chosen:
        if chosen not in sections:
            known = ", ".join(sorted(sections)) or "none"
            raise ConfigError(f"{target}: no [{PROFILES_TABLE}.{chosen}] section (sections: {known})")
        values.update(sections[chosen])
    for name in _PATH_SETTINGS:
        if name in values and not Path(values[name]).expanduser().is_absolute():
            values[name] = str(target.parent / Path(values[name]).expanduser())
    return ConfigFile(target, str(chosen) if chosen else None, values)
