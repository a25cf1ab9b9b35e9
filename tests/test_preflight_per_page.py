"""The preflight's per_page verdict says what the pager will do with a portal's silent cap: a cap it follows
is a warning (one more request per list), one it would take for the end of a list is unsafe."""

from __future__ import annotations

import pytest

from tyk_migrate.paging import Pager
from tyk_migrate.portal import DEFAULT_PER_PAGE
from tyk_migrate.preflight.reads import paging_checks
from tyk_migrate.preflight.result import Check


def maximum_check(cap: int | None, rows_seen: int = 1_000) -> Check:
    checks = paging_checks(None, {"/users": "honoured"}, cap, rows_seen)  # type: ignore[arg-type]
    (maximum,) = [c for c in checks if c.name == "per_page maximum"]
    return maximum


def verdict(cap: int | None) -> str:
    return maximum_check(cap).verdict


def walk(rows: int, cap: int) -> list[int]:
    """The IDs a pager asking DEFAULT_PER_PAGE reads from a list of ``rows`` that serves ``cap`` a page at most
    (the offset reckoned from the size served, as the sandbox's ``paging=max:N`` does)."""
    pager = Pager("/users", DEFAULT_PER_PAGE)
    while (call := pager.next_call()) is not None:
        page, per_page = int(call.params["page"]), min(int(call.params["per_page"]), cap)
        pager.feed([{"ID": i} for i in range((page - 1) * per_page, min(rows, page * per_page))])
    return [row["ID"] for row in pager.items]


@pytest.mark.parametrize("cap", [10, 13, 20, 100, 128, 256, 333, 499])
def test_a_cap_the_pager_follows_is_a_warning_and_every_row_is_read(cap: int) -> None:
    assert verdict(cap) == "warn"
    assert walk(1_200, cap) == list(range(1_200))


@pytest.mark.parametrize("cap", [3, 7, 9])
def test_a_cap_the_pager_takes_for_the_end_of_a_list_is_unsafe(cap: int) -> None:
    assert verdict(cap) == "unsafe"
    assert len(walk(1_200, cap)) < 1_200  # why: the walk ends at the first short page


def test_no_cap_is_ok_and_says_no_more_than_the_list_could_show() -> None:
    assert verdict(None) == "ok"
    long, short = maximum_check(None, DEFAULT_PER_PAGE), maximum_check(None, 30)
    assert long.meaning == f"pages of {DEFAULT_PER_PAGE} come whole"
    assert "30 rows" in short.meaning and "come whole" not in short.meaning
