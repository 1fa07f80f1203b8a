"""What a data path is before it is read: a readable regular file (or why not: missing, a
symbolic-link loop, a FIFO, a device) and, from its first bytes, which format it looks like."""

from __future__ import annotations

import errno
import os
import stat
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
    if head.startswith(b"ARROW1"):
        return "a binary file"
    if b"\x00" in head:
        if _utf16_without_mark(head):
            return "UTF-16 text"
        if not _text_with_stray_nul(head):
            return "a binary file"
        head = head.replace(b"\x00", b"")  # the reader names the line of each NUL byte
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


def _utf16_without_mark(head: bytes) -> bool:
    """ASCII-range UTF-16 text: every other byte is NUL."""
    even, odd = head[0::2], head[1::2]
    return max(even.count(0), odd.count(0)) >= 0.9 * len(odd) > 0


def _text_with_stray_nul(head: bytes) -> bool:
    """Whether a head with NUL bytes is text otherwise: it decodes as UTF-8 (the last
    character may be cut) and holds hardly any other control bytes. A binary file does not."""
    rest = head.replace(b"\x00", b"")
    if head.count(0) * 20 > len(head):
        return False
    try:
        rest.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(rest) - 3:
            return False
    controls = sum(byte < 32 and byte not in b"\t\n\r\f" for byte in rest)
    return controls * 100 <= len(rest)


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


def unreadable(path: Path) -> str | None:
    """Why ``path``, which is there in some form, cannot be read as data ("is a named pipe
    (FIFO), ...; fix"), or None: a readable regular file or folder, or nothing at all."""
    try:
        path.lstat()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None  # missing: the caller says so, with its own fix
        return _os_problem(exc)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return (
            f"is a symbolic link to {os.readlink(path)}, which does not exist; point the link "
            "at the data file, or pass the file itself"
        )
    except OSError as exc:
        return _os_problem(exc)
    if stat.S_ISDIR(mode):
        return None
    if not stat.S_ISREG(mode):
        kind = (
            "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
            else "a character device" if stat.S_ISCHR(mode)
            else "a block device" if stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode)
            else "a special file"
        )
        return (
            f"is {kind}, not a regular file; domaintune reads a data file more than once (its "
            "start to tell the format, then its rows), so save the data to a file and pass that"
        )
    if not os.access(path, os.R_OK):
        return "cannot be read: permission denied; make it readable (e.g. `chmod u+r FILE`) or copy it"
    return None


def _os_problem(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return (
            "is a symbolic link loop (following its links leads back to a link already "
            "followed); point the link at the data file itself"
        )
    if exc.errno == errno.EACCES:
        return "cannot be read: permission denied on the file or a folder of its path"
    return f"cannot be read ({exc.strerror}); pass a readable data file"


def require_file(path: Path) -> None:
    """A readable regular file at ``path``, or an error that says what is there instead."""
    problem = unreadable(path)
    if problem is None and path.is_dir():
        problem = "is a folder; pass the data file inside it"
    if problem is not None:
        raise DataError(f"Data file {path} {problem}.")
    if not path.is_file():
        raise DataError(f"Data file {path} does not exist; pass an existing file with --data.")


def nul_byte(line: bytes, offset: int, before: int = 0) -> str | None:
    """What to say about the first NUL byte of ``line`` (whose bytes start at ``offset`` in
    the file; ``before``: bytes of the same line that came earlier), or None when it has none.
    One stray NUL does not make a text file binary: it is named, and the rest is read."""
    index = line.find(b"\x00")
    if index < 0:
        return None
    return (
        f"byte {before + index + 1} of the line (offset {offset + index} in the file) is a NUL "
        "byte (\\x00), which is not text; remove it (e.g. `tr -d '\\000' < IN > OUT`) or "
        "fix whatever wrote it"
    )


def decode_utf8(path: Path, raw: bytes) -> str:
    """The bytes of ``path`` as text (a byte-order mark dropped), or an error naming the line."""
    nul = raw.find(b"\x00")
    if nul >= 0:
        line_start = raw.rfind(b"\n", 0, nul) + 1
        line = raw.count(b"\n", 0, nul) + 1
        raise DataError(f"{path}:{line}: {nul_byte(raw[line_start:], line_start)}.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}:{line}: byte {exc.start} is not UTF-8; re-save the file as UTF-8.") from exc


def read_utf8(path: Path) -> str:
    require_file(path)
    return decode_utf8(path, path.read_bytes())
