"""Reading a ``/portal-api`` request: paging values, the JSON body, path IDs and typed fields.

Every problem is a :class:`Refused`, which the route wrapper (portal_api.py) answers as ``{"errors": [...]}``
with its status: 400 for an unparsable body or paging value, 422 for a field of the wrong JSON type, 404 (or
422 where the file documents only that) for an unknown ID.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .state import Obj


class Refused(Exception):
    """A request the portal refuses: becomes ``{"errors": [...]}`` with ``status``."""

    def __init__(self, status: int, *errors: str) -> None:
        self.status = status
        self.errors = list(errors)
        super().__init__("; ".join(errors))


#: paging values beyond this answer like it (an empty page, or every row): the file sets no maximum,
#: and Python's ``islice`` and ``int(str)`` both have limits a query string must not reach
PAGING_MAX = 2**63 - 1  # a Go int64, what the portal's own decoder holds
_DIGITS = frozenset("0123456789")


def paging_number(request: Request, name: str, default: int) -> int:
    """A paging parameter: absent or empty is ``default``, below 1 too; not an ASCII integer is a 400."""
    text = request.query_params.get(name, "")
    if not text:
        return default
    sign, digits = (text[0], text[1:]) if text[0] in "+-" else ("", text)
    if not digits or not _DIGITS.issuperset(digits):
        raise Refused(400, f"{name} must be an integer")
    if sign == "-":
        return default
    digits = digits.lstrip("0") or "0"
    value = min(int(digits), PAGING_MAX) if len(digits) <= len(str(PAGING_MAX)) else PAGING_MAX
    return value if value >= 1 else default


def page_bounds(request: Request, maximum: int | None = None) -> tuple[int, int]:
    """(offset, count): ``page`` from 1, ``per_page`` default 20; ``limit`` sets the count, not the offset.

    ``maximum`` (``paging=max:N``) silently caps ``per_page`` before the offset is reckoned, and ``limit``.
    """
    page, per_page = paging_number(request, "page", 1), paging_number(request, "per_page", 20)
    cap = PAGING_MAX if maximum is None else maximum
    per_page = min(per_page, cap)
    return (page - 1) * per_page, min(paging_number(request, "limit", per_page), cap)


async def read_body(request: Request) -> Obj:
    """The JSON object sent, or a 400: never anything that could not be stored and answered back."""
    raw = await request.body()
    try:
        data = json.loads(raw)
        # A lone surrogate ("\ud800") decodes but cannot be encoded as UTF-8: stored, it would break every
        # later answer (and the SQLite store), so a body that does not survive the round trip is refused.
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise Refused(400, "request body holds text that is not valid Unicode (a lone surrogate)") from None
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "request body is not valid JSON") from None
    except RecursionError:
        raise Refused(400, "request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise Refused(400, "request body must be a JSON object")
    return data


def int_id(value: str, what: str, missing: int = 404) -> int:
    try:
        return int(value)
    except ValueError:
        raise Refused(missing, f"{what} not found") from None


class Fields:
    """Type checks in the manner of a Go JSON decoder: wrong JSON types are refused, not coerced."""

    def __init__(self, body: Obj) -> None:
        self.body = body
        self.problems: list[str] = []

    def _get(self, name: str, types: tuple[type, ...], label: str) -> Any:
        value = self.body.get(name)
        if value is None:
            return None
        ok = False if isinstance(value, bool) and bool not in types else isinstance(value, types)
        if not ok:
            self.problems.append(f"{name} must be {label}")
            return None
        return value

    def string(self, name: str) -> str | None:
        return self._get(name, (str,), "a string")

    def integer(self, name: str) -> int | None:
        return self._get(name, (int,), "an integer")

    def boolean(self, name: str) -> bool | None:
        return self._get(name, (bool,), "a boolean")

    def int_list(self, name: str) -> list[int] | None:
        value = self._get(name, (list,), "an array of integers")
        if value is not None and not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            self.problems.append(f"{name} must be an array of integers")
            return None
        return value

    def check(self) -> None:
        if self.problems:
            raise Refused(422, *self.problems)
