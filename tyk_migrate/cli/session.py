"""One command invocation: where its lines go, its log, its settings, and how it ends.

* Text mode: the presenter's lines on stdout. ``--json``: those lines on stderr and one JSON summary on
  stdout, nothing else. ``--quiet``: no lines and no progress bars; warnings and errors still on stderr.
* A reader gone from stdout (``tyk-migrate plan … | head -1``) is not an error: the rest of the output is
  dropped, the command finishes its work (files are still written) and ends with its own code.
* Settings: flags, then the environment, then ``tyk-migrate.toml`` (``--config``, ``--portal-profile``),
  then the defaults; with no token anywhere and a terminal on stdin, a hidden prompt asks for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import click

from ..config import ConfigFile, Settings, load_config_file
from . import logs
from .exits import Outcome

log = logging.getLogger("tyk_migrate.cli")


def stdin_is_terminal() -> bool:
    """Whether a person can answer a prompt (a pipe or CI cannot: they get the one-line error instead)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / pandas scalars
        return value.item()
    return str(value)


class Session:
    """What every command shares: output, logging, the config file, the resolved portal, the ending."""

    def __init__(
        self,
        command: str,
        *,
        json_output: bool = False,
        verbosity: int = 0,
        quiet: bool = False,
        config_path: str | None = None,
        portal_profile: str | None = None,
    ) -> None:
        self.command = command
        self.json = json_output
        self.verbosity = verbosity
        self.quiet = quiet
        self.config = ConfigFile()
        self.base_url: str | None = None  # the portal API base once known: error hints name its host
        self._config_args = (config_path, portal_profile)
        self._filter: logs.ScrubFilter | None = None
        self._stdout_gone = False
        self._closing = contextlib.ExitStack()

    def start(self, *, read_config: bool = True) -> None:
        self._filter = logs.configure(self.verbosity, self.quiet)
        if read_config:
            self.config = load_config_file(*self._config_args)
            if self.config.path is not None:
                log.info("settings from %s", self.config.describe())

    # -- output --------------------------------------------------------------------------------------

    @property
    def show_progress(self) -> bool:
        """Progress bars only for a person watching text output."""
        return not (self.quiet or self.json)

    def line(self, text: str = "") -> None:
        """One line of the command's human output (stdout; stderr with --json; nowhere with --quiet)."""
        if not self.quiet:
            self._write(text, err=self.json)

    def lines(self, texts: Any) -> None:
        for text in texts:
            self.line(text)

    def note(self, text: str) -> None:
        """A warning a person must see whatever the mode: stderr, also with --quiet."""
        self._write(text, err=True)

    def _write(self, text: str, *, err: bool) -> None:
        if self._stdout_gone and not err:
            return
        try:
            click.echo(text, err=err)
        except BrokenPipeError:
            if not err:
                self._lose_stdout()

    def _lose_stdout(self) -> None:
        """The reader left: drop further output, and point stdout at /dev/null so the interpreter's last flush
        at exit does not complain either."""
        self._stdout_gone = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)

    def protect(self, secrets: Any) -> None:
        """Mask these values (the input's keys, the token) in every later log line."""
        if self._filter is not None:
            self._filter.protect(secrets)

    # -- settings ------------------------------------------------------------------------------------

    def settings(self, portal_url: str | None = None, token: str | None = None, **overrides: Any) -> Settings:
        """Settings for a command that talks to the portal: flags > environment > config file > defaults,
        and a hidden prompt for the token when none is set and a person is at the terminal."""
        settings = Settings.from_env(defaults=self.config.settings(), portal_url=portal_url, token=token, **overrides)
        if settings.portal_url and not settings.token and stdin_is_terminal():
            host = urlsplit(settings.portal_url.strip()).hostname or settings.portal_url
            asked = click.prompt(
                f"portal admin token for {host}", hide_input=True, err=True, default="", show_default=False
            )
            settings = replace(settings, token=asked.strip())
        self.base_url, used = settings.require_portal()
        self.protect([used])
        log.info("portal %s (%s)", self.base_url, self.config.describe())
        return settings

    def dashboard(
        self,
        dashboard_url: str | None = None,
        dashboard_hash: str | None = None,
        dashboard_org: str | None = None,
        dashboard_none_live: bool = False,
        *,
        required: bool = False,
    ) -> Any:
        """A ``DashboardLink`` when a Dashboard URL is set (flag, environment, config file); None when none is
        and ``required`` is false. Its token comes from ``TYK_DASHBOARD_TOKEN`` only (no option: shell history)."""
        from ..dashboard_link import DashboardLink

        settings = Settings.from_env(defaults=self.config.settings(), dashboard_url=dashboard_url)
        if not settings.dashboard_url and not required:
            if dashboard_hash or dashboard_org:
                log.warning("--dashboard-hash/--dashboard-org without a Dashboard URL: ignored")
            return None
        link = DashboardLink(settings, dashboard_hash, dashboard_org, none_live=dashboard_none_live)
        self.protect([settings.dashboard_token])
        log.info("Dashboard %s", link.host)
        return link

    def client(self, settings: Settings) -> Any:
        """A portal client for this command's reads (closed at the end), logging each request at -vv."""
        from ..portal import PortalClient

        return self._closing.enter_context(PortalClient(settings=settings, on_response=logs.request_logger))

    # -- the end -------------------------------------------------------------------------------------

    def summary(self, outcome: Outcome) -> dict[str, Any]:
        """The --json document: command, exit code and reason, counts, files written, error."""
        error = outcome.error.removeprefix("error: ") if outcome.error else None
        return {
            "command": self.command,
            "exit_code": int(outcome.verdict.code),
            "exit_reason": outcome.verdict.reason,
            "counts": dict(outcome.counts),
            "files": {name: os.path.abspath(path) for name, path in outcome.files.items()},
            **dict(outcome.details),
            "error": error,
        }

    def finish(self, outcome: Outcome) -> NoReturn:
        self._closing.close()
        if outcome.error:
            self._write(outcome.error, err=True)
        if self.json:
            self._write(json.dumps(self.summary(outcome), default=_jsonable), err=False)
        with contextlib.suppress(BrokenPipeError, ValueError):
            sys.stdout.flush()
        if self._stdout_gone:
            self._lose_stdout()
        sys.exit(int(outcome.verdict.code))


def default_output(source: str, suffix: str) -> Path:
    """``<INPUT stem><suffix>`` in the current folder: the default name of a command's report."""
    return Path(Path(source).stem + suffix)
