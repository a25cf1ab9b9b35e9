"""``tyk-migrate sandbox`` and ``tyk-migrate demo`` (tyk_migrate/sandbox, demo)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..dashboard_options import sandbox_dashboard_token_option
from ..vocabulary import FAILED
from .app import cli
from .exits import Outcome, verdict
from .options import command_options
from .paths import output_folder
from .session import Session


class _KnobHelpOption(click.Option):
    """An option whose help comes from tyk_migrate/sandbox/behaviour.py, imported only when help is shown."""

    def __init__(self, *args: Any, help_from: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help_from = help_from

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        from ..sandbox import behaviour

        self.help = getattr(behaviour, self.help_from)()
        return super().get_help_record(ctx)


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
    help="Admin API token the sandbox expects in the Authorization header (a secret of your own to listen beyond "
    "loopback: the default is public).",
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
@click.option("--profile", default="strict", show_default=True, cls=_KnobHelpOption, help_from="profile_help")
@click.option(
    "--behaviour",
    "behaviours",
    multiple=True,
    metavar="NAME=VALUE",
    cls=_KnobHelpOption,
    help_from="behaviour_help",
)
@sandbox_dashboard_token_option
@command_options(settings=False)
def sandbox(
    session: Session,
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
    profile: str,
    behaviours: tuple[str, ...],
    dashboard_token: str | None,
) -> Outcome:
    """Run the local Tyk Developer Portal + gateway emulator (for rehearsals, demos and tests).

    With --json the addresses are printed once as one JSON object when it listens.

    \b
    Example:
      tyk-migrate sandbox --seed data-samples/sandbox_seed.json --faults "429=5%,503=2%"
      tyk-migrate sandbox --profile realistic --behaviour unknown-key=401
    """
    from ..config import AUTH_TOKEN_TYPES
    from ..sandbox import SandboxConfig, serve
    from ..sandbox.server import check_exposure

    # before anything starts: a public token off loopback is refused (serve checks the Dashboard's token too)
    warning = check_exposure(host, token)

    accepted = AUTH_TOKEN_TYPES if auth_token_type == "both" else (auth_token_type,)
    config = SandboxConfig(
        token=token,
        **({"dashboard_token": dashboard_token} if dashboard_token else {}),  # else the public default
        seed=seed,
        db=db,
        min_key_length=min_key_length,
        accept_auth_token_types=tuple(accepted),
        latency_ms=latency_ms,
        faults=faults,
        random_seed=random_seed,
        profile=profile,
        behaviour=list(behaviours),
    )

    def announce(url: str) -> None:
        if warning:
            session.note(warning)
        urls = {"portal_api": f"{url}/portal-api", "gateway": f"{url}/gateway", "admin": f"{url}/__sandbox/state"}
        if session.json:  # scripts need the addresses while it runs, not a summary after it stopped
            click.echo(json.dumps({"command": "sandbox", "listening": True, **urls}))
        session.line(f"portal API:  {urls['portal_api']}")
        session.line(f"gateway:     {urls['gateway']}")
        session.line(f"dashboard:   {url}/api")
        session.line(f"admin:       {urls['admin']}")
        session.line(
            f"use it:      export TYK_PORTAL_URL={url} TYK_PORTAL_TOKEN=<the --token value> "
            f"TYK_GATEWAY_URL={url}/gateway"
        )
        session.line(f"Dashboard:   export TYK_DASHBOARD_URL={url} TYK_DASHBOARD_TOKEN=<the --dashboard-token value>")
        sys.stdout.flush()

    serve(config, host, port, announce=announce)
    session.json = False  # the one JSON object was the announcement
    return Outcome()


@cli.command("demo")
@click.option(
    "--out", type=click.Path(file_okay=False), default="demo-output", show_default=True, help="Output folder."
)
@command_options(settings=False)
def demo_command(session: Session, out: str) -> Outcome:
    """Run the whole migration on data-samples/ against a throwaway local sandbox.

    Writes plan.csv, outcomes.csv, rejects.csv, reconciliation.csv and report.html into --out. Exit 0
    when every key that could migrate did (and opens the gateway, and is present), 4 when some key failed
    to migrate, 1 otherwise.

    \b
    Example:
      tyk-migrate demo --out demo-output && open demo-output/report.html
    """
    from ..demo import run_demo

    result = run_demo(output_folder(out, "--out"), echo=session.line)
    failed = int((result.outcomes["status"] == FAILED).sum())
    counts = {
        "statuses": {str(k): int(v) for k, v in result.outcomes["status"].value_counts().items()},
        "problems": len(result.problems),
    }
    return Outcome(
        verdict(failed=failed, problems=len(result.problems)),
        counts,
        dict(result.files),
        details={"problems": result.problems},
    )
