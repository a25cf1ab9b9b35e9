"""Loaders: every format and encoding lands in the same canonical frame."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from tyk_migrate.errors import InputError, MigrateError, MissingColumnsError, UnknownFormatError
from tyk_migrate.schemas import LegacyKeys
from tyk_migrate.secrets import SecretKey, fingerprint, mask, reveal
from tyk_migrate.sources import FORMATS, detect_format, load_keys
from tyk_migrate.sources.canonical import COLUMNS

ROWS = [
    # key, email, plan, products, expires, status, app
    (
        "qb_live_AAAAbbbbCCCCdddd",
        " Ada.Okafor@Lumen.example ",
        "plan-free",
        "p-pay;p-acc",
        "2030-01-31",
        "active",
        "Checkout",
    ),
    ("K3yWithNoExpiry99", "bruno@orbit.example", "plan-std", "p-fx", "", "inactive", ""),
]
HEADER = ("key", "email", "plan", "products", "expires", "status", "app")


def csv_bytes(delimiter: str = ",", header: tuple[str, ...] = HEADER, rows=ROWS, encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def check_canonical(frame: pd.DataFrame, fmt: str) -> None:
    assert list(frame.columns) == list(COLUMNS)
    assert frame.attrs["format"] == fmt
    LegacyKeys.validate(frame, lazy=True)
    assert all(isinstance(k, SecretKey) for k in frame["key_id"])
    first = frame.iloc[0]
    assert reveal(first["key_id"]) == "qb_live_AAAAbbbbCCCCdddd"
    assert first["key_fingerprint"] == fingerprint("qb_live_AAAAbbbbCCCCdddd")
    assert first["owner_email"] == "ada.okafor@lumen.example"
    assert first["plan"] == "plan-free"
    assert first["products"] == ["p-pay", "p-acc"]
    assert first["expires_at"] == pd.Timestamp("2030-01-31", tz="UTC")
    assert bool(first["active"]) is True
    second = frame.iloc[1]
    assert pd.isna(second["expires_at"])
    assert bool(second["active"]) is False
    assert list(frame["source_row"]) == [1, 2]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_delimiters_are_sniffed(delimiter: str) -> None:
    frame = load_keys(csv_bytes(delimiter), format="csv")
    check_canonical(frame, "csv")


def test_tsv_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.tsv"
    path.write_bytes(csv_bytes("\t"))
    assert detect_format(path) == "tsv"
    check_canonical(load_keys(path), "tsv")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
def test_encodings(tmp_path: Path, encoding: str) -> None:
    rows = [(*ROWS[0][:6], "Café Zürich"), ROWS[1]]
    path = tmp_path / "keys.csv"
    path.write_bytes(csv_bytes(";", rows=rows, encoding=encoding))
    report: list[str] = []
    frame = load_keys(path, report=report)
    check_canonical(frame, "csv")
    assert frame.iloc[0]["app_name"] == "Café Zürich"
    assert any(encoding.split("-sig")[0].replace("utf-16", "utf-16") in line for line in report)


def test_cp1252_undefined_bytes_fall_back_to_latin1() -> None:
    data = b"key,email,plan,products\nabcdefghijk\x81,a@b.example,p,x\n"
    frame = load_keys(data)
    assert reveal(frame.iloc[0]["key_id"]) == "abcdefghijk\x81"


def test_excel(tmp_path: Path) -> None:
    path = tmp_path / "keys.xlsx"
    pd.DataFrame(ROWS, columns=list(HEADER)).to_excel(path, index=False)
    assert detect_format(path) == "excel"
    check_canonical(load_keys(path), "excel")


def test_excel_numbers_and_dates_keep_their_text(tmp_path: Path) -> None:
    path = tmp_path / "keys.xlsx"
    frame = pd.DataFrame(
        {
            "Key": ["00012345678"],
            "Email": ["a@b.example"],
            "Plan": ["p"],
            "APIs": ["x|y"],
            "Expiry": [pd.Timestamp("2031-05-01 12:00")],
        }
    )
    frame.to_excel(path, index=False)
    out = load_keys(path)
    assert reveal(out.iloc[0]["key_id"]) == "00012345678"
    assert out.iloc[0]["products"] == ["x", "y"]
    assert out.iloc[0]["expires_at"] == pd.Timestamp("2031-05-01 12:00", tz="UTC")


def records() -> list[dict]:
    return [dict(zip(HEADER, r, strict=True)) for r in ROWS]


def test_json_array_with_list_products() -> None:
    recs = records()
    recs[0]["products"] = ["p-pay", "p-acc"]
    data = json.dumps(recs).encode()
    assert detect_format(data) == "json"
    check_canonical(load_keys(data), "json")


def test_jsonl_rows_are_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "keys.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records()) + "\n")
    check_canonical(load_keys(path), "jsonl")
    path.write_text(json.dumps(records()[0]) + "\n\n" + json.dumps(records()[1]) + "\n")
    assert list(load_keys(path)["source_row"]) == [1, 3]


def test_dataframe_source() -> None:
    frame = load_keys(pd.DataFrame(ROWS, columns=list(HEADER)))
    check_canonical(frame, "frame")


@pytest.mark.parametrize(
    "header,canon",
    [
        ("API Key", "key_id"),
        ("access_token", "key_id"),
        ("TOKEN", "key_id"),
        ("apikey", "key_id"),
        ("Developer Email", "owner_email"),
        ("owner", "owner_email"),
        ("user", "owner_email"),
        ("Policy ID", "plan"),
        ("tier", "plan"),
        ("APIs", "products"),
        ("product_ids", "products"),
        ("Expiry", "expires_at"),
        ("expires-at", "expires_at"),
        ("Application", "app_name"),
        ("Organisation", "org"),
        ("Name", "alias"),
    ],
)
def test_header_recognition(header: str, canon: str) -> None:
    base = {"key_id": "key", "owner_email": "email", "plan": "plan", "products": "products"}
    base[canon] = header
    table = pd.DataFrame(
        {
            h: [
                "abcdefghijkl"
                if c == "key_id"
                else "x@y.example"
                if c == "owner_email"
                else "2030-01-01"
                if c == "expires_at"
                else "v"
            ]
            for c, h in base.items()
        }
    )
    frame = load_keys(table)
    assert frame.attrs["column_map"][canon] == header


def test_is_inactive_header_is_inverted() -> None:
    table = pd.DataFrame(
        {
            "key": ["abcdefghijkl", "mnopqrstuvwx"],
            "email": ["a@b.example"] * 2,
            "plan": ["p"] * 2,
            "apis": ["x"] * 2,
            "is_inactive": ["true", "false"],
        }
    )
    frame = load_keys(table)
    assert list(frame["active"]) == [False, True]
    assert "inverted" in frame.attrs["column_map"]["active"]


def test_mapping_dict_file_and_constants(tmp_path: Path) -> None:
    data = b"Name,Secret Value,Contact,Usage,Stages\nk1,abcdefghijkl,a@b.example,gold,s1|s2\n"
    with pytest.raises(MissingColumnsError):
        load_keys(data)
    mapping = {"key_id": "Secret Value", "owner_email": "Contact", "plan": "Usage", "products": "Stages"}
    frame = load_keys(data, mapping=mapping)
    assert reveal(frame.iloc[0]["key_id"]) == "abcdefghijkl" and frame.iloc[0]["products"] == ["s1", "s2"]
    assert frame.attrs["column_map"]["plan"] == "Usage"
    yml = tmp_path / "m.yaml"
    yml.write_text("key_id: Secret Value\nowner_email: Contact\nplan:\n  value: plan-free\nproducts: Stages\n")
    frame = load_keys(data, mapping=yml)
    assert frame.iloc[0]["plan"] == "plan-free"
    js = tmp_path / "m.json"
    js.write_text(
        json.dumps({"Secret Value": "key_id", "Contact": "owner_email", "Usage": "plan", "Stages": "products"})
    )  # inverse orientation
    assert load_keys(data, mapping=js).iloc[0]["plan"] == "gold"


def test_mapping_errors_are_one_line(tmp_path: Path) -> None:
    data = csv_bytes()
    with pytest.raises(InputError, match="not a canonical column"):
        load_keys(data, mapping={"colour": "key"})
    with pytest.raises(MissingColumnsError, match="Nope"):
        load_keys(data, mapping={"key_id": "Nope"})
    bad = tmp_path / "m.yaml"
    bad.write_text("key_id: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_keys(data, mapping=bad)


def test_missing_required_columns_names_found_columns() -> None:
    with pytest.raises(MissingColumnsError) as err:
        load_keys(b"token,colour\nabcdefghijkl,red\n")
    msg = str(err.value)
    assert "owner_email" in msg and "plan" in msg and "colour" in msg and "token" in msg
    assert "\n" not in msg


HEADERLESS_KEY = "qb_live_AAAAbbbbCCCCdddd"


@pytest.mark.parametrize(
    "first_line",
    [
        f"{HEADERLESS_KEY},ada@lumen.example,plan-free,p-pay",  # a key with digits or mixed case
        "abcdefghijkl,ada@lumen.example,plan-free,p-pay",  # a plain-letters key, given away by the email
        "abcdefghijkl,rubbish,plan-free,p-pay",  # no value is a column name tyk-migrate knows
        f"{HEADERLESS_KEY};ada@lumen.example;plan-free;p-pay",
    ],
)
def test_headerless_csv_says_so_and_shows_no_value(first_line: str) -> None:
    delimiter = ";" if ";" in first_line else ","
    data = f"{first_line}\n" + delimiter.join(["secondKey000000001", "b@c.example", "plan-free", "p-pay"]) + "\n"
    with pytest.raises(MissingColumnsError) as err:
        load_keys(data.encode())
    msg = str(err.value)
    assert "first line looks like data, not column names" in msg and "\n" not in msg
    for value in first_line.replace(";", ",").split(","):
        assert value not in msg


def test_token_like_column_names_are_masked_in_errors() -> None:
    # JSON names are object keys, not a lost header line: the names are shown, a key-shaped one masked
    with pytest.raises(MissingColumnsError) as err:
        load_keys(json.dumps([{"key": "abcdefghijkl", "colour": "red", HEADERLESS_KEY: 1}]).encode())
    msg = str(err.value)
    assert "missing required column(s)" in msg and "colour" in msg and "qb_…ddd" in msg
    assert HEADERLESS_KEY not in msg
    assert MissingColumnsError(["plan"], ["Email", "UsagePlan", "GoodKeyValue0001x"]).found == [
        "Email",
        "UsagePlan",
        "Go…1x",
    ]


@pytest.mark.parametrize(
    "data",
    [
        f"{HEADERLESS_KEY},a@b.example,p,x\nrow,with,too,many,fields\n".encode(),  # ragged under a data line
        f'{HEADERLESS_KEY},a@b.example,p,x\n"unclosed,b,c,d\n'.encode(),
    ],
)
def test_csv_read_errors_under_a_headerless_line_show_no_key(data: bytes) -> None:
    with pytest.raises(InputError) as err:
        load_keys(data)
    assert HEADERLESS_KEY not in str(err.value) and "a@b.example" not in str(err.value)
    assert "first line looks like data" in str(err.value)


def test_headerless_excel_sheet_says_so(tmp_path: Path) -> None:
    path = tmp_path / "keys.xlsx"
    pd.DataFrame([[HEADERLESS_KEY, "a@b.example", "p", "x"]]).to_excel(path, index=False, header=False)
    with pytest.raises(MissingColumnsError, match="first line looks like data") as err:
        load_keys(path)
    assert HEADERLESS_KEY not in str(err.value)


@pytest.mark.parametrize(
    "value,expected",
    [
        ("1893456000", pd.Timestamp("2030-01-01", tz="UTC")),
        ("1893456000000", pd.Timestamp("2030-01-01", tz="UTC")),
        ("20300131", pd.Timestamp("2030-01-31", tz="UTC")),  # YYYYMMDD, not seconds in 1970
        ("22621201", None),  # YYYYMMDD past the last nanosecond timestamp: never, like any such date
        ("2030-01-01T00:00:00Z", pd.Timestamp("2030-01-01", tz="UTC")),
        ("2030-01-01T02:00:00+02:00", pd.Timestamp("2030-01-01", tz="UTC")),
        ("01/31/2030", pd.Timestamp("2030-01-31", tz="UTC")),
        ("0", None),
        ("-1", None),
        ("never", None),
        ("", None),
    ],
)
def test_expiry_spellings(value: str, expected: pd.Timestamp | None) -> None:
    frame = load_keys(
        pd.DataFrame(
            {"key": ["abcdefghijkl"], "email": ["a@b.example"], "plan": ["p"], "apis": ["x"], "expires": [value]}
        )
    )
    got = frame.iloc[0]["expires_at"]
    assert pd.isna(got) if expected is None else got == expected
    assert pd.isna(frame.iloc[0]["expires_raw"])


def test_unparseable_expiry_is_kept_for_validation() -> None:
    frame = load_keys(b"key,email,plan,apis,expires\nabcdefghijkl,a@b.example,p,x,next tuesday\n")
    assert pd.isna(frame.iloc[0]["expires_at"]) and frame.iloc[0]["expires_raw"] == "next tuesday"


def expiry_frame(value: object) -> pd.DataFrame:
    """The canonical frame of a one-key CSV whose expiry cell is ``value``."""
    return load_keys(f"key,email,plan,apis,expires\nabcdefghijkl,a@b.example,p,x,{value}\n".encode())


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31",  # the "no end" sentinel of SQL, .NET and Excel exports
        "9999-12-31T23:59:59Z",
        "12/31/9999",
        "2262-04-12",  # one day past the last nanosecond timestamp
        "3000-01-01",
        "99999999999",  # unix seconds in year 5138
        "253402300799",  # 9999-12-31T23:59:59 in unix seconds (not milliseconds in 1978)
        "99999999999999",  # milliseconds in year 5138
    ],
)
def test_expiry_beyond_2262_is_never(value: str) -> None:
    row = expiry_frame(value).iloc[0]
    assert pd.isna(row["expires_at"]) and pd.isna(row["expires_raw"])


@pytest.mark.parametrize(
    "value,reason",
    [
        ("0001-01-01", "before 1970"),  # Go's zero time
        ("0001-01-01T00:00:00Z", "before 1970"),
        ("1900-01-01", "before 1970"),  # Excel's day zero
        ("1677-09-21", "before 1970"),
        ("1969-12-31", "before 1970"),
        ("-2", "negative"),
        ("-1.5", "negative"),
        ("-9999999999999999", "negative"),
        ("1e20", "too large"),
        ("next tuesday", "not a date"),
        ("20301399", "not a date"),  # YYYYMMDD-shaped but no such day: not August 1970 either
    ],
)
def test_expiry_out_of_range_is_rejected_with_a_reason(value: str, reason: str) -> None:
    from tyk_migrate.validate import validate_keys

    frame = expiry_frame(value)
    assert pd.isna(frame.iloc[0]["expires_at"]) and frame.iloc[0]["expires_raw"] == value
    valid, rejects = validate_keys(frame)
    assert len(valid) == 0
    (message,) = rejects.loc[rejects["check"] == "expiry_unparseable", "message"]
    assert reason in message and repr(value) in message


@pytest.mark.parametrize(
    "expires,expected",
    [
        (-2, None),  # Tyk: a key expires only when expires >= 1, so every other value is "never"
        (-1, None),
        (0, None),
        (-(2**62), None),
        (10**11, None),  # Tyk reads seconds: year 5138, not milliseconds in 1973
        (2**62, None),
        (253402300799, None),  # 9999-12-31T23:59:59Z in seconds
        (1893456000, pd.Timestamp("2030-01-01", tz="UTC")),
        ("9999-12-31", None),
    ],
)
def test_dashboard_expires_follows_tyk(expires: object, expected: pd.Timestamp | None) -> None:
    doc = {
        "keys": [
            {
                "key_id": "org1abcdefghijkl01",
                "data": {"expires": expires, "apply_policies": ["p", "x"], "meta_data": {"email": "a@b.example"}},
            }
        ]
    }
    row = load_keys(json.dumps(doc).encode()).iloc[0]
    assert pd.isna(row["expires_at"]) if expected is None else row["expires_at"] == expected
    assert pd.isna(row["expires_raw"])


def test_out_of_range_expiry_in_json_excel_and_frames(tmp_path: Path) -> None:
    base = {"key": "abcdefghijkl", "email": "a@b.example", "plan": "p", "apis": "x"}
    far, early = pd.Timestamp("9999-12-31"), pd.Timestamp("0001-01-01")
    docs = [{**base, "expires": v} for v in ("9999-12-31", -2, 10**20)]
    frame = load_keys(json.dumps(docs).encode())
    assert frame["expires_at"].isna().all()
    assert frame["expires_raw"].isna().tolist() == [True, False, False]
    path = tmp_path / "keys.xlsx"
    pd.DataFrame([{**base, "expires": far.to_pydatetime()}, {**base, "expires": early.to_pydatetime()}]).to_excel(
        path, index=False
    )
    frame = load_keys(path)
    assert frame["expires_at"].isna().all() and frame["expires_raw"].isna().tolist() == [True, False]
    # a notebook's own frame with a datetime column in microseconds (pandas' default for such dates)
    dates = pd.Series([far, early, pd.Timestamp("2030-01-01")], dtype="datetime64[us]")
    frame = load_keys(pd.DataFrame({**{k: [v] * 3 for k, v in base.items()}, "expires": dates}))
    assert pd.isna(frame.iloc[0]["expires_at"]) and pd.isna(frame.iloc[0]["expires_raw"])
    assert pd.isna(frame.iloc[1]["expires_at"]) and frame.iloc[1]["expires_raw"].startswith("0001-01-01")
    assert frame.iloc[2]["expires_at"] == pd.Timestamp("2030-01-01", tz="UTC")


@pytest.mark.parametrize(
    "value,expected",
    [
        ("a;b", ["a", "b"]),
        ("a, b", ["a", "b"]),
        ("a | b |", ["a", "b"]),
        ('["a", "b"]', ["a", "b"]),
        ("", []),
        ("a;;b", ["a", "b"]),
    ],
)
def test_products_spellings(value: str, expected: list[str]) -> None:
    data = f'key,email,plan,apis\nabcdefghijkl,a@b.example,p,"{value.replace(chr(34), chr(34) * 2)}"\n'.encode()
    assert load_keys(data).iloc[0]["products"] == expected


def test_keys_are_not_trimmed_or_numbers() -> None:
    frame = load_keys(b'key,email,plan,apis\n" padded key ",a@b.example,p,x\n000123456789,a@b.example,p,x\n')
    assert reveal(frame.iloc[0]["key_id"]) == " padded key "
    assert reveal(frame.iloc[1]["key_id"]) == "000123456789"


def test_quoted_newlines_and_duplicate_headers() -> None:
    data = b'key,email,plan,apis,alias,alias\nabcdefghijkl,a@b.example,p,x,"two\nlines",second\n'
    frame = load_keys(data)
    assert frame.iloc[0]["alias"] == "two\nlines"


def dashboard_doc() -> dict:
    def key(kid: str, policies: list[str], meta: dict, **data) -> dict:
        return {
            "key_id": kid,
            "key_hash": "h" + kid[-4:],
            "api_model": {},
            "data": {
                "alias": "alias " + kid[-2:],
                "apply_policies": policies,
                "meta_data": meta,
                "expires": 0,
                "is_inactive": False,
                "org_id": "org1",
                "access_rights": {"a1": {"api_id": "a1", "api_name": "Payments API"}},
                **data,
            },
        }

    return {
        "pages": 1,
        "keys": [
            key("org1abcdefghijkl01", ["plan1", "prod1", "prod2"], {"email": "A@B.example"}),
            key("org1abcdefghijkl02", ["plan2"], {"developer_email": "c@d.example"}, expires=1893456000),
            key("org1abcdefghijkl03", [], {"tyk_developer_id": "dev9"}, is_inactive=True),
            key("org1abcdefghijkl04", ["plan1", "prod1"], {"contact": "e@f.example"}, expires=-1),
        ],
    }


def test_dashboard_dump(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dashboard_doc()))
    assert detect_format(path) == "dashboard"
    frame = load_keys(path)
    assert frame.attrs["format"] == "dashboard"
    LegacyKeys.validate(frame)
    assert list(frame["plan"].fillna("-")) == ["plan1", "plan2", "-", "plan1"]
    assert list(frame["products"]) == [["prod1", "prod2"], ["Payments API"], ["Payments API"], ["prod1"]]
    assert list(frame["owner_email"].fillna("-")) == ["a@b.example", "c@d.example", "-", "-"]
    assert frame.iloc[1]["expires_at"] == pd.Timestamp("2030-01-01", tz="UTC")
    assert pd.isna(frame.iloc[3]["expires_at"])
    assert list(frame["active"]) == [True, True, False, True]
    assert frame.iloc[0]["org"] == "org1" and frame.iloc[0]["alias"] == "alias 01"
    assert load_keys(path, email_field="contact").iloc[3]["owner_email"] == "e@f.example"


def test_dashboard_joined_with_classic_developers(tmp_path: Path) -> None:
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(dashboard_doc()))
    devs = tmp_path / "devs.json"
    devs.write_text(json.dumps({"Data": [{"id": "dev9", "email": "Joined@X.example"}], "Pages": 1}))
    report: list[str] = []
    frame = load_keys(dump, developers=devs, report=report)
    assert frame.iloc[2]["owner_email"] == "joined@x.example"
    assert any("joined" in line for line in report)


def test_classic_dump() -> None:
    doc = {
        "Pages": 1,
        "Data": [
            {
                "id": "d1",
                "email": "A@B.example",
                "inactive": False,
                "org_id": "org1",
                "keys": {"abcdef0123456789abcdef0123456789": ["plan1", "prod1"]},
                "subscriptions": {"plan2": "second-key-value-xyz"},
            },
            {
                "id": "d2",
                "email": "c@d.example",
                "inactive": True,
                "org_id": "org1",
                "keys": {},
                "subscriptions": {"plan1": "third-key-value-xyz", "prod3": "third-key-value-xyz"},
            },
        ],
    }
    data = json.dumps(doc).encode()
    assert detect_format(data) == "classic"
    frame = load_keys(data)
    LegacyKeys.validate(frame)
    assert frame.attrs["format"] == "classic"
    assert len(frame) == 3
    assert list(frame["plan"]) == ["plan1", "plan2", "plan1"]
    assert list(frame["products"]) == [["prod1"], [], ["prod3"]]
    assert list(frame["active"]) == [True, True, False]
    assert list(frame["source_id"]) == ["d1", "d1", "d2"]


def test_formats_constant() -> None:
    assert {"csv", "tsv", "excel", "json", "jsonl", "dashboard", "classic"} <= set(FORMATS)


@pytest.mark.parametrize(
    "source,exc,text",
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, UnknownFormatError, "xls"),
        (b"   \n", InputError, "empty"),
        (b'{"keys": 5}', InputError, "Dashboard"),
        (b"[1, 2]", InputError, "expected an object"),
        (b"PK\x03\x04garbage", InputError, "xlsx"),
        (b"[{broken", InputError, "not valid JSON"),
        (b"key,email,plan,apis\nabc,def\n", InputError, "field"),
    ],
)
def test_unusable_inputs_raise_one_line_errors(source: bytes, exc: type, text: str) -> None:
    with pytest.raises(exc, match=text) as err:
        load_keys(source)
    assert "\n" not in str(err.value)


def empty_workbook(path: Path, header: bool) -> Path:
    frame = pd.DataFrame(columns=["key", "email", "plan", "apis"]) if header else pd.DataFrame()
    frame.to_excel(path, index=False)
    return path


@pytest.mark.parametrize(
    "source",
    [
        b"key,email,plan,apis\n",
        b"key,email,plan,apis",  # no newline after the header: Arrow could not skip it
        b"key,email,plan,apis\r\n\r\n",
        b"[]",
        b'{"items": []}',
        b'{"keys": []}',
        b'{"Data": []}',
        lambda tmp: empty_workbook(tmp / "header.xlsx", header=True),
        lambda tmp: empty_workbook(tmp / "blank.xlsx", header=False),
    ],
)
def test_exports_without_records_load_as_an_empty_frame(tmp_path: Path, source: object) -> None:
    """Every format gives the same empty canonical frame, which require_records (the CLI) refuses."""
    from tyk_migrate.sources import require_records

    frame = load_keys(source(tmp_path) if callable(source) else source)
    assert len(frame) == 0 and list(frame.columns) == list(COLUMNS)
    LegacyKeys.validate(frame)
    with pytest.raises(InputError, match=r"^keys\.csv: no key records found$"):
        require_records(frame, "keys.csv")


def test_unknown_format_name_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UnknownFormatError, match="unknown format"):
        load_keys(csv_bytes(), format="parquet")
    with pytest.raises(InputError, match="no such file"):
        load_keys(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="directory"):
        load_keys(tmp_path)


def test_ragged_csv_error_does_not_echo_the_line() -> None:
    with pytest.raises(MigrateError) as err:
        load_keys(b"key,email,plan,apis\nSECRETSECRET123,a@b.example,p,x,extra,fields\n")
    assert "SECRETSECRET123" not in str(err.value)


def test_file_objects_and_text_io() -> None:
    check_canonical(load_keys(io.BytesIO(csv_bytes())), "csv")
    check_canonical(load_keys(io.StringIO(csv_bytes().decode())), "csv")


def test_column_map_and_report() -> None:
    report: list[str] = []
    frame = load_keys(csv_bytes(), report=report)
    assert frame.attrs["column_map"]["key_id"] == "key"
    assert frame.attrs["column_map"]["active"] == "status"
    assert any("key_id <- key" in line for line in report)


SAMPLES = Path(__file__).resolve().parent.parent / "data-samples"


@pytest.mark.parametrize(
    "name,fmt,rows,errors",
    [
        (
            "legacy_keys.csv",
            "csv",
            334,
            {
                "key_duplicate",
                "key_too_short",
                "key_bad_chars",
                "email_missing",
                "email_malformed",
                "plan_missing",
                "products_missing",
                "expiry_unparseable",
                "key_missing",
            },
        ),
        ("legacy_keys_semicolon.csv", "csv", 60, {"key_bad_chars"}),
        ("legacy_keys.xlsx", "excel", 80, {"key_too_short", "plan_missing"}),
        ("legacy_keys.json", "json", 80, {"products_missing", "email_missing"}),
        ("legacy_keys.jsonl", "jsonl", 80, {"key_duplicate"}),
        ("dashboard_keys.json", "dashboard", 120, {"plan_missing", "email_missing"}),
        ("classic_developers.json", "classic", 320, {"email_missing"}),
    ],
)
def test_data_samples_load_with_their_documented_dirty_rows(name: str, fmt: str, rows: int, errors: set) -> None:
    from tyk_migrate.validate import validate_keys

    devs = SAMPLES / "classic_developers.json" if fmt == "dashboard" else None
    frame = load_keys(SAMPLES / name, developers=devs)
    assert frame.attrs["format"] == fmt and len(frame) == rows
    _, rejects = validate_keys(frame)
    assert set(rejects.loc[rejects["severity"] == "error", "check"]) == errors


def test_aws_sample_needs_its_mapping() -> None:
    with pytest.raises(MissingColumnsError):
        load_keys(SAMPLES / "aws_api_keys.csv")
    frame = load_keys(SAMPLES / "aws_api_keys.csv", mapping=SAMPLES / "mapping_aws.yaml")
    assert len(frame) == 60 and frame.attrs["column_map"]["owner_email"] == "tags.owner"


def test_planner_sections_of_a_shared_mapping_are_ignored() -> None:
    mapping = {"columns": {"key_id": "Key"}, "plans": {"Gold": "Premium"}}
    frame = load_keys(b"Key,email,plan,apis\nabcdefghijkl,a@b.example,p,x\n", mapping=mapping)
    assert len(frame) == 1
    frame = load_keys(b"Key,email,plan,apis\nabcdefghijkl,a@b.example,p,x\n", mapping={"plans": {}, "products": {}})
    assert len(frame) == 1


def test_nanosecond_dates_beside_far_future_ones_load() -> None:
    """Go writes RFC 3339 with 9 fractional digits; beside a 9999 sentinel in the same column that overflowed."""
    text = (
        "key,email,plan,apis,expires\n"
        "abcdefghijkl,a@b.example,p,x,2030-01-31T00:00:00.123456789Z\n"
        "bcdefghijklm,a@b.example,p,x,12/31/9999\n"
        "cdefghijklmn,a@b.example,p,x,1969-12-31T00:00:00.123456789Z\n"
        "defghijklmno,a@b.example,p,x,12/31/1950\n"
    )
    frame = load_keys(text.encode())
    assert frame["expires_at"].iloc[0] == pd.Timestamp("2030-01-31T00:00:00.123456Z")
    assert pd.isna(frame["expires_at"].iloc[1]) and pd.isna(frame["expires_raw"].iloc[1])  # never
    assert frame["expires_raw"].iloc[2:].notna().all()  # both before 1970: rejected, with a reason
    from tyk_migrate.validate import validate_keys

    _, rejects = validate_keys(frame)
    assert rejects["message"].str.contains("before 1970").sum() == 2


def test_a_mapping_on_a_headerless_file_does_not_print_the_key() -> None:
    word_key = "partner_acme_prod_secret"  # word-shaped: the token-shape check alone lets it through
    data = f"{word_key},alice@b.example,gold,p1\n".encode()
    with pytest.raises(MissingColumnsError, match="first line looks like data") as err:
        load_keys(data, format="csv", mapping={"key_id": "KeyValue"})
    assert word_key not in str(err.value) and "alice@b.example" not in str(err.value)


@pytest.mark.parametrize(
    "name",
    ["Key", "Created At", "Last Used Date", "lastUsedAt", "quota_renewal_rate", "Customer ID", "e-mail", "有効期限"],
)
def test_column_names_of_real_exports_are_header_shaped(name: str) -> None:
    from tyk_migrate.sources.header_line import column_name_shaped

    assert column_name_shaped(name)


@pytest.mark.parametrize(
    "value",
    [
        "correct-horse-battery-staple",  # four words: a passphrase
        "partner secret value",  # three lower-case words joined by spaces
        "partner_acme_prod_secret",
        "deadbeefcafebabe",  # hex, letters only
        "QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        "abcdefghijklmnopqrstu",  # a word longer than any column name's
        "ada@lumen.example",
        "2030-01-31",
        "1893456000",
    ],
)
def test_values_are_not_header_shaped(value: str) -> None:
    from tyk_migrate.sources.header_line import column_name_shaped

    assert not column_name_shaped(value)


@pytest.mark.parametrize("first", ["PurpleMonkeyDish,developer,gold,active", "SecretSauce,owner,plan"])
def test_a_headerless_passphrase_key_shaped_like_a_column_name_is_never_printed(tmp_path, first):
    """CamelCase words look like a column name; with no known key column, unknown names are masked."""
    path = tmp_path / "keys.csv"
    second = ["OtherKeyValue", "dev@example.com", "gold", "active"][: first.count(",") + 1]
    path.write_text(first + "\n" + ",".join(second) + "\n")
    with pytest.raises(MissingColumnsError) as caught:
        load_keys(path)
    assert first.split(",")[0] not in str(caught.value)


def test_a_utf8_file_with_one_stray_byte_is_refused_not_decoded_as_cp1252(tmp_path):
    """Decoding it all as Windows-1252 turned the key clé-secret-0001abc into clÃ©-secret-0001abc."""
    path = tmp_path / "keys.csv"
    path.write_bytes(
        b"key_id,owner_email,plan,products\n"
        + "clé-secret-0001abc,a@example.com,gold,p1\n".encode()
        + b"other-secret-0002abc,b@example.com,gold,caf\xe9\n"
    )
    with pytest.raises(InputError, match="UTF-8 except at line 3"):
        load_keys(path)


def test_a_windows_1252_file_still_loads(tmp_path):
    path = tmp_path / "keys.csv"
    path.write_bytes(
        ("key_id,owner_email,plan,products\ncle-secret-0001abc,a@example.com,gold,café\n").encode("cp1252")
    )
    assert load_keys(path)["products"].iloc[0] == ["café"]


# -- the key's limits and APIs today (issue 17: optional columns rate, per, quota_max, quota_renewal_rate, api_ids)

LIMITS = ["rate", "per", "quota_max", "quota_renewal_rate", "api_ids"]


def limits_of(frame: pd.DataFrame, row: int) -> list[object]:
    values = frame.iloc[row][LIMITS].tolist()
    return [None if v is None or (not isinstance(v, list) and pd.isna(v)) else v for v in values]


def test_dashboard_limits_come_from_the_session_state(tmp_path: Path) -> None:
    doc = dashboard_doc()
    first = doc["keys"][0]["data"]
    first.update(rate=100, per=1, quota_max=-1, quota_renewal_rate=-1)
    first["access_rights"] = {"a1": {"api_id": "a1"}, "key-of-b2": {"api_id": "b2"}, "c3": {}}
    doc["keys"][1]["data"].update(rate=600.0, per=60, quota_max=5000, quota_renewal_rate=3600)
    del doc["keys"][2]["data"]["access_rights"]  # the SessionState does not say: not known, not "no APIs"
    doc["keys"][3]["data"]["access_rights"] = {}
    del doc["keys"][3]["data"]["expires"]
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    frame = load_keys(path)
    LegacyKeys.validate(frame)
    assert limits_of(frame, 0) == [100.0, 1.0, -1, -1, ["a1", "b2", "c3"]]  # api_id inside the right wins
    assert limits_of(frame, 1) == [600.0, 60.0, 5000, 3600, ["a1"]]
    assert limits_of(frame, 2) == [None, None, None, None, None]
    assert limits_of(frame, 3)[-1] == []
    assert [str(frame[c].dtype) for c in LIMITS[:4]] == ["Float64", "Float64", "Int64", "Int64"]
    assert frame.attrs["column_map"]["rate"] == "data.rate"
    # a dump row without `expires` does not say when the key expires: NaT there is not "never"
    assert frame["expires_known"].tolist() == [True, True, True, False]


POLICIES = {
    "Data": [
        {"_id": "m1", "id": "plan1", "rate": 600, "per": 60, "quota_max": 1000, "quota_renewal_rate": 3600,
         "access_rights": {}},
        {"_id": "m2", "id": "prod1", "rate": 0, "per": 0, "quota_max": 0, "quota_renewal_rate": 0,
         "access_rights": {"a1": {"api_id": "a1"}}},
        {"_id": "m3", "id": "prod3", "rate": 20, "per": 1, "quota_max": -1, "quota_renewal_rate": 60,
         "access_rights": {"a3": {"api_id": "a3"}, "a1": {"api_id": "a1"}}},
        {"_id": "only-underscore-id", "rate": 0, "per": 0, "quota_max": 0, "access_rights": {"a4": {}}},
    ],
    "Pages": 1,
}  # fmt: skip


def classic_doc() -> dict:
    return {
        "Data": [
            {
                "id": "d1",
                "email": "a@b.example",
                "keys": {
                    "first-key-value-xyz": ["plan1", "prod1"],
                    "second-key-value-xyz": ["plan1", "prod1", "prod3"],
                    "third-key-value-xyz": ["plan1", "unknown-policy"],
                    "fourth-key-value-xyz": ["plan1", "only-underscore-id"],
                },
            }
        ]
    }


@pytest.mark.parametrize("form", ["dashboard", "bare list", "policies.json", "file"])
def test_classic_limits_are_what_the_keys_policies_add_up_to(tmp_path: Path, form: str) -> None:
    policies: object = POLICIES
    if form == "bare list":
        policies = POLICIES["Data"]
    elif form == "policies.json":  # the gateway's own file: {policy id: policy}
        policies = {p.get("id") or p["_id"]: {k: v for k, v in p.items() if k != "id"} for p in POLICIES["Data"]}
    elif form == "file":
        policies = tmp_path / "policies.json"
        policies.write_text(json.dumps(POLICIES))
    frame = load_keys(json.dumps(classic_doc()).encode(), policies=policies)
    LegacyKeys.validate(frame)
    # one plan policy with the limits, one product policy with the APIs (0 = sets nothing)
    assert limits_of(frame, 0) == [600.0, 60.0, 1000, 3600, ["a1"]]
    # the gateway's rules: the higher request rate (20/s beats 10/s), -1 above every quota, the longer
    # renewal rate, the union of the APIs
    assert limits_of(frame, 1) == [20.0, 1.0, -1, 3600, ["a1", "a3"]]
    assert limits_of(frame, 2) == [None] * 5  # a policy missing from the list: nothing is known
    assert limits_of(frame, 3)[-1] == ["a4"]  # found by its _id
    assert not frame["expires_known"].any()  # a Classic dump has no expiry: unknown, not never


def test_classic_without_policies_has_no_limit_columns_and_policies_fit_only_classic() -> None:
    frame = load_keys(json.dumps(classic_doc()).encode())
    assert not set(LIMITS) & set(frame.columns)
    with pytest.raises(InputError, match=r"policies= gives a Classic Portal dump its limits; this input is csv"):
        load_keys(csv_bytes(), policies=POLICIES)
    with pytest.raises(InputError, match=r'^input: expected a Dashboard policy list \{"Data": \[\.\.\.\]\}'):
        load_keys(json.dumps(classic_doc()).encode(), policies=b'"not a policy list"')
    with pytest.raises(InputError, match=r"^input: not valid JSON .*expected a Dashboard policy list$"):
        load_keys(json.dumps(classic_doc()).encode(), policies=b"{broken")


def test_policy_combination_follows_the_gateway() -> None:
    from tyk_migrate.limits import combine_policies

    assert combine_policies([{"rate": 0, "per": 0}, {"rate": 100, "per": 0}]) == {
        "rate": 0.0,
        "per": 0.0,
        "quota_max": None,
        "quota_renewal_rate": None,
        "api_ids": [],
    }  # fmt: skip  (no policy sets a rate: the gateway applies none; 100 without a period sets nothing)
    assert combine_policies([{"rate": 10, "per": 1}, {"rate": -1, "per": -1}])["rate"] == -1  # no limit wins
    assert combine_policies([{"quota_max": 5000}, {"quota_max": 100}, {"quota_max": 0}])["quota_max"] == 5000
    assert combine_policies([{"quota_max": -1}, {"quota_max": 5000}])["quota_max"] == -1
    assert combine_policies([{"access_rights": {"x": {"api_id": "y"}}}])["api_ids"] == ["y"]


@pytest.mark.parametrize(
    "header,canon",
    [
        ("Rate", "rate"), ("Rate Limit", "rate"), ("Per", "per"), ("rate_per", "per"), ("Per Seconds", "per"),
        ("Quota", "quota_max"), ("quota_max", "quota_max"), ("Quota Renewal", "quota_renewal_rate"),
        ("quota_renewal_rate", "quota_renewal_rate"), ("API IDs", "api_ids"), ("gateway_api_ids", "api_ids"),
    ],
)  # fmt: skip
def test_limit_headers_are_recognised(header: str, canon: str) -> None:
    base = {"key": ["abcdefghijkl"], "email": ["x@y.example"], "plan": ["p"], "apis": ["v"]}
    table = pd.DataFrame({**base, header: ["7"]})
    frame = load_keys(table)
    assert frame.attrs["column_map"][canon] == header
    LegacyKeys.validate(frame)
    assert frame.iloc[0][canon] == (["7"] if canon == "api_ids" else 7)


def test_a_lone_api_ids_header_still_means_products() -> None:
    frame = load_keys(b"key,email,plan,api_ids\nabcdefghijkl,a@b.example,p,x;y\n")
    assert frame.attrs["column_map"]["products"] == "api_ids" and "api_ids" not in frame.columns


def test_flat_limit_values_unlimited_blank_and_unreadable() -> None:
    text = (
        "key,email,plan,apis,rate,per,quota,quota_renewal_rate,api ids\n"
        "abcdefghijkl,a@b.example,p,x,100,1,unlimited,,a1; a2\n"
        "bcdefghijklm,a@b.example,p,x,,,,,\n"
        "cdefghijklmn,a@b.example,p,x,ten,-5,1.5,3600,[]\n"
        "defghijklmno,a@b.example,p,x,qb_live_AAAAbbbbCCCCdddd,60,-1,-1,a1\n"
    )
    frame = load_keys(text.encode())
    LegacyKeys.validate(frame)
    assert limits_of(frame, 0) == [100.0, 1.0, -1, None, ["a1", "a2"]]
    assert limits_of(frame, 1) == [None] * 5  # blank: not known
    assert limits_of(frame, 2)[:4] == [None, None, None, 3600]
    assert frame["limits_raw"].iloc[2] == "rate='ten'; per='-5'; quota_max='1.5'"
    assert pd.isna(frame["limits_raw"].iloc[0])
    # a key in the wrong column is never written out whole
    assert frame["limits_raw"].iloc[3] == f"rate={mask('qb_live_AAAAbbbbCCCCdddd')!r}"


def test_limit_columns_by_mapping_and_flat_expiry_known() -> None:
    text = b"Token,Owner,Tier,Stages,Throttle,Window\nabcdefghijkl,a@b.example,p,x,50,10\n"
    mapping = {"key_id": "Token", "owner_email": "Owner", "plan": "Tier", "products": "Stages", "rate": "Throttle",
               "per": "Window"}  # fmt: skip
    frame = load_keys(text, mapping=mapping)
    assert limits_of(frame, 0)[:2] == [50.0, 10.0]
    # no expiry column: the loader cannot say the key never expires
    assert frame["expires_known"].tolist() == [False]
    assert "expires_known" not in load_keys(csv_bytes()).columns  # an expiry column: known for every row


def test_data_samples_carry_legacy_limits() -> None:
    devs = SAMPLES / "classic_developers.json"
    dash = load_keys(SAMPLES / "dashboard_keys.json", developers=devs)
    retired = "5ad3bd0c7e3b4f1d9a1f0f3a2c6e7d41"  # make_samples.RETIRED_API: no portal product exposes it
    assert [r for r, ids in zip(dash["source_row"], dash["api_ids"], strict=True) if retired in ids] == [18]
    assert dash["rate"].notna().all() and (dash["quota_max"] == -1).any()
    flat = load_keys(SAMPLES / "legacy_keys.csv")
    assert flat.attrs["column_map"]["quota_renewal_rate"] == "Quota Renewal" and retired in flat["api_ids"].iloc[17]
    classic = load_keys(devs, policies=SAMPLES / "dashboard_policies.json")
    assert classic["rate"].notna().all() and classic["api_ids"].map(len).gt(0).all()


def test_an_input_past_the_size_ceiling_is_one_line_not_memory_exhaustion(tmp_path, monkeypatch):
    """/dev/zero as INPUT or --mapping was read until MemoryError (5.3 GB), then exit 3."""
    from tyk_migrate.sources import capped

    path = tmp_path / "huge.csv"
    path.write_bytes(b"key_id,owner_email,plan,products\n" + b"x" * 5000)
    monkeypatch.setattr(capped, "MAX_INPUT_BYTES", 1000)
    monkeypatch.setattr(capped.read_capped, "__defaults__", (1000,))
    with pytest.raises(InputError, match="more than"):
        load_keys(path)
