import json
import pickle

import pandas as pd
import pytest

from tyk_migrate.secrets import SecretKey, fingerprint, mask, reveal, secret_series

RAW = "qb_live_Zx81kdLmQa02PpXc"


def test_fingerprint_is_first_16_hex_of_sha256():
    import hashlib

    assert fingerprint(RAW) == hashlib.sha256(RAW.encode()).hexdigest()[:16]
    assert fingerprint(SecretKey(RAW)) == fingerprint(RAW)


def test_mask_shows_little_of_short_keys():
    assert mask(RAW) == "qb_l…PpXc"
    assert mask("abcdefghij") == "ab…ij"
    assert mask("abc") == "………"
    assert mask("") == "" and mask(None) == ""


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
