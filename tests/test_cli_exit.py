"""The console script ends the process as soon as its command is done (``cli.exits.exit_now``), with the
command's exit code, after the ``atexit`` handlers and the last lines, and never under a working thread; and
its start-up leaves what few commands need (the report's templates) for later."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import atexit, os, sys, threading, time
    from tyk_migrate.cli import main

    class Teardown:
        def __del__(self, write=os.write):  # the interpreter's own teardown runs this; exit_now skips it
            write(2, b"teardown ran\\n")

    keep = Teardown()
    atexit.register(lambda: sys.stderr.write("atexit ran\\n"))
    if "--thread" in sys.argv:
        sys.argv.remove("--thread")
        threading.Thread(target=lambda: (time.sleep(0.3), sys.stderr.write("thread finished\\n"))).start()
    sys.argv = ["tyk-migrate", *sys.argv[1:]]
    main()
    """
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "code"), [(["--version"], 0), (["no-such-command"], 2), (["validate", "/no/such.csv"], 2)]
)
def test_the_exit_code_and_the_last_lines_survive_the_quick_exit(args, code):
    done = run(*args)
    assert done.returncode == code, done.stderr
    assert "atexit ran" in done.stderr
    assert "teardown ran" not in done.stderr  # the process ended without the interpreter's teardown
    if code == 0:
        assert "version" in done.stdout
    else:
        assert done.stderr.strip().splitlines()[0]  # its one line of error came out before the exit


def test_a_working_thread_gets_the_ordinary_exit():
    done = run("--version", "--thread")
    assert done.returncode == 0
    assert "thread finished" in done.stderr and "atexit ran" in done.stderr


def test_the_command_line_does_not_import_the_report_templates_until_a_report_is_written():
    """Start-up is paid on every command: jinja2 (the HTML report's templates) loads on the first report."""
    code = "import sys, tyk_migrate.cli; print('jinja2' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
