"""One home for "what looks like a key" and for taking keys out of text before it is shown or stored.

* ``looks_like_key(text)``: the key shape, for names and unquoted runs in text.
* ``KeyScrubber(keys)`` / ``scrub_keys(text, keys)``: every known key in a text becomes its mask, also when
  the text echoes it escaped or cut: JSON (``\\u00e9``, ``\\"``, ``\\/``; Go's ``\\u003c`` too), Python
  (``\\x41``), HTML entities (``&#x27;``, ``&#39;``, ``&quot;``, ``&amp;``), percent-encoding (``%2B``), and a
  key cut at the end of a text (a body truncated mid-key): its trailing prefix of 8+ characters is masked.
  With ``encoded`` (asked where a service's error body is read: ``portal_errors``), base64 too: the key's
  own, and the key inside any encoded text, such as the token Tyk stores a custom key under
  (``tyk_hash.generate_token``: the base64 of ``{"org":…,"id":KEY,"h":…}``), standard or URL-safe
  (``base64_forms``).
* ``mask_secretish(text)``: for text from code that does not know the keys (a third-party exception):
  every quoted value, and every unquoted key-shaped run, masked.
* ``clip(text, limit, scrub)``: scrub, *then* cut; cutting first could leave a piece of a key too short to
  be recognised.
"""

from __future__ import annotations

import base64
import bisect
import functools
import html
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable

from .secrets import is_key, mask, reveal

#: The gateway's shortest key: shorter runs are never taken for keys, and a cut key shows fewer characters.
KEY_SHAPE_MIN = 8
#: Known keys are found by their first ANCHOR characters (one dict lookup per position of the text).
ANCHOR = 8
_FIND_EACH = 32

# -- key shape -------------------------------------------------------------------------------------------

# One piece of a name: a word ("email", "Developer", "UsagePlan"), an acronym ("ID", "API") or a short
# number ("column_3"). A run of 8+ characters that is not made of such pieces is shaped like a key.
_NAME_PIECE = re.compile(r"(?:[A-Z]?[a-z]+)+|[A-Z]{1,4}|\d{1,3}")
_NAME_SEPARATORS = re.compile(r"[\s_\-.]+")


def looks_like_key(text: str) -> bool:
    """True when ``text`` is shaped like a key value (``qb_live_AAAAbbbb…``, hex, base64), not like a name."""
    text = text.strip()
    if len(text) < KEY_SHAPE_MIN:
        return False
    return not all(_NAME_PIECE.fullmatch(piece) for piece in _NAME_SEPARATORS.split(text) if piece)


# -- unknown keys in unexpected text ---------------------------------------------------------------------

# a quoted value (an apostrophe inside a word does not open one), or an unquoted run of 8+ characters
_SECRETISH = re.compile(r"""(?<![A-Za-z])(['"])(.*?)\1(?![A-Za-z])|[^\s'"()\[\]{}<>,;:]{""" + str(KEY_SHAPE_MIN) + ",}")


def _mask_secretish(m: re.Match[str]) -> str:
    if m[1]:
        return f"{m[1]}{mask(m[2])}{m[1]}"
    return mask(m[0]) if looks_like_key(m[0]) else m[0]


def mask_secretish(text: str) -> str:
    """Every quoted value masked (a library quotes the value it choked on, which may be a key of any shape),
    and every unquoted key-shaped run."""
    return _SECRETISH.sub(_mask_secretish, text)


def clip(text: str, limit: int, scrub: Callable[[str], str] | None = None) -> str:
    """``text`` scrubbed first, then cut to at most ``limit`` characters (the last one ``…`` when cut)."""
    if scrub is not None:
        text = scrub(text)
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


# -- known keys, base64-encoded -------------------------------------------------------------------------

#: the fewest key bytes a base64 form encodes (8 characters): fewer would match unrelated text
_B64_MIN_BYTES = 6
_URLSAFE = str.maketrans("+/", "-_")


@functools.lru_cache(maxsize=4096)
def base64_forms(raw: str) -> tuple[str, ...]:
    """What the base64 of any text holding ``raw`` holds whatever surrounds it: base64 encodes 3 bytes at a
    time, so the key's bytes from the first group boundary inside it on, in whole groups, encode the same in
    every text where they sit at that boundary; the three alignments (0, 1 or 2 bytes before the key, modulo 3)
    give three forms, each also in the URL-safe alphabet. A form shows no base64 character of the key's first
    or last bytes, which a mask may show anyway."""
    data = raw.encode("utf-8", "replace")
    forms: list[str] = []
    for lead in (0, 2, 1):  # the key's bytes sharing a group with what precedes it: 3 - (len(before) % 3)
        body = data[lead:]
        body = body[: len(body) // 3 * 3]
        if len(body) >= _B64_MIN_BYTES:
            form = base64.b64encode(body).decode("ascii")
            forms += dict.fromkeys((form, form.translate(_URLSAFE)))
    return tuple(forms)


# -- known keys, plain or escaped ------------------------------------------------------------------------

#: One pattern per encoder: an echo is escaped by one of them, and a key may itself hold what another one
#: would decode ("%41" in a key a JSON encoder escaped), so each family is decoded on its own.
_ESCAPES = (
    re.compile(
        # JSON / Go / JS: a surrogate pair is one character, any other escape stands alone (pairing any two
        # made "\\u00e9" swallow the high half of an emoji's pair, and the key was missed)
        r"\\u[dD][89abAB][0-9A-Fa-f]{2}\\u[dD][c-fC-F][0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}"
        r"|\\U[0-9A-Fa-f]{8}|\\x[0-9A-Fa-f]{2}"  # Python repr
        r"|\\[\"\\/'bfnrt]"  # JSON short escapes
    ),
    re.compile(r"&#[0-9]{1,7};|&#[xX][0-9A-Fa-f]{1,6};|&[A-Za-z][A-Za-z0-9]{1,31};"),  # HTML entities
    re.compile(r"(?:%[0-9A-Fa-f]{2})+"),  # percent-encoded UTF-8 bytes (urllib.parse.quote)
    re.compile(r"(?:%[0-9A-Fa-f]{2}|\+)+"),  # the same in a form body or query (quote_plus: "+" is a space)
)
_SHORT = {'"': '"', "\\": "\\", "/": "/", "'": "'", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# what may follow a cut key at the very end of a text: an ellipsis, closing quotes and brackets, a partial
# escape sequence (the cut fell inside one)
_CUT_TAIL = re.compile(
    r"(?:[\s.…'\"\]})>\ufffd]|\\u?[0-9A-Fa-f]{0,3}|\\x[0-9A-Fa-f]?|&#?[xX]?[0-9A-Za-z]*|%[0-9A-Fa-f]?)+"
)
_CUT_TAIL_AT_END = re.compile(_CUT_TAIL.pattern + "$")
_CUT_MARK = re.compile(r"…|\.\.\.")  # how a message marks a value it cut short
_MARKED_MIN = 4  # shortest marked cut looked up: below it, words would be taken for keys
_TAIL_MAX = 64  # what a cut leaves after a key is short; longer tails are not looked through
_PARTIAL_MAX = 12  # the longest partial escape (an HTML entity name) a cut can leave


def _decode_one(token: str) -> str:
    if token[0] in "%+":
        return urllib.parse.unquote_plus(token, errors="replace")
    if token[0] == "&":
        return html.unescape(token)
    kind = token[1]
    if kind in "uUx":
        codes = [int(part, 16) for part in re.findall(r"[0-9A-Fa-f]{2,8}", token)]
        if len(codes) == 2 and 0xD800 <= codes[0] < 0xDC00 <= codes[1] < 0xE000:
            return chr(0x10000 + ((codes[0] - 0xD800) << 10) + (codes[1] - 0xDC00))
        return "".join(chr(c) if c < 0x110000 else "\ufffd" for c in codes)
    return _SHORT[kind]


def _decoded(text: str, escape: re.Pattern[str]) -> tuple[str, list[tuple[int, int, int, bool]]]:
    """``text`` with every escape decoded, and its segments ``(decoded start, text start, text end, literal)``."""
    parts: list[str] = []
    segments: list[tuple[int, int, int, bool]] = []
    at = done = 0
    for m in escape.finditer(text):
        if m.start() > done:
            parts.append(text[done : m.start()])
            segments.append((at, done, m.start(), True))
            at += m.start() - done
        value = _decode_one(m[0])
        parts.append(value)
        segments.append((at, m.start(), m.end(), value == m[0]))
        at += len(value)
        done = m.end()
    if done < len(text):
        parts.append(text[done:])
        segments.append((at, done, len(text), True))
    return "".join(parts), segments


def _to_text(segments: list[tuple[int, int, int, bool]], starts: list[int], start: int, end: int) -> tuple[int, int]:
    """The span of the original text a decoded span ``[start, end)`` came from (whole escapes)."""

    def locate(pos: int, is_end: bool) -> int:
        seg_start, text_start, text_end, literal = segments[bisect.bisect_right(starts, pos) - 1]
        if literal:
            return text_start + (pos - seg_start) + (1 if is_end else 0)
        return text_end if is_end else text_start

    return locate(start, False), locate(end - 1, True)


class KeyScrubber:
    """Replaces every known key in a text with its mask: plain, escaped, or cut at the end of the text.

    Built lazily (a set of the keys, their first ``ANCHOR`` characters, a sorted list for cut keys); then a
    text costs a pass over its characters per escape family present in it, however many keys there are and
    however long a prefix they share (Tyk keys all start with the org ID). ``render`` turns a mask into what
    replaces a key (``html.escape`` for a page).
    """

    def __init__(self, keys: Iterable[object], render: Callable[[str], str] = str, *, encoded: bool = False) -> None:
        self._source = keys
        self._render = render
        self._encoded = encoded  # base64 forms too (``base64_forms``): worth it for a call's few keys
        self._alias: dict[str, str] = {}  # a base64 form -> its key, whose mask replaces it
        self._built = False
        self._keys: set[str] = set()
        self._anchors: set[str] = set()
        self._lengths: list[int] = []  # distinct lengths of the keys of ANCHOR+ characters, longest first
        self._sorted: list[str] = []
        self._all_sorted: list[str] = []
        self._longest = 0
        self._short: re.Pattern[str] | None = None
        self._shown: dict[str, str] = {}

    def _build(self) -> None:
        raw = {reveal(k) for k in self._source if is_key(k) and k}
        if self._encoded:
            self._alias = {form: key for key in raw for form in base64_forms(key) if form not in raw}
            raw |= set(self._alias)
        self._keys = raw
        long_ = [k for k in raw if len(k) >= ANCHOR]
        self._anchors = {k[:ANCHOR] for k in long_}
        self._lengths = sorted({len(k) for k in long_}, reverse=True)
        self._sorted = sorted(long_)
        self._all_sorted = sorted(raw)
        self._longest = max(map(len, raw), default=0)
        short = sorted((k for k in raw if len(k) < ANCHOR), key=len, reverse=True)
        if short:  # below ANCHOR: found as whole runs only, or every "abc" inside a word would go
            alternatives = "|".join(map(re.escape, short))
            self._short = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")
        self._built = True

    def _mask(self, text: str) -> str:
        shown = self._shown.get(text)
        if shown is None:
            shown = self._shown[text] = self._render(mask(self._alias.get(text, text)))
        return shown

    def _spans(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, replacement)`` of every known key, or cut key at the end, in ``text``."""
        spans: list[tuple[int, int, str]] = []
        done = 0
        if self._anchors:
            keys = self._keys
            for i in self._candidates(text):
                if i < done:
                    continue
                length = next((n for n in self._lengths if text[i : i + n] in keys), 0)
                if length:
                    spans.append((i, i + length, self._mask(text[i : i + length])))
                    done = i + length
            spans.extend(self._cut_key(text, done))
        spans.extend(self._marked_cuts(text))
        if self._short is not None:
            taken = [(s, e) for s, e, _ in spans]
            for m in self._short.finditer(text):
                if not any(s < m.end() and m.start() < e for s, e in taken):
                    spans.append((m.start(), m.end(), self._mask(m[0])))
            spans.sort()
        return spans

    def _candidates(self, text: str) -> Iterable[int]:
        """Positions where a known key's first characters are, in order."""
        if len(self._anchors) <= _FIND_EACH:  # few distinct starts: str.find per start beats a Python loop
            found: set[int] = set()
            for anchor in self._anchors:
                at = text.find(anchor)
                while at >= 0:
                    found.add(at)
                    at = text.find(anchor, at + 1)
            return sorted(found)
        anchors = self._anchors
        return [i for i in range(len(text) - ANCHOR + 1) if text[i : i + ANCHOR] in anchors]

    def _common(self, rest: str) -> int:
        """The longest start ``rest`` shares with any known key (its neighbours in sorted order hold it)."""
        at = bisect.bisect_left(self._sorted, rest)
        near = self._sorted[max(at - 1, 0) : at + 1]
        return max((len(os.path.commonprefix([rest, k])) for k in near), default=0)  # noqa: RUF071 - characters

    def _marked_cuts(self, text: str) -> list[tuple[int, int, str]]:
        """A key cut short anywhere in ``text`` where the cut is marked (``…`` or ``...`` right after it), as a
        message that quotes a value cuts it: half or more of a key's first characters (4 at least, so an
        8-character key cut to ``passwo…`` is found too)."""
        spans: list[tuple[int, int, str]] = []
        for m in _CUT_MARK.finditer(text):
            end = m.start()
            for start in range(max(end - self._longest, 0), end - _MARKED_MIN + 1):
                prefix = text[start:end]
                at = bisect.bisect_left(self._all_sorted, prefix)
                key = self._all_sorted[at] if at < len(self._all_sorted) else ""
                if key.startswith(prefix) and 2 * len(prefix) >= len(key):
                    spans.append((start, end, self._mask(prefix)))
                    break
        return spans

    def _cut_key(self, text: str, after: int) -> list[tuple[int, int, str]]:
        """A key cut short by a length limit at the end of ``text``: 8+ of its first characters, then nothing
        but what a cut leaves (``…``, closing quotes and brackets, a partial escape)."""
        longest = self._lengths[0]
        tail = _CUT_TAIL_AT_END.search(text, max(after, len(text) - longest - _TAIL_MAX))
        first = (tail.start() if tail else len(text)) - longest + 1
        for i in range(max(after, first), len(text) - KEY_SHAPE_MIN + 1):
            if text[i : i + ANCHOR] not in self._anchors:
                continue
            rest = text[i:]
            n = self._common(rest)
            # the key's own characters may begin the partial escape the cut left ("&a" of "&amp;" for "&")
            for end in range(n, max(n - _PARTIAL_MAX, KEY_SHAPE_MIN - 1), -1):
                if end == len(rest) or _CUT_TAIL.fullmatch(rest, end):
                    return [(i, i + end, self._mask(rest[:end]))]  # its own mask: the rest of the key is not there
        return []

    def __call__(self, text: str) -> str:
        if not text or not isinstance(text, str):
            return text
        if not self._built:
            self._build()
        if not self._keys:
            return text
        spans = self._spans(text)
        for escape in _ESCAPES:
            if not escape.search(text):
                continue
            decoded, segments = _decoded(text, escape)
            starts = [seg[0] for seg in segments]
            spans += [(*_to_text(segments, starts, start, end), shown) for start, end, shown in self._spans(decoded)]
        return _replace(text, spans)


def _replace(text: str, spans: list[tuple[int, int, str]]) -> str:
    """Each span replaced; overlapping spans (one key found plain and escaped, or whole and cut) become one."""
    if not spans:
        return text
    out, done = [], 0
    for start, end, shown in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start < done:  # inside the previous replacement: widen it, its text is already hidden
            done = max(done, end)
            continue
        out += [text[done:start], shown]
        done = end
    out.append(text[done:])
    return "".join(out)


def scrub_keys(text: str, keys: Iterable[object], render: Callable[[str], str] = str, *, encoded: bool = False) -> str:
    """``text`` with every one of ``keys`` masked (plain, escaped, cut, and with ``encoded`` base64); a quick
    exit when none can be in it. ``encoded`` costs some 25 µs a call: for error bodies, not for every cell."""
    wanted = [k for k in keys if is_key(k) and k]
    if not wanted or not text:
        return text
    if not any(may_hold(text, reveal(k)) for k in wanted) and not (
        encoded and any(f[:KEY_SHAPE_MIN] in text for k in wanted for f in base64_forms(reveal(k)))
    ):
        return text  # no key's first characters and no escape anywhere: nothing to find
    return KeyScrubber(wanted, render, encoded=encoded)(text)


def may_hold(text: str, key: str) -> bool:
    """False when ``text`` cannot hold ``key`` in any form ``scrub_keys`` finds without ``encoded``: neither
    the key's first characters nor an escape (``\\``, ``&``, ``%``) nor a cut mark are in it. A few
    substring tests: cheap enough for every cell of a frame (``report`` calls it before ``scrub_keys``)."""
    return (
        key[:KEY_SHAPE_MIN] in text or "\\" in text or "&" in text or "%" in text or "\u2026" in text or "..." in text
    )
