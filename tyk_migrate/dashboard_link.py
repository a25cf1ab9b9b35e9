"""The Dashboard as the commands use it: one connection's settings, and the legacy frame read with its help.

``DashboardLink`` holds a resolved Dashboard connection (``Settings`` with ``dashboard_url`` and the
``TYK_DASHBOARD_TOKEN``) and how keys are looked up (by value, or by hash: ``--dashboard-hash`` and
``--dashboard-org``). ``load_source`` is the load step of ``validate``, ``plan`` and ``apply``:

- ``--from-dashboard``: every key the Dashboard lists (``dashboard.load_from_dashboard``); a hashed Dashboard's
  rows are kept, marked ``key_hash_only``, and validation rejects each with the reason and what to do;
- a file and a Dashboard: the file needs only its keys (``required=("key_id",)``) and is completed from each
  key's session (``dashboard_enrich``: what the file says wins, each disagreement is reported);
- a file alone: as before.

Every Dashboard failure becomes one ``DashboardError`` whose line names the Dashboard's host, so it is not
mistaken for the portal's (both speak through the same client core and error tree).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pandas as pd

from .config import Settings, dashboard_base
from .dashboard import KeyLookup
from .dashboard_enrich import Enrichment
from .errors import AuthError, ConfigError, DashboardError, InputError, PortalConnectionError, PortalError

T = TypeVar("T")
#: the token's hint: a Dashboard user's API access key (Dashboard > Users > the user > API Access Credentials)
TOKEN_HINT = "set TYK_DASHBOARD_TOKEN to the API access key of a Dashboard user allowed to read keys"
DASHBOARD_LABEL = "dashboard"  # INPUT's stand-in with --from-dashboard: default output names start with it


@dataclass(frozen=True)
class DashboardLink:
    """A Dashboard to read keys from: ``settings`` (its URL and token), and the lookup by value or hash."""

    settings: Settings = field(repr=False)
    hash_function: str | None = None
    org_id: str | None = None
    concurrency: int = 16

    def __post_init__(self) -> None:
        self.settings.require_dashboard()  # a missing URL or token is one line before any request
        KeyLookup(self.hash_function, self.org_id)  # and so is an unusable hash setting

    @property
    def host(self) -> str:
        """``host:port`` of the Dashboard, for messages."""
        parts = urlsplit(dashboard_base(self.settings.dashboard_url))
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname}:{port}"

    @property
    def lookup(self) -> dict[str, Any]:
        return {"hash_function": self.hash_function, "org_id": self.org_id, "concurrency": self.concurrency}

    def guarded(self, work: Callable[[], T]) -> T:
        """``work()``, its portal-client errors said as the Dashboard's (host named, cause chained)."""
        try:
            return work()
        except PortalError as exc:
            raise DashboardError(f"Dashboard {self.host}: {exc}{_hint(exc)}", host=self.host) from exc

    def load(self, report: list[str] | None = None, email_field: str = "email") -> pd.DataFrame:
        from .dashboard import load_from_dashboard

        return self.guarded(
            lambda: load_from_dashboard(
                self.settings, concurrency=self.concurrency, email_field=email_field, report=report
            )
        )

    def enrich(self, frame: pd.DataFrame) -> Enrichment:
        from .dashboard_enrich import enrich_from_dashboard

        return self.guarded(lambda: enrich_from_dashboard(frame, self.settings, **self.lookup))

    def live(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``dashboard_live.live_keys`` of ``frame``'s keys (one row per key)."""
        from .dashboard_live import LIVE_COLUMNS, live_keys

        if not len(frame):
            return pd.DataFrame(columns=LIVE_COLUMNS).astype({"live": bool})
        return self.guarded(lambda: live_keys(self.settings, frame, **self.lookup))


def _hint(exc: PortalError) -> str:
    if isinstance(exc, AuthError):
        return f"; {TOKEN_HINT}"
    if isinstance(exc, PortalConnectionError):
        return "; is TYK_DASHBOARD_URL (--dashboard-url) the Dashboard's address, and is it running?"
    return ""


@dataclass
class Loaded:
    """The legacy frame and what the Dashboard said while reading it (``enrichment`` for a completed file)."""

    frame: pd.DataFrame
    enrichment: Enrichment | None = None
    notes: list[str] = field(default_factory=list)


def load_source(
    input: str | Path | None,
    load_kwargs: Mapping[str, Any],
    dashboard: DashboardLink | None = None,
    *,
    from_dashboard: bool = False,
) -> Loaded:
    """The legacy frame of ``input`` (``load_keys(input, **load_kwargs)``), or of the Dashboard (module docstring)."""
    from .sources import load_keys, require_records

    if from_dashboard:
        if dashboard is None:
            raise ConfigError("--from-dashboard needs a Dashboard: pass --dashboard-url or set TYK_DASHBOARD_URL")
        notes: list[str] = []
        frame = dashboard.load(notes, email_field=str(load_kwargs.get("email_field", "email")))
        return Loaded(require_records(frame, f"the Dashboard at {dashboard.host}"), None, notes)
    if input is None:
        raise InputError("no input: give a file of keys, or --from-dashboard to read them from the Dashboard")
    if dashboard is None:
        return Loaded(require_records(load_keys(input, **load_kwargs), input))
    file = require_records(load_keys(input, **load_kwargs, required=("key_id",)), input)
    enrichment = dashboard.enrich(file)
    found = int(enrichment.lookups["found"].sum())
    how = "hash" if dashboard.hash_function else "value"
    notes = [f"Dashboard {dashboard.host}: {found} of {len(file)} key(s) found (looked up by {how})"]
    return Loaded(enrichment.frame, enrichment, notes)
