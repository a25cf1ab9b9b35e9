"""The one scrubber: known keys out of any text (plain, escaped, cut), unknown key-shaped runs masked."""

from __future__ import annotations

import html
import json
import re
import urllib.parse

import httpx
import pytest

from tyk_migrate.errors import looks_like_token
from tyk_migrate.portal import ERROR_BODY_CHARS, Call
from tyk_migrate.portal_errors import error_for
from tyk_migrate.scrub import KeyScrubber, clip, looks_like_key, mask_secretish, scrub_keys
from tyk_migrate.secrets import SecretKey, mask

KEY = "qb_live_Zx81kdLmQa02PpXc7Hq"
# a key with every character an encoder rewrites: quotes, <>&, /, +, %, space, non-ASCII
ODD = "k€y'with\"<odd>&chars/+%41 ünï-0123456789"


def windows(key: str, n: int = 8) -> set[str]:
    return {key[i : i + n] for i in range(len(key) - n + 1)}


def decodings(text: str) -> list[str]:
    """Every way a reader could undo an encoding of the text."""
    unjson = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), text)
    unjson = unjson.replace('\\"', '"').replace("\\/", "/").replace("\\\\", "\\")
    return [text, html.unescape(text), urllib.parse.unquote(text), urllib.parse.unquote_plus(text), unjson]


def leaks(text: str, key: str) -> bool:
    """8 consecutive characters of ``key`` readable in ``text``, whatever the encoding."""
    return any(w in d for d in decodings(text) for w in windows(key))


def encodings(key: str) -> list[str]:
    """Every form the tool itself (and a portal or proxy echoing it) would write the key in."""
    return [
        key,
        json.dumps(key)[1:-1],  # ensure_ascii: \u20ac, \"
        json.dumps(key, ensure_ascii=False)[1:-1],  # httpx >= 0.28 sends this
        json.dumps(key).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")[1:-1],  # Go
        html.escape(key),  # &#x27; &quot; &lt; &amp;
        html.escape(key).replace("&#x27;", "&#39;"),  # other escapers
        html.escape(key, quote=False),
        urllib.parse.quote(key),
        urllib.parse.quote(key, safe=""),
        urllib.parse.quote_plus(key),
        repr(key)[1:-1],
    ]


@pytest.mark.parametrize("key", [KEY, ODD])
@pytest.mark.parametrize("form", range(11))
def test_escaped_echoes_of_a_key_are_masked(key: str, form: int) -> None:
    echoed = encodings(key)[form]
    text = f'{{"errors": ["credential {echoed} refused"]}}'
    assert leaks(text, key)  # the test can fail: the echo is readable before scrubbing
    scrubbed = scrub_keys(text, [key])
    assert not leaks(scrubbed, key), scrubbed
    assert scrubbed.startswith('{"errors": ["credential ') and scrubbed.endswith(' refused"]}')


@pytest.mark.parametrize("key", [KEY, ODD])
@pytest.mark.parametrize("form", range(11))
def test_a_key_cut_by_a_length_limit_is_masked_at_every_cut(key: str, form: int) -> None:
    body = f"<html><body>bad key {encodings(key)[form]} for app 7</body></html>"
    start = body.index("bad key ") + len("bad key ")
    for cut in range(start, len(body)):
        for text in (body[:cut], body[:cut] + "…", body[:cut] + '"]}'):
            assert not leaks(scrub_keys(text, [key]), key), (cut, text)
        # scrubbed before the cut: the cut cannot leave a piece the scrubber no longer recognises
        assert not leaks(clip(body, cut - start + 20, lambda t: scrub_keys(t, [key])), key)


def test_a_cut_prefix_is_masked_as_itself_not_with_the_rest_of_the_key() -> None:
    text = f"error: key {KEY[:12]}"
    out = scrub_keys(text, [KEY])
    assert out == f"error: key {mask(KEY[:12])}" and KEY[-3:] not in out  # the mask of the whole key shows its end
    assert scrub_keys(f"error: key {KEY[:7]}", [KEY]) == f"error: key {KEY[:7]}"  # under 8: not a key's piece


def test_many_keys_are_found_in_one_pass_glued_or_not() -> None:
    keys = [f"legacy-{i:06d}-{'abcdef'[i % 6]}0123456789" for i in range(50_000)]
    scrub = KeyScrubber(keys)
    text = f"x={keys[123]}!{keys[49_999]}, and {keys[7]}"
    assert scrub(text) == f"x={mask(keys[123])}!{mask(keys[49_999])}, and {mask(keys[7])}"
    assert scrub("nothing here") == "nothing here"
    assert scrub(f"cut: {keys[42][:15]}") == f"cut: {mask(keys[42][:15])}"


def test_short_keys_only_as_whole_runs_and_render_for_html() -> None:
    scrub = KeyScrubber(["ab<12", KEY, None, float("nan"), ""], render=html.escape)
    assert scrub("key ab<12 and xab<12y") == "key ……… and xab<12y"
    assert scrub(f"<td>{html.escape(KEY)}</td>") == f"<td>{html.escape(mask(KEY))}</td>"
    assert KeyScrubber([SecretKey(KEY)])(f"[{KEY}]") == f"[{mask(KEY)}]"


def test_scrub_keys_quick_exit_keeps_text() -> None:
    assert scrub_keys("plain text, nothing to find", [KEY]) == "plain text, nothing to find"
    assert scrub_keys("", [KEY]) == "" and scrub_keys(f"has {KEY}", []) == f"has {KEY}"


def test_clip_scrubs_then_cuts() -> None:
    text = "a" * 85 + KEY + " tail"
    assert clip(text, 100) == text[:99] + "…"  # without a scrubber: a plain cut
    out = clip(text, 100, lambda t: scrub_keys(t, [KEY]))
    assert out == "a" * 85 + mask(KEY) + " tail" and not leaks(out, KEY)
    assert len(clip("x" * 500, 120)) == 120


def test_portal_error_body_is_scrubbed_before_it_is_cut() -> None:
    # a proxy's HTML error page echoing the key html-escaped, the key straddling the 200-character limit
    call = Call("POST", "/apps/1/custom_credentials", json={"KeyID": ODD}, expect=(201,), secrets=(ODD,))
    page = "<html>" + "x" * (ERROR_BODY_CHARS - 20) + f"rejected {html.escape(ODD)} at the edge</html>"
    err = error_for(call, httpx.Response(502, text=page, headers={"content-type": "text/html"}))
    assert not leaks(str(err), ODD) and len(err.errors[0]) <= ERROR_BODY_CHARS
    # the JSON errors list, with the key echoed percent-encoded
    body = {"errors": [f"KeyID {urllib.parse.quote(ODD)} already exists"]}
    err = error_for(call, httpx.Response(409, json=body))
    assert not leaks(str(err), ODD) and "already exists" in str(err)


@pytest.mark.parametrize(
    ("text", "is_key"),
    [
        ("qb_live_AAAAbbbb0001", True),
        ("5f1a9c0e2b3d4e0001a1b2c3", True),
        ("dGhpcyBpcyBiYXNlNjQ=", True),
        ("ABCDEFGHIJKL", True),
        ("Developer Email", False),
        ("UsagePlan", False),
        ("column_3", False),
        ("DataFrame", False),
        ("abcdefg", False),  # under 8: no key of the gateway is that short
    ],
)
def test_one_key_shape(text: str, is_key: bool) -> None:
    assert looks_like_key(text) is is_key
    assert looks_like_token is looks_like_key  # errors re-exports the one rule


def test_mask_secretish_masks_quoted_values_and_key_shaped_runs() -> None:
    out = mask_secretish(f"KeyError: '{KEY}' in DataFrame column_3 near ABCDEFGHIJKL, don't")
    assert KEY not in out and f"'{mask(KEY)}'" in out and "ABCDEFGHIJKL" not in out
    assert "DataFrame column_3" in out and "don't" in out  # names and words stay readable


def b64_leaks(text: str, key: str) -> bool:
    """6 consecutive bytes of ``key`` (8 base64 characters) readable by base64-decoding some run of ``text``."""
    import base64
    import binascii

    raw, found = key.encode(), False
    for run in re.findall(r"[A-Za-z0-9+/_-]{8,}={0,2}", text):
        for start in range(4):
            chunk = run[start:].translate(str.maketrans("-_", "+/"))
            chunk = chunk[: len(chunk) // 4 * 4]
            try:
                decoded = base64.b64decode(chunk)
            except (binascii.Error, ValueError):
                continue
            found |= any(raw[i : i + 6] in decoded for i in range(len(raw) - 5))
    return found


@pytest.mark.parametrize("key", [KEY, KEY + "x", KEY + "xy", "RAW/SECRET+KEY=0002zz", ODD])
def test_base64_echoes_of_a_key_and_of_its_stored_token_are_masked(key: str) -> None:
    import base64

    from tyk_migrate.tyk_hash import generate_token

    org = "5f1a9c0e2b3d4e0001a1b2c3"
    forms = [base64.b64encode(key.encode()).decode(), base64.urlsafe_b64encode(key.encode()).decode()]
    forms += [generate_token(org, key, f) for f in ("murmur64", "sha256")]  # {"org":…,"id":KEY,"h":…}
    forms += [base64.b64encode(f"prefix-{n * 'p'}{key}-suffix".encode()).decode() for n in range(3)]
    for form in forms:
        text = json.dumps({"Message": f"could not find key {form} in store"})
        assert b64_leaks(text, key)  # the test can fail: the echo decodes before scrubbing
        scrubbed = scrub_keys(text, [key], encoded=True)
        assert not b64_leaks(scrubbed, key) and not leaks(scrubbed, key), scrubbed
        assert "could not find key" in scrubbed and mask(key) in scrubbed
    # a Dashboard's error body is scrubbed so (the call's key): one line, no base64 of the key left
    body = {"Status": "Error", "Message": "bad key " + base64.b64encode(key.encode()).decode()}
    error = error_for(Call("GET", "/api/keys/{key}", secrets=(key,)), httpx.Response(400, json=body))
    assert not b64_leaks(str(error), key)
    # a scrubber over many keys (logs) leaves base64 alone unless asked: its memory stays one set of keys
    assert KeyScrubber([key])(forms[0]) == forms[0] and KeyScrubber([key], encoded=True)(forms[0]) != forms[0]
