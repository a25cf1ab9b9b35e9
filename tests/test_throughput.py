"""The honest limit (run/throughput.py): the formula, a run's own account of it, and ``apply``'s summary."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tyk_migrate.meter import Meter
from tyk_migrate.run.throughput import (
    HonestLimit,
    limit_keys_per_second,
    plan_counts,
    unavoidable_requests_per_key,
)

SAMPLE = Path(__file__).resolve().parent.parent / "data-samples" / "legacy_keys.csv"


def test_the_formula_on_the_benchmark_workload() -> None:
    # each key in its own app: 2 requests per key; cap 32 at 50 ms -> 320 keys/s (issue 18)
    assert unavoidable_requests_per_key(2000, 2000) == 2.0
    assert limit_keys_per_second(32, 2.0, 0.050) == pytest.approx(320.0)
    # three keys per app: 4 requests for 3 keys
    assert unavoidable_requests_per_key(3, 1) == pytest.approx(4 / 3)
    assert limit_keys_per_second(8, 4 / 3, 0.150) == pytest.approx(40.0)


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, None])
def test_an_unknown_factor_gives_no_limit(bad: Any) -> None:
    assert limit_keys_per_second(bad, 2.0, 0.05) is None
    assert limit_keys_per_second(32, bad, 0.05) is None
    assert limit_keys_per_second(32, 2.0, bad) is None
    assert unavoidable_requests_per_key(0, 3) is None


def test_plan_counts_read_the_actions() -> None:
    actions = ["create_app", "add_credential", "add_credential", "skip_existing", "blocked", "create_app"]
    assert plan_counts(actions) == (4, 2)


def test_a_run_against_its_limit_in_words_and_fields() -> None:
    limit = HonestLimit(keys=2000, seconds=10.0, credentials=2000, apps=2000, cap=32, latency_ms=50.0)
    assert limit.requests_per_key == 2.0 and limit.limit == pytest.approx(320.0)
    assert limit.achieved == 200.0 and limit.share == pytest.approx(0.625)
    assert limit.line() == (
        "200.0 keys/s = 62% of this portal's limit 320.0 keys/s (cap 32, 50.0 ms/request, "
        "2.00 unavoidable requests/key)"
    )
    fields = limit.fields()
    assert fields["limit_keys_per_second"] == 320.0 and fields["share_of_limit"] == 0.625
    assert fields["unavoidable_requests_per_key"] == 2.0 and fields["cap"] == 32
    assert HonestLimit(keys=0, seconds=0.0, credentials=0, apps=0, cap=32, latency_ms=50).line() is None


def test_the_meter_averages_only_answers_that_did_the_work() -> None:
    meter = Meter()
    assert meter.mean_latency is None
    for status, seconds in ((201, 0.04), (200, 0.06), (429, 0.001), (503, 0.001), (None, 5.0), (404, 0.05)):
        meter.observe(status, 0.0, seconds)
    meter.observe(201, 0.0)  # no duration given: counted, not averaged
    assert meter.total == 7 and meter.mean_latency == pytest.approx(0.05)


def test_apply_prints_and_reports_its_limit(make_sandbox: Any, tmp_path: Path) -> None:
    from tyk_migrate.cli import cli

    sb = make_sandbox(latency_ms=5)
    env = {"TYK_PORTAL_URL": sb.portal_url, "TYK_PORTAL_TOKEN": sb.token}
    args = ["apply", str(SAMPLE), "--journal", str(tmp_path / "j"), "--out", str(tmp_path / "o.csv"), "--no-progress"]
    result = CliRunner().invoke(cli, [*args, "--concurrency", "6", "--json"], env=env, catch_exceptions=False)
    doc = json.loads(result.stdout)
    limit = doc["counts"]["limit"]
    actions = doc["counts"]["actions"]
    credentials = actions["create_app"] + actions["add_credential"]
    assert limit["cap"] == 6 and limit["credentials"] == credentials and limit["apps"] == actions["create_app"]
    assert limit["keys"] == doc["counts"]["statuses"]["created"]
    assert 5 <= limit["latency_ms"] < 1000
    rpk = (credentials + actions["create_app"]) / credentials
    assert limit["unavoidable_requests_per_key"] == pytest.approx(rpk, abs=1e-3)
    assert limit["limit_keys_per_second"] == pytest.approx(6 / (rpk * limit["latency_ms"] / 1000), rel=1e-2)
    line = next(x for x in result.stderr.splitlines() if x.startswith("speed"))
    said = re.search(r"of this portal's limit ([\d.]+) keys/s \(cap 6, ", line)
    assert said is not None  # one decimal of the value --json gives with two (532.05 can print as 532.1 or 532.0)
    assert float(said[1]) == pytest.approx(limit["limit_keys_per_second"], abs=0.051)
    assert f"{limit['unavoidable_requests_per_key']:.2f} unavoidable requests/key)" in line


def test_the_cap_of_a_run_is_its_fixed_concurrency_or_the_ceiling_the_controller_found() -> None:
    from types import SimpleNamespace

    from tyk_migrate.run.throughput import run_cap

    assert run_cap(SimpleNamespace(adaptive=False, fixed_concurrency=32)) == 32
    never_refused = SimpleNamespace(adaptive=True, controller=SimpleNamespace(ceiling=math.inf, maximum=64))
    assert run_cap(never_refused) == 64
    assert run_cap(SimpleNamespace(adaptive=True, controller=SimpleNamespace(ceiling=33.0, maximum=64))) == 33
    assert run_cap(SimpleNamespace(adaptive=True, controller=None)) is None  # a dry run
