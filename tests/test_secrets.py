import hashlib
import hmac
import json
import os
import pickle
import random
import re
import stat
import string
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tyk_migrate import fingerprint_key
from tyk_migrate.errors import ConfigError
from tyk_migrate.secrets import (
    MASK_CHAR,
    SecretKey,
    fingerprint,
    fingerprint_key_id,
    fingerprints,
    low_entropy,
    mask,
    mask_shown,
    reveal,
    secret_series,
)

RAW = "qb_live_Zx81kdLmQa02PpXc"
REPO = Path(__file__).resolve().parent.parent
TEST_FINGERPRINT_KEY = os.environ["TYK_MIGRATE_FINGERPRINT_KEY"]  # conftest's, for the whole session


def test_fingerprint_is_an_hmac_with_the_secret_not_a_plain_hash():
    # a plain sha256 let anyone holding an outcome log check guesses of a key against it (8-char key in 22 s)
    assert fingerprint(RAW) != hashlib.sha256(RAW.encode()).hexdigest()[:16]
    secret = bytes.fromhex(TEST_FINGERPRINT_KEY)
    assert fingerprint(RAW) == hmac.new(secret, RAW.encode(), hashlib.sha256).hexdigest()[:16]
    assert fingerprint(SecretKey(RAW)) == fingerprint(RAW) and re.fullmatch(r"[0-9a-f]{16}", fingerprint(RAW))
    assert fingerprints([RAW, None, "other-key-0001"]) == [fingerprint(RAW), None, fingerprint("other-key-0001")]


def test_loaded_frames_fingerprint_with_the_same_secret(tmp_path: Path):
    # the loader computes fingerprints on its own hot path: it must give what secrets.fingerprint gives
    from tyk_migrate.sources import load_keys

    frame = load_keys(f"key,email,plan,products\n{RAW},a@x.example,gold,p1\n".encode())
    assert frame["key_fingerprint"].tolist() == [fingerprint(RAW)]


def test_the_secret_comes_from_the_environment_as_hex_or_text(monkeypatch: pytest.MonkeyPatch):
    before, before_id = fingerprint(RAW), fingerprint_key_id()
    monkeypatch.setenv(fingerprint_key.KEY_ENV, "a team secret shared in CI")
    assert fingerprint(RAW) != before and fingerprint_key_id() != before_id
    expected = hmac.new(b"a team secret shared in CI", RAW.encode(), hashlib.sha256).hexdigest()[:16]
    assert fingerprint(RAW) == expected
    monkeypatch.setenv(fingerprint_key.KEY_ENV, TEST_FINGERPRINT_KEY.upper())  # hex in either case
    assert (fingerprint(RAW), fingerprint_key_id()) == (before, before_id)


def test_a_short_secret_is_one_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(fingerprint_key.KEY_ENV, "abc123")
    with pytest.raises(ConfigError, match="TYK_MIGRATE_FINGERPRINT_KEY is too short"):
        fingerprint(RAW)


def test_key_id_names_the_secret_without_revealing_it():
    secret = bytes.fromhex(TEST_FINGERPRINT_KEY)
    key_id = fingerprint_key_id()
    assert re.fullmatch(r"[0-9a-f]{16}", key_id) and TEST_FINGERPRINT_KEY[:16] not in key_id
    assert key_id == hmac.new(secret, b"tyk-migrate fingerprint key id v1", hashlib.sha256).hexdigest()[:16]


_IN_CHILD = (
    "from tyk_migrate.secrets import fingerprint, fingerprint_key_id; print(fingerprint({!r}), fingerprint_key_id())"
)


def test_without_the_variable_a_private_key_file_is_made_once_and_reused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.delenv(fingerprint_key.KEY_ENV)
    home = tmp_path / "home"
    monkeypatch.setenv(fingerprint_key.HOME_ENV, str(home))
    old = os.umask(0o022)
    try:
        first, first_id = fingerprint(RAW), fingerprint_key_id()
    finally:
        os.umask(old)
    key_file = home / "fingerprint.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert re.fullmatch(r"[0-9a-f]{64}\n", key_file.read_text())
    assert first == hmac.new(bytes.fromhex(key_file.read_text()), RAW.encode(), hashlib.sha256).hexdigest()[:16]
    # another process on this machine finds the same file and so the same fingerprints (journals match rows)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", _IN_CHILD.format(RAW)], env=env, capture_output=True, text=True)
    assert out.stdout.split() == [first, first_id], out.stderr
    # a file someone made group-readable is made owner-only again; its secret is kept
    key_file.chmod(0o644)
    fingerprint_key._cache.clear()
    assert fingerprint(RAW) == first and stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_an_unusable_key_file_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv(fingerprint_key.KEY_ENV)
    monkeypatch.setenv(fingerprint_key.HOME_ENV, str(tmp_path))
    (tmp_path / "fingerprint.key").write_text("not hex\n")
    with pytest.raises(ConfigError, match=r"fingerprint key file .* too short"):
        fingerprint(RAW)


@pytest.mark.parametrize("length", range(0, 80))
def test_a_mask_shows_at_most_a_quarter_of_a_key_and_at_most_8_characters(length: int):
    key = "".join(chr(ord("A") + i % 26) for i in range(length))
    shown = mask(key).replace(MASK_CHAR, "")
    assert len(shown) <= length / 4 and len(shown) <= 8
    if 0 < length < 12:
        assert mask(key) == MASK_CHAR * 3  # nothing of the key, not even its length
    assert (mask(key) == "") == (length == 0)


def test_mask_tiers():
    assert mask(RAW) == "qb_…pXc"  # 24 characters: 3 + 3
    assert mask("abcdefghijklmnop") == "ab…op"  # 16: 2 + 2
    assert mask("abcdefghijkl") == "a…l"  # 12: 1 + 1
    assert mask("Qm8Rt2Lp" + "x" * 16 + "Zk9Wv3Nb") == "Qm8R…v3Nb"  # a pattern only in its middle: not one pattern
    assert mask("abcdefghij") == mask("abc") == "………"
    assert mask("") == "" and mask(None) == ""


LOW_ENTROPY = ["z" * 16, "0" * 32, "é" * 20, "ab" * 8, "abcd" * 4, "xyz" * 8, "Ab3d" * 6 + "Ab", "12345678" * 4]


@pytest.mark.parametrize("key", LOW_ENTROPY)
def test_a_low_entropy_key_masks_to_nothing(key: str):
    assert mask(key) == mask(SecretKey(key)) == str(SecretKey(key)) == MASK_CHAR * 3  # not its pattern, nor its length


NEAR_REPEATS = ["a" * 46 + "b", "0" * 38 + "1", "test" * 8 + "1", "x" * 30 + "Z", "A" + "x" * 40 + "Z",
                "zzzzzzzzzzzzzzzy", "0" * 28 + "1234", "ab" * 10 + "X" + "ab" * 10, "aaaaaaaaaaab"]  # fmt: skip


@pytest.mark.parametrize("key", NEAR_REPEATS)
def test_a_key_nearly_repeating_a_short_pattern_masks_to_nothing(key: str):
    """Its ends show the pattern, and a break or two of it are a few guesses (``aaaa…aaab`` was the key)."""
    assert low_entropy(key) and mask(key) == MASK_CHAR * 3


@pytest.mark.parametrize("alphabet", [string.hexdigits[:16], string.digits, string.ascii_letters + string.digits])
def test_random_keys_keep_their_masks(alphabet: str):
    rng = random.Random(alphabet)
    for length in (12, 16, 24, 32, 47, 64):
        for _ in range(300):
            key = "".join(rng.choice(alphabet) for _ in range(length))
            assert not low_entropy(key) and mask(key) == f"{key[: mask_shown(length)]}…{key[-mask_shown(length) :]}"


@pytest.mark.parametrize("key", ["abc" * 4, "abcdefghi" * 4, "Qm8Rt2Lp" + "x" * 16 + "Zk9Wv3Nb", RAW])
def test_a_key_whose_ends_cannot_show_its_pattern_whole_keeps_its_mask(key: str):
    assert mask(key) != MASK_CHAR * 3


def test_secret_key_prints_as_mask_but_sends_raw():
    key = SecretKey(RAW)
    assert str(key) == repr(key)[11:-2] == mask(RAW)
    assert f"{key}" == mask(RAW) and "%s" % key == mask(RAW)  # noqa: UP031 - logging formats with %
    assert RAW not in repr(key)
    with pytest.raises(TypeError, match="SecretKey") as caught:
        json.dumps({"KeyID": key})  # only an explicit reveal() sends the raw value
    assert RAW not in str(caught.value)
    assert reveal(key) == RAW and type(reveal(key)) is str
    assert key == RAW and hash(key) == hash(RAW)
    assert pickle.loads(pickle.dumps(key)) == RAW


def test_frame_display_never_shows_raw_keys():
    frame = pd.DataFrame({"owner": ["a@x.example"]})
    frame["key_id"] = secret_series([RAW])
    assert frame["key_id"].dtype == object
    for rendered in (repr(frame), frame.to_html(), frame.to_string(), repr(frame.iloc[0])):
        assert RAW not in rendered
    copied = pd.concat([frame, frame]).merge(frame, on="owner")
    assert isinstance(copied["key_id_x"].iloc[0], SecretKey)


def test_runner_error_text_scrubs_the_rows_key_before_it_cuts():
    """A portal answer echoing the key right at the cut (JSON-escaped, or its first characters only)."""
    from tyk_migrate.run import ERROR_TEXT_CHARS, _message

    key = "Zk3x\u00e9Q9wLmP2vR7tY4uB8nC1"
    echo = json.dumps(key)[1:-1]  # \u00e9: the form a JSON encoder writes
    text = _message(RuntimeError("x" * 50 + echo), SecretKey(key))
    assert key not in text and echo not in text
    cut = _message(RuntimeError("y" * (ERROR_TEXT_CHARS - 12) + key), SecretKey(key))
    assert key[:10] not in cut and len(cut) <= ERROR_TEXT_CHARS


@pytest.mark.parametrize(
    ("text", "key"),
    [
        # a JSON \u escape before an emoji's surrogate pair: pairing any two escapes swallowed the pair's half
        ('{"KeyID": "\\u00e9\\ud83d\\ude00abcdefgh12"}', "é😀abcdefgh12"),
        # a key cut mid-text by a message that quotes it short
        ("KeyID 'ключ-Секрет-ЖЗИЙ…' is not allowed", "ключ-Секрет-ЖЗИЙКЛМН-1234567"),
        # an 8-character key cut to 6 of its characters
        ("refused key passwo… (cut)", "password"),
    ],
)
def test_escaped_and_cut_echoes_found_by_the_review_are_scrubbed(text, key):
    from tyk_migrate.scrub import scrub_keys

    out = scrub_keys(text, [key])
    assert key not in out
    cut = text.split("…")[0].split("'")[-1].split(" ")[-1] if "…" in text else None
    assert cut is None or cut not in out
    assert "\\ud83d" not in out


@st.composite
def _keys(draw: st.DrawFn) -> str:
    """Keys near the rule's edges: a short pattern repeated, then a few characters changed, or random ones."""
    alphabet = draw(st.sampled_from(["ab", "0123456789abcdef", string.ascii_letters + string.digits + "é𝄞"]))
    chars = st.sampled_from(alphabet)
    if draw(st.booleans()):
        return draw(st.text(chars, max_size=70))
    pattern = draw(st.text(chars, min_size=1, max_size=9))
    key = list(pattern * draw(st.integers(1, 70 // len(pattern))))
    for _ in range(draw(st.integers(0, 8))):
        if key:
            key[draw(st.integers(0, len(key) - 1))] = draw(chars)
    return "".join(key)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_keys(), st.none()), max_size=12))
def test_the_vectorised_rule_and_masks_are_those_of_secrets(keys: list[str | None]):
    import pyarrow as pa

    from tyk_migrate.validate_checks import low_entropy_of, masks_of

    arr = pa.array(keys, pa.string())
    assert low_entropy_of(arr).to_pylist() == [k is not None and low_entropy(k) for k in keys]
    assert masks_of(arr).to_pylist() == [mask(k) if k is not None else "" for k in keys]
