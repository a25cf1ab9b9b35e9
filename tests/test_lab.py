"""``make lab`` helper: the sandbox runs, JupyterLab's environment points at it, both stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tyk_migrate.lab import REPO, lab_command, lab_environment, lab_root, run_lab, workbook_url

PROBE = """
import json, os, sys, httpx
portal, token, gateway = (os.environ[k] for k in ("TYK_PORTAL_URL", "TYK_PORTAL_TOKEN", "TYK_GATEWAY_URL"))
users = httpx.get(portal + "/users", headers={"Authorization": token}, timeout=10)
anonymous = httpx.get(gateway + "/payments/", timeout=10)
json.dump({"users": users.status_code, "gateway": anonymous.status_code, "cwd": os.getcwd()}, open(sys.argv[1], "w"))
"""


def test_lab_command_is_loopback_and_opens_the_workbook(tmp_path: Path) -> None:
    notebook = tmp_path / "wb.ipynb"
    assert "--ServerApp.ip=127.0.0.1" in lab_command(notebook)
    assert lab_command(notebook)[-1].startswith("--")  # missing notebook: not passed
    notebook.write_text("{}", encoding="utf-8")
    command = lab_command(notebook, port=8899, open_browser=False)
    assert command[-1] == str(notebook.resolve())
    assert "--no-browser" in command and "--ServerApp.port=8899" in command
    env = lab_environment("http://127.0.0.1:1/portal-api", "t0k", "http://127.0.0.1:1/gateway", base={"A": "b"})
    assert env == {
        "A": "b",
        "TYK_PORTAL_URL": "http://127.0.0.1:1/portal-api",
        "TYK_PORTAL_TOKEN": "t0k",
        "TYK_GATEWAY_URL": "http://127.0.0.1:1/gateway",
    }


def test_run_lab_serves_the_sandbox_to_the_child(tmp_path: Path) -> None:
    out = tmp_path / "probe.json"
    lines: list[str] = []
    code = run_lab(command=[sys.executable, "-c", PROBE, str(out)], echo=lines.append, notebook=None)
    assert code == 0
    seen = json.loads(out.read_text())
    assert seen == {"users": 200, "gateway": 401, "cwd": str(REPO)}
    assert any("sandbox portal" in line for line in lines)
    assert not any("sandbox-admin-token" in line for line in lines)  # the token is not printed


# A stand-in for JupyterLab: serves /api/status on the --ServerApp.port it is given, to the JUPYTER_TOKEN it
# got only, records what it saw, and exits soon after it answered once.
FAKE_LAB = """
import json, os, sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer
port = int(next(a for a in sys.argv if a.startswith("--ServerApp.port=")).split("=", 1)[1])
token = os.environ["JUPYTER_TOKEN"]
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/api/status" and self.headers.get("Authorization") == "token " + token
        self.send_response(200 if ok else 403)
        self.end_headers()
        if ok:
            threading.Timer(0.3, server.shutdown).start()
    def log_message(self, *args):
        pass
json.dump({"argv": sys.argv[1:], "token": token, "repo": os.environ["TYK_MIGRATE_REPO"]}, open(os.environ["SEEN"], "w"))
server = HTTPServer(("127.0.0.1", port), Handler)
server.serve_forever()
"""


def test_run_lab_prints_the_workbook_url_last_once_jupyterlab_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "seen.json"
    monkeypatch.setenv("SEEN", str(seen))

    def launcher(argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        assert argv[1:3] == ["-m", "jupyterlab"]  # the real command, handed to the stand-in
        return subprocess.Popen([sys.executable, "-c", FAKE_LAB, *argv[3:]], **kw)

    lines: list[str] = []
    assert run_lab(launcher=launcher, echo=lines.append, open_browser=False, ready_timeout=30) == 0
    fake = json.loads(seen.read_text())
    port = int(next(a for a in fake["argv"] if a.startswith("--ServerApp.port=")).split("=")[1])
    assert fake["argv"][-1] == "notebooks/migration_workbook.ipynb" and "--no-browser" in fake["argv"]
    assert fake["repo"] == str(REPO)
    assert lines[-1] == f"http://127.0.0.1:{port}/lab/tree/notebooks/migration_workbook.ipynb?token={fake['token']}"
    assert len(fake["token"]) >= 24


def test_workbook_url_opens_the_notebook_not_the_launcher(tmp_path: Path) -> None:
    notebook = tmp_path / "my notebooks" / "wb.ipynb"
    assert workbook_url(8888, "t", notebook, tmp_path) == "http://127.0.0.1:8888/lab?token=t"  # missing
    notebook.parent.mkdir()
    notebook.write_text("{}", encoding="utf-8")
    assert (
        workbook_url(8888, "t", notebook, tmp_path) == "http://127.0.0.1:8888/lab/tree/my%20notebooks/wb.ipynb?token=t"
    )
    assert workbook_url(8888, "t", notebook, tmp_path / "elsewhere") == "http://127.0.0.1:8888/lab?token=t"


def test_an_installed_lab_sets_up_its_folder_once_and_keeps_edits(tmp_path: Path) -> None:
    folder = tmp_path / "lab"
    assert lab_root(folder) == folder.resolve()
    workbook = folder / "notebooks" / "migration_workbook.ipynb"
    assert workbook.exists() and (folder / "data-samples" / "legacy_keys.csv").exists()
    assert (folder / "data-samples" / "sandbox_seed.json").exists()
    workbook.write_text("my edits", encoding="utf-8")
    lab_root(folder)
    assert workbook.read_text(encoding="utf-8") == "my edits"


@pytest.mark.slow
def test_make_lab_starts_jupyterlab_and_prints_a_url_that_opens_the_workbook(tmp_path: Path) -> None:
    """The real thing: ``python -m tyk_migrate.lab --no-browser``; its last line is a URL JupyterLab serves."""
    import httpx

    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path)}
    lab = subprocess.Popen(
        [sys.executable, "-m", "tyk_migrate.lab", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and lab.stdout is not None:
            line = lab.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if "/lab/tree/" in line:
                break
        url = lines[-1]
        assert url.startswith("http://127.0.0.1:") and "/lab/tree/notebooks/migration_workbook.ipynb?token=" in url
        assert httpx.get(url, timeout=10, trust_env=False).status_code == 200
        base, token = url.split("/lab/tree/")[0], url.split("token=")[1]
        contents = httpx.get(
            f"{base}/api/contents/notebooks/migration_workbook.ipynb",
            headers={"Authorization": f"token {token}"},
            params={"content": 0},
            timeout=10,
            trust_env=False,
        )
        assert contents.status_code == 200 and contents.json()["type"] == "notebook"
    finally:
        lab.send_signal(signal.SIGTERM)
        code = lab.wait(timeout=30)
    assert code == 130  # stopped like Ctrl-C: JupyterLab and the sandbox with it
