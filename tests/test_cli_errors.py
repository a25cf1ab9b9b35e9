"""What a person reads when a command cannot start: which host and why, which setting to fix, checked
before the first request; the token asked for at a terminal; and logs that never hold a key or the token."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from run_helpers import portal_requests

from tyk_migrate.cli import cli
from tyk_migrate.cli.diagnose import connection_cause, explain
from tyk_migrate.errors import AuthError, NotFound, PortalConnectionError

SAMPLE = Path(__file__).resolve().parent.parent / "data-samples" / "legacy_keys.csv"


def env_for(sb: Any, **extra: str) -> dict[str, str]:
    return {"TYK_PORTAL_URL": sb.portal_url, "TYK_PORTAL_TOKEN": sb.token, **extra}


def invoke(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def raised_from(cause: BaseException) -> PortalConnectionError:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise PortalConnectionError("no answer (ConnectError)", method="GET", path="/users") from inner
    except PortalConnectionError as exc:
        return exc


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "refused"),
        (socket.gaierror(-2, "Name or service not known"), "name"),
        (ssl.SSLCertVerificationError("certificate verify failed: self-signed certificate"), "tls"),
        (TimeoutError("timed out"), "timeout"),
        # another transport's words, no OS error under them (aiohttp's, say)
        (OSError("Cannot connect to host portal:443 ssl:default [Connect call failed ('10.0.0.5', 443)]"), "refused"),
        (RuntimeError("Server disconnected"), "dropped"),
    ],
)
def test_the_cause_of_no_answer_is_read_from_the_exception_chain(cause: BaseException, expected: str) -> None:
    assert connection_cause(raised_from(cause)) == expected


def test_each_portal_error_gets_a_hint_a_person_can_act_on() -> None:
    base = "https://portal.example.com:3001/portal-api"
    refused = explain(raised_from(ConnectionRefusedError(111, "refused")), base)
    assert "portal.example.com:3001: connection refused" in refused and refused.startswith("GET /users")
    assert "'portal.example.com' is not found" in explain(raised_from(socket.gaierror(-2, "x")), base)
    assert "TYK_CA_BUNDLE" in explain(raised_from(ssl.SSLError("wrong version number")), base)
    assert "TYK_PORTAL_TOKEN" in explain(AuthError("401 Unauthorized", method="GET", path="/users", status=401), base)
    listing = explain(NotFound("404 Not Found", method="GET", path="/users", status=404), base)
    assert f"no portal API at {base}" in listing and "gateway" in listing
    gone = explain(NotFound("404 Not Found", method="GET", path="/apps/12", status=404), base)
    assert gone == "GET /apps/12 -> 404 Not Found"  # an object that is gone says nothing about the URL


def test_a_refused_connection_names_the_host_and_port(tmp_path: Path) -> None:
    port = free_port()
    result = invoke(["plan", str(SAMPLE), "--out", str(tmp_path / "p.csv")],
                    {"TYK_PORTAL_URL": f"http://127.0.0.1:{port}", "TYK_PORTAL_TOKEN": "t"})  # fmt: skip
    assert result.exit_code == 2
    assert f"cannot reach 127.0.0.1:{port}: connection refused" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_tls_to_a_plain_http_portal_says_tls(sandbox: Any, tmp_path: Path) -> None:
    url = sandbox.url.replace("http://", "https://")
    result = invoke(["plan", str(SAMPLE), "--out", str(tmp_path / "p.csv")], env_for(sandbox, TYK_PORTAL_URL=url))
    assert result.exit_code == 2 and "TLS with 127.0.0.1" in result.output, result.output


def test_a_gateway_url_given_as_the_portal_gets_the_404_hint(sandbox: Any, tmp_path: Path) -> None:
    env = env_for(sandbox, TYK_PORTAL_URL=sandbox.gateway_url)
    result = invoke(["plan", str(SAMPLE), "--out", str(tmp_path / "p.csv")], env)
    assert result.exit_code == 2
    assert "404" in result.output and f"no portal API at {sandbox.gateway_url}/portal-api" in result.output


def test_a_wrong_token_names_tyk_portal_token(sandbox: Any, tmp_path: Path) -> None:
    result = invoke(["plan", str(SAMPLE), "--out", str(tmp_path / "p.csv")], env_for(sandbox, TYK_PORTAL_TOKEN="wrong"))
    assert result.exit_code == 2 and "401" in result.output and "set TYK_PORTAL_TOKEN" in result.output


def test_outputs_are_checked_before_the_first_request(sandbox: Any, tmp_path: Path) -> None:
    journal = str(tmp_path / "run.journal")
    cases = [
        (
            ["apply", str(SAMPLE), "--journal", journal, "--out", str(tmp_path / "nowhere" / "o.csv")],
            "nowhere does not",
        ),
        (["apply", str(SAMPLE), "--journal", str(tmp_path / "gone" / "j"), "--out", str(tmp_path / "o.csv")], "gone"),
        (["apply", str(SAMPLE), "--journal", journal, "--out", str(SAMPLE)], "must not be overwritten"),
        (["apply", str(SAMPLE), "--journal", journal, "--out", journal + "x", "--journal", str(SAMPLE)], "must not"),
        (["plan", str(SAMPLE), "--unresolved", str(tmp_path / "nowhere" / "u.csv")], "nowhere does not"),
        (["reconcile", str(SAMPLE), "--html", str(tmp_path / "nowhere" / "r.html")], "nowhere does not"),
        (["validate", str(SAMPLE), "--rejects", str(tmp_path / "nowhere" / "r.csv")], "nowhere does not"),
        (["demo", "--out", str(tmp_path / "nowhere" / "demo")], "nowhere does not"),
    ]
    for args, words in cases:
        result = invoke(args, env_for(sandbox))
        assert result.exit_code == 2 and words in result.output, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert portal_requests(sandbox.snapshot()) == 0  # not one request: nothing written, nothing read
    assert not (tmp_path / "nowhere").exists() and not (tmp_path / "gone").exists()  # no folder invented


def test_no_token_and_no_terminal_is_the_one_line_error(sandbox: Any, tmp_path: Path) -> None:
    result = invoke(["plan", str(SAMPLE), "--out", str(tmp_path / "p.csv")], env_for(sandbox, TYK_PORTAL_TOKEN=""))
    assert result.exit_code == 2 and result.output.startswith("error: no portal token")


def test_at_a_terminal_the_token_is_asked_for_and_not_echoed(sandbox: Any, tmp_path: Path) -> None:
    import pty

    env = {**os.environ, "TYK_PORTAL_URL": sandbox.portal_url, "TERM": "dumb"}
    env.pop("TYK_PORTAL_TOKEN", None)
    argv = [sys.executable, "-m", "tyk_migrate.cli", "plan", str(SAMPLE), "--out", str(tmp_path / "p.csv")]
    pid, fd = pty.fork()
    if pid == 0:  # the child: a real terminal on stdin, as a person's shell gives it
        os.chdir(tmp_path)
        os.execve(sys.executable, argv, env)
    seen = b""
    try:
        # the space after the colon comes from getpass once echo is off: typing before it would show the token
        while b"token for 127.0.0.1: " not in seen:
            chunk = os.read(fd, 1024)
            assert chunk, seen
            seen += chunk
        os.write(fd, sandbox.token.encode() + b"\n")
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 1, text  # planned: the sample's blocked rows
    assert "plan written to" in text and sandbox.token not in text  # hidden input: never echoed


def test_log_lines_never_hold_a_key_or_the_token(sandbox: Any, tmp_path: Path) -> None:
    result = invoke(["plan", str(SAMPLE), "-vv", "--out", str(tmp_path / "p.csv")], env_for(sandbox))
    assert "DEBUG tyk_migrate.requests: GET /users -> 200" in result.stderr
    assert sandbox.token not in result.stderr

    from tyk_migrate.cli import logs
    from tyk_migrate.secrets import SecretKey

    key = "qb_live_AAAAbbbbCCCCdddd0001"
    scrubber = logs.configure(2, False)
    scrubber.protect([SecretKey(key), sandbox.token])
    stream = _Capture()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stderr", stream)
        logging.getLogger("tyk_migrate.cli").info("row with %s and token %s", key, sandbox.token)
        logging.getLogger("somelib").warning("choked on 'a-value-of-any-shape' and %s", key)
        try:
            raise ValueError(f"bad key {key}")
        except ValueError:
            logging.getLogger("somelib").exception("failed")
    text = stream.text
    assert key not in text and sandbox.token not in text and "a-value-of-any-shape" not in text, text
    assert "row with" in text and "ValueError" in text


class _Capture:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_the_console_script_is_the_package(tmp_path: Path) -> None:
    """``tyk-migrate = "tyk_migrate.launch:main"`` and ``python -m tyk_migrate.cli`` are the same command."""
    script = Path(sys.executable).with_name("tyk-migrate")
    for command in ([str(script)] if script.exists() else []) + [[sys.executable, "-m", "tyk_migrate.cli"]]:
        command = command if isinstance(command, list) else [command]
        done = subprocess.run([*command, "apply", "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert done.returncode == 0 and "Exit codes:" in done.stdout and "130" in done.stdout, done.stderr
