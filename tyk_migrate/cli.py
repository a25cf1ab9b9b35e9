"""The ``tyk-migrate`` command: thin wrappers over the library.

Each command calls one library function and turns a ``MigrateError`` into one line on stderr with exit
code 2. Exit codes: 0 all done, 1 some rows rejected or failed (reports written), 2 unusable input or usage,
3 an unexpected error (a bug: one masked line; ``TYK_MIGRATE_DEBUG=1`` re-raises it with the traceback),
130 interrupted.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from .errors import MigrateError
from .scrub import clip, mask_secretish, scrub_keys

F = TypeVar("F", bound=Callable[..., Any])


#: Exit code of an error tyk-migrate did not expect (a bug), apart from 2 so scripts can tell "fix the
#: input" from "report this".
EXIT_UNEXPECTED = 3
DEBUG_ENV = "TYK_MIGRATE_DEBUG"
UNEXPECTED_MESSAGE_CHARS = 120


def unexpected_message(exc: BaseException) -> str:
    """An unexpected error's text, safe to print: one line, at most ``UNEXPECTED_MESSAGE_CHARS``, keys masked.

    Library code never puts a raw key in its own errors, but third-party ones (pandas, pyarrow, httpx) quote
    the value they choked on, which may be a key: so every quoted value is masked, and so is every unquoted
    run of 8+ characters (the gateway's shortest key) shaped like a key, not a name (``scrub.mask_secretish``).
    """
    return clip(" ".join(str(exc).split()), UNEXPECTED_MESSAGE_CHARS, mask_secretish)


def one_line_errors(func: F) -> F:
    """Turn library errors into ``error: …`` on stderr and exit 2, never a traceback; anything else exits 3."""

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
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own usage errors and exits: click prints them and picks the code
        except Exception as exc:
            if os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
                raise
            click.echo(
                f"error: unexpected {type(exc).__name__}: {unexpected_message(exc)} (a bug in tyk-migrate; "
                f"rerun with {DEBUG_ENV}=1 for the traceback, which may show key values)",
                err=True,
            )
            sys.exit(EXIT_UNEXPECTED)

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


#: ``--concurrency`` of the commands that read the portal (plan, reconcile): a ceiling, the reads adapt below it.
read_concurrency_option = click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=16,
    show_default=True,
    help="Most requests in flight while reading the portal (fewer while it answers 429/503).",
)


INPUT_FORMATS = ("auto", "csv", "tsv", "excel", "json", "jsonl", "dashboard", "classic")


@dataclass(frozen=True)
class Source:
    """How INPUT is read, validated and its apps named: the same options on every command that reads it."""

    path: str
    format: str = "auto"
    mapping: str | None = None
    developers: str | None = None
    email_field: str = "email"
    min_key_length: int = 8
    app_name: str = "legacy"

    def prepare(self, **kw: Any) -> Any:
        """Load, validate, fetch the portal and plan (``tyk_migrate.pipeline.prepare``)."""
        from .pipeline import prepare
        from .plan import PlanSettings

        return prepare(
            self.path,
            format=self.format,
            mapping=self.mapping,
            developers=self.developers,
            email_field=self.email_field,
            min_key_length=self.min_key_length,
            settings=PlanSettings(app_name=self.app_name),
            **kw,
        )


def input_options(*, planning: bool = True) -> Callable[[F], F]:
    """INPUT with ``--format --mapping --developers --email-field --min-key-length`` (and ``--app-name``
    for commands that plan), handed to the command as one ``source: Source``."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kw: Any) -> Any:
            fields = ("format", "mapping", "developers", "email_field", "min_key_length", "app_name")
            values = {name: kw.pop(name) for name in fields if name in kw}
            return func(*args, source=Source(kw.pop("input_path"), **values), **kw)

        options = [
            # no exists=True: a missing or unreadable file gets the loader's one-line error, not click's usage
            click.argument("input_path", metavar="INPUT", type=click.Path()),
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
                default=8,
                show_default=True,
                help="The target gateway's min_token_length: shorter keys are rejected.",
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
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


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


class _KnobHelpOption(click.Option):
    """An option whose help comes from tyk_migrate/sandbox/behaviour.py, imported only when help is shown."""

    def __init__(self, *args: Any, help_from: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help_from = help_from

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        from .sandbox import behaviour

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
    profile: str,
    behaviours: tuple[str, ...],
) -> None:
    """Run the local Tyk Developer Portal + gateway emulator (for rehearsals, demos and tests).

    \b
    Example:
      tyk-migrate sandbox --seed data-samples/sandbox_seed.json --faults "429=5%,503=2%"
      tyk-migrate sandbox --profile realistic --behaviour unknown-key=401
    """
    from .config import AUTH_TOKEN_TYPES
    from .sandbox import SandboxConfig, serve
    from .sandbox.server import check_exposure

    warning = check_exposure(host, token)  # before anything starts: a public token off loopback is refused

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
        profile=profile,
        behaviour=list(behaviours),
    )

    def announce(url: str) -> None:
        if warning:
            click.echo(warning, err=True)
        click.echo(f"portal API:  {url}/portal-api")
        click.echo(f"gateway:     {url}/gateway")
        click.echo(f"admin:       {url}/__sandbox/state")
        click.echo(
            f"use it:      export TYK_PORTAL_URL={url} TYK_PORTAL_TOKEN=<the --token value> "
            f"TYK_GATEWAY_URL={url}/gateway"
        )
        sys.stdout.flush()

    serve(config, host, port, announce=announce)


# --- commands: validate (sources, validate) ---


@cli.command("validate")
@input_options(planning=False)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the rejects report [default: ./<INPUT stem>.rejects.csv].",
)
@one_line_errors
def validate_command(source: Source, rejects_path: str | None) -> None:
    """Load a legacy key export, check every row, and write a rejects report.

    Exit 0 when every row is valid (warnings allowed), 1 when some rows are rejected, 2 when the input
    cannot be used. Key values are never printed: the report shows them masked.

    \b
    Example:
      tyk-migrate validate data-samples/legacy_keys.csv --rejects out/rejects.csv
      tyk-migrate validate dump.json --format dashboard --developers developers.json
    """
    from pathlib import Path

    from .sources import load_keys, require_records
    from .validate import summarize, validate_keys, write_rejects

    frame = load_keys(
        source.path, source.format, source.mapping, developers=source.developers, email_field=source.email_field
    )
    require_records(frame, source.path)
    valid, rejects = validate_keys(frame, min_key_length=source.min_key_length)
    target = Path(rejects_path) if rejects_path else Path.cwd() / f"{Path(source.path).stem}.rejects.csv"
    write_rejects(rejects, target)
    rejected = len(frame) - len(valid)
    warned = int((valid["warnings"] != "").sum())
    click.echo(f"input:     {source.path} ({frame.attrs.get('format', source.format)})")
    for canon, source in frame.attrs.get("column_map", {}).items():
        click.echo(f"  {canon:<12} <- {source}")
    ignored = frame.attrs.get("ignored_columns")
    if ignored:
        click.echo(f"  ignored:       {', '.join(ignored)}")
    click.echo(f"rows read: {len(frame)}")
    click.echo(f"valid:     {len(valid)} ({warned} with warnings)")
    click.echo(f"rejected:  {rejected}")
    counts = summarize(rejects)
    if len(counts):
        click.echo("checks (rows):")
        for row in counts.itertuples(index=False):
            click.echo(f"  {row.severity:<8} {row.check:<20} {row.rows}")
    click.echo(f"rejects report: {target} ({len(rejects)} entries)")
    sys.exit(1 if rejected else 0)


# --- commands: plan (portal, snapshot, plan) ---


def plan_scope(owner: tuple[str, ...], plan: tuple[str, ...], product: tuple[str, ...], org: tuple[str, ...]) -> Any:
    """The ``--owner/--plan/--product/--org`` options as a ``build_plan`` scope (None when unscoped)."""
    scope = {"owners": list(owner), "plans": list(plan), "products": list(product), "orgs": list(org)}
    return {k: v for k, v in scope.items() if v} or None


@cli.command("plan")
@input_options()
@click.option("--owner", multiple=True, help="Only keys of this owner email (repeatable).")
@click.option(
    "--plan", "plan_filter", multiple=True, help="Only keys on this plan: name, ID or policy ID (repeatable)."
)
@click.option("--product", multiple=True, help="Only keys with this product (repeatable).")
@click.option("--org", multiple=True, help="Only keys of this organisation: portal org ID or legacy org (repeatable).")
@click.option("--out", type=click.Path(dir_okay=False), help="Plan CSV (keys masked). Default: INPUT-stem.plan.csv.")
@click.option("--unresolved", "unresolved_out", type=click.Path(dir_okay=False), help="Also write unmatched values.")
@read_concurrency_option
@portal_options
@one_line_errors
def plan_command(
    source: Source,
    owner: tuple[str, ...],
    plan_filter: tuple[str, ...],
    product: tuple[str, ...],
    org: tuple[str, ...],
    out: str | None,
    unresolved_out: str | None,
    concurrency: int,
    portal_url: str | None,
    token: str | None,
) -> None:
    """Show what apply would do with every key, without writing anything to the portal.

    Loads and validates INPUT (rejected rows are counted and left out), reads the portal, and gives every
    key one action: create_app, add_credential, skip_existing or blocked (with the reason). Writes the
    plan as CSV with keys masked. Exit 0 when nothing is blocked or rejected, 1 otherwise.

    \b
    Example:
      tyk-migrate plan keys.csv --mapping mapping.yaml --out plan.csv
      tyk-migrate plan dump.json --plan Gold --app-name '{plan} keys'
    """
    from pathlib import Path

    from .config import Settings
    from .plan import impact_line, summarize
    from .report import export_frame

    settings = Settings.from_env(portal_url=portal_url, token=token)
    settings.require_portal()
    prepared = source.prepare(
        scope=plan_scope(owner, plan_filter, product, org), portal=settings, concurrency=concurrency
    )
    snap, plan = prepared.snapshot, prepared.plan
    rejected = prepared.rejected_rows
    click.echo(
        f"input   {Path(source.path).name}: {len(prepared.legacy)} rows, {len(prepared.valid)} valid, "
        f"{rejected} rejected" + (" (run `tyk-migrate validate` for the report)" if rejected else "")
    )
    click.echo(
        f"portal  {snap.portal_url}: {len(snap.users)} users, {len(snap.products)} products, "
        f"{len(snap.plans)} plans, {len(snap.apps)} apps, {len(snap.credentials)} credentials"
    )
    summary = summarize(plan)
    scoped = f", {summary['out_of_scope']} out of scope" if summary["out_of_scope"] else ""
    click.echo(f"plan    {summary['rows']} rows{scoped}")
    for action, count in summary["counts"].items():
        click.echo(f"  {action:<15} {count:>7}")
    if impact := impact_line(summary):
        click.echo(impact)
    if summary["top_reasons"]:
        click.echo("top blocking reasons:")
        for reason, count in summary["top_reasons"]:
            click.echo(f"  {count:>7}  {reason[:160]}")
    unresolved = prepared.unresolved
    if len(unresolved):
        click.echo("unmatched values (add them to the mapping file or fix the portal):")
        for kind, value, count, suggestions in unresolved.head(5)[["kind", "value", "rows", "suggestions"]].to_numpy():
            hint = f"  did you mean {suggestions}?" if suggestions else ""
            click.echo(f"  {int(count):>7}  {kind} {str(value)!r}{hint}")
    target = Path(out) if out else Path(Path(source.path).stem + ".plan.csv")
    export_frame(plan, target)
    click.echo(f"plan written to {target} (keys masked)")
    if unresolved_out:
        export_frame(unresolved, unresolved_out)
        click.echo(f"unmatched values written to {unresolved_out}")
    sys.exit(1 if summary["counts"]["blocked"] or rejected else 0)


# --- commands: apply, rollback (run, journal) ---


def _concurrency_option(value: str) -> int | str:
    if value == "adaptive":
        return value
    try:
        number = int(value)
    except ValueError:
        raise click.BadParameter("a whole number or 'adaptive'") from None
    if number < 1:
        raise click.BadParameter("at least 1")
    return number


@cli.command("apply")
@input_options()
@click.option(
    "--journal",
    required=True,
    type=click.Path(dir_okay=False),
    help="SQLite journal of this migration: created if new; rerun with the same file to resume.",
)
@click.option(
    "--concurrency",
    default="adaptive",
    show_default=True,
    help="Requests in flight: a number, or 'adaptive' (starts at 8, follows the portal's answers).",
)
@click.option("--max-concurrency", default=64, show_default=True, help="Ceiling for adaptive concurrency.")
@click.option("--batch-size", default=200, show_default=True, help="Rows per batch (apps of a batch go first).")
@click.option("--dry-run", is_flag=True, help="Make every check, write nothing (rows marked dry_run).")
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Outcome CSV (keys masked). Default: INPUT-stem.outcomes.csv."
)
@click.option("--force-journal", is_flag=True, help="Use a journal that was made for a different input.")
@click.option("--no-progress", is_flag=True, help="No progress bar (logs, CI).")
@portal_options
@one_line_errors
def apply_command(
    source: Source,
    journal: str,
    concurrency: str,
    max_concurrency: int,
    batch_size: int,
    dry_run: bool,
    out: str | None,
    force_journal: bool,
    no_progress: bool,
    portal_url: str | None,
    token: str | None,
) -> None:
    """Create every planned key in the portal, exactly once, resumably.

    Plans INPUT like `tyk-migrate plan`, then creates apps and custom credentials in batches, journalling
    every write so a rerun with the same --journal does only what is missing (also after a crash or
    Ctrl-C). Each credential is read back and compared. Writes the outcome CSV (keys masked).
    Exit 0 when every key is created or already there, 1 when some row failed, was blocked or rejected.

    \b
    Example:
      tyk-migrate apply keys.csv --mapping mapping.yaml --journal run.journal --out outcomes.csv
      tyk-migrate apply keys.csv --journal run.journal --dry-run
    """
    import asyncio
    import contextlib
    import signal
    import time
    from pathlib import Path

    from tqdm import tqdm

    from .aio import run_blocking
    from .config import Settings
    from .report import export_outcomes
    from .run import Migration, Progress

    try:
        limit = _concurrency_option(concurrency)
    except click.BadParameter as exc:
        raise click.UsageError(f"--concurrency: {exc.message}") from None
    if batch_size < 1 or max_concurrency < 1:
        raise click.UsageError("--batch-size and --max-concurrency must be at least 1")
    settings = Settings.from_env(portal_url=portal_url, token=token)
    settings.require_portal()
    prepared = source.prepare(portal=settings)
    plan = prepared.plan
    rejected = prepared.rejected_rows
    counts = plan["action"].value_counts().to_dict() if len(plan) else {}
    click.echo(
        f"input   {Path(source.path).name}: {len(prepared.legacy)} rows, {len(prepared.valid)} valid, "
        f"{rejected} rejected"
    )
    click.echo(
        "plan    "
        + ", ".join(f"{counts.get(a, 0)} {a}" for a in ("create_app", "add_credential", "skip_existing", "blocked"))
    )
    bar = (
        None
        if no_progress
        else tqdm(total=len(plan), unit="key", desc="dry run" if dry_run else "apply", dynamic_ncols=True, leave=True)
    )
    shown = [0, 0.0]

    def on_progress(p: Progress) -> None:
        if bar is None:
            return
        if p.done > shown[0]:
            bar.update(p.done - shown[0])
            shown[0] = p.done
        now = time.monotonic()
        if now - shown[1] > 0.5:
            shown[1] = now
            bar.set_postfix_str(
                f"created={p.created} failed={p.failed} in_flight={p.in_flight}/{p.concurrency} "
                f"{p.requests_per_second:.0f} req/s",
                refresh=False,
            )

    migration = Migration(
        plan,
        settings,
        journal,
        batch_size=batch_size,
        concurrency=limit,
        max_concurrency=max_concurrency,
        dry_run=dry_run,
        on_progress=on_progress,
        force_journal=force_journal,
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        # first Ctrl-C: finish what is in flight and stop cleanly; a second one interrupts
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, _graceful_stop, loop, migration)
        await migration.run()

    try:
        run_blocking(main)
    finally:
        if bar is not None:
            bar.close()
    progress = migration.progress
    final = plan["status"].value_counts().to_dict()
    click.echo(
        "status  "
        + ", ".join(
            f"{final[s]} {s}" for s in ("created", "skipped", "dry_run", "failed", "blocked", "pending") if final.get(s)
        )
    )
    click.echo(
        f"portal  {progress.requests} requests in {progress.elapsed_seconds:.1f}s, "
        f"concurrency ended at {progress.concurrency}"
    )
    failed = plan[plan["status"] == "failed"]
    if len(failed):
        click.echo("first failures:")
        for row in failed.head(5).itertuples():
            error = scrub_keys(str(row.error), [row.key_id])  # before the cut: a cut echo is still masked
            click.echo(f"  row {row.source_row}: {clip(error, 200)}")
    if migration.fatal_error:
        click.echo(migration.fatal_error, err=True)
    if final.get("pending"):
        click.echo("stopped before the end: rerun the same command to resume", err=True)
    target = Path(out) if out else Path(Path(source.path).stem + ".outcomes.csv")
    export_outcomes(plan, target)
    click.echo(f"outcomes written to {target} (keys masked); journal: {journal}")
    bad = sum(final.get(s, 0) for s in ("failed", "blocked", "pending"))
    sys.exit(1 if bad or rejected or migration.fatal_error else 0)


def _graceful_stop(loop: Any, migration: Any) -> None:
    import signal

    click.echo("\nstopping: finishing requests in flight (Ctrl-C again to interrupt)", err=True)
    migration.stop()
    loop.remove_signal_handler(signal.SIGINT)


@cli.command("rollback")
@click.option("--journal", required=True, type=click.Path(exists=True, dir_okay=False), help="Journal of the run(s).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--concurrency",
    default="adaptive",
    show_default=True,
    help="Deletes in flight: 'adaptive' (sized from the portal's answers, as apply) or a fixed number.",
)
@portal_options
@one_line_errors
def rollback_command(journal: str, yes: bool, concurrency: str, portal_url: str | None, token: str | None) -> None:
    """Delete what the journal's runs created in the portal, and only that.

    Apps a run created are deleted whole (with their credentials) unless someone has since added a
    credential the migration did not create: then only the migration's credentials are deleted. Keys added
    to apps that existed before are deleted one by one. Each object is read first and kept (with the
    reason) when it is no longer the one the journal recorded, e.g. an ID reused after a portal reset.
    Exit 0 when nothing failed, 1 otherwise; 2 when another run or rollback holds the journal.

    \b
    Example:
      tyk-migrate rollback --journal run.journal
      tyk-migrate rollback --journal run.journal --yes
    """
    from .config import Settings
    from .journal import Journal
    from .rollback import app_intents_to_undo, apps_to_undo, credentials_to_undo, rollback

    try:
        limit = _concurrency_option(concurrency)
    except click.BadParameter as exc:
        raise click.UsageError(f"--concurrency: {exc.message}") from None
    settings = Settings.from_env(portal_url=portal_url, token=token)
    settings.require_portal()
    # held from the count to the last delete: no run may write the journal in between
    with Journal(journal) as jr:
        apps = len(apps_to_undo(jr)) + len(app_intents_to_undo(jr))
        creds = len(credentials_to_undo(jr))
        if not apps and not creds:
            click.echo("nothing to roll back: the journal records nothing the migration created")
            return
        click.echo(f"the journal records {apps} app(s) and {creds} credential(s) created by the migration")
        if not yes:
            click.confirm(f"delete them from {settings.portal_url}?", abort=True)
        report = rollback(jr, settings, concurrency=limit)
    for row in report.itertuples():
        what = (
            f"app {row.app_id}" if row.kind == "app" else f"credential {row.credential_id} (key {row.key_fingerprint})"
        )
        detail = f": {row.detail}" if isinstance(row.detail, str) and row.detail else ""
        click.echo(f"  {row.result:<16} {what}{detail}")
    counts = report["result"].value_counts().to_dict()
    click.echo("rolled back: " + ", ".join(f"{n} {r}" for r, n in counts.items()))
    sys.exit(1 if counts.get("failed") else 0)


# --- commands: verify, reconcile, demo (verify, reconcile, report) ---


def _sample_value(value: str | None) -> int | float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a count or a fraction", param_hint="--sample") from None
    return int(number) if number.is_integer() and number >= 1 else number


@cli.command("verify")
@input_options()
@click.option("--journal", required=True, type=click.Path(exists=True, dir_okay=False), help="The run's journal.")
@click.option(
    "--gateway-url",
    envvar="TYK_GATEWAY_URL",
    show_envvar=True,
    default=None,
    help="Gateway address, e.g. https://gw:8080.",
)
@click.option(
    "--header",
    "header_style",
    type=click.Choice(["authorization", "bearer", "x-api-key"]),
    default="authorization",
    show_default=True,
    help="How the key is sent: 'Authorization: <key>', 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
)
@click.option("--sample", default=None, help="Verify only N keys (e.g. 50) or a fraction (e.g. 0.1).")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=16,
    show_default=True,
    help="Gateway calls in flight; also the most portal reads in flight (fewer while it answers 429/503).",
)
@click.option("--rate", type=float, default=None, help="At most this many calls per second (default: no limit).")
@click.option("--path", default="/", show_default=True, help="Path called below each API's listen path.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the outcome log with verify columns.")
@portal_options
@one_line_errors
def verify_command(
    source: Source,
    journal: str,
    gateway_url: str | None,
    header_style: str,
    sample: str | None,
    concurrency: int,
    rate: float | None,
    path: str,
    out: str | None,
    portal_url: str | None,
    token: str | None,
) -> None:
    """Call the gateway with every migrated key and report what it answered.

    The run's outcome is rebuilt from INPUT (loaded and planned again against the portal) and its
    journal; each created or skipped key is sent to an API of its products. Exit 0 when every key called
    answered 2xx, 1 otherwise.

    \b
    Example:
      tyk-migrate verify keys.csv --journal run.journal --gateway-url https://gw.example.com --out verified.csv
    """
    from .config import Settings
    from .journal import Journal
    from .report import export_outcomes
    from .verify import (
        outcomes_from_journal,
        verification_attempted,
        verification_summary,
        verified_ok,
        verify_access,
    )

    settings = Settings.from_env(portal_url=portal_url, token=token, gateway_url=gateway_url)
    prepared = source.prepare(portal=settings, progress=False, concurrency=concurrency)
    with Journal(journal) as ledger:
        outcomes = outcomes_from_journal(prepared.plan, ledger)
    migrated = outcomes["status"].isin(["created", "skipped"])
    if not migrated.any():
        click.echo("nothing to verify: no key of this input is migrated according to the journal", err=True)
        sys.exit(1)
    result = verify_access(
        outcomes,
        settings.gateway_url or None,
        snapshot=prepared.snapshot,
        sample=_sample_value(sample),
        header_style=header_style,
        concurrency=concurrency,
        rate_per_second=rate,
        path=path,
    )
    summary = verification_summary(result)
    for row in summary.itertuples(index=False):
        click.echo(f"{row.verify_status:>10}  {row.keys:>6}  {row.meaning}")
    if out:
        click.echo(f"outcome log: {export_outcomes(result, out)}")
    called = verification_attempted(result)
    sys.exit(0 if bool(verified_ok(result)[called].all()) else 1)


@cli.command("reconcile")
@input_options()
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write one row per legacy key (CSV).")
@click.option(
    "--unexplained", type=click.Path(dir_okay=False), default=None, help="Write portal credentials no key explains."
)
@click.option("--html", type=click.Path(dir_okay=False), default=None, help="Write a self-contained HTML report.")
@read_concurrency_option
@portal_options
@one_line_errors
def reconcile_command(
    source: Source,
    out: str | None,
    unexplained: str | None,
    html: str | None,
    concurrency: int,
    portal_url: str | None,
    token: str | None,
) -> None:
    """Compare the keys in INPUT with the portal as it is now.

    Each valid key is present, missing, wrong_owner, wrong_plan, wrong_products or duplicated; portal
    credentials that no key explains are listed too. Exit 0 when every key is present and no row was
    rejected, 1 otherwise (reports written).

    \b
    Example:
      tyk-migrate reconcile keys.csv --out reconciliation.csv --html report.html
    """
    from .config import Settings
    from .reconcile import reconcile
    from .report import export_frame, export_reconciliation, write_report

    settings = Settings.from_env(portal_url=portal_url, token=token)
    prepared = source.prepare(portal=settings, progress=False, concurrency=concurrency)
    recon = reconcile(prepared.valid, prepared.snapshot, plan=prepared.plan)
    for status, count in recon.counts.items():
        click.echo(f"{status:>15}  {count}")
    if prepared.rejected_rows:
        click.echo(f"{prepared.rejected_rows} input rows rejected by validation (not reconciled)")
    if out:
        click.echo(f"reconciliation: {export_reconciliation(recon, out)}")
    if unexplained:
        click.echo(f"unexplained credentials: {export_frame(recon.unexplained, unexplained)}")
    if html:
        report = write_report(
            html,
            rejects=prepared.rejects,
            plan=prepared.plan,
            reconciliation=recon,
            inputs={"valid keys": len(prepared.valid)},
            title="Reconciliation report",
            input_path=source.path,
            mapping=source.mapping,
            portal_url=prepared.snapshot.portal_url,
        )
        click.echo(f"report: {report}")
    sys.exit(0 if recon.all_present() and not prepared.rejected_rows else 1)


@cli.command("demo")
@click.option(
    "--out", type=click.Path(file_okay=False), default="demo-output", show_default=True, help="Output folder."
)
@one_line_errors
def demo_command(out: str) -> None:
    """Run the whole migration on data-samples/ against a throwaway local sandbox.

    Writes plan.csv, outcomes.csv, rejects.csv, reconciliation.csv and report.html into --out. Exit 0
    when every key that could migrate did (and opens the gateway, and is present), 1 otherwise.

    \b
    Example:
      tyk-migrate demo --out demo-output && open demo-output/report.html
    """
    from .demo import run_demo

    result = run_demo(out, echo=click.echo)
    sys.exit(0 if result.ok else 1)


def main() -> None:
    cli(prog_name="tyk-migrate")


if __name__ == "__main__":
    main()
