"""Turn the bytes of an export into text (or UTF-8 bytes) whatever encoding the exporting tool chose.

Exports come from spreadsheets and old admin tools: UTF-8, UTF-8 with a BOM (Excel "CSV UTF-8"),
UTF-16 with a BOM (Excel "Unicode text"), or Windows-1252 (Excel "CSV" on a Western Windows). We look
for a BOM first, then try strict UTF-8, then fall back to Windows-1252 (and Latin-1 for the five bytes
cp1252 leaves undefined), so decoding never fails and the analyst never has to name the encoding.
"""

from __future__ import annotations

import codecs
import re

from ..errors import InputError

BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # must be tested before UTF-16 LE (same first two bytes)
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def sniff_encoding(data: bytes) -> str:
    """The codec name to decode ``data`` with: BOM, else UTF-8 if it decodes, else ``cp1252``."""
    for bom, name in BOMS:
        if data.startswith(bom):
            return name
    try:
        codecs.decode(data, "utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


# A well-formed UTF-8 sequence of two or more bytes: in real Windows-1252 text it is all but absent ("Ã©"),
# in a UTF-8 file it is every accented letter.
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _refuse_mixed(data: bytes, source: str) -> None:
    """A file of UTF-8 text with a stray byte of another encoding: decoding it all as Windows-1252 would
    change every accented key (``clé`` -> ``clÃ©``) and migrate the wrong value, so it is refused."""
    if _UTF8_MULTIBYTE.search(data) is None:
        return
    try:
        codecs.decode(data, "utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{source}: the file is UTF-8 except at line {line} (byte {exc.start}), which is another encoding; "
            "a guess would change key values: re-save the file as UTF-8"
        ) from None


def decode(data: bytes, source: str = "input") -> tuple[str, str]:
    """``(text, encoding)``; the BOM is removed. Raises ``InputError`` only for a broken BOM'd file."""
    encoding = sniff_encoding(data)
    if encoding == "cp1252":
        _refuse_mixed(data, source)
    try:
        if encoding == "cp1252":
            try:
                return data.decode("cp1252"), "cp1252"
            except UnicodeDecodeError:
                return data.decode("latin-1"), "latin-1"
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source}: the file starts with a {encoding} byte-order mark but is not valid "
            f"{encoding} (byte {exc.start}); re-export it as UTF-8"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, encoding


def to_utf8(data: bytes, source: str = "input") -> tuple[bytes, str]:
    """UTF-8 bytes without BOM plus the detected encoding; plain UTF-8 input is returned as is (no copy)."""
    encoding = sniff_encoding(data)
    if encoding == "utf-8":
        return data, encoding
    text, encoding = decode(data, source)
    return text.encode("utf-8", "surrogatepass"), encoding
