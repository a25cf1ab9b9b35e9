"""The workbook as an analyst uses it: JupyterLab in a real (headless) Chromium, widgets clicked.

Headless notebook runs (test_notebooks.py) prove the code; this proves the experience: the console
renders, Start starts, Pause/Resume and Stop/Continue do what they say, the progress and counts on screen
match the portal, the result tables show, and no raw key (nor the portal token) is ever on the page.

It starts the sandbox (with a little latency, so a run can be stopped midway) and JupyterLab on
loopback with private config/data/runtime folders, opens a parameterised copy of
``notebooks/migration_workbook.ipynb`` (the analyst's settings cell left as it is; papermill's
"injected parameters" cell below it points the outputs at a temporary folder), and drives Debian's
``chromium`` through Playwright. Screenshots go to ``test-artifacts/browser/`` (path printed).

Without chromium it skips with the reason, except under ``CI=true`` where a missing browser fails.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
WORKBOOK = REPO / "notebooks" / "migration_workbook.ipynb"
INPUT = REPO / "data-samples" / "legacy_keys.csv"
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAB_TOKEN = "browser-test-lab-token"
FIRST_PLAN, SECOND_PLAN = "Free", "Standard"  # the two scopes an analyst migrates one after the other

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require(reason: str) -> None:
    """Skip on a laptop; fail in CI, where the browser is part of the contract (.ci/run installs it)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the browser test must run here)")
    pytest.skip(reason)


def chromium_path() -> str:
    found = shutil.which("chromium") or next(
        (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None
    )
    if found is None:
        require("Debian's chromium is not installed (apt-get install chromium)")
    return str(found)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- JupyterLab -------------------------------------------------------------------------------------------


def write_workbook(root: Path, **parameters: Any) -> Path:
    """The workbook with an injected-parameters cell after its settings cell (as papermill adds one)."""
    import nbformat

    nb = nbformat.read(WORKBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    source = "# Parameters of this test run\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(at + 1, cell)
    target = root / "notebooks" / WORKBOOK.name
    target.parent.mkdir(parents=True)
    nbformat.write(nb, target)
    return target


def lab_settings(settings_dir: Path) -> None:
    """No news or update pop-ups over the notebook; every cell attached to the page (so the scan sees all)."""
    settings = {
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        "notebook-extension/tracker": {"windowingMode": "none"},
    }
    for name, values in settings.items():
        target = settings_dir / "@jupyterlab" / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values), encoding="utf-8")


@pytest.fixture
def lab(tmp_path: Path, make_sandbox: Any) -> Iterator[dict[str, Any]]:
    """Sandbox + JupyterLab on loopback; yields their addresses and the run's output folder."""
    from tyk_migrate.lab import lab_environment, stop_process

    sandbox = make_sandbox(latency_ms=15)
    root, home = tmp_path / "lab", tmp_path / "jupyter"
    out = tmp_path / "outputs"
    notebook = write_workbook(
        root,
        repo_dir=str(REPO),
        journal_path=str(out / "browser.journal"),
        output_dir=str(out),
        batch_size=200,
        verify_sample=None,
    )
    lab_settings(home / "settings")
    env = lab_environment(sandbox.portal_url, sandbox.token, sandbox.gateway_url)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        MPLBACKEND="agg",
    )
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={LAB_TOKEN}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = (tmp_path / "lab.log").open("wb")
    process = subprocess.Popen(command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        deadline = started + 60
        while True:
            try:
                if httpx.get(f"{base}/api/status", params={"token": LAB_TOKEN}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text(errors="replace"))
            time.sleep(0.2)
        url = f"{base}/lab/tree/notebooks/{notebook.name}?token={LAB_TOKEN}&reset"
        print(f"\nJupyterLab up after {time.monotonic() - started:.1f} s")
        yield {"url": url, "sandbox": sandbox, "out": out, "log": tmp_path / "lab.log"}
    finally:
        stop_process(process)
        log.close()


# -- the page ----------------------------------------------------------------------------------------------


class Workbook:
    """The open notebook and its migration console, driven through the page as a person would."""

    def __init__(self, page: Any, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.console = page.locator(".tyk-console")  # CSS classes the console sets: no guessing from texts

    # notebook
    def cell_index(self, prefix: str) -> int:
        sources = self.page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.content.widgets.map(c => c.model.sharedModel.getSource())"
        )
        return next(i for i, source in enumerate(sources) if source.startswith(prefix))

    def run(self, command: str, at: str) -> None:
        """Select the cell whose source starts with ``at`` and run a notebook command (as the Run menu does)."""
        index = self.cell_index(at)
        self.page.evaluate(
            "([i, cmd]) => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = i;"
            " return window.jupyterapp.commands.execute(cmd); }",
            [index, command],
        )

    def wait_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.page.evaluate(
            "() => { const s = window.jupyterapp.shell.currentWidget.sessionContext;"
            " return s.session?.kernel?.status !== 'idle' || s.isBusy ||"
            " window.jupyterapp.shell.currentWidget.content.widgets.some(c => c.model.executionState === 'running'); }"
        ):
            assert time.monotonic() < deadline, "the kernel stayed busy"
            time.sleep(0.2)

    def errors(self) -> list[str]:
        return self.page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        ).all_inner_texts()

    def shot(self, name: str, *, console: bool = False) -> Path:
        path = self.shots / f"{name}.png"
        (self.console if console else self.page).screenshot(path=str(path))
        return path

    # console
    def filter(self, name: str) -> Any:
        return self.console.locator(f".tyk-filter-{name} select")

    def choose(self, name: str, starts_with: str) -> str:
        select = self.filter(name)
        labels = select.locator("option").all_inner_texts()
        label = next(text for text in labels if text.startswith(starts_with))
        select.select_option(label=label)
        return label

    def set_number(self, label: str, value: int) -> None:
        field = self.console.get_by_label(label)
        field.fill(str(value))
        field.press("Enter")

    def set_choice(self, label: str, value: str) -> None:
        self.console.get_by_label(label).select_option(label=value)

    def button(self, name: str) -> Any:
        return self.console.locator("button").filter(has_text=re.compile(f"^\\s*({name})\\s*$"))

    def start_button(self) -> Any:
        """The Start button whatever it reads (Start, Continue, Dry run, Nothing to send)."""
        return self.console.locator("button.tyk-start")

    def part(self, name: str) -> str:
        return str(self.console.locator(f".tyk-{name}").inner_text())

    def text(self) -> str:
        return str(self.console.inner_text())

    def state(self) -> str:
        found = re.search(r"●\s*(\w+)", self.part("state"))
        return found.group(1) if found else ""

    def wait_until(self, condition: Any, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.05)

    def wait_state(self, *states: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while (state := self.state()) not in states:
            assert time.monotonic() < deadline, f"console state {state!r}, waited for {states}"
            time.sleep(0.1)
        return state

    def progress(self) -> tuple[int, int, str]:
        found = re.search(r"([\d,]+)\s*/\s*([\d,]+) rows \((\S+)\)", self.part("progress-label"))
        assert found, self.text()
        return int(found.group(1).replace(",", "")), int(found.group(2).replace(",", "")), found.group(3)

    def scope_size(self) -> int:
        found = re.search(r"([\d,]+) of [\d,]+ rows in scope", self.text())
        assert found, self.text()
        return int(found.group(1).replace(",", ""))

    def count(self, label: str) -> int:
        stats = self.part("stats")  # the badges under Progress, not the preview or results tables
        found = re.search(rf"([\d,]+)\s+{label}(?![A-Za-z])", stats)
        assert found, f"no {label!r} count on the console: {self.text()!r}"
        return int(found.group(1).replace(",", ""))


def raw_secrets(sandbox: Any) -> set[str]:
    """Every raw key of the input (as the loader reads it), the portal's own keys, and the portal token."""
    from tyk_migrate import load_keys
    from tyk_migrate.secrets import SecretKey, reveal

    keys = {reveal(k) for k in load_keys(INPUT)["key_id"] if isinstance(k, SecretKey) and k}
    keys.update(c["KeyID"] for c in sandbox.snapshot()["custom_credentials"])
    keys.add(sandbox.token)
    return keys


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def new_credentials(sandbox: Any, before: set[str]) -> int:
    return sum(c["KeyID"] not in before for c in sandbox.snapshot()["custom_credentials"])


def test_workbook_in_jupyterlab(lab: dict[str, Any]) -> None:
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("the playwright package is not installed")
    sandbox = lab["sandbox"]
    secrets = raw_secrets(sandbox)
    seeded = {c["KeyID"] for c in sandbox.snapshot()["custom_credentials"]}
    shots = ARTIFACTS / time.strftime("%Y%m%d-%H%M%S")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {shots}")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(30_000)
        try:
            t0 = time.monotonic()
            page.goto(lab["url"])
            page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for(timeout=90_000)
            wb = Workbook(page, shots)
            print(f"kernel idle after {time.monotonic() - t0:.1f} s")

            # every cell down to the console, as Shift+Enter through them would
            wb.run("notebook:run-all-above", at="# Scheduled")
            wb.wait_until(lambda: wb.errors() or wb.console.get_by_text("Batch size").count(), "no console", 90)
            wb.wait_idle()
            assert wb.errors() == []
            assert wb.state() == "ready"
            target = wb.part("target")  # where Start writes, shown before anyone presses it
            assert sandbox.portal_url.split("//", 1)[1].split("/", 1)[0] in target and "browser.journal" in target
            assert wb.start_button().inner_text().strip() == "Start"
            print(f"console after {time.monotonic() - t0:.1f} s")
            wb.shot("1-console-ready", console=True)

            # first scope: one plan, small batches, Start, wait for the end
            wb.choose("plan", FIRST_PLAN)
            wb.set_number("Batch size", 10)
            wb.wait_until(lambda: wb.scope_size() < 200, "the scope did not follow the filter")
            total = wb.scope_size()
            wb.wait_until(lambda: wb.progress()[1] == total, "the progress did not follow the scope")
            assert wb.count("pending") == total
            wb.start_button().click()
            wb.wait_state("finished")
            assert wb.progress() == (total, total, "100%")
            first_created = wb.count("created")
            assert first_created == new_credentials(sandbox, seeded) > 0  # what the screen says is in the portal
            assert wb.count("created") + wb.count("skipped") + wb.count("blocked") + wb.count("failed") == total
            assert "verify and reconcile" in wb.part("state")
            assert "create app + credential" in wb.part("results")
            wb.shot("2-first-scope-finished", console=True)

            # second scope: slower portal, Start, Pause midway, Resume, Stop midway, Continue to the end
            sandbox.set_faults("", latency_ms=60)
            wb.button("Clear filters").click()
            wb.choose("plan", SECOND_PLAN)
            wb.set_choice("Concurrency", "2")
            wb.wait_until(lambda: wb.progress()[:2] == (0, wb.scope_size()), "the progress did not follow the scope")
            assert wb.state() == "ready" and wb.start_button().inner_text().strip() == "Start"  # nothing of it done
            wb.start_button().click()
            # Pause only once the portal took writes (rows done can be blocked ones, finished without a request)
            wb.wait_until(lambda: wb.count("created") >= 3, "the second run created nothing")
            wb.button("Pause").click()
            wb.wait_state("paused")
            paused_at = wb.progress()
            time.sleep(1.0)  # requests in flight land; nothing new is sent
            assert wb.progress()[0] - paused_at[0] <= 2
            assert wb.progress()[0] < paused_at[1]
            wb.shot("3-second-scope-paused", console=True)
            wb.button("Resume").click()
            wb.wait_state("running")
            time.sleep(0.5)
            wb.button("Stop").click()
            wb.wait_state("stopped")
            stopped, second_total, _ = wb.progress()
            assert 0 < stopped < second_total, "Stop should land midway"
            wb.shot("4-second-scope-stopped", console=True)
            assert wb.count("created") == new_credentials(sandbox, seeded) - first_created  # screen == portal

            sandbox.set_faults("", latency_ms=0)
            assert wb.start_button().inner_text().strip() == "Continue"  # Start, relabelled: on from the journal
            wb.start_button().click()
            wb.wait_state("finished")
            assert wb.progress() == (second_total, second_total, "100%")
            # the counts are the whole scope's (the stopped run's rows included); each key is in the portal once
            assert first_created + wb.count("created") == new_credentials(sandbox, seeded)
            assert wb.count("pending") == 0 and wb.count("failed") == 0
            wb.shot("5-second-scope-finished", console=True)

            # the rest of the workbook: verify, reconcile, export, results
            wb.run("notebook:run-all-below", at="# the portal as it is now")
            wb.wait_until(lambda: wb.errors() or page.get_by_text("'keys_read'").count(), "no results", 90)
            wb.wait_idle()
            assert wb.errors() == []
            outcomes = read_csv(lab["out"] / "outcomes.csv")
            migrated = {r["key_fingerprint"] for r in outcomes if r["status"] in ("created", "skipped")}
            recon = {r["key_fingerprint"]: r["recon_status"] for r in read_csv(lab["out"] / "reconciliation.csv")}
            assert {fp: recon.get(fp) for fp in migrated} == dict.fromkeys(migrated, "present")
            verified = [r for r in outcomes if r["key_fingerprint"] in migrated]
            assert all(r["verify_status"] == "200" for r in verified), "a migrated key did not open its API"
            assert page.get_by_text("key works on its API").is_visible()
            page.locator(".jp-Cell").filter(has_text="recon.problems[").scroll_into_view_if_needed()
            wb.shot("6-reconciliation")

            # nothing on the page (DOM, text, widget values) shows a raw key or the portal token
            seen = page.content() + "\n" + page.inner_text("body")
            shown = sorted(s[:4] + "…" for s in secrets if s in seen)
            assert shown == [], f"raw secrets on the page: {shown}"
        except Exception as exc:
            page.screenshot(path=str(shots / "failure.png"))
            exc.add_note(f"screenshots: {shots}")
            raise
        finally:
            browser.close()
