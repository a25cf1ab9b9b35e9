"""The ``tyk-migrate`` command: thin wrappers over the library.

Each command calls one library function and turns a ``MigrateError`` into one line on stderr with exit
code 2. Exit codes: 0 all done, 1 some rows rejected or failed (reports written), 2 unusable input or usage.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .errors import MigrateError

F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(func: F) -> F:
    """Turn library errors into ``error: …`` on stderr and exit 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MigrateError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except (OSError, UnicodeError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted: the journal keeps what was done; rerun the same command to resume", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def portal_options(func: F) -> F:
    """``--portal-url`` and ``--token``, defaulting to TYK_PORTAL_URL / TYK_PORTAL_TOKEN."""
    func = click.option(
        "--token",
        envvar="TYK_PORTAL_TOKEN",
        show_envvar=True,
        default=None,
        help="Portal admin API token (better from the environment than on the command line).",
    )(func)
    func = click.option(
        "--portal-url",
        envvar="TYK_PORTAL_URL",
        show_envvar=True,
        default=None,
        help="Portal address, e.g. https://portal.example.com:3001 (or the full …/portal-api).",
    )(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    """


# --- commands: sandbox (tyk_migrate/sandbox) ---

# --- commands: validate (sources, validate) ---

# --- commands: plan (portal, snapshot, plan) ---

# --- commands: apply, rollback (run, journal) ---

# --- commands: verify, reconcile, demo (verify, reconcile, report) ---


def main() -> None:
    cli(prog_name="tyk-migrate")


if __name__ == "__main__":
    main()
