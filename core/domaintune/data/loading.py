"""Loading a source: its rows read, checked and written to Arrow, or every problem in one error.

Every format (:mod:`domaintune.data.readers`) and every row shape
(:mod:`domaintune.data.columns`) ends up as the same Arrow table with string columns
``prompt``, ``completion`` and ``task``; chat rows keep their ``messages`` too, so a formatter
can use the original system and user turns.

Every problem names the file, the line (or row) and the field, and says how to fix it; all
problems of a file are gathered so that one run shows them all. A file that loads is written
to the data cache (:mod:`domaintune.data.cache`: private, and by default gone when the
process ends); nothing is cached for a file with errors.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.data.cache import cache_key, data_cache_dir, write_private_text
from domaintune.data.columns import make_plan, validate_column_map
from domaintune.data.problems import problems_message
from domaintune.data.readers import open_source
from domaintune.data.rows import COLUMNS, RowReader, a_json_type
from domaintune.data.stream import BATCH_ROWS, Problem, Row
from domaintune.errors import DataError

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa

MAX_KEPT_PROBLEMS = 1000
PEEK_ROWS = 100
"""Rows looked at to detect the shape of a JSON file (columnar formats have a schema)."""


class RowErrors(DataError):
    """Rows of a source that cannot be used; ``problems`` lists them (up to a limit)."""

    def __init__(self, message: str, problems: list[str], count: int) -> None:
        super().__init__(message)
        self.problems = problems
        self.count = count




@dataclass
class LoadInfo:
    """What was read, for `tune data check` and error messages."""

    source: str
    format: str
    shape: str
    fields: dict[str, str]
    detected: bool
    rows: int
    notes: list[str] = field(default_factory=list)


@dataclass
class Loaded:
    dataset: datasets.Dataset
    info: LoadInfo | None
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    temporary: Path | None = None
    """The Arrow file of a source with problems (lenient loads only); ``close`` removes it."""

    def close(self) -> None:
        if self.temporary is not None:
            self.temporary.unlink(missing_ok=True)
            self.temporary = None


def _schema(shape: str) -> pa.Schema:
    import pyarrow as pa

    columns = [(name, pa.string()) for name in COLUMNS]
    if shape == "messages":
        message = pa.struct([("role", pa.string()), ("content", pa.string())])
        columns.append(("messages", pa.list_(message)))
    return pa.schema(columns)


def read_data(
    source: str | Path,
    shape: str = "auto",
    column_map: Mapping[str, str] | None = None,
    domain_name: str | None = None,
) -> datasets.Dataset:
    """Read any supported source into prompt/completion/task rows (plus ``messages`` for chat
    rows), validating every row; raises :class:`RowErrors` listing every bad row."""
    return load(source, shape=shape, column_map=column_map, domain_name=domain_name).dataset


def load(
    source: str | Path,
    *,
    shape: str = "auto",
    column_map: Mapping[str, str] | None = None,
    domain_name: str | None = None,
    strict: bool = True,
) -> Loaded:
    """Read ``source`` with what was detected about it.

    ``strict``: raise :class:`RowErrors` when any row is bad. Otherwise return the good rows
    with the problems (``tune data check`` reports both); call ``close`` when done.
    """
    import datasets

    column_map = validate_column_map(column_map)
    reader = open_source(str(source), domain_name)
    where_from = str(Path(reader.source).resolve()) if reader.format not in ("saved", "hub") else reader.source
    key = cache_key(reader.format, where_from, reader.identity, shape, column_map)
    folder = data_cache_dir()
    cached, meta = folder / f"{key}.arrow", folder / f"{key}.json"
    if cached.is_file() and meta.is_file():
        try:
            info = LoadInfo(**json.loads(meta.read_text(encoding="utf-8")))
            return Loaded(datasets.Dataset.from_file(str(cached)), info)
        except Exception:  # a damaged cache entry is read again from the source
            pass

    head = list(islice(reader.rows, PEEK_ROWS))
    columns = reader.columns
    if columns is None:
        seen: dict[str, None] = {}
        for item in head:
            if isinstance(item, Row) and isinstance(item.value, dict):
                seen.update(dict.fromkeys(item.value))
        columns = list(seen)
    if not head:
        raise DataError(f"{reader.source} has no rows (nothing but blank lines, or a header); add the rows.")
    plan = make_plan(columns, shape, column_map, reader.source) if columns else None
    read_row = RowReader(plan, reader.label_names) if plan else None

    import pyarrow as pa

    partial = folder / f".{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial"
    problems: list[str] = []
    count = good = 0
    writer = None
    try:
        with pa.OSFile(str(partial), "wb") as sink:
            partial.chmod(0o600)  # raw rows, before any filter: the owner's only
            batch: list[dict[str, Any]] = []
            for item in chain(head, reader.rows):
                row_problems: list[str]
                if isinstance(item, Problem):
                    row_problems, row = [item.message], None
                else:
                    if read_row is None and isinstance(item.value, dict):
                        # Every row looked at so far was unreadable: this is the first object.
                        plan = make_plan(list(item.value), shape, column_map, reader.source)
                        read_row = RowReader(plan, reader.label_names)
                    if read_row is None:
                        row_problems, row = [f"the row is {a_json_type(item.value)}, expected an object"], None
                    else:
                        row, row_problems = read_row(item.value)
                if row_problems:
                    count += len(row_problems)
                    problems.extend(f"{item.where}: {p}" for p in row_problems[: MAX_KEPT_PROBLEMS - len(problems)])
                    continue
                good += 1
                if strict and count:
                    continue  # this file will not load: stop writing, keep checking
                batch.append(row)
                if len(batch) >= BATCH_ROWS:
                    schema = _schema(plan.shape)  # type: ignore[union-attr]
                    writer = writer or pa.ipc.new_stream(sink, schema)
                    writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
                    batch = []
            schema = _schema(plan.shape if plan else "prompt_completion")
            writer = writer or pa.ipc.new_stream(sink, schema)
            if batch:
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
            writer.close()
        described = f" (read as {plan.describe()})" if plan else ""
        if count and (strict or read_row is None):
            raise RowErrors(problems_message(f"{reader.source}{described}", problems, count), problems, count)
        if good == 0 and not count:
            raise DataError(f"{reader.source} has no rows; {plan.requirement if plan else 'it holds no objects'}.")
        assert plan is not None and read_row is not None
        notes = []
        if read_row.earlier_weighted:
            notes.append(
                f"{read_row.earlier_weighted} conversation(s) mark earlier assistant messages with "
                "weight 1; domaintune trains on the last assistant message of each row only (split "
                "such conversations into one row per answer to train on each)"
            )
        if read_row.labels_named:
            notes.append(f"integer labels were turned into their class names in {read_row.labels_named} row(s)")
        info = LoadInfo(reader.source, reader.format, plan.shape, plan.fields, plan.detected, good, notes)
        if count:  # lenient, with problems: the good rows, in a file the caller removes
            return Loaded(datasets.Dataset.from_file(str(partial)), info, problems, count, partial)
        meta_partial = partial.with_suffix(".meta")
        write_private_text(meta_partial, json.dumps(asdict(info)))
        os.replace(meta_partial, meta)
        os.replace(partial, cached)  # whole or not at all: a crash leaves only a .partial
        return Loaded(datasets.Dataset.from_file(str(cached)), info)
    except BaseException:
        partial.unlink(missing_ok=True)
        partial.with_suffix(".meta").unlink(missing_ok=True)
        raise


def load_info(dataset: datasets.Dataset) -> LoadInfo | None:
    """What the core loader recorded about ``dataset`` (None for a plugin's dataset)."""
    for cache_file in dataset.cache_files:
        meta = Path(cache_file["filename"]).with_suffix(".json")
        if meta.parent == data_cache_dir() and meta.is_file():
            return LoadInfo(**json.loads(meta.read_text(encoding="utf-8")))
    return None
