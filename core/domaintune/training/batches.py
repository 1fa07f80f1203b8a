"""What training reads: rows formatted and tokenized once, and batches padded on the left."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from domaintune.data.encoding import IGNORE_INDEX, encode_for_training
from domaintune.data.parallel import map_workers
from domaintune.domain import Formatter
from domaintune.plugins import blame
from domaintune.prefix import after_prefix, shared_prefix_length

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
    """Pads each batch on the left to its longest row, after the prefix its rows share.

    Left padding puts every answer at the end of its row, so the positions that carry labels
    are the last few columns for the whole batch; see `AnswerLossTrainer`. With
    ``share_prefix``, the tokens every row of the batch starts with (the system prompt and the
    instruction, up to the first answer token) come once, as ``prefix_ids``: the loss runs
    them once per batch and each row continues their KV cache (`domaintune.prefix`), the same
    loss and gradients for less work. The attention mask keeps the prefix's columns, so it
    still counts every real token.
    """

    def __init__(self, pad_token_id: int, share_prefix: bool = True) -> None:
        self.pad_token_id = pad_token_id
        self.share_prefix = share_prefix

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        prefix = self._shared_prefix(rows)
        own_ids = [row["input_ids"][prefix:] for row in rows]
        width = max(len(ids) for ids in own_ids)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (row, ids) in enumerate(zip(rows, own_ids)):
            start = width - len(ids)
            input_ids[i, start:] = torch.tensor(ids)
            labels[i, start:] = torch.tensor(row["labels"][prefix:])
            attention_mask[i, start:] = 1
        # Positions count real tokens only, so the padding does not shift rotary positions.
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        batch = {
            "input_ids": input_ids,
            "labels": labels,
            "attention_mask": attention_mask,
            "position_ids": position_ids,
        }
        if not prefix:
            return batch
        return {**after_prefix(batch, prefix), "prefix_ids": torch.tensor(rows[0]["input_ids"][:prefix])}

    def _shared_prefix(self, rows: list[dict[str, Any]]) -> int:
        """Shared tokens before every row's first label; the logit that predicts that label
        sits at the position before it, which must stay the row's own."""
        if not self.share_prefix or len(rows) < 2:
            return 0
        first_label = min(
            next((i for i, label in enumerate(row["labels"]) if label != IGNORE_INDEX), len(row["labels"]))
            for row in rows
        )
        return shared_prefix_length([row["input_ids"] for row in rows], limit=first_label - 1)


def split_by_positions(batch: dict[str, torch.Tensor], max_positions: int) -> list[dict[str, torch.Tensor]]:
    """``batch`` (as `LeftPadToLongest` makes it) as parts of whole rows, each with at most
    ``max_positions`` positions where a part of one row allows it, shortest rows together and
    without the padding columns a part does not need."""
    prefix = batch["prefix_ids"].numel() if "prefix_ids" in batch else 0
    rows, width = batch["input_ids"].shape
    if rows == 1 or prefix + rows * width <= max_positions:
        return [batch]
    own_mask = batch["attention_mask"][:, prefix:]
    order = torch.argsort(own_mask.sum(dim=1), stable=True)
    halves = (order[: rows // 2], order[rows // 2:])
    parts = []
    for part_rows in halves:
        mask = own_mask[part_rows]
        start = int(mask.any(dim=0).int().argmax())  # the first column a row of this part uses
        part = {key: batch[key][part_rows, start:] for key in ("input_ids", "labels", "position_ids")}
        part["attention_mask"] = torch.cat([batch["attention_mask"][part_rows, :prefix], mask[:, start:]], dim=1)
        if prefix:
            part["prefix_ids"] = batch["prefix_ids"]
        parts.extend(split_by_positions(part, max_positions))
    return parts
