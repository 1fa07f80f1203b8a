"""Row shapes and column mapping: which shape a source's rows have and which column holds each field.

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

:func:`parse_column_map` is the one parser of ``--map`` text; :func:`validate_column_map`
checks a mapping from a config file the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from domaintune.errors import DataError

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
    """``mapping`` as a dict, or an error naming the keys that are no field domaintune reads."""
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
