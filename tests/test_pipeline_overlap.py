"""``pipeline.prepare`` reads the portal while it validates the file, and still in the old order of errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tyk_migrate import pipeline, snapshot, validate
from tyk_migrate.config import Settings
from tyk_migrate.errors import InputError

SAMPLE = Path(__file__).resolve().parent.parent / "data-samples" / "legacy_keys.csv"
PAUSE = 0.6


def test_the_portal_is_read_while_the_file_is_validated(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real_validate, real_fetch = validate.validate_keys, snapshot.fetch_snapshot
    during: list[bool] = []
    validating = threading.Event()

    def slow_validate(*args: Any, **kw: Any) -> Any:
        validating.set()
        time.sleep(PAUSE)
        validating.clear()
        return real_validate(*args, **kw)

    def slow_fetch(*args: Any, **kw: Any) -> Any:
        time.sleep(PAUSE / 2)
        during.append(validating.is_set())
        time.sleep(PAUSE / 2)
        return real_fetch(*args, **kw)

    monkeypatch.setattr(validate, "validate_keys", slow_validate)
    monkeypatch.setattr(snapshot, "fetch_snapshot", slow_fetch)
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    prepared = pipeline.prepare(SAMPLE, portal=settings, progress=False)
    assert during == [True]  # the fetch was under way while validation ran (before: after it, False)
    assert len(prepared.plan) and len(prepared.snapshot.users)


def test_a_fetch_error_comes_after_validation_and_an_empty_file_is_refused_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []

    def failing_fetch(*args: Any, **kw: Any) -> Any:
        fetched.append("fetch")
        raise InputError("portal unreachable")

    monkeypatch.setattr(snapshot, "fetch_snapshot", failing_fetch)
    with pytest.raises(InputError, match="portal unreachable"):
        pipeline.prepare(SAMPLE, progress=False)
    assert fetched == ["fetch"]
    empty = tmp_path / "empty.csv"
    empty.write_text(SAMPLE.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="no key records"):
        pipeline.prepare(empty, progress=False)
    assert fetched == ["fetch"]  # an export without records never reaches the portal
