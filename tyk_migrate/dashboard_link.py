"""The Dashboard as the commands use it: one connection's settings, and the legacy frame read with its help.

``DashboardLink`` holds a resolved Dashboard connection (``Settings`` with ``dashboard_url`` and the
``TYK_DASHBOARD_TOKEN``) and how keys are looked up (by value, or by hash: ``--dashboard-hash`` and
``--dashboard-org``). ``load_source`` is the load step of ``validate``, ``plan`` and ``apply``:

- ``--from-dashboard``: every key the Dashboard lists (``dashboard.load_from_dashboard``); a hashed Dashboard's
  rows are kept, marked ``key_hash_only``, and validation rejects each with the reason and what to do;
- a file and a Dashboard: the file needs only its keys (``required=("key_id",)``) and is completed from each
  key's session (``dashboard_enrich``: what the file says wins, each disagreement is reported);
- a file alone: as before.

A lookup by hash that finds (almost) none of the keys whose hash depends on ``--dashboard-hash`` and
``--dashboard-org`` is taken for a wrong setting, not for keys the Dashboard lacks (``hashed_miss``): the
enrichment says so in a warning line, and the live-key check refuses to plan on it unless
``--dashboard-none-live`` (``none_live``) says these keys really are not in this Dashboard.

Every Dashboard failure becomes one ``DashboardError`` whose line names the Dashboard's host, so it is not
mistaken for the portal's (both speak through the same client core and error tree).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pandas as pd

from .config import Settings, dashboard_base
from .dashboard import KeyLookup
from .dashboard_enrich import Enrichment
from .errors import AuthError, ConfigError, DashboardError, InputError, PortalConnectionError, PortalError
from .secrets import KeyValue, is_key, reveal
from .tyk_hash import token_org

T = TypeVar("T")
#: the token's hint: a Dashboard user's API access key (Dashboard > Users > the user > API Access Credentials)
TOKEN_HINT = "set TYK_DASHBOARD_TOKEN to the API access key of a Dashboard user allowed to read keys"
DASHBOARD_LABEL = "dashboard"  # INPUT's stand-in with --from-dashboard: default output names start with it
#: A lookup by hash is taken for a wrong --dashboard-hash/--dashboard-org when, of at least SUSPECT_MIN_KEYS
#: keys whose hash depends on them (all but the keys Tyk generated for that org), it finds under
#: SUSPECT_SHARE. Why: a wrong function or org finds none of them (only keys older gateways stored under their
#: bare hash, which are few), while the right ones find every key the Dashboard has, and the keys a migration
#: moves are normally the Dashboard's own. Under 5 keys, a typo or two is as likely: no verdict.
SUSPECT_MIN_KEYS = 5
SUSPECT_SHARE = 0.05
NONE_LIVE_OPTION = "--dashboard-none-live"
log = logging.getLogger("tyk_migrate.dashboard")


@dataclass(frozen=True)
class DashboardLink:
    """A Dashboard to read keys from: ``settings`` (its URL and token), and the lookup by value or hash."""

    settings: Settings = field(repr=False)
    hash_function: str | None = None
    org_id: str | None = None
    concurrency: int = 16
    none_live: bool = False  # --dashboard-none-live: a lookup by hash finding (almost) none is accepted

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
        live = self.guarded(lambda: live_keys(self.settings, frame, **self.lookup))
        keys = frame.drop_duplicates("key_fingerprint")["key_id"]  # live_keys' rows, in its order
        warning = self.hashed_miss(keys, live["live"])
        if warning and not self.none_live:
            raise DashboardError(
                f"{warning}: no key would be flagged live_key_overwritten, and apply would replace the live "
                f"sessions of other owners unseen; check both, look keys up by value (leave out --dashboard-hash), "
                f"or pass {NONE_LIVE_OPTION} if these keys really are not in this Dashboard",
                host=self.host,
            )
        if warning:
            log.warning("%s: accepted (%s), the keys not found plan as not live", warning, NONE_LIVE_OPTION)
        return live

    def hashed_miss(self, keys: Iterable[KeyValue | None], found: Iterable[bool]) -> str | None:
        """The warning when a lookup by hash found (almost) none of the distinct ``keys`` whose hash depends
        on the hash function and org (``SUSPECT_MIN_KEYS``, ``SUSPECT_SHARE``); None otherwise."""
        if not self.hash_function:
            return None
        org = str(self.org_id or "").strip()
        hit: dict[str, bool] = {}
        for key, was_found in zip(keys, found, strict=True):
            raw = reveal(key) if is_key(key) else ""
            if raw and token_org(raw) != org:
                hit[raw] = hit.get(raw, False) or bool(was_found)
        n, hits = len(hit), sum(hit.values())
        if n < SUSPECT_MIN_KEYS or hits >= n * SUSPECT_SHARE:
            return None
        return (
            f"Dashboard {self.host}: the lookup by hash found {hits} of {n} custom key(s) "
            f"(--dashboard-hash {self.hash_function}, --dashboard-org {org}); a wrong hash function (tyk.conf "
            "hash_key_function) or org ID finds none"
        )


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
    warning = dashboard.hashed_miss(file["key_id"], enrichment.lookups["found"])
    if warning:
        notes.append(f"warning: {warning}: the keys not found keep only the file's values")
    return Loaded(enrichment.frame, enrichment, notes)
