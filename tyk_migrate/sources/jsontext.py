"""The one JSON parser of every JSON loader (arrays, JSON Lines, Dashboard and Classic dumps, format sniffing).

``json.loads`` raises a bare ``ValueError``, not a ``JSONDecodeError``, for an integer longer than Python's
int-from-text limit (``sys.get_int_max_str_digits``, 4300 digits by default), from deep inside the
scanner and without a position. ``loads`` turns it into a ``JSONDecodeError`` at the offending number, so
every caller keeps one ``except`` and reports a line. The message never quotes the document (a key may
sit beside the number).

``NaN`` and ``Infinity`` are left as ``json`` reads them: a ``NaN`` is what ``json.dumps`` writes for a
pandas missing value, and the loaders already read it as blank (a ``NaN`` expiry is "never"); an
``Infinity`` expiry is rejected per row as too large.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

#: The JSON tokens that matter for finding the long number: strings are matched whole so that digits in
#: them are skipped; everything else in a document is punctuation, literals and whitespace.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?')
_INTEGER = re.compile(r"-?(\d+)")


def _long_integer_at(text: str) -> int:
    """Where the first integer past the int-from-text limit starts (0 if none is found)."""
    limit = sys.get_int_max_str_digits()
    for match in _TOKEN.finditer(text):
        whole = _INTEGER.fullmatch(match.group(0))  # fractions and exponents parse as floats: no limit
        if whole and limit and len(whole.group(1)) > limit:
            return match.start()
    return 0


def loads(text: str) -> Any:
    """``json.loads(text)``; raises ``json.JSONDecodeError`` for every malformed document.

    ``RecursionError`` (nesting deeper than the interpreter allows) still passes through as itself.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError:
        # the int-from-text limit: the only other ValueError json.loads raises on a str
        raise json.JSONDecodeError("a number with too many digits", text, _long_integer_at(text)) from None
