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


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=3001, show_default=True, type=int, help="Port to listen on (the portal's usual).")
@click.option(
    "--seed",
    type=click.Path(dir_okay=False),
    default=None,
    help="Seed JSON (users, products, plans, apps, custom_credentials); empty portal if omitted.",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    default=None,
    help="Keep state in this SQLite file (a restart keeps everything); default in memory.",
)
@click.option(
    "--token",
    envvar="TYK_SANDBOX_TOKEN",
    show_envvar=True,
    default="sandbox-admin-token",
    show_default=True,
    help="Admin API token the sandbox expects in the Authorization header.",
)
@click.option("--latency-ms", type=float, default=0, show_default=True, help="Fixed latency per portal request.")
@click.option("--faults", default="", help='Fault spec, e.g. "429=5%,500=2%,lost=1%,cap=32,jitter=20".')
@click.option("--random-seed", type=int, default=0, show_default=True, help="Seed for fault draws.")
@click.option("--min-key-length", type=int, default=8, show_default=True, help="Shortest KeyID accepted.")
@click.option(
    "--auth-token-type",
    type=click.Choice(["both", "AUTH_TOKEN_TYPE_CUSTOM", "AUTH_TOKEN_CUSTOM"]),
    default="both",
    show_default=True,
    help="Custom-token spelling(s) accepted (mimic a portal version).",
)
@one_line_errors
def sandbox(
    host: str,
    port: int,
    seed: str | None,
    db: str | None,
    token: str,
    latency_ms: float,
    faults: str,
    random_seed: int,
    min_key_length: int,
    auth_token_type: str,
) -> None:
    """Run the local Tyk Developer Portal + gateway emulator (for rehearsals, demos and tests).

    \b
    Example:
      tyk-migrate sandbox --seed data-samples/sandbox_seed.json --faults "429=5%,503=2%"
    """
    from .config import AUTH_TOKEN_TYPES
    from .sandbox import SandboxConfig, create_app, serve

    accepted = AUTH_TOKEN_TYPES if auth_token_type == "both" else (auth_token_type,)
    config = SandboxConfig(
        token=token,
        seed=seed,
        db=db,
        min_key_length=min_key_length,
        accept_auth_token_types=tuple(accepted),
        latency_ms=latency_ms,
        faults=faults,
        random_seed=random_seed,
    )
    create_app(config).state.sandbox.close()  # check seed, db and faults before printing anything
    url = f"http://{host}:{port}"
    click.echo(f"portal API:  {url}/portal-api")
    click.echo(f"gateway:     {url}/gateway")
    click.echo(f"admin:       {url}/__sandbox/state")
    click.echo(
        f"use it:      export TYK_PORTAL_URL={url} TYK_PORTAL_TOKEN=<the --token value> TYK_GATEWAY_URL={url}/gateway"
    )
    serve(config, host, port)


# --- commands: validate (sources, validate) ---

# --- commands: plan (portal, snapshot, plan) ---

# --- commands: apply, rollback (run, journal) ---

# --- commands: verify, reconcile, demo (verify, reconcile, report) ---


def main() -> None:
    cli(prog_name="tyk-migrate")


if __name__ == "__main__":
    main()
