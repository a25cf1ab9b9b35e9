"""``tyk-migrate verify`` and ``tyk-migrate reconcile`` (verify, reconcile, report)."""

from __future__ import annotations

from typing import Any

import click

from ..vocabulary import MIGRATED_STATUSES, PRESENT
from . import present
from .app import cli
from .exits import NOTHING_TO_VERIFY, Outcome, verdict
from .options import Source, command_options, input_options, portal_options, read_concurrency_option
from .paths import output_file
from .session import Session


def _sample_value(value: str | None) -> int | float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a count or a fraction", param_hint="--sample") from None
    return int(number) if number.is_integer() and number >= 1 else number


class CallBar:
    """``verify_access``'s ``progress(done, total)`` as a tqdm bar (made at the first call, when the total is known)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or not total:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="key", desc="verify", dynamic_ncols=True, leave=True)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


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
@click.option("--no-progress", is_flag=True, help="No progress bar (logs, CI).")
@portal_options
@command_options()
def verify_command(
    session: Session,
    source: Source,
    journal: str,
    gateway_url: str | None,
    header_style: str,
    sample: str | None,
    concurrency: int,
    rate: float | None,
    path: str,
    out: str | None,
    no_progress: bool,
    portal_url: str | None,
    token: str | None,
) -> Outcome:
    """Call the gateway with every migrated key and report what it answered.

    The run's outcome is rebuilt from INPUT (loaded and planned again against the portal) and its
    journal; each created or skipped key is sent to an API of its products. Exit 0 when every key called
    answered 2xx, 1 otherwise.

    \b
    Example:
      tyk-migrate verify keys.csv --journal run.journal --gateway-url https://gw.example.com --out verified.csv
    """
    from ..journal import Journal
    from ..report import export_outcomes
    from ..verify import (
        outcomes_from_journal,
        verification_attempted,
        verification_summary,
        verified_ok,
        verify_access,
    )

    sampled = _sample_value(sample)
    target = out and output_file(out, "--out", not_over=[source.path, journal])
    settings = session.settings(portal_url, token, gateway_url=gateway_url)
    prepared = source.prepare(portal=session.client(settings), progress=False, concurrency=concurrency)
    session.protect(prepared.legacy["key_id"])
    with Journal(journal) as ledger:
        outcomes = outcomes_from_journal(prepared.plan, ledger)
    migrated = outcomes["status"].isin(MIGRATED_STATUSES)
    if not migrated.any():
        session.note("nothing to verify: no key of this input is migrated according to the journal")
        return Outcome(NOTHING_TO_VERIFY, {"migrated": 0})
    bar = CallBar(session.show_progress and not no_progress)
    try:
        result = verify_access(
            outcomes,
            settings.gateway_url or None,
            snapshot=prepared.snapshot,
            sample=sampled,
            header_style=header_style,
            concurrency=concurrency,
            rate_per_second=rate,
            path=path,
            progress=bar,
            min_key_length=settings.min_key_length,  # what the gateway refuses a key for, in verify's hints
        )
    finally:
        bar.close()
    summary = verification_summary(result)
    session.lines(present.verify_lines(summary))
    files: dict[str, Any] = {}
    if target:
        files["outcomes"] = export_outcomes(result, target)
        session.line(f"outcome log: {files['outcomes']}")
    called = verification_attempted(result)
    ok = verified_ok(result)[called]
    counts = {
        "migrated": int(migrated.sum()),
        "called": int(called.sum()),
        "ok": int(ok.sum()),
        "by_answer": dict(zip(summary["verify_status"].astype(str), summary["keys"].astype(int), strict=True)),
    }
    return Outcome(verdict(unverified=int((~ok).sum())), counts, files)


@cli.command("reconcile")
@input_options()
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write one row per legacy key (CSV).")
@click.option(
    "--unexplained", type=click.Path(dir_okay=False), default=None, help="Write portal credentials no key explains."
)
@click.option("--html", type=click.Path(dir_okay=False), default=None, help="Write a self-contained HTML report.")
@read_concurrency_option
@portal_options
@command_options()
def reconcile_command(
    session: Session,
    source: Source,
    out: str | None,
    unexplained: str | None,
    html: str | None,
    concurrency: int,
    portal_url: str | None,
    token: str | None,
) -> Outcome:
    """Compare the keys in INPUT with the portal as it is now.

    Each valid key is present, missing, wrong_owner, wrong_plan, wrong_products or duplicated; portal
    credentials that no key explains are listed too. Exit 0 when every key is present and no row was
    rejected, 1 otherwise (reports written).

    \b
    Example:
      tyk-migrate reconcile keys.csv --out reconciliation.csv --html report.html
    """
    from ..reconcile import reconcile
    from ..report import export_frame, export_reconciliation, write_report

    targets = {
        name: output_file(path, option, not_over=[source.path])
        for name, option, path in (("reconciliation", "--out", out), ("unexplained", "--unexplained", unexplained),
                                   ("report", "--html", html))
        if path
    }  # fmt: skip
    settings = session.settings(portal_url, token)
    prepared = source.prepare(portal=session.client(settings), progress=False, concurrency=concurrency)
    session.protect(prepared.legacy["key_id"])
    recon = reconcile(prepared.valid, prepared.snapshot, plan=prepared.plan)
    counts = {str(status): int(n) for status, n in recon.counts.items()}
    session.lines(present.reconcile_lines(counts, prepared.rejected_rows))
    files: dict[str, Any] = {}
    if "reconciliation" in targets:
        files["reconciliation"] = export_reconciliation(recon, targets["reconciliation"])
        session.line(f"reconciliation: {files['reconciliation']}")
    if "unexplained" in targets:
        files["unexplained"] = export_frame(recon.unexplained, targets["unexplained"])
        session.line(f"unexplained credentials: {files['unexplained']}")
    if "report" in targets:
        files["report"] = write_report(
            targets["report"],
            rejects=prepared.rejects,
            plan=prepared.plan,
            reconciliation=recon,
            inputs={"valid keys": len(prepared.valid)},
            title="Reconciliation report",
            input_path=source.path,
            mapping=source.mapping,
            portal_url=prepared.snapshot.portal_url,
        )
        session.line(f"report: {files['report']}")
    not_present = sum(n for status, n in counts.items() if status not in (PRESENT, "unexplained"))
    missing = 0 if recon.all_present() else max(1, not_present)
    counts["rejected"] = prepared.rejected_rows
    return Outcome(verdict(missing=missing, rejected=prepared.rejected_rows), counts, files)
