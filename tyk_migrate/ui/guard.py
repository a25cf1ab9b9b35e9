"""The console's Start guard: a live run against a portal off this machine needs a passing preflight.

The same rule as ``tyk-migrate apply`` (``preflight.use``): the console's ``preflight`` option is True (the
file ``tyk-migrate preflight`` keeps for the portal), a path to a preflight file, or False (none). A passing
preflight's ``AuthTokenType`` and adaptive start are used; a dry run is never refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import DEFAULT_AUTH_TOKEN_TYPE, Settings
from ..errors import MigrateError
from ..preflight.use import explicit_auth_token_type, use_preflight

#: What ``preflight=`` may be.
PreflightOption = bool | str | Path


def guard_start(client: Any, options: dict[str, Any]) -> tuple[Any, str]:
    """``(client to run with, note)`` for a Start; takes ``preflight`` out of ``options`` and may add
    ``initial_concurrency`` to them. Raises a one-line ``MigrateError`` when the run may not write."""
    preflight: PreflightOption = options.pop("preflight", True)
    settings = client if isinstance(client, Settings) else Settings.from_env() if client is None else None
    given = getattr(client, "settings", None) if settings is None else settings
    if not isinstance(given, Settings) or not given.portal_url:
        return client, ""  # a client without settings (a test double): Migration decides what it can do
    path = preflight if isinstance(preflight, str | Path) and not isinstance(preflight, bool) else None
    used = use_preflight(
        given,
        path=path,
        enabled=preflight is not False,
        dry_run=bool(options.get("dry_run")),
        # a spelling set in code (not the default) counts as chosen, like the environment variable
        explicit_auth_token_type=explicit_auth_token_type() or given.auth_token_type != DEFAULT_AUTH_TOKEN_TYPE,
        option="preflight=False",
    )
    options.update(used.migration_options(options.get("concurrency", "adaptive"), options.get("max_concurrency", 64)))
    if settings is not None:
        return used.settings, used.note
    if used.settings.auth_token_type != given.auth_token_type:  # a client's settings cannot be swapped under it
        raise MigrateError(
            f"the preflight found that AuthTokenType {used.settings.auth_token_type} keeps the key on this portal, "
            f"but the client sends {given.auth_token_type}: build it with auth_token_type="
            f"{used.settings.auth_token_type!r} (or pass Settings)"
        )
    return client, used.note
