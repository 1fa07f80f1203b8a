"""Text formats as raw rows, line by line in bounded memory: JSON Lines, a JSON array
(element by element) and CSV/TSV. A line that cannot be parsed becomes a :class:`Problem`
naming it; what a row must contain is decided later (:mod:`domaintune.data.rows`)."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from domaintune.data.source_files import UTF8_FIX, nul_byte, sniff, wrong_format
from domaintune.data.stream import Problem, Reader, Row
from domaintune.errors import DataError

MAX_ROW_BYTES = 8 * 1024 * 1024
"""A longer line is reported, not read: no real example needs 8 MiB (it is cut to max_length
tokens anyway), and a file that lost its line breaks would otherwise be read whole."""
CHUNK_BYTES = 1 << 20


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes | None, int, int]]:
    """(line number, bytes or None when too long, length, offset of those bytes in the file)
    for each line; bounded memory."""
    with path.open("rb") as handle:
        number = offset = 0
        while True:
            raw = handle.readline(MAX_ROW_BYTES + 1)
            if not raw:
                return
            number += 1
            start, offset = offset, offset + len(raw)
            if len(raw) > MAX_ROW_BYTES:
                size = len(raw)
                while not raw.endswith(b"\n"):  # skip the rest without keeping it
                    raw = handle.readline(CHUNK_BYTES)
                    if not raw:
                        break
                    size += len(raw)
                offset = start + size
                yield number, None, size, start
                continue
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark, as Windows writes
                raw, start = raw[3:], start + 3
            yield number, raw, len(raw), start


def _too_long(size: int) -> str:
    return (
        f"the line is {size / 2**20:.1f} MiB, over the {MAX_ROW_BYTES // 2**20} MiB limit for "
        "one row; split the text into several rows (a row is cut to max_length tokens anyway), "
        "or check that the file still has one row per line"
    )


def _not_utf8(exc: UnicodeDecodeError) -> str:
    return f"byte {exc.start + 1} is not UTF-8 (counting from the start of the line); {UTF8_FIX}"


def _decode_json(text: str) -> Any:
    """json.loads, with every failure a ValueError carrying a message for people."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"invalid JSON at column {exc.colno}: {exc.msg}; each line must be one complete "
            "JSON object"
        ) from None
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to read; flatten the row") from None
    except ValueError as exc:  # e.g. an integer with more than 4300 digits
        raise ValueError(f"invalid JSON: {exc}") from None


# JSON Lines ---------------------------------------------------------------------------------


def jsonl_rows(path: Path) -> Iterator[Row | Problem]:
    for number, raw, size, offset in _raw_lines(path):
        where = f"{path}:{number}"
        if raw is None:
            yield Problem(where, _too_long(size))
            continue
        nul = nul_byte(raw, offset)
        if nul is not None:
            yield Problem(where, nul)
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Problem(where, _not_utf8(exc))
            continue
        text = text.removeprefix("\ufeff")  # a BOM left by concatenating files
        if not text.strip():
            continue
        try:
            yield Row(where, _decode_json(text))
        except ValueError as exc:
            message = str(exc)
            if "\r" in text.rstrip("\r\n"):
                message += (
                    "; the file seems to end lines with a bare CR (old Mac style): convert them "
                    "to LF, e.g. `tr '\\r' '\\n' < IN > OUT`"
                )
            yield Problem(where, message)


# JSON array ---------------------------------------------------------------------------------


class JsonArray:
    """Streams the elements of a top-level JSON array with their line numbers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.decoder = json.JSONDecoder()
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.buffer = ""
        self.pos = 0
        self.line = 1  # line of self.pos
        self.raw_newlines = 0
        self.raw_offset = 0  # bytes read before the next chunk
        self.line_bytes = 0  # bytes of the last line read so far, for a line across chunks
        self.eof = False

    def _more(self, handle: Any) -> None:
        """Append the next chunk; drop what has been consumed."""
        chunk = handle.read(CHUNK_BYTES)
        if not chunk:
            self.eof = True
        nul = chunk.find(b"\x00")
        if nul >= 0:
            line_start = chunk.rfind(b"\n", 0, nul) + 1
            line = self.raw_newlines + chunk.count(b"\n", 0, nul) + 1
            message = nul_byte(chunk[line_start:], self.raw_offset + line_start, 0 if line_start else self.line_bytes)
            raise _Stop(Problem(f"{self.path}:{line}", f"{message}; the file must be one JSON array of row objects"))
        last_newline = chunk.rfind(b"\n")
        self.line_bytes = len(chunk) - last_newline - 1 if last_newline >= 0 else self.line_bytes + len(chunk)
        self.raw_offset += len(chunk)
        try:
            text = self.utf8.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            line = self.raw_newlines + exc.object[: exc.start].count(b"\n") + 1
            raise _Stop(Problem(f"{self.path}:{line}", f"a byte is not UTF-8; {UTF8_FIX}")) from None
        self.raw_newlines += chunk.count(b"\n")
        if self.pos == 0 and self.line == 1 and not self.buffer:
            text = text.removeprefix("\ufeff")
        self.buffer = self.buffer[self.pos:] + text
        self.pos = 0

    def _advance(self, to: int) -> None:
        self.line += self.buffer.count("\n", self.pos, to)
        self.pos = to

    def _skip_space(self, handle: Any) -> str:
        """The next non-space character ('' at the end of the file)."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in " \t\r\n":
                if self.buffer[self.pos] == "\n":
                    self.line += 1
                self.pos += 1
            if self.pos < len(self.buffer) or self.eof:
                return self.buffer[self.pos: self.pos + 1]
            self._more(handle)

    def _where(self) -> str:
        return f"{self.path}:{self.line}"

    def rows(self) -> Iterator[Row | Problem]:
        try:
            with self.path.open("rb") as handle:
                yield from self._rows(handle)
        except _Stop as stop:
            yield stop.problem

    def _rows(self, handle: Any) -> Iterator[Row | Problem]:
        if self._skip_space(handle) != "[":
            raise _Stop(Problem(self._where(), "expected '[' to start a JSON array of rows"))
        self._advance(self.pos + 1)
        count = 0
        while True:
            char = self._skip_space(handle)
            if char == "]" and count == 0:
                self._advance(self.pos + 1)
                break
            if not char:
                raise _Stop(Problem(self._where(), "the file ends inside the array (is it cut short?)"))
            start_line = self.line
            while True:
                try:
                    value, end = self.decoder.raw_decode(self.buffer, self.pos)
                except json.JSONDecodeError as exc:
                    if not self.eof and len(self.buffer) - self.pos <= MAX_ROW_BYTES:
                        self._more(handle)
                        continue
                    if not self.eof:
                        raise _Stop(Problem(self._where(), _too_long(len(self.buffer) - self.pos))) from None
                    line = self.line + self.buffer.count("\n", self.pos, exc.pos)
                    column = exc.pos - self.buffer.rfind("\n", 0, exc.pos)
                    raise _Stop(Problem(
                        f"{self.path}:{line}",
                        f"invalid JSON at column {column}: {exc.msg}; the file must be one JSON "
                        "array of row objects",
                    )) from None
                except (RecursionError, ValueError) as exc:
                    reason = "is nested too deeply" if isinstance(exc, RecursionError) else f"is invalid: {exc}"
                    raise _Stop(Problem(self._where(), f"the JSON {reason}")) from None
                if end == len(self.buffer) and not self.eof:
                    self._more(handle)  # a number at the end of the buffer may go on
                    continue
                break
            self._advance(end)
            count += 1
            yield Row(f"{self.path}:{start_line}", value)
            char = self._skip_space(handle)
            if char == ",":
                self._advance(self.pos + 1)
                if self._skip_space(handle) == "]":
                    raise _Stop(Problem(self._where(), "a comma before ']' (trailing commas are not JSON); remove it"))
                continue
            if char == "]":
                self._advance(self.pos + 1)
                break
            if not char:
                raise _Stop(Problem(self._where(), "the file ends inside the array (is it cut short?)"))
            hint = (
                "; one object per line without commas is JSON Lines: rename the file to .jsonl"
                if char == "{" else ""
            )
            raise _Stop(Problem(self._where(), f"expected ',' or ']' after row {count}, found {char!r}{hint}"))
        if self._skip_space(handle):
            raise _Stop(Problem(self._where(), "text after the end of the JSON array; remove it"))


class _Stop(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def jsonl_or_single_object(path: Path) -> Iterator[Row | Problem]:
    rows = jsonl_rows(path)
    first = next(rows, None)
    if isinstance(first, Problem) and first.where == f"{path}:1":
        yield Problem(first.where, first.message + (
            "; if the file is one JSON object spread over several lines, domaintune needs an "
            "array of rows ([{...}, {...}]) or one object per line; if the rows sit under a "
            "key, extract them, e.g. `jq '.data' IN > OUT`"
        ))
    elif first is not None:
        yield first
    yield from rows


# CSV and TSV --------------------------------------------------------------------------------


def _text_lines(path: Path, problems: list[Problem]) -> Iterator[str]:
    """Decoded lines for the csv module; undecodable or over-long lines become problems."""
    for number, raw, size, offset in _raw_lines(path):
        if raw is None:
            problems.append(Problem(f"{path}:{number}", _too_long(size)))
            yield "\n"
            continue
        nul = nul_byte(raw, offset)
        if nul is not None:
            problems.append(Problem(f"{path}:{number}", nul))
            raw = raw.replace(b"\x00", b"")
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(Problem(f"{path}:{number}", _not_utf8(exc)))
            yield raw.decode("utf-8", errors="replace")


def csv_reader(path: Path, delimiter: str) -> Reader:
    claimed = "TSV" if delimiter == "\t" else "CSV"
    looks_like = sniff(path)
    if looks_like == "empty":
        raise DataError(f"{path} is empty; it needs a header line and one row per line.")
    if not looks_like.endswith(("(TSV)", "(CSV)")) and looks_like != "plain text":
        raise wrong_format(path, claimed, looks_like)
    # Take the delimiter the header actually uses (a .csv that is tab-separated is common).
    if looks_like.endswith("(TSV)"):
        delimiter = "\t"
    elif looks_like.endswith("(CSV)"):
        delimiter = ","
    problems: list[Problem] = []
    lines = _text_lines(path, problems)
    csv.field_size_limit(max(csv.field_size_limit(), MAX_ROW_BYTES))
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = [name.strip() for name in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise DataError(f"{path}:1: the header line cannot be read ({exc}); the first line must name the columns.") from None
    if len(set(header)) != len(header) or not all(header):
        raise DataError(
            f"{path}:1: the header {header} has an empty or repeated column name; give every "
            "column a distinct name."
        )

    def rows() -> Iterator[Row | Problem]:
        while True:
            start = reader.line_num + 1
            error: csv.Error | None = None
            try:
                fields: list[str] | None = next(reader)
            except StopIteration:
                fields = None
            except csv.Error as exc:
                error, fields = exc, []
            yield from problems  # lines the csv module just read that were not UTF-8
            problems.clear()
            if fields is None:
                break
            where = f"{path}:{start}"
            if error is not None:
                yield Problem(where, f"cannot be read as {claimed}: {error}; quote fields that contain quotes or line breaks")
                continue
            if not fields or fields == [""]:
                continue  # a blank line
            if len(fields) != len(header):
                yield Problem(
                    where,
                    f"has {len(fields)} fields but the header has {len(header)}; quote fields "
                    f"that contain {'tabs' if delimiter == chr(9) else 'commas'} or line breaks",
                )
                continue
            yield Row(where, dict(zip(header, fields)))

    return Reader(str(path), "tsv" if delimiter == "\t" else "csv", rows(), columns=header)
