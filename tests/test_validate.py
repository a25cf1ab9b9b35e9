"""validate_keys: every check with a row that trips it and a row that does not."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd
import pytest

from tyk_migrate.errors import InputError, MissingColumnsError
from tyk_migrate.schemas import Rejects
from tyk_migrate.secrets import mask
from tyk_migrate.sources import load_keys
from tyk_migrate.validate import CHECKS, summarize, validate_keys

NOW = datetime(2026, 11, 28, tzinfo=UTC)
GOOD = {
    "key": "Good9Key7Value5Here3",
    "email": "ok@quill.example",
    "plan": "plan1",
    "apis": "p1;p2",
    "expires": "",
    "status": "active",
}


def run(*overrides: dict, min_key_length: int = 8):
    rows = [{**GOOD, "key": o.get("key", f"Good9Key7Value{i:05d}"), **o} for i, o in enumerate(overrides)]
    frame = load_keys(pd.DataFrame(rows))
    return validate_keys(frame, min_key_length=min_key_length, now=NOW)


def checks_of(rejects: pd.DataFrame, row: int) -> set[str]:
    return set(rejects.loc[rejects["source_row"] == row, "check"])


# (check, a value that trips it, a value that does not, column overridden)
CASES = [
    ("key_missing", {"key": ""}, {"key": "Abcdefgh12345678"}),
    ("key_bad_chars", {"key": "Abcd efgh12345678"}, {"key": "Abcd-efgh_12345678"}),
    ("key_bad_chars", {"key": "Abcd\tefgh12345678"}, {"key": "Abcd.efgh12345678"}),
    ("key_bad_chars", {"key": "Abcd/efgh12345678"}, {"key": "Abcd+efgh12345678"}),
    ("key_bad_chars", {"key": "Abcd?efgh1234#567%"}, {"key": "Abcd=efgh12345678"}),
    ("key_bad_chars", {"key": 'Abcd"efgh\\12345678'}, {"key": "Abcd~efgh12345678"}),
    ("key_bad_chars", {"key": "Abcd\x01efgh12345678"}, {"key": "Abcd:efgh12345678"}),
    ("key_bad_chars", {"key": "Abcdéfgh12345678"}, {"key": "Abcdefgh12345678"}),
    ("key_bad_chars", {"key": "Abcd\u4e2defgh12345678"}, {"key": "Abcd!efgh12345678"}),
    ("key_bad_chars", {"key": "Abcd\x7fefgh12345678"}, {"key": "Abcd~efgh12345679"}),
    ("key_bad_chars", {"key": "Abcd\x85efgh12345678"}, {"key": "Abcd@efgh12345678"}),
    ("key_too_short", {"key": "Ab3d5"}, {"key": "Ab3d5f7h"}),
    ("email_missing", {"email": "  "}, {"email": "x@y.example"}),
    ("email_malformed", {"email": "not-an-email"}, {"email": "first.last+tag@sub.y.example"}),
    ("email_malformed", {"email": "a@b"}, {"email": "a@b.co"}),
    ("plan_missing", {"plan": ""}, {"plan": "plan-x"}),
    ("products_missing", {"apis": " ; "}, {"apis": "p9"}),
    ("expiry_unparseable", {"expires": "soon"}, {"expires": "2031-01-01"}),
    ("key_looks_hashed", {"key": "0123456789abcdef0123456789abcdef"}, {"key": "0123456789abcdef0123456789abcdeg"}),
    ("key_looks_hashed", {"key": "0123456789abcdef"}, {"key": "0123456789abcdef0"}),
    ("key_long", {"key": "A" + "b1" * 12}, {"key": "A" + "b1" * 11 + "c"}),
    ("expired", {"expires": "2020-01-01"}, {"expires": "2030-01-01"}),
    ("inactive", {"status": "inactive"}, {"status": "active"}),
    ("key_weak", {"key": "Ab3d5f7h9"}, {"key": "Ab3d5f7h9j1l"}),
    ("key_weak", {"key": "zzzzzzzzzzzzzzzzzz"}, {"key": "zzzzzzzzzzzzzzQ7kY"}),
    # the optional limit columns (issue 17): warnings, the row stays
    ("limit_unreadable", {"rate": "ten", "per": "1"}, {"rate": "10", "per": "1"}),
    ("limit_unreadable", {"quota_max": "1.5"}, {"quota_max": "unlimited"}),
    ("limit_unreadable", {"quota_renewal_rate": "-2"}, {"quota_renewal_rate": "-1"}),
    ("rate_period_missing", {"rate": "100", "per": ""}, {"rate": "100", "per": "60"}),
    ("rate_period_missing", {"rate": "100", "per": "0"}, {"rate": "0", "per": "0"}),
]


@pytest.mark.parametrize("check,bad,good", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_check_trips_and_passes(check: str, bad: dict, good: dict) -> None:
    valid, rejects = run(bad, good)
    assert check in checks_of(rejects, 1)
    assert check not in checks_of(rejects, 2)
    severity = CHECKS[check].severity
    assert set(rejects.loc[rejects["check"] == check, "severity"]) == {severity}
    if severity == "error":
        assert 1 not in set(valid["source_row"])
    else:
        assert 1 in set(valid["source_row"])
        assert check in valid.set_index("source_row").loc[1, "warnings"].split(";")
    Rejects.validate(rejects)


def test_every_check_is_covered() -> None:
    # key_hash_only needs a Dashboard listing (key_id == key_hash): tests/test_dashboard.py trips and passes it
    assert {c[0] for c in CASES} | {"key_duplicate", "key_near_duplicate", "key_hash_only"} == set(CHECKS)


def test_duplicates_reject_every_copy_naming_the_others() -> None:
    dup = "Dup1icateKeyValue9876"
    valid, rejects = run({"key": dup}, {"key": "UniqueKeyValue12345"}, {"key": dup}, {"key": dup})
    dups = rejects[rejects["check"] == "key_duplicate"].set_index("source_row")
    assert set(dups.index) == {1, 3, 4}
    assert "3, 4" in dups.loc[1, "message"] and "1, 4" in dups.loc[3, "message"]
    assert "1, 3" in dups.loc[4, "message"]
    assert list(valid["source_row"]) == [2]


def test_near_duplicates_warn_and_name_the_other_row() -> None:
    valid, rejects = run({"key": "CaseKeyValue98765"}, {"key": "casekeyvalue98765"}, {"key": "OtherKey98765xyz"})
    near = rejects[rejects["check"] == "key_near_duplicate"].set_index("source_row")
    assert set(near.index) == {1, 2}
    assert "row(s) 2" in near.loc[1, "message"]
    assert len(valid) == 3


def test_rejects_mask_keys_and_never_hold_raw_values() -> None:
    keys = ["Short1", "Dup1icateKeyValue9876", "Dup1icateKeyValue9876", "has space inside key", "0" * 32]
    valid, rejects = run(*({"key": k} for k in keys))
    text = rejects.to_csv() + valid.to_string() + repr(valid) + rejects.to_string()
    for k in keys:
        assert k not in text
    key_rows = rejects[rejects["column"] == "key_id"]
    assert set(key_rows["value"]) <= {mask(k) for k in keys}


def test_a_non_ascii_key_is_refused_at_validate_naming_why_with_the_key_masked() -> None:
    keys = ["Clé9Key7Value5Here3x", "Ключ9Key7Value5Here3", "Key\U0001f511Value5Here3xy"]
    valid, rejects = run(*({"key": k} for k in keys))
    assert valid.empty
    bad = rejects[rejects["check"] == "key_bad_chars"].set_index("source_row")
    assert set(bad.index) == {1, 2, 3}
    for row, key in enumerate(keys, start=1):
        message, value = bad.loc[row, "message"], bad.loc[row, "value"]
        assert message.startswith("key contains a non-ASCII character: such keys break HTTP headers")
        assert value == mask(key) and key not in message + value
        assert not any(ch in message for ch in key if not ch.isascii())  # the message names no character of it


@pytest.mark.parametrize(
    "key", ["z" * 16, "z" * 30, "0" * 32, "ab" * 10, "////////////////", "Qx7!" * 9, "aaaaa", "kkkkkkkkk"]
)
def test_nothing_in_the_report_of_a_low_entropy_key_gives_it_away(key: str) -> None:
    """Its pattern and its length are the whole key: the mask shows neither and no message states its length
    (nor names the character it is made of)."""
    valid, rejects = run({"key": key}, {"key": "Other9Key7Value5Here3"})
    mine = rejects[rejects["source_row"] == 1]
    assert "key_weak" in set(mine["check"])
    assert set(mine.loc[mine["column"] == "key_id", "value"]) == {"………"}
    text = " ".join(mine["message"]) + " " + valid.drop(columns="key_fingerprint").to_string()
    assert not re.search(rf"\b{len(key)}\b", text), text
    assert "one character" not in text and key[:4] not in text and f"'{key[0]}'" not in text


def test_message_is_written_for_a_person() -> None:
    _, rejects = run({"key": "Ab3d5"}, min_key_length=8)
    msg = rejects.loc[rejects["check"] == "key_too_short", "message"].iloc[0]
    assert msg == "key is 5 characters; your gateway's minimum is 8 (min_key_length)"


def test_min_key_length_is_configurable() -> None:
    _, rejects = run({"key": "Ab3d5f7h9j1l"}, min_key_length=16)
    assert "key_too_short" in checks_of(rejects, 1)
    _, rejects = run({"key": "Ab3d5f7h9j1l"}, min_key_length=12)
    assert "key_too_short" not in checks_of(rejects, 1)


def test_classic_dump_hash_warning_is_stronger() -> None:
    doc = {"Data": [{"id": "d1", "email": "a@b.example", "keys": {"0123456789abcdef0123456789abcdef": ["p", "q"]}}]}
    import json

    _, rejects = validate_keys(load_keys(json.dumps(doc).encode()), now=NOW)
    msg = rejects.loc[rejects["check"] == "key_looks_hashed", "message"].iloc[0]
    assert "Classic Portal" in msg and "hash" in msg


def test_clean_frame_has_no_rejects_and_empty_warnings() -> None:
    valid, rejects = run({}, {})
    assert rejects.empty and list(rejects.columns) == ["source_row", "column", "check", "severity", "message", "value"]
    assert list(valid["warnings"]) == ["", ""]


def test_empty_frame() -> None:
    valid, rejects = validate_keys(load_keys(b"key,email,plan,apis\n"), now=NOW)
    assert valid.empty and rejects.empty


def test_bad_frames_are_refused_with_one_line() -> None:
    with pytest.raises(MissingColumnsError, match="key_id"):
        validate_keys(pd.DataFrame({"a": [1]}))
    frame = load_keys(pd.DataFrame([GOOD]))
    frame["products"] = "not-a-list"
    with pytest.raises(InputError, match="products"):
        validate_keys(frame)


def test_plain_string_keys_are_wrapped() -> None:
    frame = load_keys(pd.DataFrame([GOOD]))
    frame["key_id"] = pd.Series(["Good9Key7Value5Here3"], index=frame.index, dtype=object)  # labels: source_row
    valid, _ = validate_keys(frame, now=NOW)
    assert "Good9Key7Value5Here3" not in repr(valid["key_id"].iloc[0])


def test_summarize_counts_rows_per_check() -> None:
    _, rejects = run({"key": "Ab3d5"}, {"key": "Ab3d6"}, {"status": "inactive"})
    counts = summarize(rejects).set_index("check")["rows"].to_dict()
    assert counts["key_too_short"] == 2 and counts["inactive"] == 1


def test_vectorised_masks_equal_secrets_mask() -> None:
    import pyarrow as pa

    from tyk_migrate.validate import masks_of

    values = ["", "a", "abcdefg", "abcdefgh", "abcdefghijklmno", "abcdefghijklmnop", "é" * 20, None, "x" * 99]
    values += ["".join(chr(65 + i % 26) for i in range(n)) for n in (11, 12, 15, 16, 23, 24, 31, 32, 33)]
    assert masks_of(pa.array(values, pa.string())).to_pylist() == [mask(v) for v in values]
