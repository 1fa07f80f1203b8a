"""Readers for the finance sets in their original release formats.

- Financial PhraseBank (``Sentences_50Agree.txt`` and its siblings): one ``sentence@label``
  per line, ISO-8859-1 with CRLF line ends as released (a copy re-saved as UTF-8 is read too).
- FOMC hawkish/dovish (Shah et al., 2023): the released workbooks
  ``lab-manual-combine-{train,test}-<seed>.xlsx`` with columns ``sentence`` and ``label``
  (0 dovish, 1 hawkish, 2 neutral), or a CSV or JSONL file with those columns.
- TAT-QA prompt/completion JSONL: read here (not by the core) to keep ``meta.answer_type``
  and ``meta.scale`` as columns, for scoring by answer type.

Both non-commercial sets (PhraseBank, FOMC) are only ever read from a path the user gives.
The prompts are those of the shared JSONL files. Every problem names the file, the line (or
workbook row) and the field.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.datareaders import xlsx_records
from domaintune.errors import DataError

if TYPE_CHECKING:
    import datasets

MAX_REPORTED_PROBLEMS = 20

PHRASEBANK_INSTRUCTION = (
    "Classify the sentiment of this financial news sentence from an investor's point of view. "
    "Answer with one word: positive, negative, or neutral."
)
PHRASEBANK_LABELS = ("positive", "negative", "neutral")
PHRASEBANK_FILES = ("Sentences_50Agree.txt", "Sentences_66Agree.txt", "Sentences_75Agree.txt", "Sentences_AllAgree.txt")
FOMC_INSTRUCTION = (
    "Classify the monetary policy stance of this sentence from a U.S. Federal Reserve (FOMC) "
    "document. Answer with one word: hawkish, dovish, or neutral."
)
FOMC_LABELS = ("dovish", "hawkish", "neutral")
"""Index = the label code of the released files."""


def phrasebank_prompt(sentence: str) -> str:
    return f"{PHRASEBANK_INSTRUCTION}\n\nSentence: {sentence}\nSentiment:"


def fomc_prompt(sentence: str) -> str:
    return f"{FOMC_INSTRUCTION}\n\nSentence: {sentence}\nStance:"


def _raise_problems(path: Path, problems: list[str]) -> None:
    if problems:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(shown)
        raise DataError(
            f"{len(problems)} problem(s) in {path}:\n  " + "\n  ".join(shown)
            + (f"\n  ... and {more} more." if more else "")
        )


def _dataset(rows: list[dict[str, str]], path: Path, columns: Iterable[str] = ("prompt", "completion", "task")) -> datasets.Dataset:
    import datasets

    if not rows:
        raise DataError(f"{path} has no rows.")
    columns = tuple(columns)
    return datasets.Dataset.from_dict(
        {name: [row[name] for row in rows] for name in columns},
        features=datasets.Features({name: datasets.Value("string") for name in columns}),
    )


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"Data file {path} does not exist; pass an existing file with --data.")


def _utf8(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}:{line}: byte {exc.start} is not UTF-8; re-save the file as UTF-8.") from exc


# Financial PhraseBank ------------------------------------------------------------------------


def read_phrasebank(path: Path) -> datasets.Dataset:
    """Rows from a PhraseBank release file: ``sentence@label`` per line."""
    if path.is_dir():
        present = [name for name in PHRASEBANK_FILES if (path / name).is_file()]
        raise DataError(
            f"{path} is a folder; pass one PhraseBank file with --data, e.g. "
            f"{path / (present or PHRASEBANK_FILES)[0]} (the files differ in how many annotators "
            "had to agree on the label)."
        )
    _require_file(path)
    raw = path.read_bytes()
    try:
        # A copy re-saved as UTF-8 decodes as UTF-8; the release bytes (ISO-8859-1) do not.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    rows, problems = [], []
    # split("\n"), never splitlines(): Latin-1 text may hold U+0085, a line break to Python.
    for line_number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        sentence, separator, label = line.rpartition("@")
        label = label.strip().lower()
        if not separator:
            problems.append(f"{line_number}: has no '@'; each line must be sentence@label.")
        elif not sentence.strip():
            problems.append(f"{line_number}: field 'sentence' is empty.")
        elif label not in PHRASEBANK_LABELS:
            problems.append(
                f"{line_number}: field 'label' is {label!r}, expected positive, negative or "
                "neutral after the last '@'."
            )
        else:
            rows.append({"prompt": phrasebank_prompt(sentence.strip()), "completion": label, "task": ""})
    _raise_problems(path, [f"{path}:{problem}" for problem in problems])
    return _dataset(rows, path)


# FOMC hawkish/dovish -------------------------------------------------------------------------


def _fomc_label(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        in_range = float(value).is_integer() and 0 <= value < len(FOMC_LABELS)
        return FOMC_LABELS[int(value)] if in_range else None
    text = str(value).strip().lower()
    if text in FOMC_LABELS:
        return text
    try:
        code = float(text)  # "2", or "2.0" from a spreadsheet export
    except ValueError:
        return None
    return _fomc_label(code) if code.is_integer() else None


def _fomc_rows(path: Path, records: list[tuple[str, dict[str, Any]]]) -> datasets.Dataset:
    """Rows from (location, {column: value}) records."""
    rows, problems = [], []
    for at, record in records:
        fields = {str(key).strip().lower(): value for key, value in record.items() if key is not None}
        sentence, label = fields.get("sentence"), fields.get("label")
        if sentence is None or not str(sentence).strip():
            problems.append(f"{at}: field 'sentence' is missing or empty.")
            continue
        stance = _fomc_label(label) if label is not None else None
        if stance is None:
            problems.append(
                f"{at}: field 'label' is {label!r}; expected 0 (dovish), 1 (hawkish) or 2 (neutral)."
            )
            continue
        rows.append({"prompt": fomc_prompt(str(sentence).strip()), "completion": stance, "task": ""})
    _raise_problems(path, problems)
    return _dataset(rows, path)


def _check_columns(path: Path, header: Iterable[Any]) -> None:
    names = {str(name).strip().lower() for name in header if name is not None}
    missing = [name for name in ("sentence", "label") if name not in names]
    if missing:
        raise DataError(
            f"{path}:1: header has no column(s) {missing}; FOMC files have the columns "
            f"sentence and label (0 dovish, 1 hawkish, 2 neutral) (found: {sorted(names)})."
        )


def read_fomc(path: Path) -> datasets.Dataset:
    """Rows from an FOMC file: the release ``.xlsx``, a ``.csv``, or ``.jsonl`` with
    ``sentence`` and ``label`` fields."""
    _require_file(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        header, rows = xlsx_records(path)
        _check_columns(path, header)
        return _fomc_rows(path, [(f"{path}: row {number}", record) for number, record in rows])
    text = _utf8(path, path.read_bytes())
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        _check_columns(path, reader.fieldnames or [])
        records = []
        start = reader.line_num + 1
        for record in reader:
            records.append((f"{path}:{start}", record))  # a quoted field may span lines
            start = reader.line_num + 1
        return _fomc_rows(path, records)
    records, problems = [], []
    for line_number, line in enumerate(text.split("\n"), start=1):  # never splitlines (U+2028)
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{line_number}: invalid JSON at column {exc.colno}: {exc.msg}.")
            continue
        if not isinstance(record, dict):
            problems.append(f"{path}:{line_number}: is a JSON {type(record).__name__}, expected an object.")
            continue
        records.append((f"{path}:{line_number}", record))
    _raise_problems(path, problems)
    return _fomc_rows(path, records)


# TAT-QA --------------------------------------------------------------------------------------


def first_jsonl_row(path: Path) -> dict[str, Any]:
    """The first object of a JSONL file (empty if it cannot be read)."""
    try:
        with path.open("rb") as handle:
            for raw in handle:
                if raw.strip():
                    row = json.loads(raw.decode("utf-8-sig"))
                    return row if isinstance(row, dict) else {}
    except (OSError, ValueError):
        pass
    return {}


def is_tatqa_jsonl(path: Path) -> bool:
    row = first_jsonl_row(path)
    return "prompt" in row and isinstance(row.get("meta"), dict) and "answer_type" in row["meta"]


def _csv_header(path: Path) -> set[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return {name.strip().lower() for name in next(csv.reader(handle), [])}
    except (OSError, UnicodeDecodeError, csv.Error):
        return set()


def is_fomc_source(path: Path) -> bool:
    """A release workbook, or a CSV/JSONL with the workbook's sentence and label columns (any
    other CSV or JSONL is the core's to read)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return True
    if suffix == ".csv":
        columns = _csv_header(path)
    elif suffix == ".jsonl":
        columns = {str(key).lower() for key in first_jsonl_row(path)}
    else:
        return False
    return {"sentence", "label"} <= columns and "prompt" not in columns


def is_phrasebank_source(path: Path) -> bool:
    """A ``.txt`` file, or a folder of the release files (to say which one to pass)."""
    if path.is_dir():
        return any(path.glob("Sentences_*.txt"))
    return path.suffix.lower() == ".txt"


TATQA_COLUMNS = ("prompt", "completion", "task", "answer_type", "scale")


def read_tatqa_jsonl(
    path: Path, column_map: Mapping[str, str] | None = None, shape: str = "auto", domain_name: str | None = None
) -> datasets.Dataset:
    """The core's reading of a JSONL file (validated, every problem named), plus the columns
    ``answer_type`` and ``scale`` from each row's ``meta`` (empty where absent)."""
    from domaintune.data import read_data

    _require_file(path)
    dataset = read_data(path, shape=shape, column_map=column_map, domain_name=domain_name)
    metas = []
    for line in _utf8(path, path.read_bytes()).split("\n"):  # never splitlines (U+2028)
        if line.strip():
            meta = json.loads(line).get("meta")
            metas.append(meta if isinstance(meta, dict) else {})
    if len(metas) != len(dataset):  # the core skips no valid row; this would be a core change
        raise DataError(f"{path}: read {len(dataset)} rows but the file has {len(metas)} lines of JSON.")
    for name in ("answer_type", "scale"):
        dataset = dataset.add_column(name, [str(meta.get(name) or "") for meta in metas])
    return dataset
