"""Numbers JSON cannot carry (NaN, Infinity, 1e999, thousands of digits) and absurdly large ones, sent to the
sandbox's admin endpoints, fault specs, knobs and seeds: one line, a 4xx or exit 2, and the sandbox unharmed.
Before, most of them answered 500 and some left a value in place that broke every later answer."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest

from tyk_migrate.errors import ConfigError, InputError
from tyk_migrate.sandbox import SandboxConfig, load_seed, parse_faults, run_in_thread
from tyk_migrate.sandbox.behaviour import resolve
from tyk_migrate.sandbox.faults import FaultInjector

LONG = "1" + "0" * 5000  # past Python's 4,300-digit int-from-text limit
WIDE = "1" + "0" * 400  # an integer no double holds
NOT_JSON_NUMBERS = ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", WIDE, LONG]


@pytest.fixture(scope="module")
def sb() -> Any:
    with run_in_thread(SandboxConfig(seed=None)) as running:
        yield running


def put(sb: Any, path: str, body: str) -> httpx.Response:
    return httpx.put(sb.url + path, content=body.encode(), headers={"Authorization": sb.token}, timeout=10)


def still_answers(sb: Any) -> None:
    """Nothing above changed the sandbox: its admin state and its portal still answer."""
    state = httpx.get(sb.url + "/__sandbox/state", headers={"Authorization": sb.token}, timeout=10)
    assert state.status_code == 200 and state.json()["faults"]["latency_ms"] == 0
    assert state.json()["behaviour"]["behaviour"]["listing-lag-ms"] == "0"
    assert httpx.get(sb.portal_url + "/users", headers={"Authorization": sb.token}, timeout=10).status_code == 200


@pytest.mark.parametrize("number", NOT_JSON_NUMBERS, ids=lambda n: n if len(n) < 20 else f"{len(n)}-digits")
@pytest.mark.parametrize(
    "path,template",
    [
        ("/__sandbox/faults", '{"latency_ms": %s}'),
        ("/__sandbox/faults", '{"faults": "", "latency_ms": [%s]}'),
        ("/__sandbox/behaviour", '{"behaviour": {"listing-lag-ms": %s}}'),
        ("/__sandbox/behaviour", '{"profile": "strict", "behaviour": {"paging": %s}}'),
    ],
)
def test_admin_bodies_with_numbers_json_has_not_answer_400_with_one_line(sb, path, template, number):
    answer = put(sb, path, template % number)
    assert answer.status_code == 400, answer.text
    (reason,) = answer.json()["errors"]
    assert "number" in reason and "\n" not in reason and len(reason) < 200
    still_answers(sb)


@pytest.mark.parametrize(
    "path,body,needle",
    [
        ("/__sandbox/faults", '{"latency_ms": 1e300}', "latency_ms"),
        ("/__sandbox/faults", '{"latency_ms": 1e15}', "latency_ms"),
        ("/__sandbox/faults", '{"latency_ms": true}', "latency_ms"),
        ("/__sandbox/faults", '{"faults": "cap=1e999"}', "cap"),
        ("/__sandbox/faults", '{"faults": "cap=nan"}', "cap"),
        ("/__sandbox/faults", '{"faults": "retry-after=1e999"}', "retry-after"),
        ("/__sandbox/faults", '{"faults": "retry-after=nan"}', "retry-after"),
        ("/__sandbox/faults", '{"faults": "latency=nan"}', "latency"),
        ("/__sandbox/faults", '{"faults": "jitter=inf"}', "jitter"),
        ("/__sandbox/faults", '{"faults": "jitter=1e300"}', "jitter"),
        ("/__sandbox/faults", '{"faults": "500=' + "9" * 5000 + '%"}', "500"),
        ("/__sandbox/behaviour", '{"behaviour": {"listing-lag-ms": 1e300}}', "listing-lag-ms"),
        ("/__sandbox/behaviour", '{"behaviour": {"listing-lag-ms": "nan"}}', "listing-lag-ms"),
        ("/__sandbox/behaviour", '{"behaviour": {"paging": "max:' + "9" * 5000 + '"}}', "paging"),
        ("/__sandbox/behaviour", '{"behaviour": {"paging": "max:' + "9" * 400 + '"}}', "paging"),
    ],
)
def test_admin_values_out_of_range_are_refused_with_one_short_line(sb, path, body, needle):
    answer = put(sb, path, body)
    assert answer.status_code == 422, answer.text  # a value the sandbox does not take, as for other bad values
    (reason,) = answer.json()["errors"]
    assert needle in reason and "\n" not in reason and len(reason) < 200
    still_answers(sb)


def test_in_range_values_still_work(sb):
    assert put(sb, "/__sandbox/faults", '{"faults": "jitter=20,cap=32,retry-after=3", "latency_ms": 5}').is_success
    assert put(sb, "/__sandbox/behaviour", '{"behaviour": {"listing-lag-ms": 250, "paging": "max:100"}}').is_success
    assert put(sb, "/__sandbox/faults", '{"faults": "", "latency_ms": 0}').is_success
    assert put(sb, "/__sandbox/behaviour", '{"profile": "strict"}').is_success
    still_answers(sb)


@pytest.mark.parametrize("spec", ["cap=1e999", "retry-after=nan", "latency=inf", "jitter=1e300", "cap=nan"])
def test_fault_specs_with_non_finite_or_huge_numbers_are_config_errors(spec):
    with pytest.raises(ConfigError, match=spec.split("=")[0]):
        parse_faults(spec)


@pytest.mark.parametrize(
    "latency", [float("inf"), float("nan"), 1e300, 10**400], ids=["inf", "nan", "1e300", "400-digits"]
)
def test_a_sandbox_with_a_non_finite_or_huge_latency_does_not_start(latency):
    with pytest.raises(ConfigError, match="latency_ms"):
        FaultInjector("", latency)


@pytest.mark.parametrize("value", [10**5000, float("nan"), "1e999"], ids=["5000-digits", "nan", "1e999"])
def test_knobs_given_in_python_refuse_huge_and_non_finite_numbers(value):
    with pytest.raises(ConfigError, match="listing-lag-ms"):
        resolve(overrides={"listing-lag-ms": value})


@pytest.mark.parametrize("number", NOT_JSON_NUMBERS, ids=lambda n: n if len(n) < 20 else f"{len(n)}-digits")
def test_a_seed_file_with_a_number_json_has_not_is_one_line_input_error(tmp_path, number):
    path = tmp_path / "seed.json"
    path.write_text('{"users": [], "products": [], "plans": [{"ID": 1, "Quota": N}]}'.replace("N", number))
    with pytest.raises(InputError, match="sandbox seed") as caught:
        load_seed(path)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


def test_a_seed_dict_with_nan_names_where_it_is():
    seed = {"users": [], "products": [], "plans": [{"ID": 1, "Quota": float("nan")}]}
    with pytest.raises(InputError, match=r"plans\[0\]\.Quota"):
        load_seed(seed)


def test_cli_sandbox_with_a_5000_digit_number_in_its_seed_exits_2_with_one_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"users": [], "products": [], "plans": [], "apps": [{"ID": N}]}'.replace("N", LONG))
    done = subprocess.run(
        [sys.executable, "-m", "tyk_migrate.cli", "sandbox", "--seed", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: sandbox seed"), done.stderr
    assert "bug" not in done.stderr and "Traceback" not in done.stderr
