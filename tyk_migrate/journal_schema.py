"""The journal file's SQLite schema and its in-place upgrades from older versions."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from .errors import JournalError

SCHEMA_VERSION = "3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    state TEXT NOT NULL,
    dry_run INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS apps (
    user_id INTEGER NOT NULL,
    app_name TEXT NOT NULL,
    app_id INTEGER,
    state TEXT NOT NULL,
    run_id INTEGER,
    how TEXT,
    http_status INTEGER,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    intent_at TEXT,
    outcome_at TEXT,
    prior_app_ids TEXT,
    marker TEXT,
    PRIMARY KEY (user_id, app_name)
);
CREATE TABLE IF NOT EXISTS credentials (
    fingerprint TEXT PRIMARY KEY,
    source_row INTEGER,
    user_id INTEGER,
    app_name TEXT,
    app_id INTEGER,
    credential_id INTEGER,
    state TEXT NOT NULL,
    run_id INTEGER,
    how TEXT,
    http_status INTEGER,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    batch INTEGER,
    intent_at TEXT,
    outcome_at TEXT,
    prior_credential_ids TEXT
);
"""

# Version upgrades, each run in one transaction on a file of the version before: columns are only ever added,
# so an upgraded file keeps every record; an older tool refuses the newer file (its version check).
UPGRADES: dict[str, tuple[str, ...]] = {
    # 1 -> 2: the IDs of the owner's apps of that name the portal listed when an app intent was made (JSON
    # list); NULL on every record written by version 1, which did not look: such an intent proves nothing.
    "1": ("ALTER TABLE apps ADD COLUMN prior_app_ids TEXT",),
    # 2 -> 3: the random marker an app intent's POST wrote into the app's Description, and the IDs of the
    # credentials already holding a key in its app when a credential intent was made (JSON list); NULL on
    # every record of version 2, which keeps the version-2 rules (see journal_records).
    "2": (
        "ALTER TABLE apps ADD COLUMN marker TEXT",
        "ALTER TABLE credentials ADD COLUMN prior_credential_ids TEXT",
    ),
}


def upgrade(conn: sqlite3.Connection, path: Path, version: str, meta: Callable[[str], str | None]) -> None:
    """Bring a file of an older schema version to this one, in place (one transaction per step)."""
    while version != SCHEMA_VERSION:
        steps = UPGRADES.get(version)
        if steps is None:
            raise JournalError(f"journal {path}: schema version {version}, this tool writes {SCHEMA_VERSION}")
        following = str(int(version) + 1)
        conn.execute("BEGIN IMMEDIATE")
        try:
            if meta("schema_version") == version:  # not upgraded meanwhile by another process
                for sql in steps:
                    conn.execute(sql)
                conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (following,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version = following
