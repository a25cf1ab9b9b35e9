"""Files holding fingerprints, masks or keys are owner-only (0600) from their first byte; the sandbox stays on
loopback unless it has a token of its own."""

from __future__ import annotations

import os
import stat
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_report import KEYS, outcomes

from tyk_migrate.cli import cli
from tyk_migrate.errors import ConfigError
from tyk_migrate.report import export_frame, export_outcomes, write_report
from tyk_migrate.sandbox import SandboxConfig, run_in_thread
from tyk_migrate.sandbox.store import SqliteStore
from tyk_migrate.secrets import mask, private_file
from tyk_migrate.sources import load_keys
from tyk_migrate.validate import validate_keys, write_rejects


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    """The usual umask (022) gives new files 0644: readable by every user of the machine."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_private_file_creates_or_tightens_before_writing(tmp_path: Path) -> None:
    new = private_file(tmp_path / "sub" / "new.csv")
    assert new.exists() and new.read_text() == "" and mode(new) == 0o600
    old = tmp_path / "old.csv"
    old.write_text("kept")
    old.chmod(0o644)
    assert private_file(old).read_text() == "kept" and mode(old) == 0o600  # not truncated: the writer does that
    assert not private_file(tmp_path / "absent-wal", create=False).exists()
    private_file(os.devnull)  # not a regular file: left alone (no chmod of /dev/null)


@pytest.mark.parametrize("existing", [False, True])
def test_every_export_is_owner_only(tmp_path: Path, existing: bool) -> None:
    paths = {name: tmp_path / name for name in ("outcomes.csv", "plan.csv", "report.html", "rejects.csv")}
    if existing:  # a file left by an earlier run with the usual 0644 is tightened too
        for path in paths.values():
            path.write_text("old")
            path.chmod(0o644)
    frame = outcomes()
    export_outcomes(frame, paths["outcomes.csv"])
    export_frame(frame, paths["plan.csv"])
    write_report(paths["report.html"], outcomes=frame)
    legacy = load_keys(b"key,email,plan,products\nshort,a@x.example,p,x\n")
    write_rejects(validate_keys(legacy)[1], paths["rejects.csv"])
    assert {name: mode(path) for name, path in paths.items()} == dict.fromkeys(paths, 0o600)
    assert "old" not in paths["outcomes.csv"].read_text()


def test_exports_scrub_escaped_and_cut_echoes_of_a_rows_key(tmp_path: Path) -> None:
    frame = outcomes()
    frame["error"] = [
        f"portal: {urllib.parse.quote(KEYS[0])} refused",  # the key percent-encoded by a proxy
        f"body cut: {KEYS[1][:15]}",  # the key cut by a length limit
        None,
        None,
    ]
    text = export_outcomes(frame, tmp_path / "out.csv").read_text(encoding="utf-8")
    assert urllib.parse.quote(KEYS[0]) not in text and KEYS[1][:15] not in text
    assert "refused" in text and mask(KEYS[1][:15]) in text


def test_sandbox_db_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    store = SqliteStore(db)
    try:
        store.replace_all({"apps": [{"ID": 1, "Name": "a"}]}, {"apps": 2})
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        assert all(f.exists() for f in files)
        assert [mode(f) for f in files] == [0o600] * 3
    finally:
        store.close()
    db.chmod(0o644)  # reopened after someone loosened it: tightened again
    SqliteStore(db).close()
    assert mode(db) == 0o600


def invoke_sandbox(args: list[str], monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[Any, list[Any]]:
    """``tyk-migrate sandbox ARGS`` with ``serve`` replaced: it announces its URL and returns at once."""
    import tyk_migrate.sandbox

    served: list[Any] = []

    def fake_serve(config: Any, host: str, port: int, announce: Any = None) -> None:
        served.append((config, host))
        if announce is not None:
            announce(f"http://{host}:{port}")

    monkeypatch.setattr(tyk_migrate.sandbox, "serve", fake_serve)
    monkeypatch.delenv("TYK_SANDBOX_TOKEN", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(cli, ["sandbox", *args], catch_exceptions=False), served


@pytest.mark.parametrize("env", [{}, {"TYK_SANDBOX_TOKEN": "sandbox-admin-token"}])
def test_sandbox_refuses_a_public_bind_with_the_public_token(monkeypatch: pytest.MonkeyPatch, env: dict) -> None:
    result, served = invoke_sandbox(["--host", "0.0.0.0"], monkeypatch, **env)
    assert result.exit_code == 2 and not served
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert (
        len(lines) == 1
        and lines[0].startswith("error: sandbox: refusing to listen on 0.0.0.0")
        and "--token" in lines[0]
    )


def test_sandbox_beyond_loopback_with_a_token_warns_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    result, served = invoke_sandbox(["--host", "0.0.0.0", "--token", "my-own-secret-token"], monkeypatch)
    assert result.exit_code == 0 and served and served[0][0].token == "my-own-secret-token"
    assert "warning: the sandbox listens on 0.0.0.0" in result.output and "/__sandbox/state" in result.output
    assert "my-own-secret-token" not in result.output
    quiet, _ = invoke_sandbox(["--host", "127.0.0.1"], monkeypatch)  # loopback with the default: as before
    assert quiet.exit_code == 0 and "warning" not in quiet.output


def test_library_sandbox_refuses_a_public_bind_with_the_public_token() -> None:
    with pytest.raises(ConfigError, match="public default token"), run_in_thread(SandboxConfig(), host="0.0.0.0"):
        pass
