"""``plan``/``apply --create-missing-users`` (and ``--activate-users``) against the sandbox."""

from __future__ import annotations

import csv
import json
from typing import Any

from click.testing import CliRunner
from test_cli_plan import HEADER, developer, env

from tyk_migrate.cli import cli


def keys_file(tmp_path: Any, dev: str, inactive: str) -> Any:
    source = tmp_path / "keys.csv"
    source.write_text(
        HEADER
        + f"brand-new-key-000000001,{dev},Mobile,k1,Free,Payments API\n"
        + "brand-new-key-000000002,new.person@nowhere.example,X,k2,Free,Payments API\n"
        + "brand-new-key-000000003,new.person@nowhere.example,X,k3,Free,Payments API\n"
        + f"brand-new-key-000000004,{inactive},Y,k4,Free,Payments API\n",
        encoding="utf-8",
    )
    return source


def inactive_developer(seed: dict[str, Any]) -> str:
    return next(u["Email"] for u in seed["users"] if not u["Active"] and u["OrganisationID"] != 0)


def test_plan_counts_users_to_create_only_when_asked(sandbox, seed_data, tmp_path):
    source = keys_file(tmp_path, developer(seed_data), inactive_developer(seed_data))
    out = tmp_path / "plan.csv"
    plain = CliRunner().invoke(cli, ["plan", str(source), "--out", str(out)], env=env(sandbox))
    assert plain.exit_code == 1 and "users to create" not in plain.output
    asked = CliRunner().invoke(
        cli,
        ["plan", str(source), "--out", str(out), "--create-missing-users", "--activate-users", "--users-org", "1"],
        env=env(sandbox),
    )
    assert asked.exit_code == 0, asked.output
    assert "users to create: 1, users to activate: 1" in asked.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["user_action"] for r in rows] == ["", "create_user", "create_user", "activate_user"]
    assert [r["action"] for r in rows] == ["create_app", "create_app", "add_credential", "create_app"]
    as_json = CliRunner().invoke(
        cli,
        ["plan", str(source), "--out", str(out), "--create-missing-users", "--users-org", "1", "--json"],
        env=env(sandbox),
    )
    assert json.loads(as_json.stdout)["counts"]["users"] == {"create": 1, "activate": 0}


def test_apply_creates_the_missing_owner_and_rollback_removes_it(sandbox, seed_data, tmp_path):
    source = keys_file(tmp_path, developer(seed_data), inactive_developer(seed_data))
    journal = tmp_path / "run.journal"
    args = ["apply", str(source), "--journal", str(journal), "--out", str(tmp_path / "o.csv"), "--no-progress"]
    result = CliRunner().invoke(
        cli, [*args, "--create-missing-users", "--users-active", "--users-org", "1"], env=env(sandbox)
    )
    assert result.exit_code == 1, result.output  # the inactive owner's key stays blocked: not asked to activate
    assert "users to create: 1" in result.output
    made = [u for u in sandbox.snapshot()["users"] if u["Email"] == "new.person@nowhere.example"]
    assert len(made) == 1 and made[0]["Active"] is True and made[0]["First"] == "New"
    outcomes = list(csv.DictReader((tmp_path / "o.csv").open(encoding="utf-8")))
    assert [r["status"] for r in outcomes] == ["created", "created", "created", "blocked"]
    rolled = CliRunner().invoke(cli, ["rollback", "--journal", str(journal), "--yes"], env=env(sandbox))
    assert rolled.exit_code == 0, rolled.output
    assert "users deleted: 1" in rolled.output
    assert not [u for u in sandbox.snapshot()["users"] if u["Email"] == "new.person@nowhere.example"]


def test_a_rerun_plans_the_created_owners_keys_as_a_developers(sandbox, seed_data, tmp_path):
    """The account joins the given organisation, so the rerun's planner sees a developer (not a portal admin)
    and its keys are already there; without an organisation the command refuses in one line."""
    source = keys_file(tmp_path, developer(seed_data), inactive_developer(seed_data))
    journal, out = tmp_path / "run.journal", tmp_path / "o.csv"
    args = ["apply", str(source), "--journal", str(journal), "--out", str(out), "--no-progress"]
    refused = CliRunner().invoke(cli, [*args, "--create-missing-users"], env=env(sandbox))
    assert refused.exit_code == 2 and "--users-org" in refused.output and "Traceback" not in refused.output
    assert not [u for u in sandbox.snapshot()["users"] if u["Email"] == "new.person@nowhere.example"]
    for _ in (1, 2):
        result = CliRunner().invoke(
            cli, [*args, "--create-missing-users", "--users-active", "--users-org", "3"], env=env(sandbox)
        )
        assert result.exit_code == 1, result.output  # only the inactive owner's key stays blocked
        outcomes = list(csv.DictReader(out.open(encoding="utf-8")))
        assert [r["status"] for r in outcomes[:3]] == ["created"] * 3, outcomes
    (made,) = [u for u in sandbox.snapshot()["users"] if u["Email"] == "new.person@nowhere.example"]
    assert made["OrganisationID"] == 3
    plan_out = tmp_path / "p.csv"
    replanned = CliRunner().invoke(cli, ["plan", str(source), "--out", str(plan_out)], env=env(sandbox))
    rows = list(csv.DictReader(plan_out.open(encoding="utf-8")))
    assert [(r["action"], r["reason_code"]) for r in rows[1:3]] == [("skip_existing", "already_migrated")] * 2, (
        replanned.output
    )
