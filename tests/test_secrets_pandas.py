"""Plain pandas never writes a raw key: every writer and conversion, on every frame the package returns.

The frames come from one real run against the sandbox (load, validate, snapshot, plan, apply, verify,
snapshot again, reconcile). Each writer's output is searched for the raw bytes of every key; writers that
refuse a ``SecretKey`` (Arrow, ``json.dumps``) must raise an error that names only masks.
"""

from __future__ import annotations

import copy
import html
import io
import json
import pickle
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tyk_migrate.secrets import SecretKey, mask, reveal

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data-samples"
SCOPE = {"plans": ["Free"]}  # a fifth of the sample keys: every frame kind, fast to run
#: Shorter keys would match by accident (and their mask shows nothing of them anyway).
SEARCHED_LENGTH = 8


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, pd.DataFrame]]:
    from tyk_migrate import apply_plan, build_plan, fetch_snapshot, load_keys, validate_keys, verify_access
    from tyk_migrate.config import Settings
    from tyk_migrate.reconcile import reconcile  # the package attribute is the module once it is imported
    from tyk_migrate.sandbox import SandboxConfig, run_in_thread

    seed = json.loads((SAMPLES / "sandbox_seed.json").read_text(encoding="utf-8"))
    with run_in_thread(SandboxConfig(seed=seed)) as sandbox:
        settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token, gateway_url=sandbox.gateway_url)
        legacy = load_keys(SAMPLES / "legacy_keys.csv")
        valid, rejects = validate_keys(legacy)
        before = fetch_snapshot(settings, progress=False)
        plan, unresolved = build_plan(valid, before, scope=SCOPE)
        journal = tmp_path_factory.mktemp("pdsafe") / "run.journal"
        outcomes = apply_plan(plan, settings, journal, concurrency=8)
        verified = verify_access(outcomes, sandbox.gateway_url, snapshot=before, concurrency=8)
        after = fetch_snapshot(settings, progress=False)
        recon = reconcile(valid, after, plan=outcomes)
        yield {
            "legacy": legacy,
            "valid": valid,
            "rejects": rejects,
            "plan": plan,
            "unresolved": unresolved,
            "outcomes": outcomes,
            "verified": verified,
            "credentials": after.credentials,
            "recon_rows": recon.rows,
            "recon_unexplained": recon.unexplained,
        }


@pytest.fixture(scope="module")
def raw_keys(frames: dict[str, pd.DataFrame]) -> set[str]:
    keys = {reveal(k) for name in ("legacy", "credentials") for k in frames[name]["key_id"] if k is not None}
    found = {k for k in keys if len(k) >= SEARCHED_LENGTH}
    assert len(found) > 300  # the samples were read: a search for nothing would prove nothing
    return found


#: Frames that carry the key column (the others carry ``key_masked`` or no key at all).
KEYED = ("legacy", "valid", "plan", "outcomes", "verified", "credentials")
KINDS = (*KEYED, "rejects", "unresolved", "recon_rows", "recon_unexplained")


def _excel_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Excel has no time zones: drop them as a user must, so the key column is what gets tested."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_localize(None)
    return out


def _excel(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    _excel_ready(frame).to_excel(buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as book:  # the sheet XML and the shared strings
        return b"".join(book.read(name) for name in book.namelist())


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def _keys(frame: pd.DataFrame) -> pd.Series:
    return frame["key_id"] if "key_id" in frame.columns else pd.Series([], dtype=object)


#: Writers whose output shows each key as its mask.
TEXT_WRITERS: dict[str, Callable[[pd.DataFrame], Any]] = {
    "to_csv": lambda f: f.to_csv(),
    "to_html": lambda f: f.to_html(),
    "to_string": lambda f: f.to_string(),
    "to_markdown": lambda f: f.to_markdown(),
    "to_excel": _excel,
    "repr": repr,
    "repr_html": lambda f: f._repr_html_(),
    "row_repr": lambda f: repr(f.iloc[0]) if len(f) else "",
    "astype_str": lambda f: f.astype(str).to_csv(),
    "to_json_default_str": lambda f: f.to_json(default_handler=str, force_ascii=False),
    "to_dict_json_default_str": lambda f: json.dumps(f.to_dict(orient="records"), default=str, ensure_ascii=False),
    "to_numpy": lambda f: repr(f.to_numpy()),
    "numpy_astype_str": lambda f: repr(_keys(f).to_numpy().astype(str)),
    "tolist": lambda f: repr(f.to_numpy().tolist()),
    "series_tolist": lambda f: repr(_keys(f).tolist()),
}
#: Writers that write no key text at all, or refuse a SecretKey (they must not leak it either way).
OTHER_WRITERS: dict[str, Callable[[pd.DataFrame], Any]] = {
    "to_json": lambda f: f.to_json(),
    "to_json_records": lambda f: f.to_json(orient="records"),
    "to_parquet": _parquet,
    "to_dict_json": lambda f: json.dumps(f.to_dict(orient="records")),
    "str_accessor": lambda f: repr(
        [_keys(f).str.len().tolist(), _keys(f).str.upper().tolist(), _keys(f).str.slice(0, 20).tolist()]
    ),
}


def _output(writer: Callable[[pd.DataFrame], Any], frame: pd.DataFrame) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = writer(frame)
    return out if isinstance(out, bytes) else str(out).encode("utf-8")


def _forms(key: str) -> set[bytes]:
    """The key's bytes as each writer may escape them (JSON, pandas' JSON ``\\/``, HTML)."""
    texts = {key, json.dumps(key)[1:-1], json.dumps(key, ensure_ascii=False)[1:-1], html.escape(key)}
    texts |= {t.replace("/", "\\/") for t in texts}
    return {t.encode("utf-8", "surrogatepass") for t in texts}


def _leaks(data: bytes, raw_keys: set[str]) -> list[str]:
    return [mask(k) for k in raw_keys if any(form in data for form in _forms(k))]


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("writer", sorted(TEXT_WRITERS))
def test_text_writers_show_masks_only(
    frames: dict[str, pd.DataFrame], raw_keys: set[str], kind: str, writer: str
) -> None:
    frame = frames[kind]
    data = _output(TEXT_WRITERS[writer], frame)
    assert _leaks(data, raw_keys) == []
    shown = [k for k in _keys(frame) if isinstance(k, SecretKey) and len(reveal(k)) >= 16]
    if shown and writer != "repr":  # a long frame's repr elides its middle rows, not its first
        assert mask(shown[0]).encode("utf-8") in data  # the key is there, as its mask


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("writer", sorted(OTHER_WRITERS))
def test_other_writers_write_no_key_or_refuse(
    frames: dict[str, pd.DataFrame], raw_keys: set[str], kind: str, writer: str
) -> None:
    frame = frames[kind]
    keyed = kind in KEYED and bool(_keys(frame).notna().any())
    try:
        data = _output(OTHER_WRITERS[writer], frame)
    except (TypeError, ValueError, pa.ArrowException) as exc:  # refused: the message names masks only
        assert _leaks(str(exc).encode("utf-8"), raw_keys) == []
        if writer in {"to_parquet", "to_dict_json"} and keyed:
            assert "SecretKey" in str(exc)  # refused because of the key column, not something else
        return
    assert _leaks(data, raw_keys) == []
    assert not (keyed and writer in {"to_parquet", "to_dict_json"}), f"{writer} wrote a frame of keys"
    if writer == "str_accessor" and keyed:
        assert set(map(str, _keys(frame).str.len())) == {"nan"}  # not even a key's length


@pytest.mark.slow
@pytest.mark.parametrize("kind", KEYED)
def test_frame_for_export_is_the_way_to_arrow(frames: dict[str, pd.DataFrame], raw_keys: set[str], kind: str) -> None:
    """The writer that refuses keys takes the export copy: masks in ``key_masked``."""
    from tyk_migrate.report import frame_for_export

    safe = frame_for_export(frames[kind])
    data = _parquet(safe)
    assert _leaks(data, raw_keys) == []
    assert pd.read_parquet(io.BytesIO(data))["key_masked"].tolist() == safe["key_masked"].tolist()


@pytest.mark.slow
@pytest.mark.parametrize("kind", KEYED)
def test_raw_value_only_through_reveal(frames: dict[str, pd.DataFrame], kind: str) -> None:
    keys = frames[kind]["key_id"].dropna()
    assert len(keys) and all(isinstance(k, SecretKey) for k in keys)
    raw = keys.map(reveal)
    assert all(type(r) is str for r in raw) and raw.tolist() == [k.reveal() for k in keys]
    assert (keys == raw).all()  # equality (and hashing) are those of the raw value
    assert not any(r in keys.astype(str).tolist() for r in raw if len(r) >= SEARCHED_LENGTH)


def test_secret_key_has_no_length_and_is_immutable() -> None:
    key = SecretKey("qb_live_Zx81kdLmQa02PpXc")
    with pytest.raises(TypeError):
        len(key)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        key._raw = "other"  # type: ignore[misc]
    assert not isinstance(key, str)
    assert bool(key) and not SecretKey("")
    assert SecretKey(key) == key and reveal(SecretKey(key)) == reveal(key)  # wrapping twice keeps the raw value


def test_copies_and_worker_processes_keep_the_raw_value() -> None:
    raw = "qb_live_Zx81kdLmQa02PpXc"
    frame = pd.DataFrame({"key_id": pd.Series([SecretKey(raw), None], dtype=object)})
    for copied in (pickle.loads(pickle.dumps(frame)), copy.deepcopy(frame), frame.copy()):
        assert reveal(copied["key_id"][0]) == raw and copied["key_id"][1] is None
    assert {SecretKey(raw): 1}[raw] == 1 and frame["key_id"].isin([raw]).tolist() == [True, False]


def test_numpy_text_conversions_mask() -> None:
    raw = "qb_live_Zx81kdLmQa02PpXc"
    values = np.array([SecretKey(raw)], dtype=object)
    assert values.astype(str).tolist() == [mask(raw)] and raw not in np.array2string(values)


def test_a_loaded_frame_loads_again_with_its_raw_keys() -> None:
    """``load_keys(frame)`` on a frame of SecretKey reads the raw values (``str()`` would give masks)."""
    from tyk_migrate import load_keys

    first = load_keys(SAMPLES / "legacy_keys.csv")
    again = load_keys(first[["key_id", "owner_email", "plan", "products"]])
    assert again["key_id"].map(reveal).tolist() == first["key_id"].map(reveal).tolist()
    assert again["key_fingerprint"].tolist() == first["key_fingerprint"].tolist()
