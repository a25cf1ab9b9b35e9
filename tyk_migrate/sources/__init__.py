"""Load any legacy key export into the one canonical legacy frame (DESIGN.md, "Frames").

    >>> from tyk_migrate.sources import load_keys
    >>> frame = load_keys("data-samples/legacy_keys.csv")          # format sniffed
    >>> frame.attrs["column_map"]                                  # which header became which column

Formats (``FORMATS``): ``csv`` (delimiter sniffed among , ; tab |), ``tsv``, ``excel`` (.xlsx),
``json`` (array of objects), ``jsonl``, ``dashboard`` (Tyk ``GET /api/keys/detailed``), ``classic``
(Tyk ``GET /api/portal/developers``), ``frame`` (a DataFrame you already have). See docs/formats.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import pandas as pd

from ..errors import InputError, UnknownFormatError
from . import jsontext
from .canonical import COLUMNS, REQUIRED, by_source_row
from .capped import read_capped
from .encoding import decode
from .flat import load_flat, load_frame, load_mapping
from .tyk_classic import load_classic, policy_index
from .tyk_dashboard import developer_index, load_dashboard, parse_json

FORMATS: tuple[str, ...] = ("csv", "tsv", "excel", "json", "jsonl", "dashboard", "classic", "frame")
EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
MAX_JSON_SNIFF = 64 << 20  # whole-document JSON sniffing above this size is left to the loader

__all__ = ["COLUMNS", "FORMATS", "REQUIRED", "by_source_row", "detect_format", "load_keys", "require_records"]


def _read_source(source: Any) -> tuple[bytes, str, str | None]:
    """``(bytes, display name, file suffix)`` of a path, bytes, or file object."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "input", None
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            return read_capped(path), path.name, path.suffix.lower()
        except IsADirectoryError:
            raise InputError(f"{path}: is a directory, not an export file") from None
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc.__class__.__name__})") from None
    if hasattr(source, "read"):
        data = source.read()
        name = Path(str(getattr(source, "name", "input"))).name
        suffix = Path(name).suffix.lower() or None
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        if not isinstance(data, bytes | bytearray):
            raise InputError(f"{name}: the file object gave {type(data).__name__}, not bytes or text")
        return bytes(data), name, suffix
    raise InputError(f"cannot load keys from a {type(source).__name__}; give a path, bytes, a file or a DataFrame")


def _sniff_json(data: bytes, source: str) -> tuple[str, Any]:
    """``(format, parsed document or None)`` for JSON-looking content."""
    text, _ = decode(data[:MAX_JSON_SNIFF] if len(data) > MAX_JSON_SNIFF else data, source)
    stripped = text.lstrip()
    if stripped.startswith("["):
        return "json", None
    try:
        doc = jsontext.loads(text)
    except (json.JSONDecodeError, RecursionError):
        lines = [ln for ln in stripped.splitlines()[:5] if ln.strip()]
        if len(lines) > 1 and all(ln.lstrip().startswith("{") for ln in lines):
            return "jsonl", None
        return "json", None  # the JSON loader will report the error properly
    if isinstance(doc, dict):
        if "keys" in doc and not isinstance(doc.get("keys"), dict):
            return "dashboard", doc
        if "Data" in doc:
            return "classic", doc
    return "json", doc


def detect_format(source: Any, name: str | None = None) -> str:
    """The format of a source: by file extension, then by content (JSON shape, zip magic, text)."""
    if isinstance(source, pd.DataFrame):
        return "frame"
    data, display, suffix = (
        _read_source(source)
        if name is None
        else (source if isinstance(source, bytes) else _read_source(source)[0], name, Path(name).suffix.lower())
    )
    return _detect(data, display, suffix)[0]


def _detect(data: bytes, display: str, suffix: str | None) -> tuple[str, Any]:
    if data[:4] == b"PK\x03\x04" or suffix in {".xlsx", ".xlsm"}:
        return "excel", None
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" or suffix == ".xls":
        raise UnknownFormatError(f"{display}: old binary .xls workbooks are not supported; save it as .xlsx or CSV")
    if suffix in {".jsonl", ".ndjson"}:
        return "jsonl", None
    if suffix in {".tsv", ".tab"}:
        return "tsv", None
    head, _ = decode(data[:4096], display)
    first = head.lstrip()[:1]
    if suffix == ".json" or first in {"{", "["}:
        return _sniff_json(data, display)
    if suffix in EXTENSIONS or suffix in {None, ""}:
        return "csv", None
    if "\x00" in head:
        raise UnknownFormatError(
            f"{display}: unknown format (binary content, extension {suffix}); "
            f"use --format with one of {', '.join(FORMATS[:-1])}"
        )
    return "csv", None


def load_keys(
    source: str | Path | bytes | IO[Any] | pd.DataFrame,
    format: str = "auto",
    mapping: Mapping[str, Any] | str | Path | None = None,
    *,
    developers: str | Path | None = None,
    email_field: str = "email",
    policies: str | Path | bytes | Mapping[str, Any] | list[Any] | None = None,
    report: list | None = None,
    required: Sequence[str] = REQUIRED,
) -> pd.DataFrame:
    """Load a legacy key export into the canonical frame.

    ``mapping`` ({canonical column: source header}, or a YAML/JSON file of it) applies to flat formats.
    ``developers``: a Classic Portal developer dump used to find owners' emails of a Dashboard dump through
    ``meta_data.tyk_developer_id``. ``email_field``: the ``meta_data`` field holding the owner's email in a
    Dashboard dump. ``policies``: the Dashboard's policies (``GET /api/portal/policies``, a file or the
    parsed answer) that give a Classic Portal dump's keys their limits and API IDs (docs/formats.md).
    ``report``: a list that receives one line per thing the loader noticed (encoding,
    delimiter, columns matched). ``required``: the canonical columns a flat export must have; ``("key_id",)``
    for a file of keys that the Dashboard completes (``dashboard_enrich``). Raises ``InputError`` (and
    subclasses) with one line naming the problem.
    """
    fmt = (format or "auto").lower()
    if fmt == "xlsx":
        fmt = "excel"
    if fmt not in (*FORMATS, "auto"):
        raise UnknownFormatError(f"unknown format {format!r}; use one of auto, {', '.join(FORMATS)}")
    return by_source_row(_load(source, fmt, load_mapping(mapping), developers, email_field, policies, report, required))


def _load(
    source: str | Path | bytes | IO[Any] | pd.DataFrame,
    fmt: str,
    parsed_mapping: dict[str, Any] | None,
    developers: str | Path | None,
    email_field: str,
    policies: str | Path | bytes | Mapping[str, Any] | list[Any] | None,
    report: list | None,
    required: Sequence[str],
) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return load_frame(source, mapping=parsed_mapping, report=report, required=required)
    if fmt == "frame":
        raise InputError("format 'frame' needs a pandas DataFrame as the source")
    data, display, suffix = _read_source(source)
    if not data.strip():
        raise InputError(f"{display}: the file is empty")
    doc: Any = None
    if fmt == "auto":
        fmt, doc = _detect(data, display, suffix)
        if report is not None:
            report.append(f"format detected: {fmt}")
    if policies is not None and fmt != "classic":
        raise InputError(f"{display}: policies= gives a Classic Portal dump its limits; this input is {fmt}")
    if fmt == "dashboard":
        doc = doc if doc is not None else parse_json(data, display, "a Dashboard key dump")
        devs = _developers(developers)
        return load_dashboard(doc, source=display, developers=devs, email_field=email_field, report=report)
    if fmt == "classic":
        doc = doc if doc is not None else parse_json(data, display, "a Classic Portal developer dump")
        return load_classic(doc, source=display, policies=_policies(policies), report=report)
    return load_flat(data, fmt, source=display, mapping=parsed_mapping, report=report, required=required)


def _developers(source: str | Path | None) -> dict[str, dict[str, Any]] | None:
    """The Classic Portal developers that give a Dashboard dump's keys their owners' emails, if given."""
    if source is None:
        return None
    data, name, _ = _read_source(source)
    return developer_index(parse_json(data, name, "a Classic Portal developer dump"), name)


def _policies(source: str | Path | bytes | Mapping[str, Any] | list[Any] | None) -> dict[str, Any] | None:
    if source is None:
        return None
    if isinstance(source, Mapping | list):
        return policy_index(source)
    data, name, _ = _read_source(source)
    return policy_index(parse_json(data, name, "a Dashboard policy list"), name)


def require_records(frame: pd.DataFrame, source: str | Path) -> pd.DataFrame:
    """``frame`` if it holds a key; else ``InputError`` naming ``source`` (a file's name, as loaders do).

    ``load_keys`` returns an empty frame for an export without records (a header-only CSV, ``[]``, an empty
    sheet or dump), which is a valid answer for a notebook; a command given one has nothing to do, and
    succeeding would hide a wrong or truncated export.
    """
    if len(frame) == 0:
        raise InputError(f"{Path(source).name}: no key records found")
    return frame
