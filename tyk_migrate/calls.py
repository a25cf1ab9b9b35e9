"""``Call``: one portal operation built without I/O, shared by the clients, the pager and the adaptive reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .secrets import KeyValue


@dataclass(frozen=True)
class Call:
    """One portal operation, built without I/O. ``secrets`` are scrubbed from any error text."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    expect: tuple[int, ...] = (200,)
    unwrap: str | None = None  # key of a wrapper object, e.g. "data"; a bare array is accepted too
    secrets: tuple[KeyValue, ...] = field(default=(), repr=False)

    @property
    def retryable(self) -> bool:
        return self.method == "GET"

    @property
    def template(self) -> str:
        """The path with numbers replaced, for metrics that group calls by endpoint."""
        return "/".join("{id}" if part.isdigit() else part for part in self.path.split("/"))
