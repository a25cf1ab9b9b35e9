"""``tyk-migrate rollback``: a dry run that deletes nothing, and a summary a person can read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from tyk_migrate.cli import cli
from tyk_migrate.journal import Journal
from tyk_migrate.rollback import credentials_to_undo

SAMPLE = Path(__file__).resolve().parent.parent / "data-samples" / "legacy_keys.csv"


def run(args: list[str], sb: Any) -> Any:
    env = {"TYK_PORTAL_URL": sb.portal_url, "TYK_PORTAL_TOKEN": sb.token}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def counts(sb: Any) -> tuple[int, int]:
    state = sb.snapshot()
    return len(state["apps"]), len(state["custom_credentials"])


def test_dry_run_deletes_nothing_then_the_rollback_reports_counts_and_why_it_kept(sandbox: Any, tmp_path: Path) -> None:
    journal = tmp_path / "run.journal"
    seeded = counts(sandbox)
    applied = run(
        ["apply", str(SAMPLE), "--journal", str(journal), "--out", str(tmp_path / "o.csv"), "--no-progress"], sandbox
    )
    assert applied.exit_code == 1, applied.output
    migrated = counts(sandbox)
    with Journal(journal) as jr:
        ours = len(credentials_to_undo(jr))
    # someone adds a key of their own to one of the migration's apps: that app must stay
    app_id = next(a["ID"] for a in sandbox.snapshot()["apps"] if a["ID"] > 10)
    body = {"Type": "CREDENTIAL_TYPE_TYK_MANAGED", "PlanID": 7, "ProductIDs": [1], "KeyID": "their-own-key-00000001",
            "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM", "AuthenticationMethod": "Auth Token"}  # fmt: skip
    httpx.post(f"{sandbox.portal_url}/apps/{app_id}/custom_credentials", json=body,
               headers={"Authorization": sandbox.token}).raise_for_status()  # fmt: skip

    dry = run(["rollback", "--journal", str(journal), "--dry-run"], sandbox)
    assert dry.exit_code == 0, dry.output
    assert counts(sandbox) == (migrated[0], migrated[1] + 1)  # nothing deleted
    with Journal(journal) as jr:
        assert len(credentials_to_undo(jr)) == ours  # and the journal untouched: the real rollback is still to do
    assert "dry run (nothing deleted)" in dry.output and "would delete" in dry.output
    assert "1 app(s): the app holds credentials the migration did not create" in dry.output

    done = run(["rollback", "--journal", str(journal), "--yes"], sandbox)
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert len(lines) < 12, done.output  # counts, not one line per object
    assert any(line.strip().startswith("apps:") and "deleted" in line for line in lines)
    assert any(line.strip().startswith("credentials:") and "deleted with app" in line for line in lines)
    assert "1 app(s): the app holds credentials the migration did not create" in done.output
    assert "their-own-key" not in done.output
    assert counts(sandbox) == (seeded[0] + 1, seeded[1] + 1)  # the kept app and its foreign key remain
