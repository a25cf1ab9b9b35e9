"""Running the sandbox: in a background thread for tests and notebooks, or in the foreground for the CLI.

uvicorn with httptools/uvloop when installed (``loop="auto"``, ``http="auto"``), no access log, warnings
only. ``run_in_thread`` binds the socket itself (port 0 = a free port), so the URL is known before the
server thread starts and nothing races for the port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from ..config import is_loopback_host
from ..errors import ConfigError
from .app import PUBLIC_DASHBOARD, SandboxConfig, create_app
from .state import SandboxState


def _uvicorn_config(app: Any, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        loop="auto",
        http="auto",
        backlog=4096,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=2,
    )


@dataclass
class RunningSandbox:
    """A live sandbox: its URLs, token and state, plus helpers to switch faults and read the state."""

    url: str
    token: str = field(repr=False)
    state: SandboxState
    server: uvicorn.Server = field(repr=False)
    dashboard_token: str = field(default="", repr=False)

    @property
    def portal_url(self) -> str:
        return self.url + "/portal-api"

    @property
    def dashboard_url(self) -> str:
        """The Dashboard part's base (``TYK_DASHBOARD_URL``): its routes are under ``/api``."""
        return self.url

    @property
    def gateway_url(self) -> str:
        return self.url + "/gateway"

    def _admin(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        response = httpx.request(method, self.url + path, headers={"Authorization": self.token}, timeout=10, **kw)
        if response.status_code >= 400:
            raise ConfigError(f"sandbox admin {method} {path}: {response.status_code} {response.text}")
        data: dict[str, Any] = response.json()
        return data

    def set_faults(self, spec: str, latency_ms: float | None = None) -> dict[str, Any]:
        """Switch faults (and optionally the fixed latency) while running."""
        body: dict[str, Any] = {"faults": spec}
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        return self._admin("PUT", "/__sandbox/faults", json=body)

    def set_behaviour(
        self, behaviour: Mapping[str, object] | None = None, profile: str | None = None
    ) -> dict[str, Any]:
        """Switch behaviour knobs while running (``PUT /__sandbox/behaviour``): from ``profile`` if given."""
        body: dict[str, Any] = {"behaviour": dict(behaviour or {})}
        if profile is not None:
            body["profile"] = profile
        return self._admin("PUT", "/__sandbox/behaviour", json=body)

    def snapshot(self) -> dict[str, Any]:
        """Same as ``GET /__sandbox/state``: every object plus request counters."""
        return self._admin("GET", "/__sandbox/state")


#: The admin token a sandbox expects unless told otherwise: public (it is in the docs), so loopback only.
PUBLIC_TOKEN = SandboxConfig().token


def check_exposure(host: str, token: str, dashboard_token: str | None = None) -> str | None:
    """Refuse to serve beyond this machine with a public token; for any other non-loopback bind, the warning
    to print. ``/__sandbox/state`` answers every stored key in clear to whoever sends the token."""
    if is_loopback_host(host):
        return None
    shown = host or "every interface"
    if token == PUBLIC_TOKEN:
        raise ConfigError(
            f"sandbox: refusing to listen on {shown} (not loopback) with the public default token: anyone on "
            "the network could read every key it holds; pass --token <a secret> (or TYK_SANDBOX_TOKEN) or use "
            "--host 127.0.0.1"
        )
    if dashboard_token == PUBLIC_DASHBOARD:  # its listing holds every legacy key in clear
        raise ConfigError(
            f"sandbox: refusing to listen on {shown} (not loopback) with the public default Dashboard token: anyone "
            "on the network could list every legacy key on /api/keys/detailed; pass --dashboard-token <a secret> "
            "(or TYK_SANDBOX_DASHBOARD_TOKEN) or use --host 127.0.0.1"
        )
    return (
        f"warning: the sandbox listens on {shown}, not only on this machine: anyone who can reach the port and "
        "knows the --token can read every key it stores, in clear, on /__sandbox/state, and create or delete "
        "apps and credentials; seed it with test keys only"
    )


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves: the port is known at once and "in use" is one clear line."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # listening before anything is announced: a client that reads the announcement and connects at once
        # waits in the backlog until uvicorn accepts, instead of being refused (a CI run was, once)
        sock.listen(4096)  # the backlog uvicorn is configured with
    except OSError as exc:
        sock.close()
        raise ConfigError(f"sandbox: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


@contextlib.contextmanager
def run_in_thread(config: SandboxConfig, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningSandbox]:
    """Serve the sandbox on a background thread for the ``with`` block; stops and joins it after."""
    check_exposure(host, config.token, config.dashboard_token)
    app = create_app(config)
    try:
        sock = _bind(host, port)
    except ConfigError:
        app.state.sandbox.close()
        raise
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(_uvicorn_config(app, host, bound_port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="tyk-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            sock.close()
            raise ConfigError("sandbox: the server did not start")
        time.sleep(0.005)
    shown = f"[{host}]" if ":" in host else host
    try:
        url = f"http://{shown}:{bound_port}"
        yield RunningSandbox(url, config.token, app.state.sandbox, server, dashboard_token=config.dashboard_token)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        app.state.sandbox.close()


def serve(
    config: SandboxConfig, host: str = "127.0.0.1", port: int = 3001, announce: Callable[[str], None] | None = None
) -> None:
    """Run in the foreground until Ctrl-C (the ``tyk-migrate sandbox`` command).

    The port is bound and the seed, db and faults checked before ``announce(url)`` is called, so
    nothing is announced for a sandbox that cannot start. A non-loopback ``host`` needs a token of one's own
    (``check_exposure``).
    """
    check_exposure(host, config.token, config.dashboard_token)
    sock = _bind(host, port)
    try:
        app = create_app(config)
    except BaseException:
        sock.close()
        raise
    try:
        if announce is not None:
            announce(f"http://{f'[{host}]' if ':' in host else host}:{port}")
        uvicorn.Server(_uvicorn_config(app, host, port)).run(sockets=[sock])
    finally:
        sock.close()
        app.state.sandbox.close()
