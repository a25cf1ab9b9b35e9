"""Output paths checked before the first portal call or write.

A command that has written to the portal must not then fail on a file it cannot write ("unusable settings"
after the run), and a typo in a folder name must not silently become a new folder tree: every output a
command will write is checked up front, and a missing folder is one line, exit 2, before any request.
The library's writers still create folders (a notebook asked for that file); the command refuses first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def output_file(path: str | Path, what: str, *, not_over: Iterable[str | Path] = ()) -> Path:
    """``path`` if a file can be written there, else a ``ConfigError`` naming ``what`` (e.g. ``--out``).

    Refused: a missing or non-folder parent, a folder at ``path``, a file or folder without write permission,
    and ``path`` being one of ``not_over`` (the input, the journal: an output must never replace them).
    """
    target = Path(path)
    parent = target.parent
    if not parent.exists():
        raise ConfigError(f"{what} {target}: folder {parent} does not exist (create it first)")
    if not parent.is_dir():
        raise ConfigError(f"{what} {target}: {parent} is not a folder")
    if target.is_dir():
        raise ConfigError(f"{what} {target}: is a folder; give a file name")
    for other in not_over:
        if _same(target, Path(other)):
            raise ConfigError(f"{what} {target}: is {other}, which must not be overwritten; give another name")
    if target.exists() and not os.access(target, os.W_OK):
        raise ConfigError(f"{what} {target}: not writable")
    if not target.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {target}: cannot create files in {parent}")
    return target


def output_folder(path: str | Path, what: str) -> Path:
    """A folder the command fills (made if missing, but only inside a folder that exists)."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{what} {target}: is a file, not a folder")
    if not target.exists() and not target.parent.is_dir():
        raise ConfigError(f"{what} {target}: folder {target.parent} does not exist (create it first)")
    return target
