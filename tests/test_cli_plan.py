"""``tyk-migrate plan`` against the sandbox: counts, reasons, the masked CSV, exit codes."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tyk_migrate.cli import cli
from tyk_migrate.secrets import mask

HEADER = "key_id,owner_email,app_name,alias,plan,products\n"


def env(sb: Any) -> dict[str, str]:
    return {"TYK_PORTAL_URL": sb.url, "TYK_PORTAL_TOKEN": sb.token}


def existing_rows(seed: dict[str, Any]) -> list[str]:
    """Legacy lines for the seed's credentials; the first one names another plan than the portal has."""
    apps = {a["ID"]: a for a in seed["apps"]}
    users = {u["ID"]: u for u in seed["users"]}
    plans = {p["ID"]: p for p in seed["plans"]}
    products = {p["ID"]: p for p in seed["products"]}
    lines = []
    for n, cred in enumerate(seed["custom_credentials"]):
        app = apps[cred["AppID"]]
        plan_id = int(cred["PlanID"]) if n else next(p for p in plans if p != int(cred["PlanID"]))
        refs = ";".join(products[p]["ReferenceID"] for p in cred["ProductIDs"])
        email = users[app["UserID"]]["Email"]
        lines.append(f"{cred['KeyID']},{email},{app['Name']},a,{plans[plan_id]['ReferenceID']},{refs}\n")
    return lines


def developer(seed: dict[str, Any]) -> str:
    return next(u["Email"] for u in seed["users"] if u["Active"] and u["OrganisationID"] != 0)


def test_plan_prints_counts_writes_masked_csv_and_exits_1_when_blocked(sandbox, seed_data, tmp_path):
    dev = developer(seed_data)
    source = tmp_path / "keys.csv"
    source.write_text(
        HEADER
        + "".join(existing_rows(seed_data))
        + f"brand-new-key-000000001,{dev.upper()},=Mobile,k1,Free,Payments API;Cards\n"
        + f"brand-new-key-000000002,{dev},=Mobile,k2,Free,Payments API\n"
        + "brand-new-key-000000003,stranger@nowhere.example,X,k3,Free,Payments API\n",
        encoding="utf-8",
    )
    out = tmp_path / "plan.csv"
    result = CliRunner().invoke(cli, ["plan", str(source), "--out", str(out)], env=env(sandbox))
    assert result.exit_code == 1, result.output
    assert "create_app" in result.output and "blocked" in result.output
    assert "top blocking reasons" in result.output and "not a portal user" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert "key_id" not in rows[0] and "key_masked" in rows[0]
    text = out.read_text(encoding="utf-8")
    for raw in ["brand-new-key-000000001", *(c["KeyID"] for c in seed_data["custom_credentials"])]:
        assert raw not in text and raw not in result.output
    actions = [r["action"] for r in rows]
    assert actions.count("skip_existing") == len(seed_data["custom_credentials"]) - 1
    assert sum(1 for r in rows if r["reason"].startswith("conflict")) == 1
    new_masks = [mask(f"brand-new-key-00000000{i}") for i in (1, 2, 3)]
    new = sorted((r for r in rows if r["key_masked"] in new_masks), key=lambda r: new_masks.index(r["key_masked"]))
    assert [r["action"] for r in new] == ["create_app", "add_credential", "blocked"]
    assert new[0]["product_ids"] == "1;4"  # lists joined
    assert new[0]["app_name"] == "'=Mobile"  # spreadsheet formula neutralised


def test_clean_plan_exits_0_with_the_default_output_name(sandbox, seed_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "clean keys.csv"
    source.write_text(HEADER + f"fresh-key-0000000001,{developer(seed_data)},App,a,Standard,Accounts\n")
    result = CliRunner().invoke(cli, ["plan", str(source)], env=env(sandbox))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "clean keys.plan.csv").exists()


def test_scope_options_and_mapping(sandbox, seed_data, tmp_path):
    dev = developer(seed_data)
    source = tmp_path / "keys.csv"
    source.write_text(
        HEADER + f"scoped-key-0000000001,{dev},A,a,legacy-gold,Payments API\n"
        f"scoped-key-0000000002,{dev},A,a,Free,Payments API\n"
    )
    mapping = tmp_path / "map.yaml"
    mapping.write_text("plans:\n  legacy-gold: Premium\n")
    out = tmp_path / "p.csv"
    args = ["plan", str(source), "--mapping", str(mapping), "--plan", "Premium", "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--app-name", "{plan} keys"], env=env(sandbox))
    assert result.exit_code == 0, result.output
    assert "1 out of scope" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["plan_id"], r["app_name"]) for r in rows] == [("9", "Premium keys")]


@pytest.mark.parametrize(
    ("args", "environ", "words"),
    [
        (["missing.csv"], None, "no such file"),
        (["{src}", "--app-name", "{nope}"], None, "unknown field"),
        (["{src}", "--plan", "Platinum"], None, "matches no portal plan"),
        (["{src}"], {"TYK_PORTAL_TOKEN": ""}, "no portal token"),
        (["{empty}"], None, "empty.csv: no key records found"),
        # refused before the portal is read: an unreachable portal does not matter
        (["{empty}"], {"TYK_PORTAL_URL": "http://127.0.0.1:9"}, "empty.csv: no key records found"),
    ],
)
def test_unusable_input_or_config_exits_2_with_one_line(sandbox, tmp_path, args, environ, words):
    source = tmp_path / "k.csv"
    source.write_text(HEADER + "some-key-00000000001,a@b.example,A,a,Free,Payments API\n")
    e = {**env(sandbox), **(environ or {})}
    empty = tmp_path / "empty.csv"
    empty.write_text(HEADER)
    args = [a.replace("{src}", str(source)).replace("{empty}", str(empty)) for a in args]
    argv = ["plan", *args, "--out", str(tmp_path / "o.csv")]
    result = CliRunner().invoke(cli, argv, env=e)
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert not Path(tmp_path / "o.csv").exists()


def test_plan_csv_names_plans_and_products_beside_their_ids_and_has_no_run_columns(sandbox, seed_data, tmp_path):
    from tyk_migrate.report import OUTCOME_COLUMNS

    dev = developer(seed_data)
    source = tmp_path / "keys.csv"
    source.write_text(HEADER + f"named-key-0000000001,{dev},App,a,Standard,Accounts;Payments API\n")
    out = tmp_path / "plan.csv"
    result = CliRunner().invoke(cli, ["plan", str(source), "--out", str(out)], env=env(sandbox))
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames or []), list(reader)
    assert header.index("plan_name") == header.index("plan_id") + 1
    assert header.index("product_names") == header.index("product_ids") + 1
    plans = {str(p["ID"]): p["Name"] for p in seed_data["plans"]}
    products = {str(p["ID"]): p["Name"] for p in seed_data["products"]}
    row = rows[0]
    assert row["plan_name"] == plans[row["plan_id"]]
    assert row["product_names"] == ";".join(products[p] for p in row["product_ids"].split(";"))
    run_only = {"status", "http_status", "error", "attempts", "batch", "started_at", "finished_at", "verify_status"}
    assert run_only <= set(OUTCOME_COLUMNS) and not run_only & set(header)
