"""An open journal keeps SQLite's own lock on its -shm file, so another process opening the file (``status``,
the console, a test's poll) joins the writer's wal-index instead of re-initialising it under the writer.

Closing any descriptor of a file drops every POSIX lock the process holds on it; the journal once opened and
closed its side files (to make them owner-only) after connecting, and a reader in another process then
truncated the -shm under the running writer: a Bus error in the group-commit thread.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import textwrap

import pytest

from tyk_migrate.journal import Journal

# SQLite's unix VFS: the "dead man switch" byte of the -shm file, held shared by every process using the
# wal-index (UNIX_SHM_DMS = (22 + 8) * 4 + 8)
DMS_OFFSET = 128

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or struct.calcsize("P") != 8, reason="struct flock layout of 64-bit Linux"
)

_PROBE = textwrap.dedent(
    """
    import fcntl, os, struct, sys
    fd = os.open(sys.argv[1], os.O_RDWR)
    # struct flock: l_type, l_whence, l_start, l_len, l_pid
    answer = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, {offset}, 1, 0))
    print(struct.unpack("hhqqi", answer)[0])
    """
).format(offset=DMS_OFFSET)


def lock_seen_from_another_process(shm: str) -> int:
    out = subprocess.run([sys.executable, "-c", _PROBE, shm], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_an_open_journal_holds_sqlites_lock_on_its_shm_file(tmp_path):
    path = tmp_path / "run.journal"
    with Journal(path) as jr:
        jr.credential_intent("fp" * 8, source_row=1, user_id=1, app_name="a", app_id=5, run_id=1, attempts=1)
        assert lock_seen_from_another_process(f"{path}-shm") == fcntl.F_RDLCK
        jr.start_group_commit()  # the writer thread's own connection shares the process's lock
        jr.credential_outcome("fp" * 8, "created", credential_id=9, app_id=5, run_id=1)
        jr.stop_group_commit()
        assert lock_seen_from_another_process(f"{path}-shm") == fcntl.F_RDLCK


def test_a_reopened_journal_with_loose_side_files_tightens_them_and_keeps_its_lock(tmp_path):
    path = tmp_path / "run.journal"
    with Journal(path) as jr:
        jr.credential_intent("fp" * 8, source_row=1, user_id=1, app_name="a", app_id=5, run_id=1, attempts=1)
        # what an older version or another tool may leave: side files others can read (kept while open)
        os.chmod(f"{path}-wal", 0o644)
        os.chmod(f"{path}-shm", 0o644)
    for side in (f"{path}-wal", f"{path}-shm"):
        if not os.path.exists(side):  # SQLite removes them on a clean close: make loose ones as a crash leaves
            with open(side, "wb"):
                pass
            os.chmod(side, 0o644)
    with Journal(path) as jr:
        assert {oct(os.stat(s).st_mode & 0o777) for s in (f"{path}-wal", f"{path}-shm")} == {"0o600"}
        assert lock_seen_from_another_process(f"{path}-shm") == fcntl.F_RDLCK
        assert jr.credential("fp" * 8) is not None
