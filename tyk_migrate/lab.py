"""``make lab`` / ``tyk-migrate lab``: a rehearsal room. The sandbox portal + gateway and JupyterLab, wired.

Starts the sandbox on a free loopback port with the sample seed, puts its address and token in
``TYK_PORTAL_URL`` / ``TYK_PORTAL_TOKEN`` / ``TYK_GATEWAY_URL`` for JupyterLab's kernels, and launches
JupyterLab on loopback opening the migration workbook itself. Once JupyterLab answers, the last line
printed is the workbook's URL with its token (the one to click when no browser opened). Ctrl-C stops both.

    python -m tyk_migrate.lab [--no-browser] [--port 8888] [--seed FILE] [--notebook FILE] [--dir DIR]

From a clone the lab works in the clone (its ``notebooks/`` and ``data-samples/``). From an installed
wheel it works in ``--dir`` (default ``./tyk-migrate-lab``), where it copies the shipped notebooks and
samples the first time (never over a file that is already there: it may hold your edits).

JupyterLab runs in its own session so Ctrl-C reaches this process only; it is then asked to stop
(SIGTERM: a clean shutdown without JupyterLab's "shut down? y/n" prompt) and the sandbox is stopped.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import resources

REPO = resources.CLONE
DEFAULT_SEED = resources.SEED
DEFAULT_NOTEBOOK = resources.WORKBOOK
#: where an installed tyk-migrate sets up its lab, under the current folder, unless --dir says otherwise
LAB_FOLDER = "tyk-migrate-lab"
READY_TIMEOUT = 120.0  # JupyterLab's first start on a slow machine builds its settings: give it time

Launcher = Callable[..., Any]  # subprocess.Popen-compatible


def lab_environment(
    portal_url: str, token: str, gateway_url: str, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment JupyterLab (and so every kernel) gets: the sandbox's address and token."""
    env = dict(os.environ if base is None else base)
    env.update({"TYK_PORTAL_URL": portal_url, "TYK_PORTAL_TOKEN": token, "TYK_GATEWAY_URL": gateway_url})
    return env


def _relative(notebook: Path, root: Path) -> str | None:
    try:
        return notebook.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def lab_command(
    notebook: Path | None, *, port: int | None = None, open_browser: bool = True, root: Path = REPO
) -> list[str]:
    """``python -m jupyterlab`` on loopback in ``root``, opening ``notebook`` when it exists."""
    command = [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}"]
    if port is not None:  # that port or none: the URL printed at the end must be the one it serves
        command += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if not open_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers often run as root; JupyterLab refuses it
        command.append("--allow-root")
    if notebook is not None and notebook.exists():
        command.append(_relative(notebook, root) or str(notebook.resolve()))
    return command


def workbook_url(port: int, token: str, notebook: Path | None, root: Path = REPO) -> str:
    """The address that opens ``notebook`` itself (``/lab/tree/…``, not the Launcher), token included."""
    relative = _relative(notebook, root) if notebook is not None and notebook.exists() else None
    path = f"/lab/tree/{quote(relative)}" if relative else "/lab"
    return f"http://127.0.0.1:{port}{path}?token={token}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(process: Any, port: int, token: str, timeout: float = READY_TIMEOUT) -> bool:
    """True once JupyterLab's server answers ``/api/status`` with this token; False if it exits or times out."""
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False, timeout=2.0) as client:  # loopback: never through a proxy
        while process.poll() is None and time.monotonic() < deadline:
            try:
                answer = client.get(f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"})
                if answer.status_code == 200:
                    return True
            except httpx.HTTPError:
                pass  # not listening yet
            time.sleep(0.2)
    return False


def stop_process(process: Any, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit in ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def prepare_workspace(folder: Path) -> Path:
    """``folder`` with the shipped notebooks and samples in it (copied once; an existing file is kept)."""
    for name in resources.SHIPPED:
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(resources.folder(name).iterdir()):
            if source.is_file() and not (target / source.name).exists():
                shutil.copy2(source, target / source.name)
    return folder


def lab_root(folder: Path | None = None) -> Path:
    """Where JupyterLab works: ``folder`` if given, else the clone, else ``./tyk-migrate-lab`` (set up)."""
    if folder is None and resources.from_clone():
        return REPO
    return prepare_workspace((folder or Path.cwd() / LAB_FOLDER).resolve())


def run_lab(
    *,
    seed: Path = DEFAULT_SEED,
    notebook: Path | None = DEFAULT_NOTEBOOK,
    port: int | None = None,
    open_browser: bool = True,
    root: Path | None = None,
    launcher: Launcher = subprocess.Popen,
    command: Sequence[str] | None = None,
    echo: Callable[[str], None] = print,
    ready_timeout: float = READY_TIMEOUT,
) -> int:
    """Run the sandbox and JupyterLab until JupyterLab exits or Ctrl-C; returns JupyterLab's exit code.

    ``launcher`` and ``command`` exist for tests (a stand-in process instead of JupyterLab).
    """
    from .extras import require

    if command is None:
        require("lab", needed_for="tyk-migrate lab")
    require("sandbox", needed_for="tyk-migrate lab")
    from .sandbox import SandboxConfig, run_in_thread

    where = lab_root(root)
    if notebook == DEFAULT_NOTEBOOK and _relative(notebook, where) is None:
        notebook = where / resources.NOTEBOOKS_FOLDER / notebook.name  # the workspace's copy
    port = port or free_port()
    token = secrets.token_urlsafe(24)
    with run_in_thread(SandboxConfig(seed=str(seed))) as sandbox:
        env = lab_environment(sandbox.portal_url, sandbox.token, sandbox.gateway_url)
        env.update({"JUPYTER_TOKEN": token, "TYK_MIGRATE_REPO": str(where)})  # the workbook's relative paths
        echo(f"sandbox portal:  {sandbox.portal_url}  (token in TYK_PORTAL_TOKEN for the notebooks)")
        echo(f"sandbox gateway: {sandbox.gateway_url}")
        if notebook is not None and not notebook.exists():
            echo(f"note: {notebook} does not exist yet; JupyterLab opens the project folder")
        argv = list(command) if command is not None else lab_command(notebook, port=port, open_browser=open_browser,
                                                                     root=where)  # fmt: skip
        process = launcher(argv, env=env, cwd=str(where), start_new_session=True)
        try:
            if wait_until_up(process, port, token, ready_timeout):  # a stand-in that serves nothing just exits
                echo("JupyterLab is up; the migration workbook is at:")
                echo(workbook_url(port, token, notebook, where))  # the last line: the one to click
            elif process.poll() is None:
                echo(f"note: JupyterLab did not answer within {ready_timeout:.0f} s; its own log has the URL")
            return int(process.wait())
        except KeyboardInterrupt:
            echo("\nstopping JupyterLab and the sandbox …")
            stop_process(process)
            return 130
        finally:
            stop_process(process)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """Ctrl-C even when started with SIGINT ignored, and ``kill`` stops JupyterLab and the sandbox like it."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tyk_migrate.lab", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seed", type=Path, default=DEFAULT_SEED, help="sandbox seed (default: the sample portal)")
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK, help="notebook to open")
    parser.add_argument("--port", type=int, default=None, help="JupyterLab port (default: a free one)")
    parser.add_argument("--dir", type=Path, default=None, help=f"work folder (default: the clone, else ./{LAB_FOLDER})")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    args = parser.parse_args(argv)
    from .errors import MigrateError

    stop_on_signals()
    try:
        return run_lab(
            seed=args.seed, notebook=args.notebook, port=args.port, open_browser=not args.no_browser, root=args.dir
        )
    except MigrateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
