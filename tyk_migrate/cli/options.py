"""Options shared by the commands, and ``command_options``, the wrapper that runs every command.

``command_options`` adds ``--json``, ``--verbose``, ``--quiet`` (and ``--config``, ``--portal-profile`` where
settings are read), builds the ``Session``, turns INPUT and its options into one ``Source``, runs the command
body under the exit policy (``exits.guarded``) and ends the process with the outcome's code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from ..config import DEFAULT_MIN_KEY_LENGTH
from ..dashboard_link import DASHBOARD_LABEL
from ..dashboard_options import dashboard_options
from ..errors import ConfigError
from .diagnose import explain
from .exits import Outcome, guarded
from .session import Session

F = TypeVar("F", bound=Callable[..., Any])

INPUT_FORMATS = ("auto", "csv", "tsv", "excel", "json", "jsonl", "dashboard", "classic")
SOURCE_FIELDS = ("format", "mapping", "developers", "email_field", "min_key_length", "app_name")
#: The Dashboard's options of the commands that take them (``input_options(dashboard=True)``).
DASHBOARD_FIELDS = ("from_dashboard", "dashboard_url", "dashboard_hash", "dashboard_org", "dashboard_none_live")


@dataclass(frozen=True)
class Source:
    """How INPUT is read, validated and its apps named: the same options on every command that reads it."""

    path: str
    format: str = "auto"
    mapping: str | None = None
    developers: str | None = None
    email_field: str = "email"
    min_key_length: int = DEFAULT_MIN_KEY_LENGTH
    app_name: str = "legacy"
    #: read the keys from the Dashboard, not from INPUT (``path`` is then ``dashboard``, for output names)
    from_dashboard: bool = False
    #: a ``DashboardLink`` when a Dashboard is configured: INPUT is completed from it and live keys are checked
    dashboard: Any = None

    @property
    def files(self) -> list[str]:
        """The input files (none with --from-dashboard): what no output may overwrite."""
        return [] if self.from_dashboard else [self.path]

    def prepare(self, **kw: Any) -> Any:
        """Load, validate, fetch the portal and plan (``tyk_migrate.pipeline.prepare``)."""
        from ..pipeline import prepare
        from ..plan import PlanSettings
        from ..plan.accounts import AccountSettings

        accounts = kw.pop("accounts", None) or AccountSettings()  # cli.accounts: opt-in account steps
        return prepare(
            None if self.from_dashboard else self.path,
            format=self.format,
            mapping=self.mapping,
            developers=self.developers,
            email_field=self.email_field,
            min_key_length=self.min_key_length,
            settings=PlanSettings(app_name=self.app_name, accounts=accounts),
            dashboard=self.dashboard,
            from_dashboard=self.from_dashboard,
            **kw,
        )


def make_source(session: Session, path: str | None, given: dict[str, Any]) -> Source:
    """INPUT's options over the config file's ``mapping`` and ``min_key_length`` (flags and env win), and
    the Dashboard's when the command takes them (a ``DashboardLink`` once a Dashboard URL is known)."""
    dashboard = {k: given.pop(k) for k in DASHBOARD_FIELDS if k in given}
    from_dashboard = bool(dashboard.pop("from_dashboard", False))
    if from_dashboard and path:
        raise click.UsageError("give INPUT or --from-dashboard, not both")
    if not from_dashboard and not path:
        raise click.UsageError("Missing argument 'INPUT' (a file of keys), or --from-dashboard")
    link = session.dashboard(**dashboard, required=from_dashboard) if dashboard or from_dashboard else None
    values = {k: v for k, v in given.items() if v is not None}
    values.setdefault("mapping", session.config.mapping)
    values.setdefault("min_key_length", session.config.min_key_length or DEFAULT_MIN_KEY_LENGTH)
    if values["min_key_length"] < 1:
        raise ConfigError("minimum key length must be at least 1")
    label = path or DASHBOARD_LABEL
    return Source(
        label, **{k: v for k, v in values.items() if v is not None}, from_dashboard=from_dashboard, dashboard=link
    )


def command_options(*, settings: bool = True) -> Callable[[F], F]:
    """The options and the ending every command shares; the command gets ``session`` as first argument and
    returns an ``Outcome``. ``settings=False``: no ``--config``/``--portal-profile`` (sandbox, demo)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(**kw: Any) -> None:
            session = Session(
                click.get_current_context().info_name or func.__name__,
                json_output=kw.pop("json_output"),
                verbosity=kw.pop("verbose"),
                quiet=kw.pop("quiet"),
                config_path=kw.pop("config_path", None),
                portal_profile=kw.pop("portal_profile", None),
            )

            def body() -> Outcome | None:
                session.start(read_config=settings)
                if "input_path" in kw:
                    given = {name: kw.pop(name) for name in (*SOURCE_FIELDS, *DASHBOARD_FIELDS) if name in kw}
                    kw["source"] = make_source(session, kw.pop("input_path"), given)
                result: Outcome | None = func(session, **kw)
                return result

            outcome, _ = guarded(body, lambda exc: explain(exc, session.base_url))
            session.finish(outcome)

        options = [
            click.option("--json", "json_output", is_flag=True, help="Print one JSON summary on stdout, nothing else."),
            click.option("-v", "--verbose", count=True, help="Log what happens on stderr (-vv: every portal request)."),
            click.option("-q", "--quiet", is_flag=True, help="No output but warnings and errors; the exit code says."),
        ]
        if settings:
            options += [
                click.option(
                    "--config",
                    "config_path",
                    type=click.Path(dir_okay=False),
                    envvar="TYK_MIGRATE_CONFIG",
                    show_envvar=True,
                    help="Settings file (TOML) [default: ./tyk-migrate.toml if there is one].",
                ),
                click.option(
                    "--portal-profile",
                    envvar="TYK_PORTAL_PROFILE",
                    show_envvar=True,
                    help="The [portal.NAME] section of the settings file to use (e.g. rehearsal, production).",
                ),
            ]
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


def portal_options(func: F) -> F:
    """``--portal-url`` and ``--token``, defaulting to TYK_PORTAL_URL / TYK_PORTAL_TOKEN."""
    func = click.option(
        "--token",
        envvar="TYK_PORTAL_TOKEN",
        show_envvar=True,
        default=None,
        help="Portal admin API token (better from the environment, or the prompt, than on the command line).",
    )(func)
    func = click.option(
        "--portal-url",
        envvar="TYK_PORTAL_URL",
        show_envvar=True,
        default=None,
        help="Portal address, e.g. https://portal.example.com:3001 (or the full …/portal-api).",
    )(func)
    return func


#: ``--concurrency`` of the commands that read the portal (plan, reconcile): a ceiling, the reads adapt below it.
read_concurrency_option = click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=16,
    show_default=True,
    help="Most requests in flight while reading the portal (fewer while it answers 429/503).",
)


def concurrency_value(value: str) -> int | str:
    """``--concurrency`` of apply and rollback: ``adaptive`` or a whole number of at least 1."""
    if value == "adaptive":
        return value
    try:
        number = int(value)
    except ValueError:
        raise click.UsageError("--concurrency: a whole number or 'adaptive'") from None
    if number < 1:
        raise click.UsageError("--concurrency: at least 1")
    return number


def input_options(*, planning: bool = True, dashboard: bool = False) -> Callable[[F], F]:
    """INPUT with ``--format --mapping --developers --email-field --min-key-length`` (and ``--app-name``
    for commands that plan), handed to the command as one ``source: Source`` by ``command_options``.
    ``dashboard``: also ``--from-dashboard`` (then no INPUT) and the Dashboard's connection options."""

    def decorate(func: F) -> F:
        options = [
            # no exists=True: a missing or unreadable file gets the loader's one-line error, not click's usage
            click.argument(
                "input_path", metavar="INPUT" if not dashboard else "[INPUT]", type=click.Path(), required=not dashboard
            ),
            click.option(
                "--format",
                type=click.Choice(INPUT_FORMATS),
                default="auto",
                show_default=True,
                help="Export format; auto = by extension and content.",
            ),
            click.option(
                "--mapping",
                type=click.Path(dir_okay=False),
                help="YAML/JSON: the loader's columns: and the planner's plans:/products:/owners: (docs/formats.md).",
            ),
            click.option(
                "--developers",
                type=click.Path(dir_okay=False),
                help="Classic Portal developer dump: owner emails of a Dashboard dump via tyk_developer_id.",
            ),
            click.option(
                "--email-field",
                default="email",
                show_default=True,
                help="meta_data field with the owner's email in a Dashboard dump.",
            ),
            click.option(
                "--min-key-length",
                type=click.IntRange(min=1),
                envvar="TYK_MIN_KEY_LENGTH",
                show_envvar=True,
                default=None,
                help="The target gateway's min_token_length: shorter keys are rejected "
                f"[default: {DEFAULT_MIN_KEY_LENGTH}].",
            ),
        ]
        if planning:
            options.append(
                click.option(
                    "--app-name",
                    default="legacy",
                    show_default=True,
                    help="App naming rule: legacy, alias, or a format string such as '{plan} keys'.",
                )
            )
        if dashboard:
            options.append(
                click.option(
                    "--from-dashboard",
                    is_flag=True,
                    help="Read the keys from the Tyk Dashboard (--dashboard-url, TYK_DASHBOARD_TOKEN), not INPUT.",
                )
            )
        for option in reversed(options):
            func = option(func)
        return dashboard_options(func) if dashboard else func

    return decorate
