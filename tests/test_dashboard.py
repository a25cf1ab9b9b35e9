"""The Dashboard connection against the sandbox's Dashboard part: source, enrichment, live keys, hashed lookups."""

from __future__ import annotations

import base64
import copy
import json
import time
from pathlib import Path
from typing import Any

import click
import httpx
import pandas as pd
import pytest
from click.testing import CliRunner

from tyk_migrate.aio import run_sync
from tyk_migrate.config import Settings
from tyk_migrate.dashboard import AsyncDashboardClient, load_from_dashboard
from tyk_migrate.dashboard_enrich import enrich_from_dashboard, merge
from tyk_migrate.dashboard_live import LIVE_COLUMNS, live_keys, live_keys_async, live_keys_hook
from tyk_migrate.dashboard_options import dashboard_options, sandbox_dashboard_token_option
from tyk_migrate.errors import AuthError, ConfigError, PortalServerError
from tyk_migrate.plan import build_plan
from tyk_migrate.retry import RetryPolicy
from tyk_migrate.sandbox.app import PUBLIC_DASHBOARD
from tyk_migrate.secrets import reveal
from tyk_migrate.snapshot import PortalSnapshot
from tyk_migrate.sources import load_keys
from tyk_migrate.transport import LeanTransport
from tyk_migrate.tyk_hash import (
    HASH_SETTINGS,
    generate_token,
    hash_str,
    lookup_hashes,
    storage_hash,
    token_hash_algo,
    token_org,
)
from tyk_migrate.validate import validate_keys

SAMPLES = Path(__file__).resolve().parent.parent / "data-samples"
DUMP, DEVELOPERS = SAMPLES / "dashboard_keys.json", SAMPLES / "classic_developers.json"
ORG = "5f1a9c0e2b3d4e0001a1b2c3"  # the samples' legacy Dashboard org
PLAN_COLUMNS = ["action", "reason_code", "user_id", "plan_id", "product_ids", "app_name", "owner_email", "active"]


def settings_of(sb: Any) -> Settings:
    return Settings(dashboard_url=sb.dashboard_url, dashboard_token=sb.dashboard_token)


def dump_seed(seed: dict[str, Any]) -> dict[str, Any]:
    """The sample portal without earlier credentials, its gateway holding the sample Dashboard dump's sessions."""
    entries = json.loads(DUMP.read_text())["keys"]
    developers = json.loads(DEVELOPERS.read_text())["Data"]
    return {
        **copy.deepcopy(seed),
        "apps": [],
        "custom_credentials": [],
        "dashboard_keys": [{"key_id": e["key_id"], "data": e["data"]} for e in entries],
        "dashboard_developers": developers,
    }


def by_key(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame.set_index("key_fingerprint")[columns].sort_index()


# ----- Tyk's hashing --------------------------------------------------------------------------------


def test_hashes_match_the_published_murmur3_vectors_and_sha256() -> None:
    # MurmurHash3 reference vectors (x86_32; x64_128 as h1, h2), seed 0, as TykTechnologies/murmur3 writes them
    assert hash_str("hello", "murmur32") == "248bfa47" == hash_str("hello")  # no "h" in the token: murmur32
    assert hash_str("hello", "murmur64") == "cbd8a7b341bd9b02"
    assert hash_str("hello", "murmur128") == "cbd8a7b341bd9b02" + "5b1e906a48ae1d19"
    assert hash_str("hello, world", "murmur128") == "342fac623a5ebc8e" + "4cdcbc079642414d"
    assert hash_str("hello, world", "murmur32") == "149bbb7f"
    assert hash_str("hello", "sha256") == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert hash_str("hello", "bogus") == hash_str("hello", "murmur64")  # the gateway's fallback


def test_custom_keys_are_wrapped_with_the_org_as_the_gateway_does() -> None:
    token = generate_token(ORG, "qb_live_abcdefgh12345678", "sha256")
    assert json.loads(base64.b64decode(token)) == {"org": ORG, "id": "qb_live_abcdefgh12345678", "h": "sha256"}
    assert token_hash_algo(token) == "sha256" and token_org(token) == ORG
    assert generate_token(ORG, ORG + "tail", "unset") == ORG + "tail"  # the legacy format; a prefix is not doubled
    assert json.loads(base64.b64decode(generate_token(ORG, ORG + "tail", "murmur64")))["id"] == "tail"
    # a custom key: the wrapped token first, then the bare key (keys made before the wrapper existed)
    custom = "qb_live_abcdefgh12345678"
    assert lookup_hashes(custom, ORG, "sha256") == [hash_str(token), hash_str(custom)]
    assert len(lookup_hashes(custom, ORG, "sha256")[0]) == 64
    assert lookup_hashes(custom, ORG, "unset") == [hash_str(ORG + custom, "murmur32"), hash_str(custom)]
    # a key Tyk generated for the org is its own token: murmur32 whatever hash_key_function says
    generated = ORG + "31ad2725EqDsKXhddoy4"
    assert token_org(generated) == ORG
    assert {storage_hash(generated, ORG, f) for f in HASH_SETTINGS} == {hash_str(generated, "murmur32")}
    with pytest.raises(ConfigError, match="hash function 'md5'"):
        generate_token(ORG, custom, "md5")


# ----- the Dashboard as a source ----------------------------------------------------------------------


def test_live_dashboard_and_a_file_of_its_answer_give_the_same_frame(make_sandbox: Any, seed_data: Any, tmp_path):
    sb = make_sandbox(seed=dump_seed(seed_data))
    report: list[str] = []
    live = load_from_dashboard(settings_of(sb), report=report)
    headers = {"Authorization": sb.dashboard_token}
    listing = httpx.get(sb.dashboard_url + "/api/keys/detailed", params={"p": -1}, headers=headers).json()
    developers = httpx.get(sb.dashboard_url + "/api/portal/developers", params={"p": -1}, headers=headers).json()
    assert listing["pages"] == 1 and len(listing["keys"]) == 120  # the walk above read 12 pages of 10
    (tmp_path / "keys.json").write_text(json.dumps(listing))
    (tmp_path / "devs.json").write_text(json.dumps(developers))
    from_file = load_keys(tmp_path / "keys.json", developers=tmp_path / "devs.json")
    pd.testing.assert_frame_equal(live, from_file)
    assert len(live) == 120 and "key_hash_only" not in live.columns
    assert "120 key(s)" in report[0] and "developers: " in report[0]


def test_hashed_dashboard_rows_are_explained_not_dropped(make_sandbox: Any, seed_data: Any) -> None:
    sb = make_sandbox(seed=dump_seed(seed_data), behaviour={"key-hashing": "murmur64"})
    frame = load_from_dashboard(settings_of(sb))
    assert len(frame) == 120 and frame["key_hash_only"].all()  # every key the Dashboard lists, as a hash
    raw = {e["key_id"] for e in json.loads(DUMP.read_text())["keys"]}
    assert not raw & {reveal(k) for k in frame["key_id"]}  # no raw key left a hashed Dashboard
    valid, rejects = validate_keys(frame)
    assert len(valid) == 0
    hashed = rejects[rejects["check"] == "key_hash_only"]
    assert sorted(hashed["source_row"]) == list(range(1, 121)) and set(hashed["severity"]) == {"error"}
    message = hashed["message"].iloc[0]
    assert "only this key's hash" in message and "murmur" in message and "enrich_from_dashboard" in message
    assert not raw & set(hashed["value"]) and not any(h in message for h in frame["source_id"])


def test_a_dump_file_of_a_hashed_dashboard_is_rejected_row_by_row(tmp_path: Path) -> None:
    data = json.loads(DUMP.read_text())
    data["keys"][0]["key_id"] = data["keys"][0]["key_hash"]  # as a hashed listing: the hash in place of the key
    (tmp_path / "hashed.json").write_text(json.dumps(data))
    frame = load_keys(tmp_path / "hashed.json")
    assert frame["key_hash_only"].tolist() == [True] + [False] * 119
    _, rejects = validate_keys(frame)
    assert set(rejects.loc[rejects["check"] == "key_hash_only", "source_row"]) == {1}
    assert "key_hash_only" not in load_keys(DUMP).columns  # a dump of raw keys: no new column


# ----- enrichment -------------------------------------------------------------------------------------


def test_a_file_of_keys_alone_enriched_plans_as_the_full_dump(make_sandbox: Any, seed_data: Any, tmp_path) -> None:
    seed = dump_seed(seed_data)
    sb = make_sandbox(seed=seed)
    full = load_keys(DUMP, developers=DEVELOPERS)
    keys = [reveal(k) for k in full["key_id"]][::-1]  # another order than the Dashboard's
    (tmp_path / "keys.csv").write_text("key\n" + "\n".join(keys) + "\n")
    with pytest.raises(Exception, match="missing required column"):
        load_keys(tmp_path / "keys.csv")  # the default still needs every required column
    alone = load_keys(tmp_path / "keys.csv", required=("key_id",))
    enriched = enrich_from_dashboard(alone, settings_of(sb))
    assert enriched.lookups["found"].all() and set(enriched.lookups["lookup"]) == {"key"}
    assert enriched.disagreements.empty
    snapshot = PortalSnapshot.from_seed(seed)
    results = []
    for frame in (full, enriched.frame):
        valid, rejects = validate_keys(frame)
        plan, _ = build_plan(valid, snapshot)
        results.append((plan, rejects.merge(frame[["source_row", "key_fingerprint"]], on="source_row")))
    (full_plan, full_rejects), (alone_plan, alone_rejects) = results
    assert len(full_plan) == len(alone_plan) > 90 and set(full_plan["action"]) >= {"create_app", "blocked"}
    assert full_plan["action"].value_counts().to_dict() == alone_plan["action"].value_counts().to_dict()
    for plan in (full_plan, alone_plan):  # which key of an app's group creates it follows the file's order
        plan["action"] = plan["action"].replace({"add_credential": "create_app"})
    pd.testing.assert_frame_equal(by_key(full_plan, PLAN_COLUMNS), by_key(alone_plan, PLAN_COLUMNS))
    pd.testing.assert_frame_equal(by_key(full_plan, ["expires_at"]), by_key(alone_plan, ["expires_at"]))
    rejected = {(r.key_fingerprint, r.check) for r in full_rejects.itertuples()}
    assert rejected == {(r.key_fingerprint, r.check) for r in alone_rejects.itertuples()} and rejected
    assert "Dashboard" in alone_plan.attrs.get("column_map", enriched.frame.attrs["column_map"])["plan"]


def test_enrichment_asks_key_by_key_concurrently(make_sandbox: Any, seed_data: Any) -> None:
    sb = make_sandbox(seed=dump_seed(seed_data), latency_ms=30)
    frame = load_keys(DUMP)
    started = time.monotonic()
    result = enrich_from_dashboard(frame, settings_of(sb), concurrency=8)
    took = time.monotonic() - started
    stats = sb.snapshot()["requests"]
    assert result.lookups["found"].all() and stats["by_route"]["GET /api/keys/{key} 200"] == len(frame) == 120
    assert stats["in_flight_peak"] >= 4 and took < len(frame) * 0.03 / 2  # one at a time would take 3.6 s


def test_what_the_file_says_wins_and_each_disagreement_is_reported(make_sandbox: Any, seed_data: Any) -> None:
    sb = make_sandbox(seed=dump_seed(seed_data))
    entries = json.loads(DUMP.read_text())["keys"]
    first, second, third = (e["key_id"] for e in entries[:3])
    table = pd.DataFrame(
        {
            "key": [first, second, third, "not-in-the-dashboard-0001"],
            "email": ["Someone.Else@Quill.Example", "", None, "x@y.example"],  # row 2, 3: blank, so filled
            "plan": [entries[0]["data"]["apply_policies"][0], "other-plan", None, "p"],
        }
    )
    frame = load_keys(table, required=("key_id",))
    result = enrich_from_dashboard(frame, settings_of(sb), concurrency=2)
    out = result.frame.set_index("source_row")
    assert out.loc[1, "owner_email"] == "someone.else@quill.example"  # the file's, kept
    assert out.loc[2, "owner_email"] == entries[1]["data"]["meta_data"]["email"]  # filled
    assert out.loc[2, "plan"] == "other-plan" and out.loc[3, "plan"] == entries[2]["data"]["apply_policies"][0]
    assert out.loc[1, "products"] == entries[0]["data"]["apply_policies"][1:]  # the file had no products
    assert out.loc[4, "owner_email"] == "x@y.example" and out.loc[4, "products"] == []  # unknown: as it was
    said = {(d.source_row, d.column): (d.file_value, d.dashboard_value) for d in result.disagreements.itertuples()}
    assert said == {
        (1, "owner_email"): ("someone.else@quill.example", entries[0]["data"]["meta_data"]["email"]),
        (2, "plan"): ("other-plan", entries[1]["data"]["apply_policies"][0]),
    }
    assert result.lookups["found"].tolist() == [True, True, True, False]
    assert not {first, second, third} & set(result.disagreements.to_csv().split(","))


def test_a_file_without_an_expiry_takes_the_dashboards_and_so_knows_it() -> None:
    index = pd.RangeIndex(2)
    file = pd.DataFrame(
        {
            "source_row": [1, 2],
            "key_fingerprint": ["a", "b"],
            "expires_at": pd.Series([pd.NaT, pd.NaT], dtype="datetime64[ns, UTC]"),
            "expires_known": [False, False],  # the file has no expiry column: not known
            "rate": pd.Series([10.0, None], dtype="Float64"),
        },
        index=index,
    )
    file.attrs["column_map"] = {"rate": "Rate"}
    dashboard = pd.DataFrame(
        {
            "expires_at": pd.Series([pd.Timestamp("2030-01-01", tz="UTC")], dtype="datetime64[ns, UTC]"),
            "expires_known": [True],
            "rate": pd.Series([20.0], dtype="Float64"),
        }
    )
    merged, disagreements = merge(file, dashboard, found=pd.Series([False, True]).to_numpy())
    assert merged["expires_known"].tolist() == [False, True] and merged.loc[1, "expires_at"].year == 2030
    assert merged["rate"].tolist() == [10.0, 20.0] and disagreements == []


# ----- live keys ----------------------------------------------------------------------------------------


def test_keys_live_in_the_gateway_are_flagged_with_what_the_import_changes(sandbox: Any, seed_data: Any) -> None:
    legacy = load_keys(SAMPLES / "legacy_keys.csv")
    live = live_keys(settings_of(sandbox), legacy)
    assert list(live.columns) == LIVE_COLUMNS and live["key_fingerprint"].is_unique
    assert len(live) == legacy["key_fingerprint"].nunique()
    sessions = {e["key_id"]: e["data"] for e in seed_data["dashboard_keys"]}
    credentials = {c["KeyID"] for c in seed_data["custom_credentials"]}
    fp = dict(zip(map(reveal, legacy["key_id"].dropna()), legacy["key_fingerprint"].dropna(), strict=True))
    expected = {fp[k] for k in (*sessions, *credentials) if k in fp}
    assert set(live.loc[live["live"], "key_fingerprint"]) == expected and len(sessions) >= 20
    row = live.set_index("key_fingerprint").loc[fp[next(iter(sessions))]]
    data = next(iter(sessions.values()))
    assert row["live_policies"] == data["apply_policies"] and row["lookup"] == "key"
    assert row["live_api_ids"] == list(data["access_rights"]) and row["live_quota_max"] == -1
    assert "the import applies the target plan's" in row["live_changes"]
    reference = {str(p["ID"]): p["ReferenceID"] for p in seed_data["plans"]}
    planned = dict(zip(legacy["key_fingerprint"], legacy["plan"], strict=True))
    creds = [c for c in seed_data["custom_credentials"] if c["KeyID"] in fp]  # not the portal-born one
    changed = [c for c in creds if reference[c["PlanID"]] != planned[fp[c["KeyID"]]]]
    assert len(changed) == 1  # the conflict: the key is in the portal on another plan than the legacy key's
    conflict = fp[changed[0]["KeyID"]]
    assert "policies " in live.set_index("key_fingerprint").loc[conflict, "live_changes"]
    not_live = live[~live["live"]]
    assert (not_live["live_changes"] == "").all() and not_live["live_active"].isna().all()
    hook = live_keys_hook(live)
    assert list(hook.columns) == ["key_fingerprint", "owner_email"] and set(hook["key_fingerprint"]) == expected
    owner = {u["Email"] for u in seed_data["users"]}
    assert set(hook["owner_email"].dropna()) <= owner


@pytest.mark.parametrize("function", HASH_SETTINGS)
def test_hashed_lookups_with_each_hash_function_find_what_the_sandbox_holds(
    function: str, make_sandbox: Any, seed_data: Any
) -> None:
    sb = make_sandbox(behaviour={"key-hashing": function})
    legacy = load_keys(SAMPLES / "legacy_keys.csv")
    sent: list[str] = []

    class Recording(LeanTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(str(request.url))
            return await super().handle_async_request(request)

    async def look(hash_function: str) -> pd.DataFrame:
        client = AsyncDashboardClient(settings_of(sb), transport=Recording(verify=False))
        try:
            return await live_keys_async(legacy, client, hash_function=hash_function, org_id=ORG)
        finally:
            await client.aclose()

    by_value = live_keys(settings_of(sb), legacy)
    sent.clear()
    hashed = run_sync(lambda: look(function))
    assert hashed["live"].tolist() == by_value["live"].tolist() and hashed["live"].sum() >= 30
    assert set(hashed.loc[hashed["live"], "lookup"]) == {"hash"}
    cols = ["live_owner_email", "live_policies", "live_expires_at", "live_changes"]
    pd.testing.assert_frame_equal(hashed.loc[hashed["live"], cols], by_value.loc[by_value["live"], cols])
    raw = [reveal(k) for k in legacy["key_id"].dropna()]
    assert sent and all("hashed=true" in url for url in sent if "/api/keys/" in url)
    assert not any(k in url for url in sent for k in raw if len(k) >= 8)  # no raw key on the wire
    # another function finds only the keys Tyk generated for the org (their own token, murmur32 always)
    other = next(f for f in HASH_SETTINGS if f != function)
    wrong = run_sync(lambda: look(other))
    pairs = zip(legacy["key_fingerprint"], legacy["key_id"], strict=True)
    generated = {fp for fp, k in pairs if k is not None and token_org(reveal(k)) == ORG}
    live_generated = generated & set(hashed.loc[hashed["live"], "key_fingerprint"])
    assert live_generated and set(wrong.loc[wrong["live"], "key_fingerprint"]) == live_generated


def test_a_lookup_by_hash_on_a_dashboard_without_hashing_is_one_clear_line(sandbox: Any) -> None:
    legacy = load_keys(SAMPLES / "legacy_keys.csv").head(3)
    with pytest.raises(ConfigError, match=r"refused a lookup by hash.*hashing may be off"):
        live_keys(settings_of(sandbox), legacy, hash_function="murmur64", org_id=ORG)
    with pytest.raises(ConfigError, match="org ID"):
        live_keys(settings_of(sandbox), legacy, hash_function="murmur64")
    with pytest.raises(ConfigError, match="use one of murmur32"):
        enrich_from_dashboard(legacy, settings_of(sandbox), hash_function="md5", org_id=ORG)


# ----- the HTTP seam: retries, errors, settings ----------------------------------------------------------


def test_reads_retry_on_429_and_come_out_the_same(make_sandbox: Any, seed_data: Any) -> None:
    clean = make_sandbox(seed=dump_seed(seed_data))
    throttled = make_sandbox(seed=dump_seed(seed_data), faults="429=30%,429-no-retry=10%,retry-after=0", random_seed=7)
    legacy = load_keys(DUMP)
    expected, expected_live = load_from_dashboard(settings_of(clean)), live_keys(settings_of(clean), legacy)
    got, got_live = load_from_dashboard(settings_of(throttled)), live_keys(settings_of(throttled), legacy)
    pd.testing.assert_frame_equal(got, expected)
    pd.testing.assert_frame_equal(got_live, expected_live)
    faults = throttled.snapshot()["requests"]["faults_injected"]
    assert faults.get("429", 0) > 10 and faults.get("429-no-retry", 0) > 3


def test_errors_name_the_route_never_the_key_nor_the_token(make_sandbox: Any, seed_data: Any) -> None:
    sb = make_sandbox(faults="500=100%")
    legacy = load_keys(SAMPLES / "legacy_keys.csv").head(2)

    async def look() -> pd.DataFrame:
        client = AsyncDashboardClient(settings_of(sb), retry=RetryPolicy(attempts=2, base=0.01, cap=0.02))
        try:
            return await live_keys_async(legacy, client)
        finally:
            await client.aclose()

    with pytest.raises(PortalServerError) as failed:
        run_sync(look)
    text = str(failed.value)
    assert "GET /api/keys/{key} -> 500" in text or "/api/portal/developers" in text
    assert not any(reveal(k) in text for k in legacy["key_id"])
    sb.set_faults("")
    wrong = Settings(dashboard_url=sb.dashboard_url, dashboard_token="not-the-token")
    with pytest.raises(AuthError, match="401") as denied:
        load_from_dashboard(wrong)
    assert "not-the-token" not in str(denied.value) and "Not authorised" in str(denied.value)
    assert sb.token != sb.dashboard_token  # the portal's token does not open the Dashboard
    with pytest.raises(AuthError):
        load_from_dashboard(Settings(dashboard_url=sb.dashboard_url, dashboard_token=sb.token))


def test_dashboard_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TYK_DASHBOARD_URL", "https://dash.example.com:3000/api/")
    monkeypatch.setenv("TYK_DASHBOARD_TOKEN", "dash-secret-token")
    settings = Settings.from_env()
    assert settings.require_dashboard() == ("https://dash.example.com:3000", "dash-secret-token")
    assert "dash-secret-token" not in repr(settings)
    with pytest.raises(ConfigError, match="no Dashboard URL"):
        Settings().require_dashboard()
    with pytest.raises(ConfigError, match="no Dashboard token"):
        Settings(dashboard_url="https://d.example").require_dashboard()
    with pytest.raises(ConfigError, match="plain http to a remote Dashboard"):
        Settings(dashboard_url="http://d.example:3000", dashboard_token="t").require_dashboard()
    with pytest.raises(ConfigError, match="no Dashboard URL"):
        load_from_dashboard(Settings())  # one line, before any thread or socket


def test_click_options_for_the_commands() -> None:
    seen: dict[str, Any] = {}

    @click.command()
    @dashboard_options
    @sandbox_dashboard_token_option
    def cmd(**kw: Any) -> None:
        seen.update(kw)

    result = CliRunner().invoke(cmd, ["--dashboard-url", "https://d.example", "--dashboard-hash", "unset"])
    assert result.exit_code == 0, result.output
    assert seen == {
        "dashboard_url": "https://d.example",
        "dashboard_hash": "unset",
        "dashboard_org": None,
        "dashboard_none_live": False,
        "dashboard_token": None,  # the sandbox command falls back to SandboxConfig's public default itself
    }
    bad = CliRunner().invoke(cmd, ["--dashboard-hash", "md5"])
    assert bad.exit_code == 2 and "murmur64" in bad.output
    assert f"({PUBLIC_DASHBOARD})]" in CliRunner().invoke(cmd, ["--help"]).output  # the default shown
