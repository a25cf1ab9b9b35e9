"""``tyk-migrate preflight``: the click command over ``tyk_migrate.preflight.run_preflight``.

A module of its own so the CLI can register it (``cli.add_command(preflight_command)``) without this module
importing the CLI at import time: the shared error handler is looked up when the command runs, and the portal
options repeat ``cli.portal_options`` (same names, environment variables and help).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _one_line_errors(func: F) -> F:
    """The CLI's ``one_line_errors`` (exit 2 for a ``MigrateError``, 3 for a bug), looked up at call time."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .cli import one_line_errors

        return one_line_errors(func)(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@click.command("preflight")
@click.option(
    "--canary-user",
    metavar="EMAIL",
    default=None,
    help="A test developer to own the canary apps. Default: a canary developer made for the purpose and deleted.",
)
@click.option("--plan-id", type=int, default=None, help="Plan of the canary credentials [default: the first plan].")
@click.option(
    "--product-id",
    "product_ids",
    type=int,
    multiple=True,
    help="Product of the canary credentials (repeatable) [default: the first product with an API].",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default="preflight.json",
    show_default=True,
    help="Where to write the findings (JSON, no key values); also written to preflight/<host>.json in "
    "$TYK_MIGRATE_HOME or ~/.config/tyk-migrate, where apply and the console look.",
)
@click.option(
    "--gateway-url",
    envvar="TYK_GATEWAY_URL",
    show_envvar=True,
    default=None,
    help="Gateway to prove the canary keys on (e.g. https://gw.example.com). Without it: the portal only.",
)
@click.option(
    "--ledger",
    type=click.Path(dir_okay=False),
    default=None,
    help="Ledger of the preflight's own writes [default: preflight-ledger.json in $TYK_MIGRATE_HOME or "
    "~/.config/tyk-migrate]; the next preflight deletes what an interrupted one left in it.",
)
@click.option(
    "--token",
    envvar="TYK_PORTAL_TOKEN",
    show_envvar=True,
    default=None,
    help="Portal admin API token (better from the environment than on the command line).",
)
@click.option(
    "--portal-url",
    envvar="TYK_PORTAL_URL",
    show_envvar=True,
    default=None,
    help="Portal address, e.g. https://portal.example.com:3001 (or the full …/portal-api).",
)
@_one_line_errors
def preflight_command(
    canary_user: str | None,
    plan_id: int | None,
    product_ids: tuple[int, ...],
    out: str,
    gateway_url: str | None,
    ledger: str | None,
    token: str | None,
    portal_url: str | None,
) -> None:
    """Before a real migration, prove what this portal does, with throwaway objects.

    Creates a canary developer (or uses --canary-user), two canary apps and a few canary credentials with
    random 43-character keys, and checks: the admin token; which AuthTokenType keeps the KeyID (read back,
    and on the gateway with --gateway-url); whether a duplicate KeyID is refused or overwrites; the /plans
    envelope; paging and a per_page maximum; the error shape; listing lag; latency and a safe starting
    concurrency. Then deletes everything it made and proves it, also after Ctrl-C (a ledger of its own writes
    lets the next preflight finish the job). Keys are never printed.

    Exit 0 when the migration can proceed (warnings allowed), 1 when a finding makes it unsafe (the lines
    say what to change), 2 for unusable settings.

    \b
    Example:
      tyk-migrate preflight --gateway-url https://gw.example.com --out preflight.json
      tyk-migrate preflight --canary-user qa.dev@example.com --plan-id 7 --product-id 1
    """
    from .config import Settings
    from .preflight import run_preflight, write_result
    from .preflight.use import default_result_path

    settings = Settings.from_env(portal_url=portal_url, token=token)
    settings.require_portal()
    try:
        result = run_preflight(
            settings,
            canary_user=canary_user,
            plan_id=plan_id,
            product_ids=list(product_ids) or None,
            gateway_url=gateway_url,
            journal_path=ledger,
        )
    except KeyboardInterrupt:
        click.echo(
            "interrupted: the canaries made so far were deleted, or the ledger keeps them and the next "
            "`tyk-migrate preflight` deletes them first",
            err=True,
        )
        sys.exit(130)
    click.echo(f"portal  {result.portal}" + (f"   gateway  {result.gateway}" if result.gateway else ""))
    click.echo(result.table())
    target = write_result(result, out)
    kept = default_result_path(result.portal)  # where apply and the console look for it
    also = kept.resolve() != target.resolve()
    if also:
        write_result(result, kept)
    for line in result.verdict_lines():
        click.echo(line)
    click.echo(f"findings written to {target}" + (f" and {kept} (apply and the console use it)" if also else ""))
    sys.exit(result.exit_code)
