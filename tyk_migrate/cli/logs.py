"""``--verbose`` / ``--quiet`` through the standard ``logging`` module, and a filter that keeps secrets out.

Log lines go to stderr (stdout is the command's output, and with ``--json`` nothing but its summary). Every
record passes ``ScrubFilter`` on the handler, so also records of other libraries' loggers that propagate to
the root: the known keys (the input's, once loaded) and the portal token become masks everywhere. Text from
code that does not know the keys (other libraries' records, tracebacks) also gets every quoted value and
key-shaped run masked (``scrub.mask_secretish``); tyk-migrate's own lines keep their paths and fingerprints
readable, since they never hold a value the key scrubber does not know.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Iterable
from typing import Any

from ..scrub import KeyScrubber, mask_secretish

LOGGER = "tyk_migrate"
log = logging.getLogger(LOGGER)
requests_log = logging.getLogger(f"{LOGGER}.requests")


class ScrubFilter(logging.Filter):
    """Rewrites each record's message (and traceback) with secrets masked; never drops a record."""

    def __init__(self) -> None:
        super().__init__()
        self._sources: list[Iterable[Any]] = []
        self._scrubber: KeyScrubber | None = None
        self._formatter = logging.Formatter()

    def protect(self, secrets: Iterable[Any]) -> None:
        """Mask these values (keys, ``SecretKey`` objects, the token) wherever a later record holds them.

        Costs nothing until a record is logged: a million keys are only indexed if a line is written."""
        self._sources.append(secrets)
        self._scrubber = None  # rebuilt lazily with the new values

    def scrub(self, text: str, *, unknown: bool = True) -> str:
        """``text`` with the protected values masked, and with ``unknown`` every secret-ish value too."""
        if self._sources:
            if self._scrubber is None:
                self._scrubber = KeyScrubber(itertools.chain.from_iterable(self._sources))
            text = self._scrubber(text)
        return mask_secretish(text) if unknown else text

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name == LOGGER or record.name.startswith(LOGGER + ".")
        text = self.scrub(record.getMessage(), unknown=not ours)
        trace = record.exc_text or (self._formatter.formatException(record.exc_info) if record.exc_info else "")
        if trace:
            text = f"{text}\n{self.scrub(trace)}"
        record.msg, record.args, record.exc_info, record.exc_text = text, (), None, None
        return True


class _Handler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (click's test runner swaps it per invocation)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


_installed: tuple[logging.Handler, ScrubFilter] | None = None


def configure(verbosity: int, quiet: bool) -> ScrubFilter:
    """Log level from ``-v`` (info), ``-vv`` (debug: every portal request) or ``--quiet`` (errors only);
    warnings otherwise. Returns the filter, to ``protect`` the keys once they are loaded."""
    global _installed
    root = logging.getLogger()
    if _installed is not None:  # a second command in one process (tests): one handler, a fresh filter
        root.removeHandler(_installed[0])
    scrubber = ScrubFilter()
    handler = _Handler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(scrubber)
    root.addHandler(handler)
    _installed = (handler, scrubber)
    if quiet:
        level = logging.ERROR
    else:
        level = logging.DEBUG if verbosity > 1 else logging.INFO if verbosity else logging.WARNING
    log.setLevel(level)
    # the root's level is left alone (warnings by default): httpx's own request lines at info would only
    # repeat ours, with less in them; --quiet silences other libraries' warnings at the handler
    handler.setLevel(logging.ERROR if quiet else logging.DEBUG)
    return scrubber


def request_logger(method: str, path: str, status: int | None, seconds: float) -> None:
    """A portal client's ``on_response`` hook: one debug line per request (method, path, status, time)."""
    if requests_log.isEnabledFor(logging.DEBUG):
        requests_log.debug(
            "%s %s -> %s in %.0f ms", method, path, status if status is not None else "no answer", seconds * 1000
        )
