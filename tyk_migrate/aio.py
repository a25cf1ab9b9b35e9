"""Running the async core from blocking code: the CLI, scripts and notebook cells.

A notebook kernel already runs an event loop in its main thread, and ``asyncio.run`` cannot nest, so
``run_sync`` moves the work to a worker thread with its own loop there. uvloop is used when installed:
it halves the loop's own CPU per request, which matters at hundreds of requests per second.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def run_blocking(make: Callable[[], Awaitable[T]]) -> T:
    """Run ``make()`` to the end on a new event loop in this thread."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it on Linux and macOS
        factory = None

    async def main() -> T:
        return await make()

    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run ``make()`` to the end from sync code, also when this thread already runs a loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_blocking(make)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tyk-migrate") as pool:
        return pool.submit(run_blocking, make).result()
