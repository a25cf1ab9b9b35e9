"""Shared plumbing for the benchmarks: machine label, result files, tables, a sandbox in a subprocess.

Every tool under comparison talks to its own fresh sandbox started with ``tyk-migrate sandbox`` in a
separate process, so no tool shares a CPU-bound event loop (or a GIL) with the portal it is timed against.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
RESULTS = BENCH_DIR / "results"
SEED = ROOT / "data-samples" / "sandbox_seed.json"
SANDBOX_TOKEN = "bench-admin-token"


# ---------------------------------------------------------------- machine and results


def machine_info() -> dict[str, Any]:
    """What the absolute numbers were measured on (ratios travel; seconds do not)."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        # other work on the machine skews wall times; this says how busy it was when the run started
        "load_average_1m": round(load[0], 2) if load else None,
    }


def machine_label(info: dict[str, Any] | None = None) -> str:
    info = info or machine_info()
    mem = f", {info['memory_gb']} GB RAM" if info.get("memory_gb") else ""
    load = f", load average {info['load_average_1m']} at start" if info.get("load_average_1m") is not None else ""
    return f"{info['cpu']}, {info['cores']} cores{mem}, Python {info['python']}, {info['date']}{load}"


def write_json(name: str, data: Any) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table (also readable as plain text in a terminal)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


# ---------------------------------------------------------------- sandbox subprocess


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def compile_package() -> None:
    """Write the package's bytecode before any timed command, as ``pip install`` does for an installed one.

    An editable install (``make test``) writes it on first import, unless ``PYTHONDONTWRITEBYTECODE`` is set
    (it is on some machines); then every timed command compiled the modules changed since, some 0.1-0.6 s.
    """
    import compileall

    compileall.compile_dir(str(ROOT / "tyk_migrate"), quiet=1)


def tyk_migrate_command() -> list[str]:
    """The ``tyk-migrate`` console script next to this interpreter, else ``python -m tyk_migrate.cli``."""
    script = shutil.which("tyk-migrate", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "tyk_migrate.cli"]


@dataclass
class SandboxProcess:
    url: str
    token: str = field(repr=False)
    proc: subprocess.Popen[bytes] = field(repr=False)

    @property
    def portal_url(self) -> str:
        return self.url + "/portal-api"

    def state(self) -> dict[str, Any]:
        """``GET /__sandbox/state``: every object plus the request counters."""
        r = httpx.get(self.url + "/__sandbox/state", headers={"Authorization": self.token}, timeout=60)
        r.raise_for_status()
        return r.json()


@contextlib.contextmanager
def sandbox(
    *, seed: Path = SEED, latency_ms: float = 0, faults: str = "", random_seed: int = 7, log: Path | None = None
) -> Iterator[SandboxProcess]:
    """A fresh ``tyk-migrate sandbox`` on a free loopback port for the ``with`` block; stopped after."""
    port = free_port()
    cmd = [
        *tyk_migrate_command(),
        "sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--seed",
        str(seed),
        "--latency-ms",
        str(latency_ms),
        "--random-seed",
        str(random_seed),
    ]
    if faults:
        cmd += ["--faults", faults]
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    env = {**os.environ, "TYK_SANDBOX_TOKEN": SANDBOX_TOKEN}  # not on the command line
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"sandbox exited with code {proc.returncode}: {' '.join(cmd[1:])}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(url + "/__sandbox/faults", headers={"Authorization": SANDBOX_TOKEN}, timeout=2)
                if r.status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("sandbox did not answer within 30 s")
            time.sleep(0.1)
        yield SandboxProcess(url, SANDBOX_TOKEN, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if log:
            out.close()  # type: ignore[union-attr]


def portal_requests(state: dict[str, Any]) -> dict[str, int]:
    """Portal API requests by ``METHOD route STATUS`` (admin/gateway traffic left out)."""
    by_route: dict[str, int] = state.get("requests", {}).get("by_route", {})
    return {k: v for k, v in by_route.items() if " /portal-api" in k}
