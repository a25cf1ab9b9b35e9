"""The Dashboard from the command line, against the sandbox over HTTP: --from-dashboard, enrichment, live keys."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from test_dashboard import DUMP, SAMPLES, dump_seed

from tyk_migrate.cli import cli
from tyk_migrate.secrets import reveal
from tyk_migrate.sources import load_keys


def env_of(sb: Any, *, dashboard: bool = True) -> dict[str, str]:
    env = {"TYK_PORTAL_URL": sb.url, "TYK_PORTAL_TOKEN": sb.token}
    if dashboard:
        env |= {"TYK_DASHBOARD_URL": sb.dashboard_url, "TYK_DASHBOARD_TOKEN": sb.dashboard_token}
    return env


def invoke(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(cli, args, env={"TYK_DASHBOARD_URL": "", "TYK_DASHBOARD_TOKEN": "", **env})


def rows_of(path: Path) -> dict[str, dict[str, str]]:
    return {r["key_masked"]: r for r in csv.DictReader(path.open(encoding="utf-8"))}


def test_a_file_of_raw_keys_plans_as_the_full_dashboard_dump(make_sandbox: Any, seed_data: Any, tmp_path) -> None:
    sb = make_sandbox(seed=dump_seed(seed_data))
    keys = [reveal(k) for k in load_keys(DUMP)["key_id"]][::-1]  # another order than the Dashboard's
    (tmp_path / "raw.csv").write_text("key\n" + "\n".join(keys) + "\n")
    alone = invoke(["plan", str(tmp_path / "raw.csv"), "--out", str(tmp_path / "alone.csv"), "--json"], env_of(sb))
    full = invoke(["plan", "--from-dashboard", "--out", str(tmp_path / "full.csv"), "--json"], env_of(sb))
    assert alone.exit_code == full.exit_code == 1, alone.output + full.output
    a, f = rows_of(tmp_path / "alone.csv"), rows_of(tmp_path / "full.csv")
    assert a.keys() == f.keys() and len(a) > 90

    def same(row: dict[str, str]) -> tuple[str, ...]:  # which key of an app's group creates it follows the order
        action = "create_app" if row["action"] == "add_credential" else row["action"]
        return action, row["reason_code"], row["client_impact"], row["client_impact_detail"], row["plan_id"]

    assert {k: same(r) for k, r in a.items()} == {k: same(r) for k, r in f.items()}
    kinds = {kind for r in f.values() for kind in r["client_impact"].split(";") if kind}
    assert "live_key_overwritten" in kinds and len(kinds) >= 3  # every key is live: it came from the gateway
    ja, jf = json.loads(alone.stdout.splitlines()[-1]), json.loads(full.stdout.splitlines()[-1])
    assert ja["counts"]["client_impact"] == jf["counts"]["client_impact"]
    assert jf["counts"]["client_impact"]["live_key_overwritten"]["rows"] == len(f) == jf["counts"]["live_keys"]
    assert ja["counts"]["dashboard"] == {"found": len(keys), "not_found": 0, "disagreements": 0}
    assert "dashboard.plan.csv" not in full.output and "by kind: " in full.output
    assert not any(k in alone.output + full.output for k in keys)


def test_hashed_only_rows_are_explained_per_row_not_dropped(make_sandbox: Any, seed_data: Any, tmp_path) -> None:
    sb = make_sandbox(seed=dump_seed(seed_data), behaviour={"key-hashing": "murmur64"})
    rejects = tmp_path / "rejects.csv"
    result = invoke(["validate", "--from-dashboard", "--rejects", str(rejects), "--json"], env_of(sb))
    assert result.exit_code == 1, result.output
    counts = json.loads(result.stdout.splitlines()[-1])["counts"]
    assert counts["rows"] == 120 and counts["rejected"] == 120
    rows = [r for r in csv.DictReader(rejects.open(encoding="utf-8")) if r["check"] == "key_hash_only"]
    assert sorted(int(r["source_row"]) for r in rows) == list(range(1, 121))
    assert all("only this key's hash" in r["message"] for r in rows)
    planned = invoke(["plan", "--from-dashboard", "--out", str(tmp_path / "p.csv")], env_of(sb))
    assert planned.exit_code == 1 and "120 key(s) held only as hashes" in planned.output, planned.output


def test_keys_live_in_the_gateway_are_flagged_by_plan_and_apply_before_any_write(sandbox: Any, tmp_path) -> None:
    source = SAMPLES / "legacy_keys.csv"
    before = sandbox.snapshot()["requests"]["by_route"]
    result = invoke(["plan", str(source), "--out", str(tmp_path / "plan.csv"), "--json"], env_of(sandbox))
    assert result.exit_code == 1, result.output
    rows = rows_of(tmp_path / "plan.csv")
    flagged = [r for r in rows.values() if "live_key_overwritten" in r["client_impact"]]
    counts = json.loads(result.stdout.splitlines()[-1])["counts"]
    assert len(flagged) == counts["client_impact"]["live_key_overwritten"]["rows"] == counts["live_keys"] > 20
    after = sandbox.snapshot()["requests"]["by_route"]
    writes = {r: n for r, n in after.items() if r.split()[0] in {"POST", "PUT", "DELETE"}}
    assert writes == {r: n for r, n in before.items() if r.split()[0] in {"POST", "PUT", "DELETE"}}
    out = tmp_path / "outcomes.csv"
    args = ["apply", str(source), "--journal", str(tmp_path / "j.db"), "--dry-run", "--out", str(out), "--no-progress"]
    applied = invoke(args, env_of(sandbox))
    assert "client impact: " in applied.output and "live_key_overwritten" in applied.output, applied.output
    outcomes = list(csv.DictReader(out.open(encoding="utf-8")))
    assert sum("live_key_overwritten" in r["client_impact"] for r in outcomes) == len(flagged)
    without = invoke(["plan", str(source), "--out", str(tmp_path / "bare.csv")], env_of(sandbox, dashboard=False))
    assert not any("live_key_overwritten" in r["client_impact"] for r in rows_of(tmp_path / "bare.csv").values())
    assert "live    " not in without.output


def test_a_live_key_of_another_owner_blocks_the_row(make_sandbox: Any, seed_data: Any, tmp_path) -> None:
    seed = dump_seed(seed_data)
    sb = make_sandbox(seed=seed)
    entry = seed["dashboard_keys"][0]
    dev = next(u["Email"] for u in seed_data["users"] if u["Active"] and u["OrganisationID"] != 0)
    assert dev != entry["data"].get("meta_data", {}).get("email")
    (tmp_path / "k.csv").write_text(f"key_id,owner_email\n{entry['key_id']},{dev}\n")
    result = invoke(["plan", str(tmp_path / "k.csv"), "--out", str(tmp_path / "p.csv"), "--json"], env_of(sb))
    (row,) = rows_of(tmp_path / "p.csv").values()
    assert row["action"] == "blocked" and "client_impact_blocked" in row["reason_code"], result.output
    assert "live_key_overwritten" in row["client_impact"] and "owned by" in row["client_impact_detail"]
    counts = json.loads(result.stdout.splitlines()[-1])["counts"]
    assert counts["client_impact"]["live_key_overwritten"]["blocked"] == 1
    assert counts["dashboard"]["disagreements"] == 1  # the owner: the file's kept, the difference said
    assert "owner_email: file " in result.output


def test_dashboard_errors_are_one_line_naming_its_host(sandbox: Any, tmp_path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    env = {**env_of(sandbox), "TYK_DASHBOARD_URL": f"http://127.0.0.1:{closed}"}
    result = invoke(["validate", "--from-dashboard", "--rejects", str(tmp_path / "r.csv")], env)
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert f"Dashboard 127.0.0.1:{closed}" in line and "TYK_DASHBOARD_URL" in line
    wrong = {**env_of(sandbox), "TYK_DASHBOARD_TOKEN": "not-the-dashboard-token"}
    denied = invoke(["plan", str(SAMPLES / "legacy_keys.csv"), "--out", str(tmp_path / "p.csv")], wrong)
    assert denied.exit_code == 2 and "not-the-dashboard-token" not in denied.output
    assert (
        f"Dashboard {sandbox.dashboard_url.split('//')[1]}" in denied.output and "TYK_DASHBOARD_TOKEN" in denied.output
    )
    missing = invoke(["plan", "--from-dashboard"], env_of(sandbox, dashboard=False))
    assert missing.exit_code == 2 and "no Dashboard URL" in missing.output
    both = invoke(["plan", "keys.csv", "--from-dashboard"], env_of(sandbox))
    assert both.exit_code == 2 and "not both" in both.output
    neither = invoke(["plan"], env_of(sandbox))
    assert neither.exit_code == 2 and "INPUT" in neither.output
    no_token = invoke(["validate", "--from-dashboard"], {"TYK_DASHBOARD_URL": sandbox.dashboard_url})
    assert no_token.exit_code == 2 and "TYK_DASHBOARD_TOKEN" in no_token.output
    assert "--dashboard-token" not in invoke(["plan", "--help"], {}).output  # the token only from the environment


def test_lookup_by_hash_from_the_command_line(make_sandbox: Any, seed_data: Any, tmp_path) -> None:
    from test_dashboard import ORG

    from tyk_migrate.tyk_hash import token_org

    sb = make_sandbox(seed=dump_seed(seed_data), behaviour={"key-hashing": "murmur64"})
    custom = [k for k in (reveal(k) for k in load_keys(DUMP)["key_id"]) if token_org(k) != ORG][:5]
    assert len(custom) == 5  # custom keys: their hash depends on the function named
    (tmp_path / "raw.csv").write_text("key\n" + "\n".join(custom) + "\n")
    args = ["validate", str(tmp_path / "raw.csv"), "--rejects", str(tmp_path / "r.csv"), "--json"]

    def found(function: str) -> int:
        result = invoke([*args, "--dashboard-hash", function, "--dashboard-org", ORG], env_of(sb))
        return int(json.loads(result.stdout.splitlines()[-1])["counts"]["dashboard"]["found"])

    assert found("murmur64") == 5
    assert found("sha256") == 0  # by hash, not by value: the wrong function finds none of them
    no_org = invoke([*args, "--dashboard-hash", "murmur64"], env_of(sb))
    assert no_org.exit_code == 2 and "--dashboard-org" in no_org.output


def test_the_sandbox_command_takes_its_dashboard_token(tmp_path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tyk_migrate.cli", "sandbox", "--port", str(port), "--json"]
    proc = subprocess.Popen(
        [*command, "--dashboard-token", "dash-secret-1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        json.loads(proc.stdout.readline())
        base = f"http://127.0.0.1:{port}/api/keys/detailed"
        assert httpx.get(base, headers={"Authorization": "dash-secret-1"}).status_code == 200
        assert httpx.get(base, headers={"Authorization": "sandbox-dashboard-token"}).status_code == 401
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    refused = CliRunner().invoke(cli, ["sandbox", "--host", "0.0.0.0", "--token", "a-secret-of-mine"])
    assert refused.exit_code == 2 and "--dashboard-token" in refused.output


@pytest.fixture(autouse=True)
def _no_dashboard_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TYK_DASHBOARD_URL", "TYK_DASHBOARD_TOKEN", "TYK_DASHBOARD_HASH_FUNCTION", "TYK_DASHBOARD_ORG_ID"):
        monkeypatch.delenv(name, raising=False)


def test_a_lookup_by_hash_finding_none_is_refused_not_planned_as_no_key_live(
    make_sandbox: Any, seed_data: Any, tmp_path
) -> None:
    from test_dashboard import ORG

    from tyk_migrate.tyk_hash import token_org

    seed = dump_seed(seed_data)
    sb = make_sandbox(seed=seed, behaviour={"key-hashing": "murmur64"})
    custom = [k for k in (reveal(k) for k in load_keys(DUMP)["key_id"]) if token_org(k) != ORG][:5]
    dev = next(u["Email"] for u in seed_data["users"] if u["Active"] and u["OrganisationID"] != 0)
    rows = "".join(f"{k},{dev},Full,a{i},Free,Payments API\n" for i, k in enumerate(custom))
    (tmp_path / "full.csv").write_text("key_id,owner_email,app_name,alias,plan,products\n" + rows)
    args = ["plan", str(tmp_path / "full.csv"), "--out", str(tmp_path / "p.csv"), "--json"]

    def plan(function: str, org: str = ORG, *extra: str) -> Any:
        return invoke([*args, "--dashboard-hash", function, "--dashboard-org", org, *extra], env_of(sb))

    right = plan("murmur64")
    assert json.loads(right.stdout.splitlines()[-1])["counts"]["live_keys"] == 5  # all live, of another owner
    for wrong in (plan("sha256"), plan("murmur64", "0" * 24)):  # a wrong function, a wrong org: none found
        assert wrong.exit_code == 2 and "Traceback" not in wrong.output
        (line,) = [x for x in wrong.output.splitlines() if x.startswith("error:")]
        assert "found 0 of 5 custom key(s)" in line and "org ID" in line and "--dashboard-none-live" in line
        assert not any(k in wrong.output for k in custom)
    accepted = plan("sha256", ORG, "--dashboard-none-live")
    assert accepted.exit_code == 0 and "found 0 of 5" in accepted.output
    assert json.loads(accepted.stdout.splitlines()[-1])["counts"]["live_keys"] == 0
    # validate has no live check: the enrichment's warning line says the same, the exit code is validate's
    checked = invoke(["validate", str(tmp_path / "full.csv"), "--rejects", str(tmp_path / "r.csv"),
                      "--dashboard-hash", "sha256", "--dashboard-org", ORG], env_of(sb))  # fmt: skip
    assert "warning: " in checked.output and "found 0 of 5 custom key(s)" in checked.output
