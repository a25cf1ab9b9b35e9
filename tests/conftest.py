"""Shared fixtures. Keep this file tiny; feature-specific fixtures live in their own test files."""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SEED_FILE = REPO / "data-samples" / "sandbox_seed.json"

# Hermetic fingerprints: one fixed secret for the whole session, subprocesses included (they inherit the
# environment), and a throwaway TYK_MIGRATE_HOME so no test reads or creates the user's own key file.
TEST_FINGERPRINT_KEY = "7e57" * 16
os.environ["TYK_MIGRATE_FINGERPRINT_KEY"] = TEST_FINGERPRINT_KEY
_HOME = tempfile.mkdtemp(prefix="tyk-migrate-home-")
os.environ["TYK_MIGRATE_HOME"] = _HOME


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def _seed_data_session() -> dict[str, Any]:
    return json.loads(SEED_FILE.read_text(encoding="utf-8"))


@pytest.fixture
def seed_data(_seed_data_session: dict[str, Any]) -> dict[str, Any]:
    """The sample portal (data-samples/sandbox_seed.json) as a dict, deep-copied for each test."""
    return copy.deepcopy(_seed_data_session)


@pytest.fixture
def make_sandbox(seed_data: dict[str, Any]) -> Iterator[Callable[..., Any]]:
    """Factory: ``make_sandbox(faults="500=10%", seed=...)`` -> a running RunningSandbox (real socket).

    Keyword arguments are SandboxConfig fields; the seed defaults to the sample portal. Every sandbox made
    is stopped at the end of the test.
    """
    from tyk_migrate.sandbox import SandboxConfig, run_in_thread

    with ExitStack() as stack:

        def make(**overrides: Any) -> Any:
            overrides.setdefault("seed", copy.deepcopy(seed_data))
            return stack.enter_context(run_in_thread(SandboxConfig(**overrides)))

        yield make


@pytest.fixture
def sandbox(make_sandbox: Callable[..., Any]) -> Any:
    """A running sandbox with the sample seed (function-scoped): ``.portal_url``, ``.token``, ``.state``…"""
    return make_sandbox()
