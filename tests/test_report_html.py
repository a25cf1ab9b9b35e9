"""The HTML report's template and its first screen: autoescaping, the verdict, the funnel, the action list,
provenance and the glossary."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import markupsafe
import pandas as pd
import pytest
from test_plan import USERS, legacy, portal
from test_plan_reasons import CRAFTED, crafted_plan

from tyk_migrate.plan import BLOCKING_CODES, build_plan
from tyk_migrate.report_html import label_bars, write_report
from tyk_migrate.report_summary import Evidence, funnel, sha256_of, verdict
from tyk_migrate.report_terms import RECON_MEANINGS, TODOS, action_items, glossary, header
from tyk_migrate.secrets import fingerprint, mask, reveal, secret_series

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data-samples"


def outcome_frame(statuses: list[str], **columns: list[Any]) -> pd.DataFrame:
    """An outcome frame of len(statuses) keys with the given run statuses (blocked rows planned blocked)."""
    keys = [f"report-test-key-{n:08d}-xyz" for n in range(len(statuses))]
    frame = pd.DataFrame(
        {
            "source_row": range(1, len(statuses) + 1),
            "key_fingerprint": [fingerprint(k) for k in keys],
            "owner_email": [f"dev{n}@apps.example" for n in range(len(statuses))],
            "app_name": [f"App {n}" for n in range(len(statuses))],
            "action": ["blocked" if s == "blocked" else "create_app" for s in statuses],
            "reason_code": ["owner_inactive" if s == "blocked" else "" for s in statuses],
            "status": statuses,
            **columns,
        }
    )
    frame.insert(1, "key_id", secret_series(keys))
    return frame


def rejects_frame(rows: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_row": rows,
            "column": "owner_email",
            "check": "email_malformed",
            "severity": "error",
            "message": "not an e-mail",
            "value": "x",
        }
    )


def recon_of(frame: pd.DataFrame, statuses: list[str], unexplained: int = 0) -> Any:
    from tyk_migrate.reconcile import ROW_COLUMNS, UNEXPLAINED_COLUMNS, Reconciliation

    rows = pd.DataFrame({c: [None] * len(frame) for c in ROW_COLUMNS})
    rows["key_fingerprint"] = list(frame["key_fingerprint"])
    rows["recon_status"] = statuses
    extra = pd.DataFrame({c: [None] * unexplained for c in UNEXPLAINED_COLUMNS})
    return Reconciliation(rows=rows, unexplained=extra, summary=pd.DataFrame())


# -- autoescaping and keys ----------------------------------------------------------------------------------


def test_markup_in_app_names_and_aliases_is_escaped(tmp_path: Path) -> None:
    from tyk_migrate.reconcile import reconcile
    from tyk_migrate.snapshot import PortalSnapshot

    frame = outcome_frame(["failed", "created"])
    frame["app_name"] = ["<script>alert('app')</script>", "Zürich & Co"]
    frame["error"] = ["portal said <b>no</b>", None]
    seed = {  # a credential no legacy key explains: its app name and alias are shown as the portal has them
        "users": [{"ID": 2, "Email": "ada@example.com", "OrganisationID": 1, "Role": "consumer-admin"}],
        "products": [{"ID": 1, "Name": "Payments", "ReferenceID": "pol-pay"}],
        "plans": [{"ID": 7, "Name": "Free", "ReferenceID": "pol-free"}],
        "apps": [{"ID": 11, "Name": "<script>alert('portal app')</script>", "UserID": 2, "Visibility": "organisation"}],
        "custom_credentials": [{"ID": 21, "AppID": 11, "KeyID": "portal-born-key-000001", "PlanID": "7",
                                "ProductIDs": [1], "Alias": '<img src=x onerror="alert(1)">'}],
    }  # fmt: skip
    legacy_rows = frame.assign(plan="pol-free", products=[["pol-pay"], ["pol-pay"]], alias=None, source_id=None)
    recon = reconcile(legacy_rows, PortalSnapshot.from_seed(seed, portal_url="http://127.0.0.1:1/portal-api"))
    page = write_report(
        tmp_path / "r.html", outcomes=frame, plan=frame, reconciliation=recon, inputs={"note": "<script>x</script>"},
        title="<i>T</i>",
    ).read_text(encoding="utf-8")  # fmt: skip
    assert "<script" not in page and "<img" not in page and "<b>no</b>" not in page and "<i>T</i>" not in page
    assert "&lt;script&gt;alert(&#x27;app&#x27;)&lt;/script&gt;" in page  # the legacy app name
    assert "&lt;script&gt;alert(&#x27;portal app&#x27;)&lt;/script&gt;" in page  # the portal's app name
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page  # the portal alias
    assert "portal said &lt;b&gt;no&lt;/b&gt;" in page and "&lt;i&gt;T&lt;/i&gt;" in page
    assert "portal-born-key-000001" not in page


def test_a_raw_key_with_a_quote_is_scrubbed_from_any_cell(tmp_path: Path) -> None:
    """The scrub pass looks for ``html.escape`` forms, so cells must be escaped that way (Jinja's own escape
    writes ``&#39;``, which the pass would miss)."""
    key = "it's-a-raw-key-value-0001"
    plan = outcome_frame(["created"])
    plan["key_id"] = secret_series([key])
    plan["key_fingerprint"] = [fingerprint(key)]
    rejects = rejects_frame([9]).assign(message=f"row 9 repeats the key {key}")  # no key_id: not scrubbed per row
    page = write_report(tmp_path / "r.html", outcomes=plan, rejects=rejects).read_text(encoding="utf-8")
    for form in (key, html.escape(key), str(markupsafe.escape(key))):
        assert form not in page
    assert html.escape(mask(key)) in page


# -- the verdict --------------------------------------------------------------------------------------------


def test_verdict_all_migrated_and_verified() -> None:
    frame = outcome_frame(["created", "created", "skipped", "blocked"], verify_status=[200, 200, 200, None])
    got = verdict(Evidence(outcomes=frame, plan=frame, verification=frame, rejects=rejects_frame([7, 8])))
    assert got.tone == "ok"
    assert got.text == "All 3 migratable keys are in the portal and verified"
    assert got.notes == ["1 blocked key and 2 rejected rows need action: see What to do."]


def test_verdict_one_key_and_no_checks() -> None:
    one = outcome_frame(["created"])
    assert verdict(Evidence(outcomes=one)).text == (
        "The only migratable key is in the portal (not verified yet: run verify and reconcile)"
    )


def test_verdict_failed_writes_come_first() -> None:
    frame = outcome_frame(["failed", "failed", "failed", "created", "rolled_back"])
    got = verdict(Evidence(outcomes=frame))
    assert (got.tone, got.text) == ("bad", "3 writes failed and 1 key was rolled back: see below")
    assert verdict(Evidence(outcomes=outcome_frame(["failed", "created"]))).text == "1 write failed: see below"


def test_verdict_names_keys_the_gateway_refused_and_reconciliation_found_wrong() -> None:
    frame = outcome_frame(["created", "created", "created", "blocked"], verify_status=[200, 401, 403, None])
    recon = recon_of(frame, ["present", "missing", "wrong_plan", "missing"])  # the blocked key is expected missing
    got = verdict(Evidence(outcomes=frame, verification=frame, reconciliation=recon))
    assert got.tone == "bad"
    assert got.text == (
        "2 migrated keys did not open their API and 2 migratable keys are not as expected in the portal "
        "(1 missing, 1 wrong_plan): see below"
    )


def test_verdict_for_unfinished_dry_and_empty_runs() -> None:
    pending = verdict(Evidence(outcomes=outcome_frame(["created", "pending", "pending"])))
    assert (pending.tone, pending.text) == ("warn", "The run is not finished: 2 of 3 keys are still pending")
    dry = verdict(Evidence(outcomes=outcome_frame(["dry_run", "dry_run", "skipped"])))
    assert dry.text == "Dry run: 2 keys would be written; nothing was written"
    none = verdict(Evidence(outcomes=outcome_frame(["blocked", "blocked"])))
    assert (none.tone, none.text) == ("bad", "No key could migrate: see What to do")


def test_verdict_without_a_run() -> None:
    plan = outcome_frame(["created", "created", "blocked"]).drop(columns="status")
    assert verdict(Evidence(plan=plan)).text == "Nothing written yet: the plan has 2 keys ready to migrate"
    recon = recon_of(plan, ["present", "present", "missing"], unexplained=1)
    audited = verdict(Evidence(plan=plan, reconciliation=recon))
    assert audited.text == "All 2 migratable keys are present in the portal as expected"
    assert audited.notes[-1] == "1 portal credential no legacy key explains: see Reconciliation."
    alone = verdict(Evidence(reconciliation=recon))  # no plan: every legacy key should be there
    assert alone.text == "1 legacy key is not as expected in the portal (1 missing): see below"
    assert verdict(Evidence()).text == "Nothing to report yet: no plan, run or reconciliation was given"


def test_the_verdict_heads_the_page(tmp_path: Path) -> None:
    frame = outcome_frame(["failed", "created"])
    page = write_report(tmp_path / "r.html", outcomes=frame).read_text(encoding="utf-8")
    assert '<div class="verdict bad">\n<p class="headline">1 write failed: see below</p>' in page
    assert page.index("1 write failed") < page.index("<h2>")


# -- the funnel against a sandbox run ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """load -> validate -> plan (one plan of the samples, so some rows are out of scope) -> apply -> verify
    -> reconcile, against the sample sandbox; then the report of it all."""
    from tyk_migrate import apply_plan, fetch_snapshot, load_keys, validate_keys, verify_access
    from tyk_migrate.config import Settings
    from tyk_migrate.reconcile import reconcile
    from tyk_migrate.sandbox import SandboxConfig, run_in_thread

    seed = json.loads((SAMPLES / "sandbox_seed.json").read_text(encoding="utf-8"))
    out = tmp_path_factory.mktemp("report")
    with run_in_thread(SandboxConfig(seed=seed)) as sandbox:
        settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token, gateway_url=sandbox.gateway_url)
        legacy_keys = load_keys(SAMPLES / "legacy_keys.csv")
        valid, rejects = validate_keys(legacy_keys)
        before = fetch_snapshot(settings, progress=False)
        plan, _ = build_plan(valid, before, scope={"plans": ["Premium"]})
        outcomes = apply_plan(plan, settings, out / "run.journal", concurrency=8)
        verified = verify_access(outcomes, sandbox.gateway_url, snapshot=before, concurrency=8)
        recon = reconcile(valid, fetch_snapshot(settings, progress=False), plan=verified)
        report = write_report(
            out / "report.html",
            outcomes=verified,
            plan=plan,
            rejects=rejects,
            reconciliation=recon,
            input_path=SAMPLES / "legacy_keys.csv",
            portal_url=sandbox.portal_url,
        )
    yield {"legacy": legacy_keys, "valid": valid, "rejects": rejects, "plan": plan, "verified": verified,
           "recon": recon, "page": report.read_text(encoding="utf-8")}  # fmt: skip


def test_funnel_numbers_of_a_sandbox_run(sandbox_run: dict[str, Any]) -> None:
    from tyk_migrate.verify import verified_ok

    run = sandbox_run
    plan, verified = run["plan"], run["verified"]
    expected = {
        "read": len(run["legacy"]),
        "rejected": len(run["legacy"]) - len(run["valid"]),
        "blocked": int((plan["action"] == "blocked").sum()),
        "created": int((verified["status"] == "created").sum()),
        "skipped": int((verified["status"] == "skipped").sum()),
        "verified": int(verified_ok(verified).sum()),
        "present": int((run["recon"].rows["recon_status"] == "present").sum()),
    }
    assert plan.attrs["out_of_scope"] > 0 and expected["blocked"] > 0 and expected["created"] > 0
    ev = Evidence(outcomes=verified, plan=plan, rejects=run["rejects"], verification=verified,
                  reconciliation=run["recon"])  # fmt: skip
    assert funnel(ev) == expected
    shown = dict(re.findall(r'<b>(\d+)</b>\s*<span class="name">(\w+)</span>', run["page"]))
    assert {name: int(n) for n, name in shown.items()} == expected
    migrated = expected["created"] + expected["skipped"]
    assert f"All {migrated} migratable keys are in the portal and verified" in run["page"]


def test_report_of_a_sandbox_run_holds_no_raw_key(sandbox_run: dict[str, Any]) -> None:
    keys = {reveal(k) for k in sandbox_run["legacy"]["key_id"] if k is not None}
    keys = {k for k in keys if len(k) >= 8}
    assert len(keys) > 300
    page = sandbox_run["page"]
    assert not [k for k in keys if k in page or html.escape(k) in page]


def test_provenance(sandbox_run: dict[str, Any], tmp_path: Path) -> None:
    import getpass

    import tyk_migrate

    page = sandbox_run["page"]
    digest = sha256_of(SAMPLES / "legacy_keys.csv")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    for label, value in [("tool", f"tyk-migrate {tyk_migrate.__version__}"), ("input file SHA-256", digest),
                         ("operator", getpass.getuser()), ("portal", "http://127.0.0.1:")]:  # fmt: skip
        assert re.search(rf"<tr><th>{re.escape(label)}</th><td>{re.escape(value)}", page), label
    assert re.search(r"<tr><th>started</th><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</td></tr>", page)
    assert re.search(r"<tr><th>duration</th><td>[\d.:]+( s)?</td></tr>", page)
    missing = write_report(
        tmp_path / "r.html", input_path=tmp_path / "gone.csv", portal_url="https://u:pw@portal.x/api"
    )
    text = missing.read_text(encoding="utf-8")
    assert "<tr><th>input file SHA-256</th><td>not computed (No such file or directory)</td></tr>" in text
    assert "pw@" not in text and "<td>https://portal.x/api</td>" in text


# -- the action list ----------------------------------------------------------------------------------------


def test_every_blocking_code_has_an_action() -> None:
    assert set(TODOS) == set(BLOCKING_CODES)


def test_action_list_groups_blocked_keys_by_reason_code() -> None:
    idle = [{"ID": 20 + n, "Email": f"idle{n}@apps.example", "First": "I", "Last": str(n), "Active": False,
             "OrganisationID": 4, "Role": "consumer-team-member"} for n in (1, 2)]  # fmt: skip
    rows = [{"owner": "gone@apps.example"}, {"owner": "gone@apps.example"}, {"owner": "idle2@apps.example"},
            {"owner": "idle1@apps.example"}, {"plan": "pol-pay", "products": ["pol-acc"]},
            {"plan": "pol-acc", "products": ["pol-pay"]}, {"plan": "pol-acc", "products": ["pol-acc", "pol-pay"]},
            {"owner": "dev.two@apps.example"}]  # fmt: skip
    plan, _ = build_plan(legacy(*rows), portal(users=[*USERS, *idle]))
    items = {item.code: item for item in action_items(plan)}
    assert list(items) == ["owner_inactive", "plan_unmapped"]  # most keys first
    inactive, unmapped = items["owner_inactive"], items["plan_unmapped"]
    assert (inactive.keys, unmapped.keys) == (4, 3)
    assert inactive.text == (
        "owner_inactive: activate 3 users in the portal (or move their keys to another owner): "
        "gone@apps.example, idle1@apps.example, idle2@apps.example"
    )
    assert unmapped.text == "plan_unmapped: map 2 policies under plans: in the mapping file: pol-acc, pol-pay"


def test_action_subjects_come_from_each_codes_sentence() -> None:
    plan = crafted_plan()
    items = {item.code: item for item in action_items(plan)}
    blocking_in_crafted = {c for _, codes in CRAFTED for c in codes.split(";") if c in BLOCKING_CODES}
    assert set(items) == blocking_in_crafted
    # two rows have an unknown policy: one of them also an unknown owner (it counts under both codes)
    assert items["policy_unknown"].subjects == ["Fre", "pol-nope"] and items["policy_unknown"].keys == 2
    assert items["owner_unknown"].subjects == ["nobody@apps.example", "stranger@apps.example"]
    assert items["key_exists_elsewhere"].subjects == ["credential 100"]
    assert items["duplicate_key_in_export"].action == "remove 1 duplicate row from the export"
    assert items["owner_missing"].subjects == ["44"]


def test_action_list_comes_before_the_per_row_table(tmp_path: Path) -> None:
    plan = crafted_plan()
    outcomes = plan.assign(status=["blocked" if a == "blocked" else "created" for a in plan["action"]])
    page = write_report(tmp_path / "r.html", outcomes=outcomes, plan=plan).read_text(encoding="utf-8")
    assert page.index("<h2>What to do</h2>") < page.index("<code>owner_inactive</code>") < page.index("<h3>Keys</h3>")
    assert "<b>activate 1 user in the portal (or move their keys to another owner)</b>: " in page


# -- headers, charts, print, glossary -----------------------------------------------------------------------


def test_tables_have_human_headers(tmp_path: Path) -> None:
    assert header("key_fingerprint") == "Key fingerprint" and header("owner_email") == "Owner"
    assert header("some_new_column") == "Some new column" and header("wrong_plan") == "wrong_plan"
    frame = outcome_frame(["failed"], error=["no"])
    page = write_report(tmp_path / "r.html", outcomes=frame).read_text(encoding="utf-8")
    assert "<th>Row</th><th>Key</th><th>Owner</th><th>App</th><th>Run status</th>" in page
    assert "<th>source_row</th>" not in page


def test_every_bar_of_the_reconciliation_charts_has_its_value() -> None:
    from test_report import _reconciliation

    recon = _reconciliation()
    for name, fig in recon.charts().items():  # type: ignore[attr-defined]
        label_bars(fig)
        for ax in fig.axes:
            bars = [bar for container in ax.containers for bar in container]
            texts = [t.get_text() for t in ax.texts]
            assert bars and len([t for t in texts if t]) >= len(ax.get_yticks()), name
            if name != "status":  # stacked: each bar's total at its end
                totals = [sum(c.datavalues[i] for c in ax.containers) for i in range(len(ax.get_yticks()))]
                assert [f"{t:g}" for t in totals] == texts[-len(totals) :]


def test_print_css_keeps_every_column(tmp_path: Path) -> None:
    page = write_report(tmp_path / "r.html").read_text(encoding="utf-8")
    css = page[page.index("@media print{") :]
    rules = ("table-layout:", ".scroll{overflow:visible}", "break-inside:avoid", "thead{display:table-header-group}")
    for rule in (*rules, "font-size:8.5px"):
        assert rule in css, rule


def test_glossary_lists_every_status(tmp_path: Path) -> None:
    from test_report import _reconciliation

    from tyk_migrate.reconcile import RECON_STATUSES  # (tyk_migrate.reconcile may be the function, lazily)
    from tyk_migrate.run import STATUSES
    from tyk_migrate.schemas import ACTIONS
    from tyk_migrate.verify import MEANINGS

    statuses = list(RECON_STATUSES) + [str(s) for s in _reconciliation().counts.index]  # type: ignore[attr-defined]
    assert "unexplained" in statuses
    assert set(statuses) <= set(RECON_MEANINGS)
    page = write_report(tmp_path / "r.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="glossary"') :]
    terms = dict(glossary())
    for group, names in [("Reconciliation statuses", statuses), ("Run statuses", STATUSES), ("Plan actions", ACTIONS),
                         ("Gateway answers", list(MEANINGS))]:  # fmt: skip
        listed = {term for term, meaning, _ in terms[group] if meaning}
        assert set(names) <= listed, group
        for name in names:
            assert f"<td><code>{name}</code></td>" in section
    advice = {term: what for term, _, what in terms["Reconciliation statuses"]}
    assert all(advice[s] for s in statuses)


def test_client_impact_table_per_kind_rows_and_glossary(tmp_path: Path) -> None:
    import json

    from tyk_migrate.plan import IMPACT_KINDS, build_plan
    from tyk_migrate.report_impact import impact_by_kind
    from tyk_migrate.report_terms import IMPACT_MEANINGS
    from tyk_migrate.secrets import reveal
    from tyk_migrate.snapshot import PortalSnapshot
    from tyk_migrate.sources import load_keys
    from tyk_migrate.validate import validate_keys

    samples = Path(__file__).resolve().parent.parent / "data-samples"
    snapshot = PortalSnapshot.from_seed(json.loads((samples / "sandbox_seed.json").read_text(encoding="utf-8")))
    valid, rejects = validate_keys(load_keys(samples / "legacy_keys.csv"))
    plan, _ = build_plan(valid, snapshot)
    table = impact_by_kind(plan)
    assert {"rate_tighter", "quota_lower", "api_lost", "expiry_changes"} <= set(table["kind"])  # the samples show them
    page = write_report(tmp_path / "r.html", plan=plan, rejects=rejects).read_text(encoding="utf-8")
    section = page[page.index('<section id="client-impact"') : page.index('<section id="failures"')]
    for row in table.to_dict("records"):
        assert f"<td>{row['kind']}</td>" in section and html_escape(str(row["example"])) in section
    assert "What the clients would notice" in section and "Warned only" in section
    impacted = plan[plan["client_impact"] != ""]
    assert section.count("<tr>") >= len(table) + len(impacted)  # the per-kind table, then a row per key
    failures = page[page.index('<section id="failures"') : page.index('<section id="verification"')]
    assert "Client impact" not in failures  # no run: the per-key failure table is not shown
    assert set(IMPACT_MEANINGS) == set(IMPACT_KINDS)
    glossary_part = page[page.index('<section id="glossary"') :]
    for kind in IMPACT_KINDS:
        assert f"<td><code>{kind}</code></td>" in glossary_part
    assert not any(reveal(k) in page for k in valid["key_id"])
    ran = plan.assign(status=plan["action"].map(lambda a: "blocked" if a == "blocked" else "created"), error="")
    after = write_report(tmp_path / "o.html", outcomes=ran).read_text(encoding="utf-8")
    failures = after[after.index('<section id="failures"') : after.index('<section id="verification"')]
    blocked_detail = ran.loc[ran["client_impact"].str.contains("api_lost"), "client_impact_detail"].iloc[0]
    assert "What the clients would notice" in failures and html_escape(blocked_detail) in failures
    empty = write_report(tmp_path / "e.html", plan=plan.assign(client_impact="")).read_text(encoding="utf-8")
    assert "No key's clients would notice" in empty


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)
