"""JSON the sandbox takes in (admin bodies, seed files): only numbers it can also answer with.

Why: Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e999`` (as infinity) although JSON has no such
numbers, and a number longer than ``int()`` takes raises a bare ``ValueError``. A non-finite value stored in
the sandbox breaks every later answer that carries it (Starlette refuses to write it: a 500), and an integer
beyond a double overflows wherever it becomes one. So every number must be a finite double (RFC 8259's
interoperable range). The hooks refuse a long integer before ``int()`` sees it, so the int-from-text limit
(4,300 digits, ``sources.jsontext``) is never reached; not importing ``sources`` keeps pandas out of the
sandbox.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

_LARGEST = int(sys.float_info.max)
_LARGEST_DIGITS = len(str(_LARGEST))  # 309: a longer integer is beyond a double whatever its digits


class BadNumber(ValueError):
    """A number the sandbox cannot hold; the message names where it is (``behaviour.listing-lag-ms``)."""


def loads(text: str | bytes) -> Any:
    """``json.loads`` that raises ``json.JSONDecodeError`` for a malformed document and ``BadNumber`` for a
    non-finite or out-of-range number (both ``ValueError``, both one line that never quotes the document)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # UnicodeDecodeError is a ValueError too
    return json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)


def _shown(token: str) -> str:
    return token if len(token) <= 24 else f"{token[:12]}… ({len(token)} characters)"


def _constant(token: str) -> Any:
    raise BadNumber(f"{token} is not a JSON number")


def _float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise BadNumber(f"the number {_shown(token)} is beyond 1.8e308")
    return value


def _int(token: str) -> int:
    value = int(token) if len(token.lstrip("-")) <= _LARGEST_DIGITS else None
    if value is None or abs(value) > _LARGEST:
        raise BadNumber(f"the number {_shown(token)} is beyond 1.8e308")
    return value


def check_numbers(doc: Any) -> None:
    """Raise ``BadNumber`` naming the first number in ``doc`` that is not a finite double (also for a seed
    given as a dict)."""
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:  # iterative: a document nested as deep as json allows must not overflow the stack here
        where, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in reversed(list(enumerate(value))))
        elif isinstance(value, float) and not math.isfinite(value):
            raise BadNumber(f"{where or 'the document'} is not a finite number (NaN, Infinity or beyond 1.8e308)")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > _LARGEST:
            raise BadNumber(f"{where or 'the document'} is a number beyond 1.8e308")
