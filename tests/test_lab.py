"""``make lab`` helper: the sandbox runs, JupyterLab's environment points at it, both stop."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tyk_migrate.lab import REPO, lab_command, lab_environment, run_lab

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
