"""One raw row to a normalized one: the checks every field of every shape gets, each
problem naming the field and the fix.

:func:`text_problem` and :func:`a_json_type` are the checks themselves, public so that a pack
reading a release format of its own words its problems the way the core does.
"""

from __future__ import annotations

import json
import re
from typing import Any

from domaintune.data.columns import Plan
from domaintune.domain import Message

COLUMNS = ("prompt", "completion", "task")
"""The string columns every loaded dataset has (chat rows keep ``messages`` too)."""
TEXT_FIELDS = ("prompt", "completion")
ROLES = {
    "system": "system", "developer": "system",
    "user": "user", "human": "user",
    "assistant": "assistant", "gpt": "assistant",
}
SURROGATE = re.compile("[\ud800-\udfff]")


def json_type(value: Any) -> str:
    """"number", "string", "null": the JSON name of a parsed value's type."""
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


def text_problem(value: Any, allow_empty: bool = False) -> str | None:
    """What is wrong with ``value`` as a text field ("is empty", "is a int (42), expected a
    string; ..."), or None."""
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


class RowReader:
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
        problem = text_problem(value, allow_empty)
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
        row: dict[str, Any] = {"prompt": prompt, "completion": completion, "task": task_of(value, self.plan)}
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
            problem = text_problem(content) if content_key in message else "is missing"
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


def task_of(row: dict[str, Any], plan: Plan) -> str:
    if "task" in plan.fields:
        value = row.get(plan.fields["task"])
    else:
        meta = row.get("meta")
        value = row.get("task") or (meta.get("task") if isinstance(meta, dict) else None)
    return "" if value is None or isinstance(value, (dict, list)) else str(value)
