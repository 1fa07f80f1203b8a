"""Reading, validating, filtering and splitting domain data, before any model is loaded.

Every format (:mod:`domaintune.data.readers`) and every row shape ends up as the same Arrow
table with string columns ``prompt``, ``completion`` and ``task``; chat rows keep their
``messages`` too, so a formatter can use the original system and user turns:

==================  ===========================================================================
shape               fields (auto-detected; ``--map`` / ``column_map`` and ``--shape`` override)
==================  ===========================================================================
prompt_completion   ``prompt`` + ``completion`` (also question/answer, input/output, text/label)
messages            ``messages``: [{role, content, weight?}], OpenAI chat (also ShareGPT
                    ``conversations`` with from/value); the last assistant message is the
                    completion, the turns before it (without the system message) the prompt
instruction         ``instruction`` + optional ``input`` + ``output`` (Alpaca; Dolly's
                    context/response too); the prompt is instruction and input
text                ``text``, for continued pre-training: the completion is the text and the
                    prompt is empty, so the loss covers every token of it
==================  ===========================================================================

Every problem names the file, the line (or row) and the field, and says how to fix it; all
problems of a file are gathered so that one run shows them all. A file that loads is cached as
Arrow under ``$DOMAINTUNE_CACHE/data`` (keyed by path, size, mtime, shape and mapping), so the
next run memory-maps it instead of parsing it again; nothing is cached for a file with errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import unicodedata
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.data.readers import (
    BATCH_ROWS,
    Problem,
    Row,
    open_source,
    problems_message,
)
from domaintune.domain import Message, SafetyFilter
from domaintune.errors import DataError
from domaintune.plugins import blame

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa

MAX_KEPT_PROBLEMS = 1000
PEEK_ROWS = 100
"""Rows looked at to detect the shape of a JSON file (columnar formats have a schema)."""
LOADER_VERSION = "2"
"""Part of the cache key: bump it when the normalized rows of a file would change."""
PARALLEL_MIN_ROWS = 20_000
"""Below this, a datasets.map runs in this process: starting workers costs about a second."""
MAX_WORKERS = 8

COLUMNS = ("prompt", "completion", "task")
TEXT_FIELDS = ("prompt", "completion")

SHAPES = ("prompt_completion", "messages", "instruction", "text")
DETECTION_ORDER = ("messages", "instruction", "prompt_completion", "text")
"""Shapes tried in turn: instruction before prompt/completion, whose input/output aliases
would otherwise take an Alpaca file's input for the prompt."""
SHAPE_NAMES = {
    "prompt_completion": "prompt/completion",
    "messages": "chat messages",
    "instruction": "instruction/input/output",
    "text": "plain text",
}
# shape -> canonical field -> column names tried in turn when the field is not mapped.
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "messages": {"messages": ("messages", "conversations")},
    "instruction": {"instruction": ("instruction",), "output": ("output", "response")},
    "prompt_completion": {
        "prompt": ("prompt", "question", "query", "input", "text", "sentence"),
        "completion": ("completion", "answer", "response", "output", "label"),
    },
    "text": {"text": ("text",)},
}
OPTIONAL_ALIASES = {"instruction": {"input": ("input", "context")}}
REQUIREMENTS = {
    "prompt_completion": 'every row needs non-empty string fields "{prompt}" and "{completion}"',
    "messages": 'every row needs "{messages}": an array of {{"role", "content"}} messages '
    "(optional system first, then user and assistant in turn, ending with the assistant's answer)",
    "instruction": 'every row needs non-empty string fields "{instruction}" and "{output}" '
    '(and "{input}" a string when present)',
    "text": 'every row needs a non-empty string field "{text}"',
}
MAP_KEYS = ("prompt", "completion", "messages", "instruction", "input", "output", "text", "task")
ROLES = {
    "system": "system", "developer": "system",
    "user": "user", "human": "user",
    "assistant": "assistant", "gpt": "assistant",
}
SURROGATE = re.compile("[\ud800-\udfff]")


class RowErrors(DataError):
    """Rows of a source that cannot be used; ``problems`` lists them (up to a limit)."""

    def __init__(self, message: str, problems: list[str], count: int) -> None:
        super().__init__(message)
        self.problems = problems
        self.count = count


# Column mapping and shape -------------------------------------------------------------------


def parse_column_map(text: str) -> dict[str, str]:
    """``prompt=question,completion=answer`` -> {"prompt": "question", ...}."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, equals, column = item.partition("=")
        if not equals or not key.strip() or not column.strip():
            raise DataError(
                f"--map: {item!r} is not FIELD=COLUMN; write e.g. --map prompt=question,completion=answer."
            )
        mapping[key.strip()] = column.strip()
    return validate_column_map(mapping)


def validate_column_map(mapping: Mapping[str, str] | None) -> dict[str, str]:
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(MAP_KEYS))
    if unknown:
        raise DataError(
            f"column_map: {', '.join(map(repr, unknown))} is not a field domaintune reads; map "
            f"any of {', '.join(MAP_KEYS)} to your column names (e.g. prompt=question)."
        )
    return mapping


@dataclass(frozen=True)
class Plan:
    """How the rows of one source are read: the shape and which column holds each field."""

    shape: str
    fields: dict[str, str]
    detected: bool

    def describe(self) -> str:
        fields = ", ".join(f"{name}={column!r}" for name, column in self.fields.items())
        how = "detected from the fields; --shape and --map override" if self.detected else "as set"
        return f"{SHAPE_NAMES[self.shape]} rows ({fields}; {how})"

    @property
    def requirement(self) -> str:
        names = {**{key: key for key in MAP_KEYS}, **self.fields}
        return REQUIREMENTS[self.shape].format(**names)


def make_plan(columns: list[str], shape: str, column_map: Mapping[str, str], source: str) -> Plan:
    """Choose the shape (unless given) and the column of each field."""
    if shape not in ("auto", *SHAPES):
        raise DataError(f"shape: {shape!r} is not one of auto, {', '.join(SHAPES)}.")
    present = set(columns)
    for name, column in column_map.items():
        if column not in present:
            raise DataError(
                f"column_map: {name}={column} but {source} has no field {column!r} (its fields: "
                f"{', '.join(columns) or 'none'}); fix the mapping (--map or column_map)."
            )

    def resolve(candidate: str, partial: bool = False) -> dict[str, str] | None:
        """The columns of ``candidate``'s fields; with ``partial``, a missing required field
        keeps its own name (every row then reports it missing) as long as one is found."""
        fields = {}
        for name, aliases in ALIASES[candidate].items():
            column = column_map.get(name) or next((a for a in aliases if a in present), None)
            if column is None and not partial:
                return None
            fields[name] = column or name
        if partial and not set(fields.values()) & present:
            return None
        for name, aliases in OPTIONAL_ALIASES.get(candidate, {}).items():
            column = column_map.get(name) or next((a for a in aliases if a in present), None)
            if column is not None:
                fields[name] = column
        if len(set(fields.values())) != len(fields):
            return None  # one column cannot be two fields
        return fields

    if shape == "auto":
        mapped = [s for s in DETECTION_ORDER if set(column_map) & (set(ALIASES[s]) | set(OPTIONAL_ALIASES.get(s, {})))]
        candidates = mapped or DETECTION_ORDER
        # A shape whose fields are all there; else the one most of whose fields are there
        # (its rows then say which field is missing, rather than the file saying nothing).
        found = [(c, f) for c in candidates if (f := resolve(c)) is not None] or sorted(
            ((c, f) for c in candidates if (f := resolve(c, partial=True)) is not None),
            key=lambda item: -len(set(item[1].values()) & present) / len(ALIASES[item[0]]),
        )
        if found:
            candidate, fields = found[0]
        else:
            raise DataError(
                f"Cannot tell the row shape of {source} from its fields ({', '.join(columns) or 'none'}). "
                "domaintune reads prompt/completion, messages (chat), instruction/input/output and "
                "text rows: map your fields, e.g. --map prompt=question,completion=answer, "
                "or name the shape with --shape."
            )
        shape = candidate
        detected = True
    else:
        fields = resolve(shape) or resolve(shape, partial=True)
        if fields is None:
            wanted = ", ".join(f"{n} (one of: {', '.join(a)})" for n, a in ALIASES[shape].items())
            raise DataError(
                f"{source} has no fields for {SHAPE_NAMES[shape]} rows: it needs {wanted}, and "
                f"its fields are {', '.join(columns) or 'none'}; map them with --map FIELD=COLUMN."
            )
        detected = False
    if "task" in column_map:
        fields["task"] = column_map["task"]
    return Plan(shape, fields, detected and not column_map)


# One row ------------------------------------------------------------------------------------


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def a_json_type(value: Any) -> str:
    """"an array", "a string", "null": for messages."""
    kind = json_type(value)
    return kind if kind == "null" else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _text_problem(value: Any, allow_empty: bool = False) -> str | None:
    """What is wrong with ``value`` as a text field, or None."""
    if not isinstance(value, str):
        shown = f" ({value!r})" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
        fix = '; write it in quotes (e.g. "42")' if shown else ""
        kind = "null" if value is None else f"a {type(value).__name__}"  # "a int", as plugins match
        return f"is {kind}{shown}, expected a string{fix}"
    if not allow_empty and not value.strip():
        return "is empty"
    match = SURROGATE.search(value)
    if match:
        return (
            f"holds an unpaired surrogate escape (\\u{ord(match.group()):04x}) at character "
            f"{match.start() + 1}, which is not text; fix or remove that escape"
        )
    return None


class _RowReader:
    """Turns raw rows into normalized ones for one plan, collecting problems."""

    def __init__(self, plan: Plan, label_names: dict[str, list[str]]) -> None:
        self.plan = plan
        self.label_names = label_names
        self.earlier_weighted = 0
        self.labels_named = 0

    def field(self, row: dict[str, Any], name: str, problems: list[str], allow_empty: bool = False) -> str:
        column = self.plan.fields[name]
        if column not in row:
            problems.append(f"field {column!r} is missing; {self.plan.requirement}")
            return ""
        value = row[column]
        names = self.label_names.get(column)
        if names is not None and isinstance(value, int) and not isinstance(value, bool):
            if 0 <= value < len(names):
                self.labels_named += 1
                return names[value]
            problems.append(f"field {column!r} is {value}, not a class label (0 to {len(names) - 1}); give the row a label or drop it")
            return ""
        problem = _text_problem(value, allow_empty)
        if problem:
            problems.append(f"field {column!r} {problem}; {self.plan.requirement}")
            return ""
        return value

    def __call__(self, value: Any) -> tuple[dict[str, Any] | None, list[str]]:
        if not isinstance(value, dict):
            return None, [f"the row is {a_json_type(value)}, expected an object; {self.plan.requirement}"]
        problems: list[str] = []
        shape = self.plan.shape
        messages = None
        if shape == "prompt_completion":
            prompt = self.field(value, "prompt", problems)
            completion = self.field(value, "completion", problems)
        elif shape == "instruction":
            instruction = self.field(value, "instruction", problems)
            extra = ""
            if "input" in self.plan.fields and value.get(self.plan.fields["input"]) is not None:
                extra = self.field(value, "input", problems, allow_empty=True)
            completion = self.field(value, "output", problems)
            prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        elif shape == "text":
            prompt, completion = "", self.field(value, "text", problems)
        else:
            messages = self.conversation(value, problems)
            prompt = prompt_of(messages) if messages else ""
            completion = messages[-1]["content"] if messages else ""
        if problems:
            return None, problems
        row: dict[str, Any] = {"prompt": prompt, "completion": completion, "task": _task(value, self.plan)}
        if shape == "messages":
            row["messages"] = messages
        return row, []

    def conversation(self, row: dict[str, Any], problems: list[str]) -> list[Message] | None:
        column = self.plan.fields["messages"]
        if column not in row:
            problems.append(f"field {column!r} is missing; {self.plan.requirement}")
            return None
        value = row[column]
        if isinstance(value, str):  # CSV and some Parquet writers keep the list as JSON text
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                problems.append(f"field {column!r} is text that is not a JSON array of messages; {self.plan.requirement}")
                return None
        if not isinstance(value, (list, tuple)) or not value:
            what = "empty" if isinstance(value, (list, tuple)) else a_json_type(value)
            problems.append(f"field {column!r} is {what}; {self.plan.requirement}")
            return None
        messages: list[Message] = []
        weights: list[Any] = []
        for index, message in enumerate(value):
            name = f"{column}[{index}]"
            if not isinstance(message, dict):
                problems.append(f"field {name!r} is {a_json_type(message)}, expected an object with \"role\" and \"content\"")
                continue
            role_key = "role" if "role" in message or "from" not in message else "from"
            content_key = "content" if "content" in message or "value" not in message else "value"
            role = message.get(role_key)
            if not isinstance(role, str):
                state = "is missing" if role_key not in message else f"is {a_json_type(role)}"
                problems.append(f"field '{name}.{role_key}' {state}; every message needs a role: system, user or assistant")
                continue
            if role.strip().lower() not in ROLES:
                problems.append(
                    f"field '{name}.{role_key}' is {role!r}, an unknown role; use system, user or "
                    "assistant (tool and function messages are not supported: leave them out)"
                )
                continue
            content = message.get(content_key)
            if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
                content = "".join(str(p.get("text", "")) for p in content)  # OpenAI content parts
            problem = _text_problem(content) if content_key in message else "is missing"
            if problem:
                problems.append(f"field '{name}.{content_key}' {problem}; every message needs text content")
                continue
            weight = message.get("weight")
            messages.append({"role": ROLES[role.strip().lower()], "content": content})
            weights.append(weight)
            if weight is not None and (isinstance(weight, bool) or weight not in (0, 1)):
                problems.append(f"field '{name}.weight' is {weight!r}; a weight is 0 (do not train on this message) or 1")
            elif weight is not None and messages[-1]["role"] != "assistant":
                problems.append(f"field '{name}.weight' is set on a {messages[-1]['role']} message; only assistant messages take a weight")
        if problems:
            return None
        roles = [m["role"] for m in messages]
        for index, role in enumerate(roles):
            name = f"'{column}[{index}].role'"
            if role == "system" and index > 0:
                problems.append(f"field {name} is 'system' at position {index}; a system message may only come first (merge it into the first)")
            elif index == (1 if roles[0] == "system" else 0) and role != "user":
                problems.append(f"field {name} is {role!r}; after the optional system message a conversation starts with a user message")
            elif index > 0 and role == roles[index - 1] and role != "system":
                problems.append(
                    f"field {name} is {role!r} right after another {role!r} message; roles must take "
                    "turns (user, assistant, user, ...): merge the two messages"
                )
        if roles[-1] != "assistant" and not problems:
            problems.append(
                f"field {column!r} ends with a {roles[-1]!r} message; the last message must be the "
                "assistant's answer (the training target)"
            )
        if problems:
            return None
        if weights[-1] == 0:
            problems.append(
                f"field '{column}[{len(messages) - 1}].weight' is 0, so the row has nothing to train "
                "on (domaintune trains on the last assistant message); set it to 1 or drop the row"
            )
            return None
        if any(w == 1 for w, r in zip(weights[:-1], roles[:-1]) if r == "assistant"):
            self.earlier_weighted += 1
        return messages


def prompt_of(messages: list[Message]) -> str:
    """The prompt text of a conversation: the one user turn, or a transcript of the turns
    before the answer (the system message is left out; it stays in ``messages``)."""
    before = [m for m in messages[:-1] if m["role"] != "system"]
    if len(before) == 1:
        return before[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in before)


def _task(row: dict[str, Any], plan: Plan) -> str:
    if "task" in plan.fields:
        value = row.get(plan.fields["task"])
    else:
        meta = row.get("meta")
        value = row.get("task") or (meta.get("task") if isinstance(meta, dict) else None)
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


# Loading ------------------------------------------------------------------------------------


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


def data_cache_dir() -> Path:
    from domaintune.paths import cache_dir

    return cache_dir() / "data"


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


def validate_jsonl(path: Path) -> int:
    """Check a data file (any format) and return its number of rows; raises like read_data."""
    return load(path).info.rows  # type: ignore[union-attr]


def read_jsonl(path: Path) -> datasets.Dataset:
    """Read a JSONL file (any row shape); kept for callers of the first data layer."""
    return read_data(path)


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
    key = hashlib.sha256(
        json.dumps([LOADER_VERSION, reader.format, where_from, reader.identity, shape, sorted(column_map.items())]).encode()
    ).hexdigest()[:32]
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
    read_row = _RowReader(plan, reader.label_names) if plan else None

    import pyarrow as pa

    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial"
    problems: list[str] = []
    count = good = 0
    writer = None
    try:
        with pa.OSFile(str(partial), "wb") as sink:
            batch: list[dict[str, Any]] = []
            for item in chain(head, reader.rows):
                row_problems: list[str]
                if isinstance(item, Problem):
                    row_problems, row = [item.message], None
                else:
                    if read_row is None and isinstance(item.value, dict):
                        # Every row looked at so far was unreadable: this is the first object.
                        plan = make_plan(list(item.value), shape, column_map, reader.source)
                        read_row = _RowReader(plan, reader.label_names)
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
        meta_partial.write_text(json.dumps(asdict(info)), encoding="utf-8")
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


# Text keys for duplicates and contamination -------------------------------------------------


def normalize_text(text: str) -> str:
    """Case, Unicode compatibility forms and runs of white space do not make a row new."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def text_hash(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def row_keys(batch: Mapping[str, list[str]]) -> dict[str, list[int]]:
    """Per row: ``exact`` (prompt and completion as they are), ``normalized`` (both
    normalized) and ``prompt`` (the normalized prompt, or the completion of a text row)."""
    exact, normalized, prompt_keys = [], [], []
    for prompt, completion in zip(batch["prompt"], batch["completion"]):
        exact.append(text_hash(f"{prompt}\x1f{completion}"))
        norm_prompt, norm_completion = normalize_text(prompt), normalize_text(completion)
        normalized.append(text_hash(f"{norm_prompt}\x1f{norm_completion}"))
        prompt_keys.append(text_hash(norm_prompt) if norm_prompt else text_hash(f"\x1e{norm_completion}"))
    return {"exact": exact, "normalized": normalized, "prompt": prompt_keys}


def prompt_keys(dataset: datasets.Dataset) -> list[int]:
    keys: list[int] = []
    for batch in dataset.select_columns(list(TEXT_FIELDS)).iter(batch_size=4096):
        keys.extend(row_keys(batch)["prompt"])
    return keys


def map_workers(rows: int) -> int | None:
    """Processes for a ``datasets.map`` over ``rows`` rows: one per core, none when small."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if rows < PARALLEL_MIN_ROWS or cores < 2:
        return None
    return min(cores, MAX_WORKERS)


# Safety filters -----------------------------------------------------------------------------


@dataclass
class FilterReport:
    """How the safety filters changed a dataset."""

    rows_in: int = 0
    rows_changed: int = 0
    rows_dropped: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    dropped_rows: list[int] = field(default_factory=list)
    """Indices (0-based) of the first dropped rows, for `tune data check`."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_changed": self.rows_changed,
            "rows_dropped": self.rows_dropped,
            "counts": dict(sorted(self.counts.items())),
        }


def apply_filters(
    dataset: datasets.Dataset, filters: list[SafetyFilter], cache_file_name: str | None = None
) -> tuple[datasets.Dataset, FilterReport]:
    """Run every filter over the prompts and completions in batches; drop blocked rows.

    Chat rows are filtered message by message (system turns included), and their prompt and
    completion are rebuilt from the filtered messages, so the two can never disagree.
    """
    report = FilterReport(rows_in=len(dataset))
    if not filters:
        return dataset, report
    has_messages = "messages" in dataset.column_names

    def filter_batch(batch: dict[str, list[Any]], indices: list[int]) -> dict[str, list[Any]]:
        size = len(batch["prompt"])
        blocked = [False] * size
        changed = [False] * size
        if has_messages:
            # Rows without messages (a plugin's dataset may mix) contribute prompt and completion.
            parts = [
                [m["content"] for m in conversation] if conversation else [p, c]
                for conversation, p, c in zip(batch["messages"], batch["prompt"], batch["completion"])
            ]
            owners = [i for i, texts in enumerate(parts) for _ in texts]
            fields = {"messages": [text for texts in parts for text in texts]}
        else:
            owners = list(range(size))
            fields = {name: list(batch[name]) for name in TEXT_FIELDS}
        for safety_filter in filters:
            for name, texts in fields.items():
                with blame(f"safety filter {safety_filter.name!r}"):
                    outcome = safety_filter.apply(list(texts))
                if len(outcome.texts) != len(texts) or len(outcome.blocked) != len(texts):
                    raise DataError(
                        f"Safety filter {safety_filter.name!r} returned {len(outcome.texts)} "
                        f"texts for {len(texts)} inputs; a filter must return one text per input."
                    )
                for owner, before, after, is_blocked in zip(owners, texts, outcome.texts, outcome.blocked):
                    changed[owner] |= before != after
                    blocked[owner] |= bool(is_blocked)
                fields[name] = list(outcome.texts)
                report.counts.update(
                    {f"{safety_filter.name}:{kind}": n for kind, n in outcome.counts.items()}
                )
        if has_messages:
            filtered = iter(fields["messages"])
            for i, conversation in enumerate(batch["messages"]):
                if conversation:
                    conversation = [{**m, "content": next(filtered)} for m in conversation]
                    batch["messages"][i] = conversation
                    batch["prompt"][i] = prompt_of(conversation)
                    batch["completion"][i] = conversation[-1]["content"]
                else:
                    batch["prompt"][i], batch["completion"][i] = next(filtered), next(filtered)
        else:
            batch.update(fields)
        report.rows_changed += sum(c and not b for c, b in zip(changed, blocked))
        report.rows_dropped += sum(blocked)
        room = 20 - len(report.dropped_rows)
        report.dropped_rows.extend([i for i, b in zip(indices, blocked) if b][:max(room, 0)])
        return {key: [v for v, b in zip(values, blocked) if not b] for key, values in batch.items()}

    # Counts accumulate in this process, so keep a single worker and skip the cache.
    filtered = dataset.map(
        filter_batch, batched=True, batch_size=256, with_indices=True,
        load_from_cache_file=False, cache_file_name=cache_file_name,
    )
    return filtered, report


# Split --------------------------------------------------------------------------------------


def split_indices(
    dataset: datasets.Dataset, eval_rows: int, seed: int, stratify: bool
) -> tuple[list[int], list[int], int]:
    """Train indices, held-out indices, and how many train rows were left out because their
    prompt (normalized) is also held out: a copy of an eval row in training inflates scores."""
    if eval_rows >= len(dataset):
        raise DataError(
            f"Cannot hold out {eval_rows} eval rows from {len(dataset)} rows; give a smaller "
            "eval_rows, more data, or a separate --eval-data file."
        )
    rng = random.Random(seed)
    indices = list(range(len(dataset)))
    if stratify:
        held_out = _stratified_eval_pick(dataset, eval_rows, rng)
    else:
        rng.shuffle(indices)
        held_out = indices[:eval_rows]
    held = set(held_out)
    train = [i for i in indices if i not in held]
    rng.shuffle(train)
    keys = prompt_keys(dataset)
    held_keys = {keys[i] for i in held_out}
    kept = [i for i in train if keys[i] not in held_keys]
    return kept, sorted(held_out), len(train) - len(kept)


def _largest_remainder(total: int, quotas: dict[Any, float]) -> dict[Any, int]:
    """Whole shares of ``total`` proportional to ``quotas`` that add up to exactly ``total``."""
    scale = sum(quotas.values())
    exact = {key: total * quota / scale for key, quota in quotas.items()}
    sizes = {key: int(share) for key, share in exact.items()}
    for key in sorted(exact, key=lambda k: (sizes[k] - exact[k], str(k)))[: total - sum(sizes.values())]:
        sizes[key] += 1
    return sizes


def _equal_task_sizes(members: dict[str, int], rows: int) -> dict[str, int]:
    """The same number of rows from every task; a task that can give fewer (``members``)
    gives what it can and the others share the rest."""
    sizes: dict[str, int] = {}
    open_tasks = dict(members)
    while open_tasks:
        share = _largest_remainder(rows - sum(sizes.values()), {task: 1.0 for task in open_tasks})
        short = {task: n for task, n in open_tasks.items() if n < share[task]}
        if not short:
            sizes.update(share)
            break
        sizes.update(short)
        for task in short:
            del open_tasks[task]
    return sizes


def _strata(dataset: datasets.Dataset) -> dict[str, dict[str, list[int]]]:
    """Row indices by task (one "" task when rows have none), then by label."""
    tasks = dataset["task"] if "task" in dataset.column_names else [""] * len(dataset)
    strata: dict[str, dict[str, list[int]]] = {}
    for index, (task, label) in enumerate(zip(tasks, dataset["completion"])):
        strata.setdefault(str(task), {}).setdefault(label.strip(), []).append(index)
    return strata


def _task_counts(strata: dict[str, dict[str, list[int]]]) -> dict[str, int]:
    return {task: sum(len(m) for m in by_label.values()) for task, by_label in strata.items()}


def _pick(strata: dict[str, dict[str, list[int]]], task_sizes: dict[str, int], rng: random.Random) -> list[int]:
    """``task_sizes[task]`` random indices of each task, keeping its label shares."""
    picked: list[int] = []
    for task in sorted(strata):
        by_label = strata[task]
        shares = _largest_remainder(task_sizes[task], {label: float(len(m)) for label, m in by_label.items()})
        for label in sorted(by_label):
            members = by_label[label]
            rng.shuffle(members)
            picked.extend(members[: shares[label]])
    rng.shuffle(picked)
    return picked


def _stratified_eval_pick(dataset: datasets.Dataset, rows: int, rng: random.Random) -> list[int]:
    """``rows`` indices that keep each label's share within each task, every task of a
    multi-task set giving the same number, so that each task's score (and their mean,
    LegalBench's headline) rests on as many rows as the others'."""
    strata = _strata(dataset)
    members = _task_counts(strata)
    if len(members) > 1:  # every task keeps at least half of its rows for training
        members = {task: n // 2 for task, n in members.items()}
    return _pick(strata, _equal_task_sizes(members, rows), rng)


def cap_rows_per_task(dataset: datasets.Dataset, limit: int, seed: int) -> datasets.Dataset:
    """At most ``limit`` rows of each task, each task's label shares kept (seeded)."""
    if "task" not in dataset.column_names:
        return dataset
    strata = _strata(dataset)
    members = _task_counts(strata)
    if max(members.values()) <= limit:
        return dataset
    return dataset.select(_pick(strata, {task: min(limit, n) for task, n in members.items()}, random.Random(seed)))


def split_train_eval(
    dataset: datasets.Dataset, eval_rows: int, seed: int, stratify: bool
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Hold out ``eval_rows`` rows deterministically, stratified by label when asked.

    Stratification keeps each label's share (each task's, in a multi-task set, where every
    task gives the same number of rows) in the held-out rows (within rounding), so that a
    small eval set still shows every label. Train rows whose prompt is also held out (exact
    or normalized duplicates) are left out of training, so the scores are not inflated.
    """
    train, held_out, _ = split_indices(dataset, eval_rows, seed, stratify)
    return dataset.select(train), dataset.select(held_out)

