"""Readers for the finance sets in their original release formats.

- Financial PhraseBank (``Sentences_50Agree.txt`` and its siblings): one ``sentence@label``
  per line, ISO-8859-1 with CRLF line ends as released (a copy re-saved as UTF-8 is read too).
- FOMC hawkish/dovish (Shah et al., 2023): the released workbooks
  ``lab-manual-combine-{train,test}-<seed>.xlsx`` with columns ``sentence`` and ``label``
  (0 dovish, 1 hawkish, 2 neutral), or a CSV or JSONL file with those columns.
- TAT-QA prompt/completion JSONL: read here (not by the core) to keep ``meta.answer_type``
  and ``meta.scale`` as columns, for scoring by answer type.
- TAT-QA as released (``dataset_raw/tatqa_dataset_{train,dev,test_gold}.json``): a JSON array
  of items, each a table, its paragraphs and its questions; one row per question, rendered as
  the shared JSONL renders it, with the same ``answer_type`` and ``scale`` columns.

Both non-commercial sets (PhraseBank, FOMC) are only ever read from a path the user gives.
The prompts are those of the shared JSONL files. Every problem names the file, the line (or
workbook row) and the field.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.kit import (
    DataError,
    a_json_type,
    decode_utf8,
    jsonl_objects,
    raise_problems,
    require_file,
    string_dataset,
    text_problem,
    xlsx_records,
)

if TYPE_CHECKING:
    import datasets


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
    require_file(path)
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
    raise_problems(str(path), [f"{path}:{problem}" for problem in problems])
    return string_dataset(rows, path)


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
    raise_problems(str(path), problems)
    return string_dataset(rows, path)


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
    require_file(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        header, rows = xlsx_records(path)
        _check_columns(path, header)
        return _fomc_rows(path, [(f"{path}: row {number}", record) for number, record in rows])
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(decode_utf8(path, path.read_bytes()), newline=""))
        _check_columns(path, reader.fieldnames or [])
        records = []
        start = reader.line_num + 1
        for record in reader:
            records.append((f"{path}:{start}", record))  # a quoted field may span lines
            start = reader.line_num + 1
        return _fomc_rows(path, records)
    records, problems = jsonl_objects(path)
    raise_problems(str(path), problems)
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
    from domaintune.kit import read_data

    require_file(path)
    dataset = read_data(path, shape=shape, column_map=column_map, domain_name=domain_name)
    metas = []
    for line in decode_utf8(path, path.read_bytes()).split("\n"):  # never splitlines (U+2028)
        if line.strip():
            meta = json.loads(line).get("meta")
            metas.append(meta if isinstance(meta, dict) else {})
    if len(metas) != len(dataset):  # the core skips no valid row; this would be a core change
        raise DataError(f"{path}: read {len(dataset)} rows but the file has {len(metas)} lines of JSON.")
    for name in ("answer_type", "scale"):
        dataset = dataset.add_column(name, [str(meta.get(name) or "") for meta in metas])
    return dataset


# TAT-QA release JSON -------------------------------------------------------------------------

TATQA_INSTRUCTION = (
    "Answer the question using the table and text from a company's financial report. "
    "Give only the final answer."
)
TATQA_ANSWER_TYPES = ("span", "multi-span", "arithmetic", "count")
TATQA_SCALES = ("", "thousand", "million", "billion", "percent")
TATQA_ITEM_KEYS = ("table", "paragraphs", "questions")
TATQA_RELEASE = "TAT-QA's dataset_raw/tatqa_dataset_{train,dev,test_gold}.json"
SNIFF_BYTES = 1 << 16
_RELEASE_HEAD = re.compile(rb'^\s*\[\s*\{\s*"(?:table|paragraphs|questions)"\s*:')


def tatqa_prompt(table: list[list[str]], paragraphs: list[str], question: str) -> str:
    """The prompt of the shared JSONL: each table row's cells joined by `` | `` (as they are,
    spaces and line breaks kept), the paragraphs one per line, then the question."""
    rendered = "\n".join(" | ".join(row) for row in table)
    text = "\n".join(paragraphs)
    return f"{TATQA_INSTRUCTION}\n\nTable:\n{rendered}\n\nText:\n{text}\n\nQuestion: {question}\nAnswer:"


def tatqa_completion(answer: str | float | list[str | float], scale: str) -> str:
    """The completion of the shared JSONL: the spans joined by ``"; "``, then the scale: a
    ``%`` for percent (unless the answer already ends with one), else `` thousand`` etc."""
    text = "; ".join(str(span) for span in answer) if isinstance(answer, list) else str(answer)
    if scale == "percent":
        return text if text.endswith("%") else f"{text}%"
    return f"{text} {scale}" if scale else text


def _json_kind(value: Any) -> str:
    """The core's "a number", "an array"...; a number shows its value, to find it in the file."""
    return f"a number ({value!r})" if _is_number(value) else a_json_type(value)


def _string_problem(value: Any, allow_empty: bool = True) -> str | None:
    """What is wrong with ``value`` as a text field, or None: the core's row check
    (emptiness, unpaired surrogate escapes), with a TAT-QA cell's number named as a number."""
    if not isinstance(value, str):
        fix = '; write it in quotes (e.g. "42")' if _is_number(value) else ""
        return f"is {_json_kind(value)}, expected a string{fix}"
    return text_problem(value, allow_empty=allow_empty)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _answer_problem(answer: Any) -> str | None:
    if isinstance(answer, list):
        if not answer:
            return "is an empty array; give the answer's spans"
        for index, span in enumerate(answer):
            if not (_is_number(span) or isinstance(span, str)):
                return f"[{index}] is {_json_kind(span)}; a multi-span answer is an array of strings"
            if isinstance(span, str) and _string_problem(span):
                return f"[{index}] {_string_problem(span)}"
    elif isinstance(answer, str):
        problem = _string_problem(answer)
        if problem:
            return problem
    elif not _is_number(answer):
        return (
            f"is {_json_kind(answer)}; expected an array of strings (span, multi-span), a number "
            "(arithmetic) or a string (count)"
        )
    if not tatqa_completion(answer, "").strip():
        return "is empty; give the answer"
    return None


def _uid(value: Any, label: str = "uid") -> str:
    """`` (uid X)`` for an object with a uid, to name it in a message; else nothing."""
    uid = value.get("uid") if isinstance(value, dict) else None
    return f" ({label} {uid})" if isinstance(uid, (str, int)) and not isinstance(uid, bool) and str(uid) else ""


def _not_an_array(value: Any, at: str, field: str, expected: str, problems: list[str]) -> bool:
    """Whether ``value`` is not an array; if so, the problem naming the field and what it must hold is added."""
    if isinstance(value, list):
        return False
    problems.append(f"{at}: field {field!r} is {_json_kind(value)}; it must be an array of {expected}.")
    return True


def _tatqa_table(item: dict[str, Any], at: str, problems: list[str]) -> list[list[str]] | None:
    table = item["table"]
    if not isinstance(table, dict) or "table" not in table:
        got = "has no field 'table'" if isinstance(table, dict) else f"is {_json_kind(table)}"
        problems.append(
            f"{at}: field 'table' {got}; it must be an object {{\"uid\": ..., \"table\": [[cell, ...], ...]}} "
            f"as in {TATQA_RELEASE}."
        )
        return None
    rows = table["table"]
    if _not_an_array(rows, at, "table.table", "rows, each an array of cell strings", problems):
        return None
    bad = [f"row [{r}] is {_json_kind(row)}" for r, row in enumerate(rows) if not isinstance(row, list)]
    if bad:
        problems.append(f"{at}: field 'table.table' {bad[0]}; each row must be an array of cell strings.")
        return None
    found = False
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            problem = _string_problem(cell)
            if problem:
                problems.append(f"{at}: field 'table.table' row [{r}] cell [{c}] {problem}.")
                found = True
    return None if found else rows


def _tatqa_paragraphs(item: dict[str, Any], at: str, problems: list[str]) -> list[str] | None:
    paragraphs = item["paragraphs"]
    expected = '{"uid", "order", "text"} objects (an empty array if the table has no text)'
    if _not_an_array(paragraphs, at, "paragraphs", expected, problems):
        return None
    ordered, count = [], len(problems)
    for index, paragraph in enumerate(paragraphs):
        where = f"{at}, paragraphs[{index}]{_uid(paragraph)}"
        if not isinstance(paragraph, dict):
            problems.append(f'{where}: is {_json_kind(paragraph)}, expected an object {{"uid", "order", "text"}}.')
            continue
        order, text = paragraph.get("order"), paragraph.get("text")
        if not isinstance(order, int) or isinstance(order, bool):
            missing = "is missing" if "order" not in paragraph else f"is {_json_kind(order)}"
            problems.append(f"{where}: field 'order' {missing}; give the paragraph's position (1, 2, ...) as a number.")
        problem = "is missing" if "text" not in paragraph else _string_problem(text)
        if problem:
            problems.append(f"{where}: field 'text' {problem}; give the paragraph's text as a string.")
        if len(problems) == count:
            ordered.append((order, text))
    if len(problems) > count:
        return None
    return [text for _, text in sorted(ordered, key=lambda pair: pair[0])]  # stable: ties keep file order


def _tatqa_question(question: Any, at: str, problems: list[str]) -> dict[str, str] | None:
    if not isinstance(question, dict):
        problems.append(f"{at}: is {_json_kind(question)}, expected a question object.")
        return None
    count = len(problems)
    text = question.get("question")
    problem = "is missing" if "question" not in question else _string_problem(text, allow_empty=False)
    if problem:
        problems.append(f"{at}: field 'question' {problem}; give the question's text.")
    answer = question.get("answer")
    problem = "is missing" if "answer" not in question else _answer_problem(answer)
    if problem:
        problems.append(f"{at}: field 'answer' {problem}.")
    answer_type, scale = question.get("answer_type"), question.get("scale")
    if answer_type not in TATQA_ANSWER_TYPES:
        got = "is missing" if "answer_type" not in question else f"is {answer_type!r}"
        problems.append(f"{at}: field 'answer_type' {got}; expected one of {', '.join(TATQA_ANSWER_TYPES)}.")
    if scale not in TATQA_SCALES:
        got = "is missing" if "scale" not in question else f"is {scale!r}"
        problems.append(
            f"{at}: field 'scale' {got}; expected one of {', '.join(repr(s) for s in TATQA_SCALES)} "
            "('' when the answer has no unit)."
        )
    if len(problems) > count:
        return None
    return {"question": text, "completion": tatqa_completion(answer, scale), "answer_type": answer_type, "scale": scale}


def _release_head(head: bytes) -> bool:
    return bool(_RELEASE_HEAD.match(head.removeprefix(b"\xef\xbb\xbf")))


def read_tatqa_release(
    path: Path, column_map: Mapping[str, str] | None = None, shape: str = "auto"
) -> datasets.Dataset | None:
    """Rows of a TAT-QA release file (a JSON array of ``{"table", "paragraphs", "questions"}``
    items), one per question, with the prompt and completion of the shared JSONL and the
    columns ``answer_type`` and ``scale``; None when ``path`` is not such a file (then only
    its first 64 KiB were read). The file is read once."""
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
            if not _release_head(head):
                return None
            raw = head + handle.read()
    except OSError as exc:
        raise DataError(f"Cannot read {path}: {exc.strerror or exc}; check the path and its permissions.") from exc
    text = decode_utf8(path, raw)
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}:{exc.lineno}: invalid JSON at column {exc.colno}: {exc.msg}; a TAT-QA release "
            f"file is one JSON array, as in {TATQA_RELEASE}."
        ) from exc
    if not isinstance(items, list) or not any(
        isinstance(item, dict) and {"table", "questions"} <= item.keys() for item in items
    ):
        return None  # JSON of another kind: the core's to read
    if column_map or shape not in ("auto", "prompt_completion"):
        raise DataError(
            f"{path} is a TAT-QA release file, whose fields are fixed: drop --map and --shape "
            "(they apply to prompt/completion files)."
        )
    questions = [
        question for item in items if isinstance(item, dict) and isinstance(item.get("questions"), list)
        for question in item["questions"]
    ]
    if questions and not any(isinstance(question, dict) and "answer" in question for question in questions):
        raise DataError(
            f"{path} has no answers: it is TAT-QA's unlabelled test set (tatqa_dataset_test.json). "
            "Pass tatqa_dataset_train.json, tatqa_dataset_dev.json or tatqa_dataset_test_gold.json."
        )
    rows: list[dict[str, str]] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        at = f"{path}: item [{index}]"
        if not isinstance(item, dict):
            problems.append(f"{at}: is {_json_kind(item)}, expected an object with fields {', '.join(TATQA_ITEM_KEYS)}.")
            continue
        at += _uid(item.get("table"), "table uid")
        missing = [key for key in TATQA_ITEM_KEYS if key not in item]
        if missing:
            problems.append(
                f"{at}: field(s) {', '.join(repr(key) for key in missing)} missing; every item has "
                f"{', '.join(TATQA_ITEM_KEYS)}, as in {TATQA_RELEASE}."
            )
            continue
        table = _tatqa_table(item, at, problems)
        paragraphs = _tatqa_paragraphs(item, at, problems)
        if _not_an_array(item["questions"], at, "questions", "question objects", problems):
            continue
        for number, question in enumerate(item["questions"]):
            row = _tatqa_question(question, f"{at}, questions[{number}]{_uid(question)}", problems)
            if row is not None and table is not None and paragraphs is not None:
                rows.append({
                    "prompt": tatqa_prompt(table, paragraphs, row["question"]),
                    "completion": row["completion"],
                    "task": "",
                    "answer_type": row["answer_type"],
                    "scale": row["scale"],
                })
    raise_problems(str(path), problems)
    return string_dataset(rows, path, TATQA_COLUMNS)
