"""What a data path is before it is read: a readable regular file (or why not: missing, a
symbolic-link loop, a FIFO, a device) and, from its first bytes, which format it looks like."""

from __future__ import annotations

from pathlib import Path

from domaintune.errors import DataError

READABLE = (
    "JSONL, JSON, CSV, TSV and Parquet files, folders saved with `datasets` "
    "(save_to_disk), and dataset names on the Hugging Face hub (org/name, or org/name:split)"
)
UTF8_FIX = "re-save the file as UTF-8 (e.g. `iconv -f cp1252 -t utf-8 IN > OUT`)"


def sniff(path: Path) -> str:
    """What the start of a file looks like, in words, for messages about a wrong format."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head.strip():
        return "empty"
    if head.startswith(b"PAR1"):
        return "a Parquet file"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip-compressed file"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (an Excel workbook is one)"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text"
    if head.startswith(b"ARROW1") or b"\x00" in head:
        return "a binary file"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text[:1] == b"[":
        return "a JSON array"
    if text[:1] == b"{":
        return "JSON (one object per line, or one object)"
    first_line = text.split(b"\n", 1)[0]
    if b"\t" in first_line:
        return "tab-separated text (TSV)"
    if b"," in first_line:
        return "comma-separated text (CSV)"
    return "plain text"


def has_object_line(path: Path) -> bool:
    """Whether a line near the start of the file starts a JSON object."""
    with path.open("rb") as handle:
        head = handle.read(65536)
    return any(line.lstrip().startswith(b"{") for line in head.split(b"\n")[:50])


RENAME = {
    "a Parquet file": "rename it to .parquet",
    "a JSON array": "rename it to .json",
    "JSON (one object per line, or one object)": "rename it to .jsonl",
    "tab-separated text (TSV)": "rename it to .tsv",
    "comma-separated text (CSV)": "rename it to .csv",
    "a gzip-compressed file": "decompress it first (`gunzip FILE`)",
    "a zip archive (an Excel workbook is one)": "export the sheet as CSV, or unzip it",
    "UTF-16 text": "re-save it as UTF-8 (e.g. `iconv -f utf-16 -t utf-8 IN > OUT`)",
}


def wrong_format(path: Path, claimed: str, looks_like: str) -> DataError:
    fix = RENAME.get(looks_like, f"convert it to {claimed}")
    return DataError(
        f"{path} is named as {claimed} but looks like {looks_like}; {fix}. domaintune reads "
        f"{READABLE}."
    )


def require_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"Data file {path} does not exist; pass an existing file with --data.")


def decode_utf8(path: Path, raw: bytes) -> str:
    """The bytes of ``path`` as text (a byte-order mark dropped), or an error naming the line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}:{line}: byte {exc.start} is not UTF-8; re-save the file as UTF-8.") from exc


def read_utf8(path: Path) -> str:
    require_file(path)
    return decode_utf8(path, path.read_bytes())
