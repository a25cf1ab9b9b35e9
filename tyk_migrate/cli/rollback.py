"""``tyk-migrate rollback`` (rollback, journal)."""

from __future__ import annotations

import click

from . import present
from .app import cli
from .exits import Outcome, verdict
from .options import command_options, concurrency_value, portal_options
from .session import Session


@cli.command("rollback")
@click.option("--journal", required=True, type=click.Path(exists=True, dir_okay=False), help="Journal of the run(s).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--dry-run", is_flag=True, help="Read and decide as a rollback would; delete nothing, count what would go."
)
@click.option(
    "--concurrency",
    default="adaptive",
    show_default=True,
    help="Deletes in flight: 'adaptive' (sized from the portal's answers, as apply) or a fixed number.",
)
@portal_options
@command_options()
def rollback_command(
    session: Session,
    journal: str,
    yes: bool,
    dry_run: bool,
    concurrency: str,
    portal_url: str | None,
    token: str | None,
) -> Outcome:
    """Delete what the journal's runs created in the portal, and only that.

    Apps a run created are deleted whole (with their credentials) unless someone has since added a
    credential the migration did not create: then only the migration's credentials are deleted. Keys added
    to apps that existed before are deleted one by one. Each object is read first and kept (with the
    reason) when it is no longer the one the journal recorded, e.g. an ID reused after a portal reset.
    --dry-run reads and decides the same way and deletes nothing. Exit 0 when nothing failed, 4 when a
    delete failed (rerun to try again), 2 when another run or rollback holds the journal.

    \b
    Example:
      tyk-migrate rollback --journal run.journal --dry-run
      tyk-migrate rollback --journal run.journal --yes
    """
    from ..journal import Journal
    from ..rollback import KEPT_REASONS, app_intents_to_undo, apps_to_undo, credentials_to_undo, rollback
    from ..rollback_users import rollback_users, user_rollback_lines, users_activated, users_to_undo

    limit = concurrency_value(concurrency)
    settings = session.settings(portal_url, token)
    # held from the count to the last delete: no run may write the journal in between
    with Journal(journal) as jr:
        apps = len(apps_to_undo(jr)) + len(app_intents_to_undo(jr))
        creds = len(credentials_to_undo(jr))
        users = len(users_to_undo(jr))  # accounts the migration created (rollback_users), after their apps
        recorded = {"apps": apps, "credentials": creds, **({"users": users} if users else {})}
        if not apps and not creds and not users:
            session.line("nothing to roll back: the journal records nothing the migration created")
            return Outcome(counts={"recorded": recorded}, details={"dry_run": dry_run})
        session.line(f"the journal records {apps} app(s) and {creds} credential(s) created by the migration")
        if users:
            session.line(f"and {users} developer account(s) it created (deleted after their apps)")
        if not yes and not dry_run:
            click.confirm(f"delete them from {settings.portal_url}?", abort=True, err=True)
        report = rollback(jr, settings, concurrency=limit, dry_run=dry_run)
        accounts = rollback_users(jr, settings, dry_run=dry_run) if users else None
        activated = len(users_activated(jr))
    session.lines(present.rollback_lines(report, dry_run=dry_run, reasons=KEPT_REASONS))
    counts = {"recorded": recorded, **present.rollback_counts(report)}
    failed = int((report["result"] == "failed").sum())
    if accounts is not None:
        session.lines(user_rollback_lines(accounts, activated, dry_run=dry_run))
        counts["users"] = {str(k): int(v) for k, v in accounts["result"].value_counts().items()}
        failed += int((accounts["result"] == "failed").sum())
    return Outcome(verdict(failed=failed), counts, details={"dry_run": dry_run})
