"""Files as links in a notebook: ``tm.file_links(outcome_log, report)`` shows each path as a link that opens it.

JupyterLab resolves a relative ``href`` in an output against the notebook's folder and opens the file in a
tab, so each link is the file's path relative to where the kernel runs (the notebook's folder). Outside
a notebook the object prints the full paths, one a line.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote


@dataclass(frozen=True)
class FileLinks:
    """Paths that display as links (``_repr_html_``) and iterate as ``Path`` objects."""

    paths: tuple[Path, ...]
    start: Path

    def href(self, path: Path) -> str:
        """``path`` relative to ``start`` (``../outputs/report.html``), URL-quoted; absolute if on another drive."""
        try:
            relative = os.path.relpath(path.resolve(), self.start.resolve())
        except ValueError:  # Windows: another drive has no relative path
            relative = str(path.resolve())
        return quote(Path(relative).as_posix())

    def _repr_html_(self) -> str:
        items = [
            f'<li><a href="{html.escape(self.href(p))}" target="_blank">{html.escape(p.name)}</a> '
            f"<code>{html.escape(str(p))}</code>{'' if p.exists() else ' (not written)'}</li>"
            for p in self.paths
        ]
        return f"<ul class='tyk-migrate-files'>{''.join(items)}</ul>"

    def __repr__(self) -> str:
        return "\n".join(str(p) for p in self.paths)

    def __iter__(self) -> Iterator[Path]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


def file_links(*paths: str | Path, start: str | Path | None = None) -> FileLinks:
    """The files ``paths`` as links relative to ``start`` (default: the current folder, a notebook's own)."""
    return FileLinks(tuple(Path(p) for p in paths), Path(start) if start is not None else Path.cwd())
