"""The ``tyk-migrate`` group: every command module adds its commands to ``cli``."""

from __future__ import annotations

from typing import Any

import click

from .exits import EXIT_CODES_HELP


class Command(click.Command):
    """A command whose ``--help`` ends with the exit codes (one text for all: ``exits.EXIT_CODES_HELP``)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        kw.setdefault("epilog", EXIT_CODES_HELP)
        super().__init__(*args, **kw)


class Group(click.Group):
    command_class = Command


@click.group(
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES_HELP,
)
@click.version_option(package_name="tyk-migrate")
def cli() -> None:
    """Move existing API keys into the Tyk Developer Portal as custom credentials.

    \b
    Typical run:
      tyk-migrate validate keys.csv --rejects rejects.csv
      tyk-migrate plan keys.csv --out plan.csv
      tyk-migrate apply keys.csv --journal run.journal --out outcomes.csv
      tyk-migrate verify keys.csv --journal run.journal --gateway-url https://gw.example.com
      tyk-migrate reconcile keys.csv --html report.html

    Settings that stay the same between runs (portal URL, gateway, token type, minimum key length,
    mapping) can live in ./tyk-migrate.toml, one [portal.NAME] section per portal (--portal-profile NAME);
    flags and the environment win over it, and the token never comes from it. Every command takes
    --json (one summary on stdout), -v/--verbose and -q/--quiet.
    """
