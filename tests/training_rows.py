"""Rows and a chat format for the tests that call ``training.train`` directly (memory caps,
time budgets): prompts of the same few words, answered "yes" and "no" in turn; rows that share
a system prompt (the shared-prefix and attention tests); adapters made to matter."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets
    import torch

SYSTEM = "You review contracts for a law firm. Read the clause and answer with one word, yes or no."
QUESTIONS = ["Is the clause about governing law?", "Does it end the term early?", "Is an audit right granted here?"]
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


def shared_prefix_rows(tokenizer) -> list[dict[str, list[int]]]:  # noqa: ANN001
    """Three encoded rows of different lengths that share the system prompt."""
    from domaintune.data.encoding import encode_for_training

    conversations = [
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}, {"role": "assistant", "content": a}]
        for q, a in zip(QUESTIONS, ["yes", "no", "yes"])
    ]
    encoded = encode_for_training(conversations, tokenizer, 256)
    return [{"input_ids": i, "labels": l} for i, l in zip(encoded["input_ids"], encoded["labels"])]


EVERY_LAYER = {"adapter_layers": 1.0}
"""Adapters on every decoder layer (the default is the upper half): the tests that compare
losses and gradients across attention kernels, the shared prefix's paths or folded adapters
then reach every layer's attention, prefix cache and adapters."""


def randomize_lora_b(model: torch.nn.Module, std: float) -> None:
    """peft starts B at 0, which leaves A without gradient and the adapters without effect."""
    import torch

    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=std)
