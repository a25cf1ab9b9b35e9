"""``/__sandbox/...``: read the whole state, switch faults and behaviour knobs while running (tests, benchmarks).

Guarded by the same admin token as the portal API (the state holds raw key values, and a sandbox may be
bound to a non-loopback address). Never faulted or delayed.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import ConfigError
from .faults import FaultInjector
from .jsonin import BadNumber, loads
from .state import SandboxState
from .world import LiveBehaviour


class Admin:
    def __init__(
        self, state: SandboxState, injector: FaultInjector, token: str, behaviour: LiveBehaviour | None = None
    ) -> None:
        self.state = state
        self.injector = injector
        self.token = token.encode()
        self.behaviour = behaviour or LiveBehaviour()

    def routes(self) -> list[Route]:
        g = self._guard
        return [
            Route("/state", g(self.get_state), methods=["GET"]),
            Route("/faults", g(self.get_faults), methods=["GET"]),
            Route("/faults", g(self.put_faults), methods=["PUT"]),
            Route("/behaviour", g(self.get_behaviour), methods=["GET"]),
            Route("/behaviour", g(self.put_behaviour), methods=["PUT"]),
            Route("/reset", g(self.reset), methods=["POST"]),
        ]

    def _guard(self, func: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, self.token):
                return JSONResponse({"errors": ["not authorised"]}, status_code=401)
            return await func(request)

        return endpoint

    async def get_state(self, request: Request) -> Response:
        snap = self.state.snapshot()
        snap["faults"] = self.injector.describe()
        snap["behaviour"] = self.behaviour.describe()
        return JSONResponse(snap)

    async def get_faults(self, request: Request) -> Response:
        return JSONResponse(self.injector.describe())

    async def put_faults(self, request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, BadNumber):
            return _bad_number(body)
        if not isinstance(body, dict):
            return JSONResponse({"errors": ['body must be {"faults": "...", "latency_ms": N}']}, status_code=400)
        spec, latency = body.get("faults", self.injector.spec.text), body.get("latency_ms")
        if not isinstance(spec, str) or not (latency is None or isinstance(latency, int | float)):
            return JSONResponse({"errors": ["faults must be a string, latency_ms a number"]}, status_code=422)
        try:
            self.injector.configure(spec, latency)
        except ConfigError as exc:
            return JSONResponse({"errors": [str(exc)]}, status_code=422)
        return JSONResponse(self.injector.describe())

    async def get_behaviour(self, request: Request) -> Response:
        return JSONResponse(self.behaviour.describe())

    async def put_behaviour(self, request: Request) -> Response:
        """``{"profile": "realistic", "behaviour": {"unknown-key": "401"}}``, both optional.

        With ``profile`` the world starts from that profile; without, from the current one. Knobs win.
        """
        body = await _body(request)
        if isinstance(body, BadNumber):
            return _bad_number(body)
        if not isinstance(body, dict) or set(body) - {"profile", "behaviour"}:
            usage = 'body must be {"profile": "NAME", "behaviour": {"KNOB": "VALUE"}}, both optional'
            return JSONResponse({"errors": [usage]}, status_code=400)
        profile, knobs = body.get("profile"), body.get("behaviour")
        if not (profile is None or isinstance(profile, str)) or not (knobs is None or isinstance(knobs, dict)):
            return JSONResponse({"errors": ["profile must be a string, behaviour an object"]}, status_code=422)
        try:
            self.behaviour.configure(profile, knobs)
        except ConfigError as exc:
            return JSONResponse({"errors": [str(exc)]}, status_code=422)
        return JSONResponse(self.behaviour.describe())

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"status": "ok"})


async def _body(request: Request) -> Any:
    """The JSON body; None if it is no JSON, the ``BadNumber`` if it holds a number the sandbox cannot keep."""
    try:
        return loads(await request.body())
    except BadNumber as exc:
        return exc
    except (ValueError, RecursionError):  # no JSON, or nested deeper than the parser goes
        return None


def _bad_number(exc: BadNumber) -> Response:
    """NaN, Infinity and numbers beyond a double are no JSON a portal could answer with: the body is refused."""
    return JSONResponse({"errors": [f"body: {exc}; numbers must be finite"]}, status_code=400)
