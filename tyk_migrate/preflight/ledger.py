"""The preflight's ledger: every object it writes to a portal, recorded *before* the write is sent.

Why not the migration journal (journal.py): that one is bound to one input's key fingerprints, knows apps and
credentials but not users, and a preflight must never mix its throwaway objects into a migration's record. So
a preflight keeps this small JSON file of its own: one entry per write (a canary user, app or credential),
saved as an *intent* before the request goes out and given the object's ID as soon as the answer names it.
Whatever stops a preflight (Ctrl-C, a failure halfway, a killed process), the next one reads the entries of
the same portal and deletes those objects first, looking up by name (app, user email) what an intent never
learnt the ID of. Entries leave the file only once their object is proven gone.

Never a key here: a credential entry carries the key's fingerprint. The file is owner-only (0600), replaced
atomically (a crash mid-save leaves the previous version), and one preflight at a time holds it (the same
``JournalLock`` as a journal), so a second preflight cannot delete the first one's live canaries.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import JournalError
from ..fingerprint_key import key_file_path
from ..secrets import private_file

LEDGER_NAME = "preflight-ledger.json"
LEDGER_VERSION = 1
KINDS = ("user", "app", "credential")


def default_ledger_path() -> Path:
    """Beside the fingerprint secret (``$TYK_MIGRATE_HOME``, else ``~/.config/tyk-migrate``): per user, so a
    rerun from any folder finds what an interrupted preflight left."""
    return key_file_path().parent / LEDGER_NAME


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Entry:
    """One write of a preflight. ``id`` is None while only the intent is known (no answer yet)."""

    kind: str  # one of KINDS
    portal: str  # the portal API base it was sent to
    run: str  # the preflight that sent it
    name: str = ""  # a user's email, an app's name
    id: int | None = None
    user_id: int | None = None  # an app's owner
    app_id: int | None = None  # a credential's app
    fingerprint: str | None = None  # a credential's key, never the key itself
    at: str = field(default_factory=_now)

    @classmethod
    def from_dict(cls, data: Any) -> Entry:
        known = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or data.get("kind") not in KINDS or not isinstance(data.get("portal"), str):
            raise ValueError("not a ledger entry")
        return cls(**{k: v for k, v in data.items() if k in known})

    def describe(self) -> str:
        what = {"user": "canary developer", "app": "canary app", "credential": "canary credential"}[self.kind]
        ident = f" {self.id}" if self.id is not None else " (ID unknown)"
        name = f" {self.name!r}" if self.name else ""
        where = f" of app {self.app_id}" if self.kind == "credential" and self.app_id is not None else ""
        return f"{what}{ident}{name}{where}"


class Ledger:
    """The entries of one ledger file; every change is saved before the method returns."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.entries: list[Entry] = self._read()

    def _read(self) -> list[Entry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise JournalError(f"preflight ledger {self.path}: cannot read it: {exc.strerror}") from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != LEDGER_VERSION:
                raise ValueError("unknown version")
            return [Entry.from_dict(item) for item in data.get("entries", [])]
        except (ValueError, TypeError) as exc:
            raise JournalError(
                f"preflight ledger {self.path} is not a preflight ledger ({exc}): move it away; it may name "
                "canary objects of an interrupted preflight that are still in the portal"
            ) from None

    def _save(self) -> None:
        if not self.entries:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        body = json.dumps({"version": LEDGER_VERSION, "entries": [asdict(e) for e in self.entries]}, indent=1)
        tmp = self.path.with_name(self.path.name + ".tmp")
        private_file(tmp)
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(body + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)  # atomic: a crash leaves the old file or the new one, never half of one

    def intent(self, kind: str, portal: str, run: str, **values: Any) -> Entry:
        """Record a write about to be sent (saved before this returns, so before the request goes out)."""
        entry = Entry(kind=kind, portal=portal, run=run, **values)
        self.entries.append(entry)
        self._save()
        return entry

    def created(self, entry: Entry, object_id: int) -> None:
        """The answer named the object: saved before the caller goes on to use it."""
        entry.id = int(object_id)
        self._save()

    def forget(self, entry: Entry) -> None:
        """The object is gone (proven), or the write was refused and made nothing."""
        self.entries = [e for e in self.entries if e is not entry]
        self._save()

    def pending(self, portal: str, *, run: str | None = None, not_run: str | None = None) -> list[Entry]:
        """Entries of ``portal``: of one ``run``, or of every run but ``not_run``."""
        return [
            e
            for e in self.entries
            if e.portal == portal and (run is None or e.run == run) and (not_run is None or e.run != not_run)
        ]

    def other_portals(self, portal: str) -> list[str]:
        return sorted({e.portal for e in self.entries if e.portal != portal})
