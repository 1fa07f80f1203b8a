"""The Ollama Modelfile for an exported GGUF: the chat template rewritten as Ollama's Go
TEMPLATE, the domain's system prompt as trained (SYSTEM), and stops on the end-of-turn token.

Only templates that wrap each message in fixed text (ChatML and its kind) are rewritten;
`turns.turn_format` checks that the wrapping reproduces the chat template exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domaintune.deploy.export.turns import ROLES, TurnFormat, turn_format
from domaintune.errors import ExportError

if TYPE_CHECKING:
    from domaintune.deploy.runmodel import RunModel


def go_template(turns: TurnFormat) -> str:
    """Ollama's TEMPLATE: every message of ``.Messages`` wrapped as the chat template wraps
    it, then the assistant's opening (Ollama puts SYSTEM first in ``.Messages``)."""
    pieces = [turns.generation_prompt, *turns.before.values(), *turns.after.values()]
    if any("{{" in piece for piece in pieces):
        raise ExportError("The chat template writes '{{' around messages, which a Go template would read as an action.")
    branches = []
    for index, role in enumerate(ROLES):
        keyword = "if" if index == 0 else "else if"
        branches.append(f'{{{{ {keyword} eq .Role "{role}" }}}}{turns.before[role]}{{{{ .Content }}}}{turns.after[role]}')
    return "{{- range .Messages }}" + "".join(branches) + "{{ end }}{{ end }}" + turns.generation_prompt


def system_prompt(run_model: RunModel) -> str:
    """The system message the domain's formatter put before every training prompt."""
    conversation = run_model.formatter({"prompt": ["?"], "completion": ["?"], "messages": [None]})[0]
    return conversation[0]["content"] if conversation and conversation[0]["role"] == "system" else ""


def _quoted(name: str, text: str) -> str:
    """A Modelfile value in triple quotes, which cannot hold triple quotes itself."""
    if '"""' in text:
        raise ExportError(f"The {name} text holds triple quotes, which a Modelfile cannot quote: {text[:80]!r}.")
    return f'{name} """{text}"""'


def modelfile(run_model: RunModel, gguf_name: str, end_of_turn: str) -> str:
    """The Modelfile text, for a GGUF file in the same folder."""
    turns = turn_format(run_model.tokenizer)
    specials = {token.content for token in run_model.tokenizer.added_tokens_decoder.values() if token.special}
    # Stop on the end-of-turn token, and on any special token that opens a turn, so a model
    # that skips the end still does not write the next turn itself.
    stops = [end_of_turn] + sorted(
        {token for token in specials for role in ROLES if token in turns.before[role]} - {end_of_turn}
    )
    lines = [
        f"FROM ./{gguf_name}",
        _quoted("TEMPLATE", go_template(turns)),
    ]
    system = system_prompt(run_model)
    if system:
        lines.append(_quoted("SYSTEM", system))
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    lines.append(f"PARAMETER num_ctx {run_model.context_length}")
    return "\n".join(lines) + "\n"
