"""The sandbox as one ASGI app: ``create_app(SandboxConfig(...))``.

Layout: ``/portal-api/...`` (portal_api.py), ``/gateway/...`` (gateway.py), ``/api/...`` (the Dashboard:
dashboard.py), ``/__sandbox/...`` (admin.py), all wrapped by the counting/fault middleware (middleware.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount

from ..config import AUTH_TOKEN_TYPES
from ..errors import ConfigError
from .admin import Admin
from .behaviour import DEFAULT_PROFILE
from .dashboard import DashboardAPI, api_error
from .faults import FaultInjector
from .gateway import Gateway
from .middleware import DASHBOARD_PREFIX, PORTAL_PREFIX, RAW_SEND, SandboxMiddleware
from .portal_api import PortalAPI, PortalRules
from .state import SandboxState
from .users_api import UsersAPI
from .world import LiveBehaviour

#: the Dashboard part's token unless told otherwise (``TYK_SANDBOX_DASHBOARD_TOKEN``): public, so loopback only
PUBLIC_DASHBOARD = "sandbox-dashboard-token"


def _dashboard_token() -> str:
    return os.environ.get("TYK_SANDBOX_DASHBOARD_TOKEN") or PUBLIC_DASHBOARD


@dataclass
class SandboxConfig:
    """Everything a sandbox needs; ``seed`` may be a path or an already-parsed dict.

    ``profile`` (strict, realistic, hostile) and ``behaviour`` (``{"duplicate-key": "overwrite"}`` or
    ``["duplicate-key=overwrite"]``, winning over the profile) pick the world: behaviour.py.
    """

    token: str = field(default="sandbox-admin-token", repr=False)
    #: the Dashboard part's token (its own, as a real Dashboard user's API key is not the portal's)
    dashboard_token: str = field(default_factory=_dashboard_token, repr=False)
    seed: str | Path | dict[str, Any] | None = None
    db: str | Path | None = None
    min_key_length: int = 8
    accept_auth_token_types: tuple[str, ...] = ("AUTH_TOKEN_TYPE_CUSTOM", "AUTH_TOKEN_CUSTOM")
    latency_ms: float = 0
    faults: str = ""
    random_seed: int = 0
    profile: str = DEFAULT_PROFILE
    behaviour: Mapping[str, object] | Iterable[str] | None = None

    def world(self) -> LiveBehaviour:
        """The live behaviour this config starts with; ``ConfigError`` for a bad profile or knob."""
        return LiveBehaviour(self.profile, self.behaviour, self.random_seed, tuple(self.accept_auth_token_types))

    def check(self) -> None:
        if not self.token or not self.dashboard_token:
            raise ConfigError("sandbox: the admin and Dashboard tokens must not be empty")
        if self.min_key_length < 1:
            raise ConfigError("sandbox: min_key_length must be at least 1")
        bad = [t for t in self.accept_auth_token_types if t not in AUTH_TOKEN_TYPES]
        if bad or not self.accept_auth_token_types:
            raise ConfigError(f"sandbox: accepted auth token types must be among {', '.join(AUTH_TOKEN_TYPES)}")
        if self.latency_ms < 0:
            raise ConfigError("sandbox: latency_ms must not be negative")
        self.world()


def _route_error(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith(PORTAL_PREFIX + "/"):  # the portal's own routes answer in its error-shape
        behaviour: LiveBehaviour = request.app.state.behaviour
        return behaviour.error(status, [message])
    if request.url.path.startswith(DASHBOARD_PREFIX + "/"):  # the Dashboard's ApiResponse
        return api_error(status, message)
    return JSONResponse({"errors": [message]}, status_code=status)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _route_error(request, 404, "not found")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return _route_error(request, 405, "method not allowed")


class SandboxApp(Starlette):
    """Starlette that hands the server's own ``send`` to the fault layer (to drop connections for real)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope[RAW_SEND] = send
        await super().__call__(scope, receive, send)


def create_app(config: SandboxConfig) -> Starlette:
    """Build the sandbox; ``app.state.sandbox`` is the live ``SandboxState``.

    Raises ``InputError`` for a bad seed or db and ``ConfigError`` for a bad faults spec or setting.
    """
    config.check()
    injector = FaultInjector(config.faults, config.latency_ms, config.random_seed)
    behaviour = config.world()
    state = SandboxState(config.seed, config.db)
    accepted = tuple(config.accept_auth_token_types)
    rules = PortalRules(config.token, config.min_key_length, accepted, behaviour)
    portal = PortalAPI(state, rules)
    app = SandboxApp(
        routes=[
            Mount("/portal-api", routes=[*portal.routes(), *UsersAPI(portal).routes()]),
            Mount("/gateway", routes=Gateway(state, behaviour, config.min_key_length).routes()),
            Mount(DASHBOARD_PREFIX, routes=DashboardAPI(state, config.dashboard_token, behaviour).routes()),
            Mount("/__sandbox", routes=Admin(state, injector, config.token, behaviour).routes()),
        ],
        exception_handlers={404: _not_found, 405: _not_allowed},
    )
    app.state.sandbox = state
    app.state.injector = injector
    app.state.behaviour = behaviour
    app.state.config = config
    app.add_middleware(SandboxMiddleware, injector=injector, stats=state.stats)
    return app
