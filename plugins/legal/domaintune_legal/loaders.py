"""Reader for LegalBench in its own task-folder format.

A task folder (``tasks/<task>/``) holds ``base_prompt.txt`` and the rows in ``train.tsv``
(a few examples) and ``test.tsv`` (the bulk). The TSV columns are the answer (``answer``, or
``label`` in early releases) and the fields the prompt uses, usually ``text``.
``base_prompt.txt`` is an instruction, few-shot examples, and a last paragraph with
``{{column}}`` placeholders, e.g.::

    Does the clause give a party the right to audit the books, ...?

    Clause: Each Party shall cause any Subsidiary ...
    Label: Yes

    Clause: {{text}}
    Label:

The prompt built from it is zero-shot: the instruction, the answer choices ("Answer Yes or
No."), and the last paragraph filled in, which is the shared JSONL's prompt for every CUAD
task. ``few_shot=True`` keeps the examples. The task name is the folder name, so
``tasks/CUAD_Audit Rights`` gives rows of task ``CUAD_Audit Rights``.

``source`` may be a task folder, one of its ``.tsv`` files, a folder of task folders, or a
glob over task folders (quote it: ``--data 'legalbench/tasks/CUAD_*'``).
Every problem names the file, the line and the field.
"""

from __future__ import annotations

import csv
import glob
import io
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from domaintune.kit import DataError, matches_tasks, raise_problems

if TYPE_CHECKING:
    import datasets

MAX_HINTED_LABELS = 10
BASE_PROMPT = "base_prompt.txt"
SPLITS = ("train.tsv", "test.tsv")
ANSWER_COLUMNS = ("answer", "label")
QUERY_FIELD = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")

PROMPT_OVERRIDES = {
    # The bundled sample words this task as the shared JSONL does, not as its base prompt;
    # the folder reader follows it, so both formats give the same rows.
    "overruling": "Does the following sentence from a judicial opinion overrule a previous case? "
    "Answer Yes or No.\n\nSentence: {{text}}\nAnswer:",
}


@dataclass(frozen=True)
class PromptTemplate:
    """A task's base prompt, taken apart."""

    instruction: str
    """Everything before the first example ("" when there is none)."""
    examples: tuple[str, ...]
    """The few-shot examples, one paragraph each (as written, answers included)."""
    query: str
    """The last paragraph, with ``{{column}}`` placeholders."""
    hint: bool = True
    """Whether to append the answer choices to the instruction."""

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(QUERY_FIELD.findall(self.query)))


def parse_base_prompt(text: str, path: Path | str) -> PromptTemplate:
    """Split a base prompt into instruction, examples and the query paragraph."""
    paragraphs = [p for p in text.replace("\r\n", "\n").strip("\n").split("\n\n") if p.strip()]
    if not paragraphs or not QUERY_FIELD.search(paragraphs[-1]):
        raise DataError(
            f"{path}: the last paragraph has no {{{{column}}}} placeholder; a LegalBench base "
            "prompt ends with the query, e.g. 'Clause: {{text}}\\nLabel:'."
        )
    query = paragraphs[-1]
    # An example starts like the query ("Clause: ...") or ends on the query's answer cue
    # with an answer ("Label: Yes").
    lead = query.split("\n", 1)[0].split("{{", 1)[0].strip()
    cue = query.rsplit("\n", 1)[-1].strip() if "\n" in query else ""
    first_example = len(paragraphs) - 1
    for index, paragraph in enumerate(paragraphs[:-1]):
        last_line = paragraph.rsplit("\n", 1)[-1]
        if (lead and paragraph.startswith(lead)) or (cue and last_line.startswith(cue) and last_line.strip() != cue):
            first_example = index
            break
    return PromptTemplate(
        instruction="\n\n".join(paragraphs[:first_example]).strip(),
        examples=tuple(paragraphs[first_example:-1]),
        query=query,
    )


def answer_hint(labels: Iterable[str]) -> str:
    """The answer choices as the shared JSONL words them, or "" for open answers."""
    choices = sorted(set(labels))
    if choices == ["No", "Yes"]:
        return "Answer Yes or No."
    if 2 <= len(choices) <= MAX_HINTED_LABELS:
        return f"Answer with one of: {', '.join(choices)}."
    return ""


def build_prompt(template: PromptTemplate, fields: dict[str, str], labels: Iterable[str], few_shot: bool = False) -> str:
    """The prompt for one row: instruction and answer choices, examples if asked, the query."""
    hint = answer_hint(labels) if template.hint else ""
    head = " ".join(part for part in (template.instruction, hint) if part)
    query = QUERY_FIELD.sub(lambda m: fields[m.group(1)], template.query)
    return "\n\n".join([*([head] if head else []), *(template.examples if few_shot else ()), query])


def _clean(value: str) -> str:
    # The TSVs quote some texts twice; after CSV unquoting ""x"" is left: make it "x".
    return value.replace('""', '"').strip()


@dataclass
class _Row:
    fields: dict[str, str]
    answer: str


def _read_tsv(path: Path, template: PromptTemplate, problems: list[str]) -> list[_Row]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problems.append(f"{path}:{line}: byte {exc.start} is not UTF-8; re-save the file as UTF-8.")
        return []
    # Some task texts are whole contracts, longer than the csv module's default field limit.
    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t")
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    answer_column = next((name for name in ANSWER_COLUMNS if name in header), None)
    missing = [name for name in template.columns if name not in header]
    if answer_column is None or missing:
        wanted = ([] if answer_column else ["answer"]) + missing
        problems.append(
            f"{path}:1: header has no column(s) {wanted} (found: {header}); LegalBench TSVs "
            f"have an answer column ('answer' or 'label') and the columns {template.columns} "
            f"that {path.parent / BASE_PROMPT} fills in."
        )
        return []
    rows = []
    start = reader.line_num + 1
    for record in reader:
        line, start = start, reader.line_num + 1  # a quoted field may span lines: name the first
        values = {name: _clean(record.get(name) or "") for name in [answer_column, *template.columns]}
        empty = [name for name, value in values.items() if not value]
        if empty:
            problems.extend(f"{path}:{line}: field {name!r} is empty." for name in empty)
            continue
        answer = values.pop(answer_column)
        rows.append(_Row(fields=values, answer=answer))
    return rows


@dataclass(frozen=True)
class TaskFiles:
    name: str
    folder: Path
    files: tuple[Path, ...]


def _task_of_folder(folder: Path) -> TaskFiles:
    files = tuple(folder / name for name in SPLITS if (folder / name).is_file())
    return TaskFiles(folder.name, folder, files)


def _is_task_tsv(path: Path) -> bool:
    # A TSV with no base prompt beside it is plain tabular data: the core reads that.
    return path.suffix.lower() == ".tsv" and path.is_file() and (path.parent / BASE_PROMPT).is_file()


def find_tasks(source: str) -> list[TaskFiles] | None:
    """The LegalBench tasks ``source`` names, or None when it is not LegalBench's format."""
    if any(char in source for char in "*?["):
        matched = [Path(p) for p in sorted(glob.glob(source))]
        tasks = [_task_of_folder(p) for p in matched if (p / BASE_PROMPT).is_file()]
        tasks += [TaskFiles(p.parent.name, p.parent, (p,)) for p in matched if _is_task_tsv(p)]
        if not tasks:
            raise DataError(
                f"No LegalBench task folder (a folder with {BASE_PROMPT}) matches {source}."
            )
        return tasks
    path = Path(source)
    if _is_task_tsv(path):
        return [TaskFiles(path.parent.name, path.parent, (path,))]
    if path.is_dir():
        if (path / BASE_PROMPT).is_file():
            return [_task_of_folder(path)]
        tasks = [_task_of_folder(p) for p in sorted(path.iterdir()) if (p / BASE_PROMPT).is_file()]
        return tasks or None
    return None


def read_legalbench(
    source: str, tasks: str | None = None, few_shot: bool = False
) -> datasets.Dataset | None:
    """Rows (prompt, completion, task) of the LegalBench tasks ``source`` names, or None when
    ``source`` is not in LegalBench's folder format. ``tasks``: comma-separated fnmatch
    patterns over task names (``"CUAD_*,overruling"``) to keep."""
    import datasets

    found = find_tasks(source)
    if found is None:
        return None
    if tasks:
        kept = [task for task in found if matches_tasks(task.name, tasks)]
        if not kept:
            names = ", ".join(task.name for task in found[:20]) + (" ..." if len(found) > 20 else "")
            raise DataError(f"No LegalBench task in {source} matches {tasks!r}; the tasks are: {names}.")
        found = kept
    problems: list[str] = []
    columns: dict[str, list[str]] = {"prompt": [], "completion": [], "task": []}
    for task in found:
        if not task.files:
            problems.append(f"{task.folder}: has no {' or '.join(SPLITS)}.")
            continue
        base_prompt = task.folder / BASE_PROMPT
        override = PROMPT_OVERRIDES.get(task.name.lower())
        if override and not few_shot:
            template = PromptTemplate(instruction="", examples=(), query=override, hint=False)
        else:
            template = parse_base_prompt(base_prompt.read_text(encoding="utf-8-sig"), base_prompt)
        rows = [row for path in task.files for row in _read_tsv(path, template, problems)]
        # The answer choices come from all the task's files, even when one was named.
        labels = {row.answer for row in rows}
        for sibling in _task_of_folder(task.folder).files:
            if sibling not in task.files:
                labels.update(row.answer for row in _read_tsv(sibling, template, []))
        for row in rows:
            columns["prompt"].append(build_prompt(template, row.fields, labels, few_shot))
            columns["completion"].append(row.answer)
            columns["task"].append(task.name)
    raise_problems("LegalBench data", problems)
    if not columns["prompt"]:
        raise DataError(f"{source} has no LegalBench rows.")
    return datasets.Dataset.from_dict(
        columns, features=datasets.Features({name: datasets.Value("string") for name in columns})
    )
