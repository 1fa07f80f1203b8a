"""What the chat template says about turns: the end-of-turn token, and each role's text
before and after its message (for formats that need the template rewritten, like Ollama's).

Both are read by rendering the tokenizer's own chat template around marker messages, never
hard-coded, so an export carries whatever the run trained with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from domaintune.errors import ExportError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

ROLES = ("system", "user", "assistant")
_MARK = "\u2063{role}\u2063"
"""Marker contents (invisible separators around the role) that no template rewrites."""


def _render(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def end_of_turn_token(tokenizer: PreTrainedTokenizerBase) -> tuple[str, int]:
    """The special token the chat template writes right after an assistant message: what a
    model has to generate to stop (``<|im_end|>`` for ChatML)."""
    marker = _MARK.format(role="assistant")
    text = _render(
        tokenizer, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": marker}], False
    )
    if marker not in text:
        raise ExportError("The chat template does not write the assistant's message; cannot find its end-of-turn token.")
    after = text.split(marker, 1)[1]
    special = set(tokenizer.all_special_ids)
    for token_id in tokenizer(after, add_special_tokens=False)["input_ids"]:
        if token_id in special:
            return tokenizer.convert_ids_to_tokens(token_id), token_id
    if tokenizer.eos_token_id is not None:
        return tokenizer.eos_token, tokenizer.eos_token_id
    raise ExportError(
        f"The chat template ends an assistant turn with {after!r}, which holds no special token, "
        "and the tokenizer has no eos token: an exported model would never stop."
    )


@dataclass(frozen=True)
class TurnFormat:
    """A template that wraps each message as ``before[role] + content + after[role]`` and
    opens the answer with ``generation_prompt``."""

    before: dict[str, str]
    after: dict[str, str]
    generation_prompt: str


def turn_format(tokenizer: PreTrainedTokenizerBase) -> TurnFormat:
    """Read the per-role wrapping from the chat template, and check that the template is
    nothing more than that (one with logic beyond it cannot be rewritten faithfully)."""
    messages = [{"role": role, "content": _MARK.format(role=role)} for role in ROLES]
    pieces = [_render(tokenizer, messages, False)]
    for message in messages:  # text before the message, then the rest
        head, separator, tail = pieces.pop().partition(message["content"])
        if not separator:
            raise ExportError(f"The chat template does not write the {message['role']} message as given.")
        pieces += [head, tail]
    closing = _closing(tokenizer)
    opening, gaps, last = pieces[0], pieces[1:-1], pieces[-1]
    # Between two messages sits the first one's closing, then the second one's opening.
    if last != closing or not all(gap.startswith(closing) for gap in gaps):
        raise ExportError(f"The chat template does not close every turn with {closing!r}; cannot rewrite it.")
    before = {"system": opening, "user": gaps[0][len(closing):], "assistant": gaps[1][len(closing):]}
    generation_prompt = _render(tokenizer, messages[:2], True)[len(_render(tokenizer, messages[:2], False)):]
    found = TurnFormat(before=before, after=dict.fromkeys(ROLES, closing), generation_prompt=generation_prompt)
    _check_reproduces(tokenizer, found)
    return found


def _closing(tokenizer: PreTrainedTokenizerBase) -> str:
    """The text after the last (assistant) message of a rendered conversation."""
    marker = _MARK.format(role="assistant")
    text = _render(tokenizer, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": marker}], False)
    return text.split(marker, 1)[1]


def _check_reproduces(tokenizer: PreTrainedTokenizerBase, found: TurnFormat) -> None:
    conversations = [
        [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
        [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"},
         {"role": "user", "content": "R"}],
    ]
    for conversation in conversations:
        expected = _render(tokenizer, conversation, True)
        rebuilt = "".join(found.before[m["role"]] + m["content"] + found.after[m["role"]] for m in conversation)
        if rebuilt + found.generation_prompt != expected:
            raise ExportError(
                "The chat template is more than a fixed wrapping of each message (rendered "
                f"{expected!r}, the wrapping gives {rebuilt + found.generation_prompt!r}); it cannot "
                "be rewritten for this format. Export with --to gguf and give the runtime the template."
            )
