"""``tyk-migrate validate``: exit codes 0/1/2, one-line errors, rejects file, no raw key printed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from tyk_migrate.cli import cli

GOOD = "key,email,plan,apis\nGoodKeyValue0001x,a@b.example,p1,x\nGoodKeyValue0002x,c@d.example,p1,x;y\n"
DUP = "SameKeyValue9999zz"
BAD = f"key,email,plan,apis\n{DUP},a@b.example,p1,x\n{DUP},c@d.example,p1,x\nShort1,e@f.example,p1,x\n"


def invoke(args: list[str], cwd: Path):
    work = cwd / "cwd"
    work.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
    files = {p.name: p.read_text() for p in work.glob("*.rejects.csv")}
    return result, files


def validate_process(src: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``tyk-migrate validate SRC`` as a real process: its exit code and output as a user sees them."""
    command = [sys.executable, "-m", "tyk_migrate.cli", "validate", str(src)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_all_valid_exits_0_and_writes_empty_report(tmp_path: Path) -> None:
    src = tmp_path / "keys.csv"
    src.write_text(GOOD)
    result, files = invoke(["validate", str(src)], tmp_path)
    assert result.exit_code == 0, result.output
    assert "rows read: 2" in result.output and "rejected:  0" in result.output
    assert "key_id       <- key" in result.output
    assert files["keys.rejects.csv"].splitlines() == ["source_row,column,check,severity,message,value"]


def test_some_rejected_exits_1_with_counts_and_masked_report(tmp_path: Path) -> None:
    src = tmp_path / "keys.csv"
    src.write_text(BAD)
    out = tmp_path / "rej.csv"
    result, _ = invoke(["validate", str(src), "--rejects", str(out)], tmp_path)
    assert result.exit_code == 1
    assert "rejected:  3" in result.output
    assert "key_duplicate" in result.output and "key_too_short" in result.output
    report = pd.read_csv(out)
    assert set(report["check"]) >= {"key_duplicate", "key_too_short"}
    text = out.read_text() + result.output
    assert DUP not in text and "Short1" not in text


def test_min_key_length_option(tmp_path: Path) -> None:
    src = tmp_path / "keys.csv"
    src.write_text(GOOD)
    result, _ = invoke(["validate", str(src), "--min-key-length", "40"], tmp_path)
    assert result.exit_code == 1 and "key_too_short" in result.output


def test_mapping_option(tmp_path: Path) -> None:
    src = tmp_path / "aws.csv"
    src.write_text("Name,Value,Contact,UsagePlan,Stages\nk,GoodKeyValue0001x,a@b.example,gold,prod\n")
    result, _ = invoke(["validate", str(src)], tmp_path)
    assert result.exit_code == 2
    mapping = tmp_path / "m.yaml"
    mapping.write_text("key_id: Value\nowner_email: Contact\nplan: UsagePlan\nproducts: Stages\n")
    result, _ = invoke(["validate", str(src), "--mapping", str(mapping)], tmp_path)
    assert result.exit_code == 0, result.output


def test_unusable_inputs_exit_2_with_one_line(tmp_path: Path) -> None:
    missing_cols = tmp_path / "cols.csv"
    missing_cols.write_text("token,colour\nabcdefghijkl,red\n")
    garbage = tmp_path / "bin.xlsx"
    garbage.write_bytes(b"PK\x03\x04not really a zip")
    for args, words in [
        (["validate", str(missing_cols)], ["owner_email", "colour"]),
        (["validate", str(tmp_path / "nope.csv")], ["no such file"]),
        (["validate", str(garbage)], ["xlsx"]),
        (["validate", str(missing_cols), "--format", "dashboard"], ["Dashboard"]),
    ]:
        result, _ = invoke(args, tmp_path)
        assert result.exit_code == 2, (args, result.output)
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert all(w in lines[0] for w in words), lines[0]
        assert "Traceback" not in result.output


def test_real_process_exit_code_and_no_traceback(tmp_path: Path) -> None:
    src = tmp_path / "keys.csv"
    src.write_text(BAD)
    run = validate_process(src, tmp_path)
    assert run.returncode == 1, run.stderr
    assert (tmp_path / "keys.rejects.csv").exists()
    assert DUP not in run.stdout + run.stderr and "Traceback" not in run.stderr
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"key,email\nabc,def,ghi,jkl\n")
    run = validate_process(bad, tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr and run.stderr.startswith("error: ")


LEAKY = "qb_live_SECRETsecret12345"


def break_load_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exc: Exception) -> Path:
    """A good input file, and a load_keys that raises ``exc``: a bug the CLI did not expect."""
    import tyk_migrate.sources

    def broken(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(tyk_migrate.sources, "load_keys", broken)
    src = tmp_path / "keys.csv"
    src.write_text(GOOD)
    return src


@pytest.mark.parametrize(
    "exc",
    [
        KeyError(LEAKY),
        ValueError(f"invalid literal for int() with base 10: {LEAKY!r}"),
        RuntimeError(f"lookup failed for {LEAKY} after\nthree tries " + "x " * 200),
        RuntimeError("key 'abcdefgh' refused"),  # a key of the shortest length the gateway accepts
        RuntimeError("no ABCDEFGHIJKL here"),
    ],
)
def test_unexpected_error_is_one_masked_line_with_a_debug_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    """A bug (not bad input) still ends in one line, exit 3, and no raw key: its text may quote a key."""
    src = break_load_keys(monkeypatch, tmp_path, exc)
    monkeypatch.delenv("TYK_MIGRATE_DEBUG", raising=False)
    result, _ = invoke(["validate", str(src)], tmp_path)
    assert result.exit_code == 3, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: unexpected {type(exc).__name__}: "), result.output
    assert "TYK_MIGRATE_DEBUG=1" in lines[0] and len(lines[0]) < 300
    assert LEAKY not in result.output and "SECRETsecret" not in result.output
    assert "abcdefgh" not in result.output and "ABCDEFGHIJKL" not in result.output
    assert "Traceback" not in result.output


def test_debug_env_reraises_the_unexpected_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = break_load_keys(monkeypatch, tmp_path, KeyError("boom"))
    monkeypatch.setenv("TYK_MIGRATE_DEBUG", "1")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate", str(src)])
    assert isinstance(result.exception, KeyError) and result.exit_code == 1


def test_click_usage_errors_are_not_turned_into_unexpected_errors(tmp_path: Path) -> None:
    src = tmp_path / "keys.csv"
    src.write_text(GOOD)
    result = CliRunner().invoke(cli, ["apply", str(src), "--journal", str(tmp_path / "j"), "--concurrency", "x"])
    assert result.exit_code == 2 and "unexpected" not in result.output and "--concurrency" in result.output


def test_headerless_csv_exits_2_without_printing_a_key(tmp_path: Path) -> None:
    key = "qb_live_AAAAbbbbCCCCdddd"
    src = tmp_path / "keys.csv"
    src.write_text(f"{key},ada@lumen.example,plan-free,p-pay\nGoodKeyValue0001x,b@c.example,plan-free,p-pay\n")
    run = validate_process(src, tmp_path)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: ") and len(run.stderr.strip().splitlines()) == 1
    assert "first line looks like data, not column names" in run.stderr
    assert key not in run.stdout + run.stderr and "ada@lumen.example" not in run.stdout + run.stderr


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("keys.csv", b"key,email,plan,apis\n"),
        ("keys.csv", b"key,email,plan,apis"),
        ("keys.tsv", b"key\temail\tplan\tapis\n"),
        ("keys.json", b"[]"),
        ("dump.json", b'{"keys": [], "pages": 1}'),
        ("developers.json", b'{"Data": [], "Pages": 1}'),
        ("keys.xlsx", None),
    ],
)
def test_export_without_records_exits_2_with_one_line(tmp_path: Path, name: str, content: bytes | None) -> None:
    src = tmp_path / name
    if content is None:
        pd.DataFrame(columns=["key", "email", "plan", "apis"]).to_excel(src, index=False)
    else:
        src.write_bytes(content)
    result, files = invoke(["validate", str(src)], tmp_path)
    assert result.exit_code == 2, result.output
    assert [ln for ln in result.output.splitlines() if ln.strip()] == [f"error: {name}: no key records found"]
    assert not files  # nothing to report, so no rejects file either


# ---------------------------------------------------------------- hostile JSON

HUGE = "9" * 5000  # past Python's int-from-text limit (4300 digits): json.loads raised a bare ValueError
ROW = '"key": "GoodKeyValue0001x", "email": "a@b.example", "plan": "p1", "apis": "x"'


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("keys.json", f'[\n{{{ROW}}},\n{{{ROW}, "n": {HUGE}}}\n]', "at line 3"),
        ("keys.jsonl", f'{{{ROW}}}\n\n{{{ROW}, "n": -{HUGE}}}\n', "line 3 "),
        (
            "dump.json",
            f'{{"keys": [\n{{"key_id": "GoodKeyValue0001x",\n "data": {{"expires": {HUGE}}}}}]}}',
            "at line 3",
        ),
        ("developers.json", f'{{"Data": [{{"id": "d1",\n"email": "a@b.example", "n": {HUGE}}}]}}', "at line 2"),
        # a number inside a string is text, not a number: the line of the real one is named
        ("keys2.json", f'[{{"key": "{HUGE}", "note": "1",\n"n": {HUGE}}}]', "at line 2"),
    ],
)
def test_a_number_with_too_many_digits_exits_2_naming_the_line(
    tmp_path: Path, name: str, content: str, where: str
) -> None:
    src = tmp_path / name
    src.write_text(content)
    result, _ = invoke(["validate", str(src)], tmp_path)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "a number with too many digits" in lines[0] and where in lines[0], lines
    assert "GoodKeyValue0001x" not in result.output and HUGE[:50] not in result.output


def test_a_huge_json_number_exits_2_as_a_real_process(tmp_path: Path) -> None:
    src = tmp_path / "keys.json"
    src.write_text(f'[{{{ROW}, "expires": {HUGE}}}]')
    run = validate_process(src, tmp_path)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: keys.json: not valid JSON (a number with too many digits at line 1)")
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


def test_a_zip_bomb_workbook_exits_2_with_one_line_at_once(tmp_path: Path) -> None:
    from xlsx_bombs import bomb

    src = tmp_path / "keys.xlsx"
    src.write_bytes(bomb(1700))  # 1.7 GiB of sheet XML in about 5 MB: openpyxl took minutes on it
    start = time.perf_counter()
    run = validate_process(src, tmp_path)
    assert time.perf_counter() - start < 60, "the guard must refuse before anything inflates the sheet"
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: keys.xlsx: refused to read this workbook"), lines
    assert "more than 512 MiB" in lines[0]


# ---------------------------------------------------------------- a headerless first line


@pytest.mark.parametrize(
    ("first_line", "secret"),
    [
        # a passphrase key beside values that happen to be header names (developer, active, plan, api)
        ("correct-horse-battery-staple,developer,gold,active", "correct-horse-battery-staple"),
        ("partner secret value,plan,api", "partner secret value"),
        ("correct horse battery staple;user;gold;status", "correct horse battery staple"),
        ("deadbeefcafebabe,owner,plan,apis", "deadbeefcafebabe"),  # hex of letters only: word-shaped
        ("dGhpc2lzYXNlY3JldA,owner,plan,apis", "dGhpc2lzYXNlY3JldA"),  # base64
        ("key,ada@lumen.example,plan,apis", "ada@lumen.example"),
    ],
)
def test_a_headerless_first_line_is_masked_whatever_words_it_holds(
    tmp_path: Path, first_line: str, secret: str
) -> None:
    src = tmp_path / "keys.csv"
    src.write_text(f"{first_line}\n{first_line.replace('g', 'h')}\n")
    result, _ = invoke(["validate", str(src)], tmp_path)
    assert result.exit_code == 2, result.output
    assert "first line looks like data, not column names" in result.output
    assert secret not in result.output and len(result.output.strip().splitlines()) == 1


def test_a_headerless_passphrase_is_masked_in_a_real_process_and_every_error(tmp_path: Path) -> None:
    secret = "correct-horse-battery-staple"
    line = f"{secret},developer,gold,active"
    mapping = tmp_path / "map.yaml"
    mapping.write_text("key_id: KeyValue\n")
    for name, content, mapped in [
        ("missing.csv", f"{line}\n", False),
        ("ragged.csv", f"{line}\nrow,with,too,many,fields\n", False),  # a read error: columns_found
        ("mapped.csv", f"{line}\n", True),  # a mapped column that is not there
    ]:
        src = tmp_path / name
        src.write_text(content)
        args = ["validate", str(src), *(["--mapping", str(mapping)] if mapped else [])]
        run = subprocess.run(
            [sys.executable, "-m", "tyk_migrate.cli", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 2, (name, run.stderr)
        assert secret not in run.stdout + run.stderr and "first line looks like data" in run.stderr, run.stderr


def test_a_real_header_with_unknown_columns_is_still_shown(tmp_path: Path) -> None:
    src = tmp_path / "keys.csv"
    src.write_text("token,Created At,lastUsedAt,quota_renewal_rate,Notes\nGoodKeyValue0001x,2024-01-01,x,1,n\n")
    result, _ = invoke(["validate", str(src)], tmp_path)
    assert result.exit_code == 2
    assert "columns found: token, Created At, lastUsedAt, quota_renewal_rate, Notes" in result.output
