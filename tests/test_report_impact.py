"""``impact_by_kind``: keys whose clients would notice, by kind, from a plan (or outcome) frame."""

from __future__ import annotations

import pandas as pd

from tyk_migrate.plan.reasons import CLIENT_IMPACT_BLOCKED
from tyk_migrate.report_impact import IMPACT_TABLE_COLUMNS, blocking_kinds, impact_breakdown, impact_by_kind

LIVE = "the key is live in the gateway today: the import replaces its session"
OTHER = "the key is live in the gateway today, owned by 'b@x.example': the import replaces it"


def blocked(kinds: str, detail: str) -> str:
    return CLIENT_IMPACT_BLOCKED(kinds=kinds, detail=detail).text


def frame() -> pd.DataFrame:
    rows = [
        ("rate_tighter", "rate 100/1s -> 10/1s", "create_app", ""),
        ("rate_tighter;api_lost", "rate 100/1s -> 10/1s; API a called today is in no target product", "blocked",
         blocked("api_lost", "API a called today is in no target product")),
        ("live_key_overwritten", LIVE, "add_credential", ""),
        ("live_key_overwritten", OTHER, "blocked", blocked("live_key_overwritten", OTHER)),
        ("", "", "create_app", ""),
    ]  # fmt: skip
    out = pd.DataFrame(rows, columns=["client_impact", "client_impact_detail", "action", "reason"])
    out.attrs["client_impact"] = {"api_lost": "block", "live_key_overwritten": "block_other_owner"}
    return out


def test_rows_per_kind_with_what_blocked_and_an_example() -> None:
    table = impact_by_kind(frame())
    assert list(table.columns) == IMPACT_TABLE_COLUMNS
    got = {r["kind"]: (r["rows"], r["setting"], r["blocked"], r["warned"]) for r in table.to_dict("records")}
    assert got == {
        "rate_tighter": (2, "warn", 0, 2),  # the api_lost row is blocked, but not by its rate
        "api_lost": (1, "block", 1, 0),
        "live_key_overwritten": (2, "block_other_owner", 1, 1),  # only another owner's live key blocks
    }
    assert list(table["kind"]) == ["rate_tighter", "api_lost", "live_key_overwritten"]  # IMPACT_KINDS order
    examples = dict(zip(table["kind"], table["example"], strict=True))
    assert examples["api_lost"] == "API a called today is in no target product"
    assert examples["rate_tighter"] == "rate 100/1s -> 10/1s"
    assert impact_breakdown(table) == "rate_tighter 2, api_lost 1 (blocked), live_key_overwritten 2 (1 blocked)"


def test_the_reason_names_the_kinds_that_blocked() -> None:
    assert blocking_kinds(blocked("api_lost, rate_tighter", "x and y")) == {"api_lost", "rate_tighter"}
    assert blocking_kinds("portal user 'x' is inactive") == set() and blocking_kinds(None) == set()


def test_frames_without_impact_give_an_empty_table() -> None:
    for plain in (pd.DataFrame({"action": ["create_app"]}), frame().iloc[[4]], frame().iloc[0:0]):
        table = impact_by_kind(plain)
        assert table.empty and list(table.columns) == IMPACT_TABLE_COLUMNS
