"""The names of the files tyk-migrate writes when nobody names them: one home for ``.gitignore``'s test.

A clone is where people run the tool first (``make demo``, ``make lab``, the CLI on a sample), and
what it writes holds masked keys, fingerprints and portal IDs: none of it belongs in a commit.
``tests/test_gitignore.py`` asks ``git check-ignore`` about every name here, and checks that each default
the command line and the notebooks spell out is one of them.
"""

from __future__ import annotations

from .lock import LOCK_SUFFIX

#: folders the demo and the notebooks write into by default
DEMO_OUTPUT_DIR = "demo-output"
WORKBOOK_OUTPUT_DIR = "outputs"
#: the journal names the demo, the workbook and the console use when not told otherwise
DEMO_JOURNAL = "demo.journal"
WORKBOOK_JOURNAL = f"{WORKBOOK_OUTPUT_DIR}/migration.journal"
CONSOLE_JOURNAL = "migration.journal"
#: what SQLite and the run lock put beside a journal ``X``: ``X-wal``, ``X-shm``, ``X.lock``
SQLITE_SIDECARS = ("-wal", "-shm")
JOURNAL_SIDECARS = (*SQLITE_SIDECARS, LOCK_SUFFIX)
#: journal names people give on the command line (``--journal run.journal``, ``run.journal.sqlite``)
JOURNAL_EXAMPLES = ("run.journal", "run.journal.sqlite")
#: ``<INPUT stem><suffix>`` in the current folder: the CLI's reports when ``--out`` is not given
CLI_REPORT_SUFFIXES = (".outcomes.csv", ".plan.csv", ".rejects.csv")
#: ``tyk-migrate preflight``'s findings when ``--out`` is not given
PREFLIGHT_REPORT = "preflight.json"
#: what the demo writes into its folder
DEMO_FILES = ("plan.csv", "outcomes.csv", "rejects.csv", "reconciliation.csv", "report.html")


def journal_files(journal: str) -> list[str]:
    """A journal and every file beside it that the run makes."""
    return [journal, *(journal + suffix for suffix in JOURNAL_SIDECARS)]


def default_output_paths(stem: str = "legacy_keys") -> list[str]:
    """Every default output path, relative to where the tool runs (the clone's root for ``make``)."""
    paths = [f"{DEMO_OUTPUT_DIR}/{name}" for name in DEMO_FILES]
    paths += journal_files(f"{DEMO_OUTPUT_DIR}/{DEMO_JOURNAL}")
    paths += [f"{WORKBOOK_OUTPUT_DIR}/report.html", *journal_files(WORKBOOK_JOURNAL)]
    paths += journal_files(CONSOLE_JOURNAL) + journal_files(f"notebooks/{CONSOLE_JOURNAL}")
    for example in JOURNAL_EXAMPLES:
        paths += journal_files(example)
    paths += [stem + suffix for suffix in CLI_REPORT_SUFFIXES]
    paths.append(PREFLIGHT_REPORT)
    return paths
