"""``tyk-migrate plan`` (portal, snapshot, plan)."""

from __future__ import annotations

from typing import Any

import click

from ..vocabulary import BLOCKED
from . import present
from .accounts import account_options, account_summary
from .app import cli
from .exits import Outcome, verdict
from .options import Source, command_options, input_options, portal_options, read_concurrency_option
from .paths import output_file
from .session import Session, default_output


def plan_scope(owner: tuple[str, ...], plan: tuple[str, ...], product: tuple[str, ...], org: tuple[str, ...]) -> Any:
    """The ``--owner/--plan/--product/--org`` options as a ``build_plan`` scope (None when unscoped)."""
    scope = {"owners": list(owner), "plans": list(plan), "products": list(product), "orgs": list(org)}
    return {k: v for k, v in scope.items() if v} or None


@cli.command("plan")
@input_options(dashboard=True)
@click.option("--owner", multiple=True, help="Only keys of this owner email (repeatable).")
@click.option(
    "--plan", "plan_filter", multiple=True, help="Only keys on this plan: name, ID or policy ID (repeatable)."
)
@click.option("--product", multiple=True, help="Only keys with this product (repeatable).")
@click.option("--org", multiple=True, help="Only keys of this organisation: portal org ID or legacy org (repeatable).")
@click.option("--out", type=click.Path(dir_okay=False), help="Plan CSV (keys masked). Default: INPUT-stem.plan.csv.")
@click.option("--unresolved", "unresolved_out", type=click.Path(dir_okay=False), help="Also write unmatched values.")
@read_concurrency_option
@account_options
@portal_options
@command_options()
def plan_command(
    session: Session,
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
    accounts: Any = None,
) -> Outcome:
    """Show what apply would do with every key, without writing anything to the portal.

    Loads and validates INPUT (rejected rows are counted and left out), reads the portal, and gives every
    key one action: create_app, add_credential, skip_existing or blocked (with the reason). Writes the
    plan as CSV with keys masked, the portal's plan and product names beside their IDs. Exit 0 when
    nothing is blocked or rejected, 1 otherwise. Each key's client impact (what its clients would notice:
    rate_tighter, quota_lower, api_lost, expiry_changes, live_key_overwritten) is counted by kind.

    With a Dashboard (--dashboard-url or TYK_DASHBOARD_URL, token in TYK_DASHBOARD_TOKEN) INPUT may hold
    only raw keys, completed from each key's session there (the file's values win; disagreements are
    shown), and every key live in the gateway today is flagged live_key_overwritten before any write.
    --from-dashboard plans the Dashboard's keys instead of INPUT.

    \b
    Example:
      tyk-migrate plan keys.csv --mapping mapping.yaml --out plan.csv
      tyk-migrate plan dump.json --plan Gold --app-name '{plan} keys'
      tyk-migrate plan raw-keys.csv --dashboard-url https://dashboard.example.com:3000
    """
    from ..plan import export_plan, summarize
    from ..report import export_frame

    target = output_file(out or default_output(source.path, ".plan.csv"), "--out", not_over=source.files)
    unresolved_target = unresolved_out and output_file(unresolved_out, "--unresolved", not_over=source.files)
    settings = session.settings(portal_url, token)
    prepared = source.prepare(
        scope=plan_scope(owner, plan_filter, product, org),
        portal=session.client(settings),
        concurrency=concurrency,
        progress=None if session.show_progress else False,
        accounts=accounts,
    )
    session.protect(prepared.legacy["key_id"])
    plan = prepared.plan
    summary = summarize(plan)
    session.lines(present.plan_lines(source.path, prepared, summary))
    if users_line := account_summary(summary["accounts"]):
        session.line(users_line)
    files = {"plan": export_plan(plan, target, prepared.snapshot)}
    session.line(f"plan written to {target} (keys masked)")
    if unresolved_target:
        files["unresolved"] = export_frame(prepared.unresolved, unresolved_target)
        session.line(f"unmatched values written to {unresolved_target}")
    counts = {
        "rows": len(prepared.legacy),
        "valid": len(prepared.valid),
        "rejected": prepared.rejected_rows,
        "out_of_scope": summary["out_of_scope"],
        "actions": summary["counts"],
        "blocked_by_reason": summary["reason_codes"],
        "unresolved_values": len(prepared.unresolved),
        **({"users": summary["accounts"]} if summary["accounts"] else {}),
        **present.impact_counts_json(plan),
        **present.dashboard_counts(prepared),
    }
    return Outcome(verdict(blocked=summary["counts"][BLOCKED], rejected=prepared.rejected_rows), counts, files)
