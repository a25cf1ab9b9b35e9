"""benchmarks/projection.py: the cutover table follows the limit formula, the slower of portal and CPU, and
the run's walks of /apps (which grow with the apps it makes)."""

from __future__ import annotations

import pytest

from benchmarks.projection import duration, project

COSTS = {"cpu_ms_per_request": 0.5, "prepare_s_per_key": 20e-6, "startup_s": 1.0}


def test_a_portal_bound_cell_is_the_limit_plus_read_backs_and_start_up() -> None:
    cell = project(100_000, 50, 32, requests_per_key=2.0, sample=0.02, first=20, **COSTS)
    assert cell["limit_keys_per_second"] == 320.0 and cell["limit_seconds"] == pytest.approx(312.5, abs=0.1)
    own = 100_000 * 2.02 + 20
    # a walk each 55 s: about 17,400 keys (35,200 requests) apart, so of 1, 36, 71, 106, 141 and 176 pages
    # (500 apps a page, and the page past the end)
    assert 480 < cell["listing_requests"] < 580
    sent = own + cell["listing_requests"]
    assert cell["projected_seconds"] == pytest.approx(1.0 + 2.0 + sent * 0.05 / 32, abs=0.1)
    assert cell["bound"] == "portal" and 0.9 < cell["projected_share_of_limit"] < 1


def test_a_high_cap_makes_the_client_cpu_the_bound() -> None:
    cell = project(1_000_000, 50, 128, requests_per_key=2.0, sample=0.0, first=0, **COSTS)
    # 50 ms / 128 = 0.39 ms per request at the portal, 0.5 ms of CPU per request in the client
    assert cell["bound"] == "client CPU"
    sent = 2_000_000 + cell["listing_requests"]
    assert cell["projected_seconds"] == pytest.approx(1.0 + 20.0 + sent * 0.0005, abs=0.1)


def test_the_walks_of_apps_take_a_growing_share_and_at_most_half() -> None:
    small, big = (project(n, 150, 32, requests_per_key=2.0, **COSTS) for n in (10_000, 1_000_000))
    assert small["listing_share"] < 0.01 < 0.05 < big["listing_share"] <= 0.5
    shared = project(1_000_000, 150, 32, requests_per_key=1.1, **COSTS)  # ten keys an app: a tenth of the apps
    assert shared["listing_share"] < big["listing_share"] / 3


def test_durations_read_as_seconds_minutes_hours() -> None:
    assert [duration(s) for s in (42, 600, 7200)] == ["42 s", "10 min", "2.0 h"]
