"""The running sandbox's world: the live behaviour knobs (behaviour.py) and the answers they shape.

One ``LiveBehaviour`` is shared by the portal API, the gateway and the admin surface, so a
``PUT /__sandbox/behaviour`` switches all three at the next request.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

from ..config import AUTH_TOKEN_TYPES
from ..errors import ConfigError
from .behaviour import DEFAULT_PROFILE, Behaviour, build, profile_values, resolve

#: the file's spelling of a custom token: the only one ``auth-token-type=strict|fallback`` honours
FILE_CUSTOM_TOKEN = AUTH_TOKEN_TYPES[0]
STANDARD_TOKEN = "AUTH_TOKEN_STANDARD"


class LiveBehaviour:
    """The world the sandbox serves now, switchable while it runs; also the partial-create draws."""

    def __init__(
        self,
        profile: str = DEFAULT_PROFILE,
        overrides: Mapping[str, object] | Iterable[str] | None = None,
        random_seed: int = 0,
        accepted: tuple[str, ...] = AUTH_TOKEN_TYPES,
    ) -> None:
        self.random_seed = random_seed
        self.accepted = tuple(accepted)  # the spellings --auth-token-type accepts (under auth-token-type=both)
        self.profile = ""
        self.current: Behaviour = resolve()
        self.configure(profile, overrides)

    def configure(
        self, profile: str | None = None, overrides: Mapping[str, object] | Iterable[str] | None = None
    ) -> None:
        """``profile`` given: start from it; else from the current world. Resets the partial-create draws.

        Raises ``ConfigError`` naming the bad profile or knob; the world is unchanged then.
        """
        if profile is None:
            current = resolve(base=self.current.texts, overrides=overrides)
        else:
            current = resolve(profile, overrides)
        if current.auth_token_type != "both" and self.accepted not in (AUTH_TOKEN_TYPES, (FILE_CUSTOM_TOKEN,)):
            raise ConfigError(
                f"sandbox: accepting only {', '.join(self.accepted)} (--auth-token-type) needs "
                f"auth-token-type=both; auth-token-type={current.auth_token_type} honours only {FILE_CUSTOM_TOKEN}"
            )
        if profile is not None:
            self.profile = str(profile).strip().lower()
        self.current = current
        # its own sequence (faults draw from seed and seed+1), so switching faults does not move these draws
        self._rng = random.Random(self.random_seed + 2)

    def draw_partial(self) -> str | None:
        """``"record-only"``, ``"key-only"`` or None, for the next credential create that passed every check."""
        partial = self.current.partial_create
        if not (partial.record_only or partial.key_only):
            return None
        roll = self._rng.random()
        if roll < partial.record_only:
            return "record-only"
        return "key-only" if roll < partial.record_only + partial.key_only else None

    def honoured_tokens(self) -> tuple[str, ...]:
        """The custom-token spellings honoured: those ``--auth-token-type`` accepts under ``both``."""
        return self.accepted if self.current.auth_token_type == "both" else (FILE_CUSTOM_TOKEN,)

    def error(self, status: int, messages: list[str]) -> Response:
        """A portal refusal in the world's ``error-shape``."""
        shape = self.current.error_shape
        if shape == "text":  # deliberately off the file: what portals before 1.17.1 sent from some endpoints
            return PlainTextResponse("; ".join(messages) + "\n", status_code=status)
        if shape == "status-errors":  # the file's StatusWithErrors
            return JSONResponse({"status": "error", "errors": messages}, status_code=status)
        return JSONResponse({"errors": messages}, status_code=status)

    def describe(self) -> dict[str, Any]:
        """The admin surface's answer: the profile, every knob's value, and the knobs set over the profile."""
        base = build(profile_values(self.profile)).texts
        changed = {k: v for k, v in self.current.texts.items() if base[k] != v}
        return {"profile": self.profile, "behaviour": dict(self.current.texts), "overrides": changed}
