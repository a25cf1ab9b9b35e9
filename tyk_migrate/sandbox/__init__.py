"""The Tyk Developer Portal sandbox: a local emulator of the portal API part a key migration uses,
plus a gateway emulator, faults on demand and optional SQLite persistence. See docs/sandbox.md.

    from tyk_migrate.sandbox import SandboxConfig, run_in_thread
    with run_in_thread(SandboxConfig(seed="data-samples/sandbox_seed.json")) as sb:
        httpx.get(sb.portal_url + "/users", headers={"Authorization": sb.token})
"""

from __future__ import annotations

from . import _extra  # noqa: F401  (first: a missing extra is one line)
from .app import SandboxConfig, create_app
from .faults import FaultSpec, parse_faults
from .seed import load_seed
from .server import RunningSandbox, run_in_thread, serve
from .state import SandboxState

__all__ = [
    "FaultSpec",
    "RunningSandbox",
    "SandboxConfig",
    "SandboxState",
    "create_app",
    "load_seed",
    "parse_faults",
    "run_in_thread",
    "serve",
]
