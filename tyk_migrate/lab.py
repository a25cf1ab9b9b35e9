"""``make lab``: a rehearsal room. The sandbox portal + gateway and JupyterLab, wired to each other.

Starts the sandbox on a free loopback port with ``data-samples/sandbox_seed.json``, puts its address and
token in ``TYK_PORTAL_URL`` / ``TYK_PORTAL_TOKEN`` / ``TYK_GATEWAY_URL`` for JupyterLab's kernels, and
launches JupyterLab on loopback opening ``notebooks/migration_workbook.ipynb``. The workbook then runs
against the sandbox with no token typed anywhere. Ctrl-C stops both.

    python -m tyk_migrate.lab [--no-browser] [--port 8888] [--seed FILE] [--notebook FILE]

JupyterLab runs in its own session so Ctrl-C reaches this process only; it is then asked to stop
(SIGTERM: a clean shutdown without JupyterLab's "shut down? y/n" prompt) and the sandbox is stopped.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SEED = REPO / "data-samples" / "sandbox_seed.json"
DEFAULT_NOTEBOOK = REPO / "notebooks" / "migration_workbook.ipynb"

Launcher = Callable[..., Any]  # subprocess.Popen-compatible


def lab_environment(
    portal_url: str, token: str, gateway_url: str, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment JupyterLab (and so every kernel) gets: the sandbox's address and token."""
    env = dict(os.environ if base is None else base)
    env.update({"TYK_PORTAL_URL": portal_url, "TYK_PORTAL_TOKEN": token, "TYK_GATEWAY_URL": gateway_url})
    return env


def lab_command(notebook: Path | None, *, port: int | None = None, open_browser: bool = True) -> list[str]:
    """``python -m jupyterlab`` on loopback, opening ``notebook`` when it exists (else the repo root)."""
    command = [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={REPO}"]
    if port is not None:
        command.append(f"--ServerApp.port={port}")
    if not open_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers often run as root; JupyterLab refuses it
        command.append("--allow-root")
    if notebook is not None and notebook.exists():
        try:
            command.append(str(notebook.resolve().relative_to(REPO)))
        except ValueError:
            command.append(str(notebook.resolve()))
    return command


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


def run_lab(
    *,
    seed: Path = DEFAULT_SEED,
    notebook: Path | None = DEFAULT_NOTEBOOK,
    port: int | None = None,
    open_browser: bool = True,
    launcher: Launcher = subprocess.Popen,
    command: Sequence[str] | None = None,
    echo: Callable[[str], None] = print,
) -> int:
    """Run the sandbox and JupyterLab until JupyterLab exits or Ctrl-C; returns JupyterLab's exit code.

    ``launcher`` and ``command`` exist for tests (a stand-in process instead of JupyterLab).
    """
    from .sandbox import SandboxConfig, run_in_thread

    with run_in_thread(SandboxConfig(seed=str(seed))) as sandbox:
        env = lab_environment(sandbox.portal_url, sandbox.token, sandbox.gateway_url)
        echo(f"sandbox portal:  {sandbox.portal_url}  (token in TYK_PORTAL_TOKEN for the notebooks)")
        echo(f"sandbox gateway: {sandbox.gateway_url}")
        if notebook is not None and not notebook.exists():
            echo(f"note: {notebook} does not exist yet; JupyterLab opens the project folder")
        argv = list(command) if command is not None else lab_command(notebook, port=port, open_browser=open_browser)
        process = launcher(argv, env=env, cwd=str(REPO), start_new_session=True)
        try:
            return int(process.wait())
        except KeyboardInterrupt:
            echo("\nstopping JupyterLab and the sandbox …")
            stop_process(process)
            return 130
        finally:
            stop_process(process)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tyk_migrate.lab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=Path, default=DEFAULT_SEED, help="sandbox seed (default: the sample portal)")
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK, help="notebook to open")
    parser.add_argument("--port", type=int, default=None, help="JupyterLab port (default: its own choice)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    args = parser.parse_args(argv)
    from .errors import MigrateError

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops JupyterLab and the sandbox like Ctrl-C does
    try:
        return run_lab(seed=args.seed, notebook=args.notebook, port=args.port, open_browser=not args.no_browser)
    except MigrateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
