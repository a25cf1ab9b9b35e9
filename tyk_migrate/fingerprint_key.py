"""The secret behind key fingerprints: one per user (or per team), never in any file the tool exports.

A fingerprint is ``HMAC-SHA256(secret, key)``, first 16 hex digits. With a plain hash, an outcome log alone
gave weak keys away: the mask shows some characters of the key and the fingerprint checks guesses for the
rest offline. Keyed, a fingerprint can be checked only by whoever holds the secret.

Where the secret comes from (first match wins):

1. ``TYK_MIGRATE_FINGERPRINT_KEY``: 32+ hex digits (read as bytes), or any other text of 16+ bytes. For CI
   and for teams who share journals and outcome logs: every machine that matches rows by fingerprint
   needs the same secret (copy the key file's content into this variable).
2. The key file ``fingerprint.key`` in ``$TYK_MIGRATE_HOME``, else ``$XDG_CONFIG_HOME/tyk-migrate``, else
   ``~/.config/tyk-migrate``: created on first use with 32 random bytes (as hex), mode 0600, in a 0700
   folder. Fingerprints are stable across processes as long as that file stays.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets as _random
import tempfile
from pathlib import Path

KEY_ENV = "TYK_MIGRATE_FINGERPRINT_KEY"
HOME_ENV = "TYK_MIGRATE_HOME"
KEY_FILE_NAME = "fingerprint.key"
#: Shortest secret accepted: below this, guessing the secret with the key becomes the cheap attack again.
MIN_SECRET_BYTES = 16
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){16,}")

_cache: dict[tuple[str | None, ...], bytes] = {}


def key_file_path() -> Path:
    """Where the per-user secret lives (whether or not it exists yet)."""
    home = os.environ.get(HOME_ENV, "").strip()
    if home:
        return Path(home).expanduser() / KEY_FILE_NAME
    config = os.environ.get("XDG_CONFIG_HOME", "").strip()
    base = Path(config).expanduser() if config else Path.home() / ".config"
    return base / "tyk-migrate" / KEY_FILE_NAME


def secret() -> bytes:
    """The fingerprint secret: from the environment, else the key file (made on first use). Cached per setting."""
    env = os.environ
    # the cache key is every variable the answer depends on: tests and notebooks may switch them at run time
    where = (env.get(KEY_ENV), env.get(HOME_ENV), env.get("XDG_CONFIG_HOME"), env.get("HOME"))
    found = _cache.get(where)
    if found is None:
        text = (where[0] or "").strip()
        found = _parse(text, f"{KEY_ENV}") if text else _load_or_create(key_file_path())
        _cache[where] = found
    return found


def _parse(text: str, source: str) -> bytes:
    from .errors import ConfigError  # errors imports secrets, which imports this module

    value = bytes.fromhex(text) if _HEX.fullmatch(text) else text.encode("utf-8", "surrogatepass")
    if len(value) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{source} is too short ({len(value)} bytes): use at least {MIN_SECRET_BYTES} bytes, e.g. the 64 hex "
            'digits of python -c "import secrets; print(secrets.token_hex(32))"'
        )
    return value


def _load_or_create(path: Path) -> bytes:
    from .errors import ConfigError

    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        text = _create(path)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"fingerprint key file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    _tighten(path)
    return _parse(text.strip(), f"fingerprint key file {path}")


def _create(path: Path) -> str:
    """Write a new random secret, atomically: two processes starting at once end up with the same one."""
    from .errors import ConfigError

    text = _random.token_hex(32) + "\n"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".fingerprint-", suffix=".tmp")  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)  # fails if another process made the file first: then theirs is the secret
            except FileExistsError:
                return path.read_text(encoding="ascii")
            except OSError:  # a filesystem without hard links: rename, unless the file appeared meanwhile
                if path.exists():
                    return path.read_text(encoding="ascii")
                os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the fingerprint key file {path}: {exc.strerror or exc}; set {HOME_ENV} to a "
            f"writable folder or {KEY_ENV} to a secret"
        ) from None
    return text


def _tighten(path: Path) -> None:
    """A key file readable by others (copied in with a loose umask) is made owner-only again."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except OSError:
        pass  # not ours to change (read-only mount): the secret still works
