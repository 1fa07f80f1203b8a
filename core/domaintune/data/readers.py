"""Data files of every common format as a stream of raw rows, each with where it came from.

A reader yields :class:`Row` (a parsed value and its location: ``file:line`` for text formats,
``file row N`` for columnar ones) and :class:`Problem` (a line that could not be parsed). It
never holds a whole file: JSONL and CSV go line by line, a JSON array element by element,
Parquet and `datasets` folders batch by batch. What a row must contain is decided later, in
:mod:`domaintune.data.loading`; a reader only turns bytes into values.

Errors about the file as a whole (missing, empty, not the claimed format) raise
:class:`~domaintune.errors.DataError` at once, with the fix.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.errors import DataError

if TYPE_CHECKING:
    import datasets

MAX_ROW_BYTES = 8 * 1024 * 1024
"""A longer line is reported, not read: no real example needs 8 MiB (it is cut to max_length
tokens anyway), and a file that lost its line breaks would otherwise be read whole."""
CHUNK_BYTES = 1 << 20
BATCH_ROWS = 1024

FORMATS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonlines": "jsonl",
    ".json": "json",
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
    ".parquet": "parquet", ".pq": "parquet",
}
FORMAT_NAMES = {
    "jsonl": "JSON Lines", "json": "JSON", "csv": "CSV", "tsv": "TSV", "parquet": "Parquet",
    "saved": "a folder saved with datasets", "hub": "datasets.load_dataset",
}
READABLE = (
    "JSONL, JSON, CSV, TSV and Parquet files, folders saved with `datasets` "
    "(save_to_disk), and dataset names on the Hugging Face hub (org/name, or org/name:split)"
)
UTF8_FIX = "re-save the file as UTF-8 (e.g. `iconv -f cp1252 -t utf-8 IN > OUT`)"
# A hub dataset name, optionally with a split: "org/name", "name", "org/name:validation".
HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?")


@dataclass(frozen=True)
class Row:
    where: str
    """``path:line`` or ``path row N``; every message about this row starts with it."""
    value: Any


@dataclass(frozen=True)
class Problem:
    where: str
    message: str
    """What is wrong and how to fix it; the caller prefixes ``where``."""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Reader:
    """One source: what it is, what its columns mean, and its rows."""

    source: str
    format: str
    rows: Iterator[Row | Problem]
    columns: list[str] | None = None
    """Known up front for columnar formats; JSON rows are looked at instead."""
    label_names: dict[str, list[str]] = field(default_factory=dict)
    """Integer class labels -> names, where the source records them (datasets ClassLabel)."""
    identity: str = ""
    """What changes when the content changes (size and mtime, or a datasets fingerprint)."""


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


def _has_object_line(path: Path) -> bool:
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


# Lines -------------------------------------------------------------------------------------


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, bytes or None when too long, length) for each line; bounded memory."""
    with path.open("rb") as handle:
        number = 0
        while True:
            raw = handle.readline(MAX_ROW_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_ROW_BYTES:
                size = len(raw)
                while not raw.endswith(b"\n"):  # skip the rest without keeping it
                    raw = handle.readline(CHUNK_BYTES)
                    if not raw:
                        break
                    size += len(raw)
                yield number, None, size
                continue
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark, as Windows writes
            yield number, raw, len(raw)


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
    for number, raw, size in _raw_lines(path):
        where = f"{path}:{number}"
        if raw is None:
            yield Problem(where, _too_long(size))
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


# For plugins reading a release format of their own ------------------------------------------

MAX_REPORTED_PROBLEMS = 20
"""Problems listed in one error message; the count says how many there were in all."""


def problems_message(source: str, problems: list[str], count: int | None = None) -> str:
    """"N problem(s) in SOURCE:" and the first problems, one a line (``count`` when more were
    found than kept)."""
    count = len(problems) if count is None else count
    shown = problems[:MAX_REPORTED_PROBLEMS]
    more = count - len(shown)
    return (
        f"{count} problem(s) in {source}:\n  " + "\n  ".join(shown)
        + (f"\n  ... and {more} more." if more else "")
    )


def raise_problems(source: str, problems: list[str]) -> None:
    """Every problem of a file in one DataError, so that a user fixes them all in one pass."""
    if problems:
        raise DataError(problems_message(source, problems))


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


def string_dataset(
    rows: list[dict[str, str]], source: Path, columns: tuple[str, ...] = ("prompt", "completion", "task")
) -> datasets.Dataset:
    """The rows a loader built, as a dataset of string columns; an error if there are none."""
    import datasets

    if not rows:
        raise DataError(f"{source} has no rows.")
    return datasets.Dataset.from_dict(
        {name: [row[name] for row in rows] for name in columns},
        features=datasets.Features({name: datasets.Value("string") for name in columns}),
    )


def jsonl_objects(path: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The objects of a JSON Lines file, each with its ``path:line``, and one message per bad
    line (not UTF-8, invalid JSON, not an object): for a plugin reading a release format."""
    records: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    for item in jsonl_rows(path):
        if isinstance(item, Problem):
            problems.append(f"{item}.")
        elif not isinstance(item.value, dict):
            problems.append(f"{item.where}: is a JSON {type(item.value).__name__}, expected an object.")
        else:
            records.append((item.where, item.value))
    return records, problems


# JSON array ---------------------------------------------------------------------------------


class _JsonArray:
    """Streams the elements of a top-level JSON array with their line numbers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.decoder = json.JSONDecoder()
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.buffer = ""
        self.pos = 0
        self.line = 1  # line of self.pos
        self.raw_newlines = 0
        self.eof = False

    def _more(self, handle: Any) -> None:
        """Append the next chunk; drop what has been consumed."""
        chunk = handle.read(CHUNK_BYTES)
        if not chunk:
            self.eof = True
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


def _jsonl_or_single_object(path: Path) -> Iterator[Row | Problem]:
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
    for number, raw, size in _raw_lines(path):
        if raw is None:
            problems.append(Problem(f"{path}:{number}", _too_long(size)))
            yield "\n"
            continue
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


# Parquet and datasets -----------------------------------------------------------------------


def _class_label_names(features: Any) -> dict[str, list[str]]:
    import datasets

    return {
        name: list(feature.names)
        for name, feature in features.items()
        if isinstance(feature, datasets.ClassLabel)
    }


def parquet_reader(path: Path) -> Reader:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        looks_like = sniff(path)
        if looks_like == "a Parquet file":
            raise DataError(f"{path} is a damaged Parquet file ({exc}); write it again.") from None
        if looks_like == "empty":
            raise DataError(f"{path} is empty; write the rows to it again.") from None
        raise wrong_format(path, "Parquet", looks_like) from None
    try:
        labels = _class_label_names(datasets.Features.from_arrow_schema(parquet.schema_arrow))
    except Exception:  # metadata from another writer; integer labels will be reported
        labels = {}

    def rows() -> Iterator[Row | Problem]:
        number = 0
        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
                for value in batch.to_pylist():
                    number += 1
                    yield Row(f"{path} row {number}", value)
        except (pa.ArrowException, OSError) as exc:
            yield Problem(f"{path} row {number + 1}", f"cannot be read ({exc}); the file is damaged: write it again")

    return Reader(str(path), "parquet", rows(), columns=parquet.schema_arrow.names, label_names=labels)


def dataset_reader(dataset: Any, source: str, format: str, identity: str) -> Reader:
    """Rows of an Arrow-backed ``datasets.Dataset``, batch by batch."""

    def rows() -> Iterator[Row]:
        number = 0
        for batch in dataset.iter(batch_size=BATCH_ROWS):
            columns = list(batch)
            for values in zip(*batch.values()):
                number += 1
                yield Row(f"{source} row {number}", dict(zip(columns, values)))

    return Reader(
        source, format, rows(), columns=list(dataset.column_names),
        label_names=_class_label_names(dataset.features), identity=identity,
    )


def _pick_split(splits: dict[str, Any], split: str | None, source: str) -> tuple[Any, str]:
    if split is not None:
        if split not in splits:
            raise DataError(
                f"{source} has no split {split!r} (splits: {', '.join(splits)}); write "
                f"{source}:SPLIT with one of them."
            )
        return splits[split], split
    if "train" in splits:
        return splits["train"], "train"
    if len(splits) == 1:
        name = next(iter(splits))
        return splits[name], name
    raise DataError(
        f"{source} has splits {', '.join(splits)} and none is called 'train'; choose one with "
        f"{source}:SPLIT."
    )


def saved_reader(path: Path, split: str | None) -> Reader:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises several types for a damaged folder
        raise DataError(
            f"{path} looks like a folder saved with datasets but cannot be loaded "
            f"({type(exc).__name__}: {exc}); save it again with save_to_disk."
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        loaded, split = _pick_split(dict(loaded), split, str(path))
        source = f"{path}:{split}"
    elif split is not None:
        raise DataError(f"{path} holds one dataset, not splits; leave out ':{split}'.")
    else:
        source = str(path)
    return dataset_reader(loaded, source, "saved", identity=f"saved:{loaded._fingerprint}")


def hub_reader(name: str, split: str | None) -> Reader:
    """``datasets.load_dataset`` on a hub name, or on a local folder of data files (the same
    code path, which is how it is tested offline)."""
    import datasets

    try:
        loaded = datasets.load_dataset(name) if split is None else {split: datasets.load_dataset(name, split=split)}
    except Exception as exc:  # network, missing repo, bad split, unreadable files: all say why
        reason = f"{type(exc).__name__}: {exc}".strip()
        cause = exc.__cause__ or exc.__context__
        if cause is not None:
            reason += f" ({type(cause).__name__}: {cause})"
        if Path(name).is_dir():
            raise DataError(
                f"{name} is a folder but not one saved with datasets (save_to_disk), and "
                f"datasets.load_dataset could not read its data files: {reason[:800]}. Give the "
                "files inside it one by one (`tune data check FILE` names bad lines), or give "
                "every split the same columns."
            ) from None
        raise DataError(
            f"{name} is not a file or folder here, and datasets.load_dataset({name!r}) failed "
            f"({reason[:800]}). Check the path; for a hub dataset check the name and the "
            "network (with HF_HUB_OFFLINE=1 only datasets already cached load)."
        ) from None
    if isinstance(loaded, datasets.IterableDatasetDict):
        raise DataError(f"{name} loaded as a streaming dataset; domaintune needs a map-style one.")
    dataset, split = _pick_split(dict(loaded), split, name)
    source = f"{name}:{split}"
    return dataset_reader(dataset, source, "hub", identity=f"hub:{dataset._fingerprint}")


# Dispatch -----------------------------------------------------------------------------------


def _split_suffix(source: str) -> tuple[str, str | None]:
    """``folder:split`` or ``org/name:split`` -> (base, split), when ``source`` is no path."""
    if Path(source).exists() or ":" not in source:
        return source, None
    base, _, split = source.rpartition(":")
    if base and re.fullmatch(r"[\w.-]+", split):
        return base, split
    return source, None


def open_source(source: str, domain_name: str | None = None) -> Reader:
    """The reader for ``source``: a file (by its extension), a folder, or a hub name."""
    for_domain = f" for domain {domain_name!r}" if domain_name else ""
    base, split = _split_suffix(source)
    path = Path(base)
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return saved_reader(path, split)
        return hub_reader(str(path), split)  # a folder of data files, as a hub repo is
    suffixes = "".join(path.suffixes[-2:]).lower()
    kind = FORMATS.get(path.suffix.lower())
    if path.is_file():
        if split is not None:
            raise DataError(f"{source}: a ':split' suffix is for folders and hub names, not files.")
        if kind is None:
            raise DataError(
                f"No installed plugin reads {source}{for_domain}: the core reads {READABLE}, "
                f"and {path.suffix or 'a file without an extension'} is none of these. Convert "
                "the file, or install a plugin that reads it."
                + (" Decompress it first." if suffixes.endswith((".gz", ".bz2", ".xz", ".zst", ".zip")) else "")
            )
        identity = f"{path.stat().st_size}:{path.stat().st_mtime_ns}"
        if kind == "parquet":
            reader = parquet_reader(path)
        elif kind in ("csv", "tsv"):
            reader = csv_reader(path, "\t" if kind == "tsv" else ",")
        else:
            looks_like = sniff(path)
            if looks_like == "empty":
                raise DataError(
                    f"{path} has no rows; it must hold one JSON object per line (or a JSON array "
                    "of objects)."
                )
            if looks_like == "a JSON array":  # named .jsonl or .json: the content is unambiguous
                reader = Reader(str(path), "json", _JsonArray(path).rows())
            elif looks_like.startswith("JSON (") or (
                looks_like in ("plain text", "comma-separated text (CSV)", "tab-separated text (TSV)")
                and _has_object_line(path)
            ):  # many .json files are JSON Lines; a stray first line is reported by line
                rows = jsonl_rows(path) if kind == "jsonl" else _jsonl_or_single_object(path)
                reader = Reader(str(path), "jsonl", rows)
            else:
                raise wrong_format(path, FORMAT_NAMES[kind], looks_like)
        reader.identity = identity
        return reader
    looks_like_file = kind is not None or re.fullmatch(r"\.[A-Za-z]{1,8}", path.suffix)
    if looks_like_file or base.startswith((".", "/", "~")) or not HUB_NAME.fullmatch(base):
        raise DataError(
            f"No installed plugin reads {source}{for_domain}: the file does not exist. Check the "
            "path, or pass an existing file or folder with --data."
        )
    return hub_reader(base, split)


def xlsx_records(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """The first sheet of an ``.xlsx`` workbook: its header, and each non-blank row as
    (spreadsheet row number, header -> cell). For packs whose datasets ship as workbooks."""
    try:
        import openpyxl
    except ImportError as exc:  # declared by the packs that need it; a trimmed install may lack it
        raise DataError(f"Reading {path} needs openpyxl: `pip install openpyxl`.") from exc
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for damaged files
        raise DataError(f"{path} could not be opened as an .xlsx workbook: {exc}") from exc
    try:
        values = list(workbook.worksheets[0].iter_rows(values_only=True))
    finally:
        workbook.close()
    if not values:
        raise DataError(f"{path} has no rows.")
    header = [str(cell) if cell is not None else "" for cell in values[0]]
    records = [
        (number, dict(zip(header, row)))
        for number, row in enumerate(values[1:], start=2)
        if any(cell is not None and str(cell).strip() for cell in row)
    ]
    return header, records
