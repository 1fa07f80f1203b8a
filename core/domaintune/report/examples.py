"""What an example shows a reader: the user's own text, without the chat template around it.

Prediction rows carry the prompt as the model saw it, chat template applied. A row with a
``user_text`` field (the last user message, before templating) is shown as it is; for older rows
the last user turn is cut out of the templates of the common model families, and any remaining
special tokens are removed.
"""

from __future__ import annotations

import re
from typing import Any

# The last user turn in ChatML (SmolLM2, Qwen), Llama 3, Gemma, Phi-3 and Mistral/Llama 2.
_USER_TURNS = (
    re.compile(r"<\|im_start\|>user\n(.*?)(?:<\|im_end\|>|$)", re.S),
    re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\n\n(.*?)(?:<\|eot_id\|>|$)", re.S),
    re.compile(r"<start_of_turn>user\n(.*?)(?:<end_of_turn>|$)", re.S),
    re.compile(r"<\|user\|>\n?(.*?)(?:<\|end\|>|$)", re.S),
    re.compile(r"\[INST\](.*?)(?:\[/INST\]|$)", re.S),
)
_SPECIAL_TOKEN = re.compile(r"<\|[^<>|]{1,40}\|>|</?s>|<(?:start|end)_of_turn>")

SHOWN_CHARACTERS = 600


def user_text(example: dict[str, Any]) -> str:
    """The user's text of a prediction row."""
    if example.get("user_text") is not None:
        return str(example["user_text"]).strip()
    prompt = str(example.get("prompt", ""))
    for pattern in _USER_TURNS:
        turns = pattern.findall(prompt)
        if turns:
            return turns[-1].strip()
    return _SPECIAL_TOKEN.sub(" ", prompt).strip()


def shortened(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """At most ``limit`` characters: the start and the end (where the question usually is)."""
    if len(text) <= limit:
        return text
    half = (limit - 3) // 2
    return f"{text[:half].rstrip()} … {text[-half:].lstrip()}"
