"""``tyk-migrate`` with the hand-written transport it had until ``bench_transport.OLD_REV``, for A/B timing.

Everything else is today's code: only ``tyk_migrate.transport.lean_transport`` is swapped (before the
modules that import it are loaded), so ``bench_compare.py --transport handwritten`` measures what the
maintained transport (httpx-aiohttp) costs end to end, on the same machine, in the same minutes.

    python benchmarks/handwritten_cli.py apply legacy.csv --journal run.journal.sqlite
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import tyk_migrate.transport as transport
    from benchmarks.bench_transport import handwritten_module

    old = handwritten_module()
    if old is None:
        sys.exit("handwritten_cli: the hand-written transport comes from git history; this is not a git checkout")

    def lean_transport(url: str, *, verify: Any, timeout: float, max_connections: int = 0) -> Any:
        return old.lean_transport(url, verify=verify, timeout=timeout)  # it had no connection bound

    transport.lean_transport = lean_transport  # type: ignore[assignment]
    from tyk_migrate.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
