"""Is a table's first line column names, or its first record? The shape half of the rule.

An export without a header line gives its first record as "column names", and any error that lists the
names would print a key. ``headers.first_line_is_data`` calls the line a header only when it is certainly
one: some name is one the loader knows, and every other name is ``column_name_shaped``. Anything else
is treated as data and every value of the line is masked. A real header with an odd name is then
reported as "looks like data" with its names masked: a worse message, never a leaked key.

A key can be any text, so shape alone cannot be sure; these are the shapes a column name has and a
key, a passphrase, an email, a number or a date does not (docs/formats.md, "Header line").
"""

from __future__ import annotations

import re

from ..errors import looks_like_token

#: Most words a column name has: "Key", "Created At", "Last Used Date". A fourth word is a phrase.
MAX_NAME_WORDS = 3
#: Longest word of a column name ("authentication" is 14); a longer run of letters is a value.
MAX_WORD_LETTERS = 16

_SEPARATORS = re.compile(r"[\s_\-.]+")
# "lastUsedAt" -> last, Used, At; "APIKey" -> API, Key; other scripts' letters make words too ("有効期限")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+|[^\W\dA-Za-z_]+")
_NUMBER_OR_DATE = re.compile(r"[\d\s.,:/+\-TZ]*\d[\d\s.,:/+\-TZ]*")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{8,}")  # 8+ hex digits, letters only too ("deadbeefcafe")
_PHRASE_JOINERS = re.compile(r"[\s\-]")  # "correct horse battery", "partner-secret-value": diceware's joiners


def column_name_shaped(name: str) -> bool:
    """True when ``name`` has a column name's shape: 1-3 words (``snake_case``, ``camelCase``, ``Title Case``).

    False for key-shaped runs (mixed case and digits, hex, base64), emails, numbers and dates, and
    passphrases: four or more words, or three lower-case words joined by spaces or hyphens.
    """
    text = name.strip()
    if not text or "@" in text or _NUMBER_OR_DATE.fullmatch(text) or looks_like_token(text):
        return False
    parts = [p for p in _SEPARATORS.split(text) if p]
    if any(_HEX_RUN.fullmatch(p) for p in parts):
        return False
    words = [w for p in parts for w in _WORD.findall(p)]
    if not words or len(words) > MAX_NAME_WORDS or any(len(w) > MAX_WORD_LETTERS for w in words):
        return False
    lower_phrase = len(words) == MAX_NAME_WORDS and text.islower() and bool(_PHRASE_JOINERS.search(text))
    return not lower_phrase
