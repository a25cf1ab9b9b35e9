"""The ``tyk-migrate`` console script: the CLI in a process of its own, whose garbage collector it may
therefore tune. A library must not (notebooks and tests import ``cli``). ``python -m tyk_migrate.cli`` runs
through it too, but Python imports the ``cli`` package before its ``__main__``: that process gets the frozen
start-up and the thresholds, not the import without collections.

Start-up makes about a million objects (pandas, pandera, aiohttp and the package) that live as long as the
process and hold almost no garbage: collecting while importing them cost 60-80 ms, and each full collection
of a run walked all of them again (one of 70-80 ms mid-run, a pause of every request in flight). So the
collector is off while the CLI is imported, what the imports made is frozen (never walked again), and the
youngest generation is collected every 20,000 allocations rather than every 700: a run's short-lived answers
and records mostly die by reference count before any collection sees them. Cycles are still collected.
Measured in ``docs/benchmarks.md`` ("The garbage collector").
"""

from __future__ import annotations

import gc
from collections.abc import Callable

#: allocations between two collections of the youngest generation (CPython's default is 700)
YOUNG_THRESHOLD = 20_000
#: collections of a generation between two of the next: CPython's defaults, so that what survives the young
#: generation (a faulty run's retried requests keep more) is still looked at as often as ever
OLDER_THRESHOLDS = (10, 10)


def prepare_process() -> Callable[[], None]:
    """Import the CLI with the collector off, freeze what it made, tune the collector; the CLI's ``main``."""
    gc.disable()
    try:
        from .cli import main as run_command
    finally:
        gc.freeze()
        gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
        gc.enable()
    return run_command


def main() -> None:
    """The command line's command, in this process."""
    prepare_process()()
