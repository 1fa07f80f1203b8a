"""What training reads: rows formatted and tokenized once, and batches padded on the left."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from domaintune.data.encoding import IGNORE_INDEX, encode_for_training
from domaintune.data.parallel import map_workers
from domaintune.domain import Formatter
from domaintune.plugins import blame

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedTokenizerBase


def tokenize_dataset(
    dataset: datasets.Dataset,
    formatter: Formatter,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    domain_name: str,
) -> datasets.Dataset:
    """Format and tokenize in batches; adds a ``length`` column for length grouping."""

    def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        with blame(f"the formatter of domain {domain_name!r}"):
            conversations = formatter(batch)
        encoded = encode_for_training(conversations, tokenizer, max_length)
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        return encoded

    return dataset.map(
        encode,
        batched=True,
        remove_columns=dataset.column_names,
        num_proc=map_workers(len(dataset)),
        desc="Tokenizing",
    )


class LeftPadToLongest:
    """Pads each batch on the left to its longest row.

    Left padding puts every answer at the end of its row, so the positions that carry labels
    are the last few columns for the whole batch; see `AnswerLossTrainer`.
    """

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(row["input_ids"]) for row in rows)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            start = width - len(row["input_ids"])
            input_ids[i, start:] = torch.tensor(row["input_ids"])
            labels[i, start:] = torch.tensor(row["labels"])
            attention_mask[i, start:] = 1
        # Positions count real tokens only, so the padding does not shift rotary positions.
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        return {
            "input_ids": input_ids,
            "labels": labels,
            "attention_mask": attention_mask,
            "position_ids": position_ids,
        }
