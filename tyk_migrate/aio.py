"""Running the async core from blocking code: the CLI, scripts and notebook cells.

A notebook kernel already runs an event loop in its main thread, and ``asyncio.run`` cannot nest, so
``run_sync`` moves the work to a worker thread with its own loop there. uvloop is used when installed:
it halves the loop's own CPU per request, which matters at hundreds of requests per second.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

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


class Background(Generic[T]):
    """``call()`` started now in a daemon thread; ``result()`` waits for it and returns or raises its result.

    For blocking work that overlaps other work of the caller (the portal read while a file is validated).
    A daemon thread, so an interrupted caller does not keep the process alive until the work ends.
    """

    def __init__(self, call: Callable[[], T], name: str = "tyk-migrate background") -> None:
        self._future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def work() -> None:
            try:
                self._future.set_result(call())
            except BaseException as exc:  # handed to result(): the caller decides
                self._future.set_exception(exc)

        threading.Thread(target=work, name=name, daemon=True).start()

    def result(self) -> T:
        return self._future.result()
