"""The console's Messages area: run starts and ends, and every error, scrubbed of raw keys.

Errors land here (and in ``errors``) rather than in the kernel log where nobody looks; without widgets
they are printed too, so a headless run shows them.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable

import ipywidgets as w

from ..errors import MigrateError

# errors whose one line says it all; anything else is a bug and shows its traceback
_ERROR_TYPES = (MigrateError, ValueError, TypeError, KeyError)


class Messages:
    def __init__(self, output: w.Output, scrub: Callable[[str], str], *, echo: bool) -> None:
        self.output = output
        self.scrub = scrub
        self.echo = echo  # print too (no frontend draws the output area)
        self.errors: list[str] = []

    def say(self, text: str) -> None:
        line = f"{time.strftime('%H:%M:%S')}  {self.scrub(text)}\n"
        self.output.append_stdout(line)
        if self.echo:
            print(line, end="", flush=True)

    def error(self, exc: BaseException, where: str) -> None:
        if isinstance(exc, _ERROR_TYPES):
            text = f"{where}: {type(exc).__name__}: {exc}"
        else:
            text = f"{where}: " + "".join(traceback.format_exception(exc)).rstrip()
        text = self.scrub(text)
        self.errors.append(text)
        self.output.append_stderr(f"{time.strftime('%H:%M:%S')}  {text}\n")
        if self.echo:
            print(text, file=sys.stderr, flush=True)

    def last_error(self) -> str | None:
        return self.errors[-1].splitlines()[-1] if self.errors else None
