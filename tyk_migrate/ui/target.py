"""What the console is pointed at, read without touching the portal: its host, its journal, its frontend."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import Settings
from ..errors import MigrateError
from ..journal import Journal
from ..vocabulary import CREATED


def widgets_available() -> bool:
    """True inside an IPython kernel (a frontend that may render widgets), False in scripts and terminals."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def portal_host(client: Any) -> str:
    """The portal's host (and port) the console writes to, from a client or ``Settings``; never the token.

    ``None`` means the environment, as ``Migration`` reads it. Credentials in the URL are dropped.
    """
    url = ""
    try:
        if client is None:
            url = Settings.from_env().portal_url
        elif isinstance(client, Settings):
            url = client.portal_url
        else:
            settings = getattr(client, "settings", None)
            url = str(getattr(settings, "portal_url", "") or getattr(client, "base_url", "") or "")
    except MigrateError:
        url = ""
    parts = urlsplit(url if "//" in url else f"//{url}")
    host = parts.hostname or ""
    if host and parts.port:
        host = f"{host}:{parts.port}"
    return host or "(portal not set)"


def journal_path(journal: Journal | str | Path) -> str:
    return str(journal.path if isinstance(journal, Journal) else journal)


def created_fingerprints(journal: Journal | str | Path) -> frozenset[str]:
    """Fingerprints the journal shows as created (none for a file not there yet); ``JournalError`` if unreadable."""
    records: list[Any] = []
    if isinstance(journal, Journal):
        records = journal.credentials()
    elif Path(journal).exists():
        with Journal(journal) as opened:
            records = opened.credentials()
    return frozenset(r.fingerprint for r in records if r.state == CREATED)
