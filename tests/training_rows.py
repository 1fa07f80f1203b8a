"""Rows and a chat format for the tests that call ``training.train`` directly (memory caps,
time budgets): prompts of the same few words, answered "yes" and "no" in turn."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets

WORDS = "the contract patient report table numbers invoice payment account".split()


def yes_no_rows(count: int, words: Callable[[int], int]) -> datasets.Dataset:
    """``count`` rows (an even number); row ``i``'s prompt has ``words(i)`` words."""
    import datasets

    prompts = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(words(i))) for i in range(count)]
    return datasets.Dataset.from_dict({"prompt": prompts, "completion": ["yes", "no"] * (count // 2)})


def user_assistant(batch: dict[str, list[str]]) -> list[list[dict[str, str]]]:
    """Each row as one user turn (the prompt) and one assistant turn (the completion)."""
    return [
        [{"role": "user", "content": p}, {"role": "assistant", "content": c}]
        for p, c in zip(batch["prompt"], batch["completion"])
    ]
