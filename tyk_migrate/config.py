"""Settings from arguments or the environment, in one frozen object.

Environment variables: ``TYK_PORTAL_URL``, ``TYK_PORTAL_TOKEN``, ``TYK_GATEWAY_URL``,
``TYK_AUTH_TOKEN_TYPE``, ``TYK_AUTHENTICATION_METHOD``, ``TYK_MIN_KEY_LENGTH``, ``TYK_CA_BUNDLE``,
``TYK_ALLOW_INSECURE_HTTP``, ``TYK_TIMEOUT``, and for the optional Tyk Dashboard connection
``TYK_DASHBOARD_URL``, ``TYK_DASHBOARD_TOKEN``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import ConfigError

#: The two spellings Tyk's public sources give for a custom token (TYK-FACTS: unsettled).
#: The how-to page and portal 1.12-1.14 use the first; the OpenAPI file since 1.15 the second.
AUTH_TOKEN_TYPES = ("AUTH_TOKEN_TYPE_CUSTOM", "AUTH_TOKEN_CUSTOM")
DEFAULT_AUTH_TOKEN_TYPE = "AUTH_TOKEN_TYPE_CUSTOM"
#: Free string in the API; the UI calls it "Auth Token". The wire value is unsettled: a setting.
DEFAULT_AUTHENTICATION_METHOD = "Auth Token"
#: Keys shorter than the gateway's ``min_token_length`` are refused; set this to your gateway's value.
DEFAULT_MIN_KEY_LENGTH = 8
DEFAULT_TIMEOUT = 30.0


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


def check_transport(url: str, *, what: str, carried: str, allow_insecure_http: bool) -> None:
    """The one plain-http rule (portal and gateway): https anywhere, http only to a loopback host or when
    allowed. The scheme is parsed, so ``HTTP://`` is http too; any other scheme is refused."""
    parts = urlsplit(url.strip())
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
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"portal URL must look like https://portal.example.com:3001, got {url!r}")
    return url if url.endswith("/portal-api") else url + "/portal-api"


def dashboard_base(url: str) -> str:
    """Accept ``http(s)://host:3000`` or ``…/api`` and return the former: the client's paths start with ``/api``."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
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
    ca_bundle: str | None = None
    verify_tls: bool = True
    allow_insecure_http: bool = False
    dashboard_url: str = ""
    dashboard_token: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Environment first, then any non-None keyword overrides (CLI options, notebook parameters)."""
        env = os.environ
        values: dict[str, object] = {
            "portal_url": env.get("TYK_PORTAL_URL", ""),
            "token": env.get("TYK_PORTAL_TOKEN", ""),
            "gateway_url": env.get("TYK_GATEWAY_URL", ""),
            "auth_token_type": env.get("TYK_AUTH_TOKEN_TYPE", DEFAULT_AUTH_TOKEN_TYPE),
            "authentication_method": env.get("TYK_AUTHENTICATION_METHOD", DEFAULT_AUTHENTICATION_METHOD),
            "ca_bundle": env.get("TYK_CA_BUNDLE") or None,
            "allow_insecure_http": _env_bool("TYK_ALLOW_INSECURE_HTTP"),
            "dashboard_url": env.get("TYK_DASHBOARD_URL", ""),
            "dashboard_token": env.get("TYK_DASHBOARD_TOKEN", ""),
        }
        try:
            values["min_key_length"] = int(env.get("TYK_MIN_KEY_LENGTH", DEFAULT_MIN_KEY_LENGTH))
            values["timeout"] = float(env.get("TYK_TIMEOUT", DEFAULT_TIMEOUT))
        except ValueError as exc:
            raise ConfigError(f"TYK_MIN_KEY_LENGTH / TYK_TIMEOUT must be numbers: {exc}") from None
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

    def require_portal(self) -> tuple[str, str]:
        """The portal API base and token, or a ConfigError saying which is missing."""
        if not self.portal_url:
            raise ConfigError("no portal URL: pass --portal-url or set TYK_PORTAL_URL")
        if not self.token:
            raise ConfigError("no portal token: pass --token or set TYK_PORTAL_TOKEN")
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
