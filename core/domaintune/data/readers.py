"""Data sources of every common format as a stream of raw rows: which reader a source gets.

A reader yields :class:`~domaintune.data.stream.Row` (a parsed value and its location:
``file:line`` for text formats, ``file row N`` for columnar ones) and
:class:`~domaintune.data.stream.Problem` (a line that could not be parsed). It never holds a
whole file (:mod:`domaintune.data.text_formats`, :mod:`domaintune.data.columnar`). What a
row must contain is decided later, in :mod:`domaintune.data.rows`; a reader only turns bytes
into values.

Errors about the source as a whole (missing, not a regular file, empty, not the claimed
format) raise :class:`~domaintune.errors.DataError` at once, with the fix.
"""

from __future__ import annotations

import re
from pathlib import Path

from domaintune.data.columnar import hub_reader, parquet_reader, saved_reader
from domaintune.data.source_files import READABLE, has_object_line, sniff, unreadable, wrong_format
from domaintune.data.stream import Reader
from domaintune.data.text_formats import JsonArray, csv_reader, jsonl_or_single_object, jsonl_rows
from domaintune.errors import DataError

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
# A hub dataset name, optionally with a split: "org/name", "name", "org/name:validation".
HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?")


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
    problem = unreadable(path)
    if problem is not None:
        raise DataError(f"{source}{for_domain}: {path} {problem}.")
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
                reader = Reader(str(path), "json", JsonArray(path).rows())
            elif looks_like.startswith("JSON (") or (
                looks_like in ("plain text", "comma-separated text (CSV)", "tab-separated text (TSV)")
                and has_object_line(path)
            ):  # many .json files are JSON Lines; a stray first line is reported by line
                rows = jsonl_rows(path) if kind == "jsonl" else jsonl_or_single_object(path)
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
