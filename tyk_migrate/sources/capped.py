"""Reading an input file with a ceiling: a file larger than any export, or a device that never ends
(``/dev/zero``), is one line instead of memory filling until the process dies."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

#: Largest export read: ten million keys of a CSV are about 1.5 GB.
MAX_INPUT_BYTES = 2 << 30
#: Largest mapping file read: a mapping names columns, plans and products, a few kilobytes.
MAX_MAPPING_BYTES = 16 << 20


def read_capped(path: Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """A file's bytes, refused with one ``InputError`` line past ``limit``."""
    with path.open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{path.name}: more than {limit >> 20:,} MiB; split the export, or is this not an export?")
    return data
