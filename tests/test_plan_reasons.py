"""The reason registry: every code the planner can write, the ``reason_code`` column, summaries by code.

Pure tests over the hand-built portal of test_plan.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pandera.errors
import pytest
from test_plan import CREDENTIALS, EXISTING_KEY, legacy, portal

from tyk_migrate.errors import MissingColumnsError
from tyk_migrate.plan import BLOCKING_CODES, REASONS, build_plan, reason_counts, summarize
from tyk_migrate.plan.reasons import REASON_SEPARATOR, split_codes
from tyk_migrate.schemas import PlanFrame

ROOT = Path(__file__).resolve().parents[1]
SAME_KEY = "same-everything-key-01"  # in the portal exactly as the legacy row says
ELSEWHERE_KEY = EXISTING_KEY  # in the portal with another owner than the legacy row's
HELD_KEY = "held-by-portal-key-001"  # in the portal, on a row blocked for another reason
EXTRA_CREDENTIALS = [
    {"ID": 101, "AppID": 10, "KeyID": SAME_KEY, "PlanID": "7", "ProductIDs": [1]},
    {"ID": 102, "AppID": 10, "KeyID": HELD_KEY, "PlanID": "7", "ProductIDs": [1]},
]
#: (legacy row, the reason_code the planner must give it)
CRAFTED = [
    ({"owner": "stranger@apps.example"}, "owner_unknown"),
    ({"owner": "twin@apps.example"}, "owner_ambiguous"),
    ({"owner": "gone@apps.example"}, "owner_inactive"),
    ({"owner": "admin@bank.example"}, "owner_admin"),
    ({"owner": " "}, "owner_missing"),
    ({"products": ["pol-pay", "pol-nope"]}, "policy_unknown"),
    ({"plan": "pol-pay", "products": ["pol-acc"]}, "plan_unmapped"),
    ({"plan": "pol-free", "products": ["pol-gold"]}, "plan_ambiguous;product_unmapped"),
    ({"plan": "pol-free", "products": []}, "product_unmapped"),
    ({"plan": "", "products": []}, "policies_missing"),
    ({"key": "twice-in-export-key-01"}, ""),  # the first of two rows with one key is planned
    ({"key": "twice-in-export-key-01"}, "duplicate_key_in_export"),
    (
        {"key": ELSEWHERE_KEY, "owner": "dev.two@apps.example", "products": ["pol-pay", "pol-acc"]},
        "key_exists_elsewhere",
    ),
    ({"key": SAME_KEY, "app": "Checkout"}, "already_migrated"),
    ({"key": HELD_KEY, "owner": "nobody@apps.example", "plan": "Fre"}, "owner_unknown;policy_unknown;key_in_portal"),
    ({"app": "Twice", "owner": "dev.two@apps.example"}, "app_name_ambiguous"),
    ({"api_ids": ["a1", "retired-api"]}, "client_impact_blocked"),  # product 1 exposes a1 only: api_lost blocks
]


def crafted_plan() -> pd.DataFrame:
    rows = [{"source_row": 40 + n, **row} for n, (row, _) in enumerate(CRAFTED)]
    plan, _ = build_plan(legacy(*rows), portal(credentials=[*CREDENTIALS, *EXTRA_CREDENTIALS]))
    return plan


def sentence_pattern(code: str) -> str:
    """A regex for the sentences of ``code``: the template's text literally, any value where a field is."""
    parts = re.split(r"\{[^{}]*\}", REASONS[code].template)
    return ".*?".join(re.escape(p) for p in parts)


def test_every_registry_code_appears_for_a_crafted_export():
    plan = crafted_plan()
    got = dict(zip(plan["source_row"], plan["reason_code"], strict=True))
    assert [got[40 + n] for n in range(len(CRAFTED))] == [code for _, code in CRAFTED]
    used = {code for cell in plan["reason_code"] for code in split_codes(cell)}
    assert used == set(REASONS)


def test_reason_code_values_are_registry_codes_in_the_order_of_the_sentences():
    plan = crafted_plan()
    for reason, codes in zip(plan["reason"], plan["reason_code"], strict=True):
        assert set(split_codes(codes)) <= REASONS.keys()
        assert (reason == "") == (codes == "")
        # one sentence per code, in the same order (sentences may themselves hold "; ")
        pattern = re.escape(REASON_SEPARATOR).join(sentence_pattern(c) for c in split_codes(codes))
        assert re.fullmatch(pattern, reason), (codes, reason)


def test_blocked_rows_carry_a_blocking_code_and_others_none():
    plan = crafted_plan()
    for action, codes in zip(plan["action"], plan["reason_code"], strict=True):
        blocking = set(split_codes(codes)) & BLOCKING_CODES
        assert bool(blocking) == (action == "blocked"), (action, codes)


def test_summary_counts_blocked_keys_per_code_not_per_sentence():
    keys = legacy(
        {"owner": "a@y.example"},
        {"owner": "b@z.example", "products": ["it's-unknown"]},  # an apostrophe in a value
        {"owner": "c@w.example", "plan": "Fre"},
        {"plan": "pol-free", "products": ["pol-gold"]},  # a sentence that itself holds "; "
        {"key": EXISTING_KEY, "owner": "nobody@apps.example"},  # + a note: not a blocking cause
    )
    plan, _ = build_plan(keys, portal())
    summary = summarize(plan)
    assert summary["reason_codes"] == {
        "owner_unknown": 4,
        "policy_unknown": 2,
        "plan_ambiguous": 1,
        "product_unmapped": 1,
    }
    assert summary["top_reasons"] == [  # most keys first, then the registry's order
        (REASONS["owner_unknown"].label, 4),
        (REASONS["policy_unknown"].label, 2),
        (REASONS["plan_ambiguous"].label, 1),
        (REASONS["product_unmapped"].label, 1),
    ]
    assert reason_counts(plan).to_dict() == summary["reason_codes"]
    assert summarize(plan, top=1)["top_reasons"] == [(REASONS["owner_unknown"].label, 4)]


def test_labels_blank_every_value():
    assert REASONS["owner_unknown"].label.startswith("owner '…' is not a portal user: create")
    assert REASONS["owner_ambiguous"].label.startswith("owner '…' matches N portal users (IDs …)")
    for reason in REASONS.values():
        assert "{" not in reason.label and "did you mean" not in reason.label


def test_plan_frame_refuses_an_unknown_or_missing_code():
    plan = crafted_plan()
    PlanFrame.validate(plan)
    with pytest.raises(pandera.errors.SchemaError):
        PlanFrame.validate(plan.assign(reason_code=plan["reason_code"].where(plan["reason_code"] == "", "nope")))
    with pytest.raises(pandera.errors.SchemaError):
        PlanFrame.validate(plan.assign(reason_code=""))


def test_summary_needs_the_reason_code_column():
    plan = crafted_plan().drop(columns="reason_code")
    with pytest.raises(MissingColumnsError, match="reason_code"):
        summarize(plan)


def test_docs_list_every_code():
    text = (ROOT / "docs" / "planning.md").read_text(encoding="utf-8")
    assert [code for code in REASONS if f"`{code}`" not in text] == []
