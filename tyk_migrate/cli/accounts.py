"""The account options of ``plan`` and ``apply`` (opt-in steps for owners without a usable account).

``--create-missing-users``, ``--activate-users``, ``--users-active/--users-inactive`` and ``--users-org`` become one
``accounts: AccountSettings`` argument of the command (``tyk_migrate.plan.accounts``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..plan.accounts import AccountSettings

F = TypeVar("F", bound=Callable[..., Any])


def account_options(func: F) -> F:
    """Add the account flags; the command receives them as ``accounts``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kw: Any) -> Any:
        kw["accounts"] = AccountSettings(
            create_missing_users=kw.pop("create_missing_users"),
            activate_users=kw.pop("activate_users"),
            users_active=kw.pop("users_active"),
            users_org=kw.pop("users_org"),
        )
        return func(*args, **kw)

    options = [
        click.option(
            "--create-missing-users",
            is_flag=True,
            help="Create the portal account of an owner who has none (POST /users) before their app, "
            "instead of blocking their keys.",
        ),
        click.option(
            "--activate-users",
            is_flag=True,
            help="Activate an inactive owner (PUT /users/{id}) instead of blocking their keys.",
        ),
        click.option(
            "--users-active/--users-inactive",
            "users_active",
            default=None,
            help="Whether created accounts are active [default: the mapping's new_users: active:, else the "
            "portal's default].",
        ),
        click.option(
            "--users-org",
            "users_org",
            type=click.IntRange(min=1),
            default=None,
            metavar="ID",
            help="The portal organisation created accounts join (required to create, unless the mapping's "
            "new_users: organisation_id: gives it); without one an account is a portal admin, not a developer.",
        ),
    ]
    decorated: Any = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def account_summary(counts: dict[str, int]) -> str | None:
    """The plan line for the accounts (None when no account flag is on)."""
    from ..plan.accounts import account_line

    return account_line(counts)
