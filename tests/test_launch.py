"""The console script's process (``tyk_migrate.launch``): the CLI is imported without a collection of the
garbage collector, what the import made is frozen, and the collector runs again, less often."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tyk_migrate.launch import OLDER_THRESHOLDS, YOUNG_THRESHOLD

PROBE = textwrap.dedent(
    """
    import gc, json, sys
    collections = []
    gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
    from tyk_migrate.launch import prepare_process
    collections.clear()  # only those while the CLI is imported
    run_command = prepare_process()
    print(json.dumps({
        "collections": len(collections), "enabled": gc.isenabled(), "threshold": gc.get_threshold(),
        "frozen": gc.get_freeze_count(), "pandas": "pandas" in sys.modules, "command": run_command.__module__,
    }))
    """
)


def test_the_cli_is_imported_without_a_collection_then_frozen_and_collected_less_often() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["pandas"] and seen["command"] == "tyk_migrate.cli"  # the whole CLI was imported
    assert seen["collections"] == 0  # CPython's defaults collect hundreds of times while importing it
    assert seen["frozen"] > 100_000  # what start-up made is never walked by a collection again
    assert seen["enabled"] and seen["threshold"] == [YOUNG_THRESHOLD, *OLDER_THRESHOLDS]
