"""Conversations to token ids, the same way for training and for scoring.

The prompt is the chat template up to the assistant's turn; the answer is what the template
adds for the assistant message, end-of-turn token included. With SmolLM2 pad == eos, so the
labels are built here rather than by a collator that would mask every eos.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domaintune.domain import Message
from domaintune.errors import DataError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100


def split_prompt_answer(
    conversations: list[list[Message]], tokenizer: PreTrainedTokenizerBase
) -> tuple[list[str], list[str]]:
    """Render each conversation and split it into prompt text and answer text."""
    prompts, answers = [], []
    for conversation in conversations:
        if not conversation or conversation[-1].get("role") != "assistant":
            raise DataError(
                "The formatter returned a conversation that does not end with an assistant "
                f"message: {conversation!r}. The last message must be the answer."
            )
        prompt = tokenizer.apply_chat_template(
            conversation[:-1], tokenize=False, add_generation_prompt=True
        )
        full = tokenizer.apply_chat_template(conversation, tokenize=False)
        if not full.startswith(prompt):
            raise DataError(
                "The model's chat template renders the prompt differently with and without "
                "the answer, so the answer tokens cannot be found; use a model whose template "
                "appends the assistant turn."
            )
        prompts.append(prompt)
        answers.append(full[len(prompt):])
    return prompts, answers


def cut_middle(ids: list[int], budget: int) -> list[int]:
    """Keep ``budget`` tokens: the start (system prompt, instruction) and the end (question,
    assistant header). Cutting from the left would drop the instruction."""
    if len(ids) <= budget:
        return ids
    head = budget // 2
    return ids[:head] + ids[len(ids) - (budget - head):]


def tokenize_texts(tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> list[list[int]]:
    # The chat template already holds the special tokens.
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def encode_for_training(
    conversations: list[list[Message]], tokenizer: PreTrainedTokenizerBase, max_length: int
) -> dict[str, list[list[int]]]:
    """input_ids and labels (answer tokens only; prompt tokens set to -100)."""
    prompts, answers = split_prompt_answer(conversations, tokenizer)
    input_ids, labels = [], []
    for prompt_ids, answer_ids in zip(tokenize_texts(tokenizer, prompts), tokenize_texts(tokenizer, answers)):
        answer_ids = answer_ids[: max_length - 1]
        prompt_ids = cut_middle(prompt_ids, max_length - len(answer_ids))
        input_ids.append(prompt_ids + answer_ids)
        labels.append([IGNORE_INDEX] * len(prompt_ids) + answer_ids)
    return {"input_ids": input_ids, "labels": labels}
