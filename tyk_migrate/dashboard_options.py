"""Click options for the Dashboard connection, for the commands to share (``--from-dashboard`` and the like).

    @click.command()
    @dashboard_options
    def plan(..., dashboard_url: str | None, dashboard_hash: str | None, dashboard_org: str | None): ...
        settings = Settings.from_env(dashboard_url=dashboard_url)
        lookup = dict(hash_function=dashboard_hash, org_id=dashboard_org)   # enrich_from_dashboard / live_keys

The Dashboard's token comes from ``TYK_DASHBOARD_TOKEN`` only (no option: a token on a command line is in the
shell history and the process list). ``sandbox_dashboard_token_option`` is the sandbox command's own token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .tyk_hash import HASH_SETTINGS

F = TypeVar("F", bound=Callable[..., Any])


def dashboard_options(func: F) -> F:
    """``--dashboard-url``, ``--dashboard-hash``, ``--dashboard-org`` (with their environment variables) and
    ``--dashboard-none-live`` (``DashboardLink.none_live``)."""
    options = [
        click.option(
            "--dashboard-url",
            envvar="TYK_DASHBOARD_URL",
            show_envvar=True,
            default=None,
            help="Tyk Dashboard address (https://dashboard.example.com:3000); its token: TYK_DASHBOARD_TOKEN.",
        ),
        click.option(
            "--dashboard-hash",
            envvar="TYK_DASHBOARD_HASH_FUNCTION",
            show_envvar=True,
            type=click.Choice(HASH_SETTINGS),
            default=None,
            help="Look keys up by hash, not by value (no raw key in a URL): your gateway's hash_key_function "
            "(unset: none in tyk.conf). Default: by value.",
        ),
        click.option(
            "--dashboard-org",
            envvar="TYK_DASHBOARD_ORG_ID",
            show_envvar=True,
            default=None,
            help="The Dashboard's org ID, needed by --dashboard-hash (custom keys are hashed with it).",
        ),
        click.option(
            "--dashboard-none-live",
            is_flag=True,
            default=False,
            help="Plan even when a lookup by hash finds (almost) none of the keys, which a wrong --dashboard-hash "
            "or --dashboard-org also gives: say so only if these keys really are not in this Dashboard.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def sandbox_dashboard_token_option(func: F) -> F:
    """``--dashboard-token`` of ``tyk-migrate sandbox`` (``SandboxConfig.dashboard_token``)."""
    return click.option(
        "--dashboard-token",
        envvar="TYK_SANDBOX_DASHBOARD_TOKEN",
        show_envvar=True,
        default=None,  # the sandbox's own public default (SandboxConfig): starlette loads only in the command
        show_default="sandbox-dashboard-token",
        help="Token the sandbox's Dashboard part (/api) expects in the Authorization header (a secret of your "
        "own to listen beyond loopback: the default is public).",
    )(func)
