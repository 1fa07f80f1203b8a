"""Readers for the healthcare sets in their original release formats.

- PubMedQA: ``ori_pqal.json`` (and the fold files its ``split_dataset.py`` writes), one JSON
  object mapping each PMID to ``{QUESTION, CONTEXTS, LABELS, final_decision, ...}``.
- MeQSum: the released workbook (columns ``File``, ``CHQ``, ``Summary``), or a CSV, TSV or
  JSONL file with those columns.

Prompt/completion JSONL is the core's own format and is left to it; the prompts built here
are the ones in those files, so a run gives the same rows whichever format it reads.
Every problem names the file, the line (or workbook row) and the field.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.kit import (
    DataError,
    jsonl_objects,
    raise_problems,
    read_utf8,
    require_file,
    string_dataset,
    xlsx_records,
)

if TYPE_CHECKING:
    import datasets


PUBMEDQA_INSTRUCTION = (
    "Answer the biomedical research question using the abstract below. "
    "Reply with one word: yes, no, or maybe."
)
PUBMEDQA_LABELS = ("yes", "no", "maybe")
MEQSUM_INSTRUCTION = (
    "Summarize the following consumer health question into one short, precise question."
)
MEQSUM_COLUMNS = ("CHQ", "Summary")


def pubmedqa_prompt(question: str, contexts: list[str], labels: list[str]) -> str:
    """The abstract's sections as ``LABEL: text`` lines, then the question."""
    abstract = "\n".join(f"{label}: {context}" for label, context in zip(labels, contexts))
    return f"{PUBMEDQA_INSTRUCTION}\n\nAbstract:\n{abstract}\n\nQuestion: {question}\nAnswer:"


def meqsum_prompt(question: str) -> str:
    return f"{MEQSUM_INSTRUCTION}\n\nConsumer question:\n{_clean(question)}\n\nSummary:"


def _clean(text: str) -> str:
    # Workbook cells keep Windows line breaks; the JSONL prompts have plain newlines.
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


# PubMedQA ------------------------------------------------------------------------------------


def _line_of_key(text: str, key: str) -> int:
    """The line on which ``"key":`` first appears in a JSON text (1 if it cannot be found)."""
    match = re.search(re.escape(json.dumps(key)) + r"\s*:", text)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def _pubmedqa_item_problems(item: Any) -> list[tuple[str, str]]:
    if not isinstance(item, dict):
        return [("(item)", f"is a JSON {type(item).__name__}, expected an object")]
    problems = []
    for name in ("QUESTION", "final_decision"):
        value = item.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.append((name, "is missing or empty"))
    for name in ("CONTEXTS", "LABELS"):
        value = item.get(name)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append((name, "must be a list of strings"))
    if not problems:
        if not item["CONTEXTS"]:
            problems.append(("CONTEXTS", "is empty"))
        elif len(item["LABELS"]) != len(item["CONTEXTS"]):
            problems.append(
                ("LABELS", f"has {len(item['LABELS'])} entries for {len(item['CONTEXTS'])} "
                 "CONTEXTS; each context needs its section label")
            )
        decision = item["final_decision"].strip().lower()
        if decision not in PUBMEDQA_LABELS:
            problems.append(
                ("final_decision", f"is {item['final_decision']!r}, expected yes, no or maybe")
            )
    return problems


def read_pubmedqa_json(path: Path) -> datasets.Dataset:
    """Rows from a PubMedQA release file: a JSON object of PMID -> labelled item."""
    text = read_utf8(path)
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON at column {exc.colno}: {exc.msg}.") from exc
    if not isinstance(items, dict):
        raise DataError(
            f"{path}:1: is a JSON {type(items).__name__}; a PubMedQA file (ori_pqal.json) is one "
            "object mapping each PMID to its item."
        )
    if items and all(isinstance(value, str) for value in items.values()):
        raise DataError(
            f"{path} maps PMIDs to bare labels (like test_ground_truth.json); pass ori_pqal.json, "
            "which holds the questions and abstracts."
        )
    rows, problems = [], []
    for pmid, item in items.items():
        found = _pubmedqa_item_problems(item)
        if found:
            line = _line_of_key(text, pmid)
            problems.extend(f"{path}:{line}: PMID {pmid}: field {name!r} {problem}." for name, problem in found)
            continue
        rows.append(
            {
                "prompt": pubmedqa_prompt(item["QUESTION"].strip(), item["CONTEXTS"], item["LABELS"]),
                "completion": item["final_decision"].strip().lower(),
                "task": "",
            }
        )
    raise_problems(str(path), problems)
    return string_dataset(rows, path)


# MeQSum --------------------------------------------------------------------------------------


def _meqsum_rows(path: Path, records: list[tuple[str, dict[str, Any]]]) -> datasets.Dataset:
    """Rows from (location, {column: value}) records."""
    rows, problems = [], []
    for at, record in records:
        by_name = {str(key).strip().lower(): value for key, value in record.items() if key is not None}
        fields = {}
        for name in MEQSUM_COLUMNS:
            value = by_name.get(name.lower())
            if value is None or not str(value).strip():
                problems.append(f"{at}: field {name!r} is missing or empty.")
            else:
                fields[name] = str(value)
        if len(fields) == len(MEQSUM_COLUMNS):
            rows.append(
                {"prompt": meqsum_prompt(fields["CHQ"]), "completion": _clean(fields["Summary"]), "task": ""}
            )
    raise_problems(str(path), problems)
    return string_dataset(rows, path)


def _check_header(path: Path, header: list[str]) -> None:
    names = {str(name).strip().lower() for name in header if name is not None}
    missing = [name for name in MEQSUM_COLUMNS if name.lower() not in names]
    if missing:
        raise DataError(
            f"{path}:1: header has no column(s) {missing}; MeQSum files have the columns "
            f"File, CHQ (the consumer question) and Summary (found: {header})."
        )


def read_meqsum_table(path: Path) -> datasets.Dataset:
    """Rows from MeQSum as CSV (``.csv``) or TSV (``.tsv``) with a File/CHQ/Summary header."""
    text = read_utf8(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    _check_header(path, reader.fieldnames or [])
    records = []
    start = reader.line_num + 1
    for record in reader:
        records.append((f"{path}:{start}", record))  # a quoted field may span lines: name the first
        start = reader.line_num + 1
    return _meqsum_rows(path, records)


def read_meqsum_xlsx(path: Path) -> datasets.Dataset:
    """Rows from the released workbook (first sheet, header row File/CHQ/Summary)."""
    require_file(path)
    header, records = xlsx_records(path)
    _check_header(path, header)
    return _meqsum_rows(path, [(f"{path}: row {number}", record) for number, record in records])


def read_meqsum_jsonl(path: Path) -> datasets.Dataset:
    """Rows from JSONL with one ``{"File": ..., "CHQ": ..., "Summary": ...}`` object per line."""
    require_file(path)
    records, problems = jsonl_objects(path)
    raise_problems(str(path), problems)
    return _meqsum_rows(path, records)


def first_jsonl_keys(path: Path) -> set[str]:
    """The keys of the first object in a JSONL file (empty if it cannot be read)."""
    try:
        with path.open("rb") as handle:
            for raw in handle:
                if raw.strip():
                    row = json.loads(raw.decode("utf-8-sig"))
                    return set(row) if isinstance(row, dict) else set()
    except (OSError, ValueError):
        pass
    return set()


def _csv_header(path: Path) -> set[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
            return {name.strip() for name in next(csv.reader(handle, delimiter=delimiter), [])}
    except (OSError, UnicodeDecodeError, csv.Error):
        return set()


def is_meqsum_source(path: Path) -> bool:
    """The release workbook, or a CSV/TSV/JSONL with its CHQ and Summary columns (any other
    CSV or JSONL is the core's to read)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return True
    if suffix in (".csv", ".tsv"):
        columns = _csv_header(path)
    elif suffix == ".jsonl":
        columns = first_jsonl_keys(path)
    else:
        return False
    names = {name.lower() for name in columns}
    return {"chq", "summary"} <= names and "prompt" not in names


# {"<PMID>": {"QUESTION": ...}} (ori_pqal.json, fold files) or {"<PMID>": "yes"} (ground truth).
_PUBMEDQA_START = re.compile(r'\A\s*\{\s*"\d+"\s*:\s*(?:\{\s*"[A-Za-z_]+"|"(?:yes|no|maybe)")')


def is_pubmedqa_json(path: Path) -> bool:
    """A JSON object keyed by PMIDs, as PubMedQA releases its data (other JSON is the core's)."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    with path.open("rb") as handle:
        head = handle.read(4096).decode("utf-8-sig", errors="replace")
    return bool(_PUBMEDQA_START.match(head))
