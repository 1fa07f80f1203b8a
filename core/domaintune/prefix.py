"""The tokens that rows share at their start (the system prompt and the task's instruction):
how many there are, and inputs laid out to continue their KV cache with each row's own tokens.

Label scoring, generation and training run such a prefix once (per pass or per batch) instead
of once per row. Measured on 600 rows of each set (the default model's tokenizer and
formatter, length-grouped batches of 8), the share of training tokens in a prefix its batch
shares: LegalBench overruling 39%, Financial PhraseBank 49%, PubMedQA 17%, CUAD 13%.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

MIN_SHARED_PREFIX = 16
"""Tokens the rows must share before the shared part gets a pass of its own."""


def shared_prefix_length(sequences: Sequence[Sequence[int]], limit: int | None = None) -> int:
    """The number of tokens every sequence starts with, at most ``limit``, leaving each
    sequence at least one token of its own; 0 when that is under `MIN_SHARED_PREFIX`."""
    shortest = min(len(sequence) for sequence in sequences)
    prefix = min(len(os.path.commonprefix([list(s) for s in sequences])), shortest - 1)
    if limit is not None:
        prefix = min(prefix, limit)
    return prefix if prefix >= MIN_SHARED_PREFIX else 0


def after_prefix(inputs: dict[str, torch.Tensor], prefix: int) -> dict[str, torch.Tensor]:
    """Left-padded rows (``input_ids``, ``attention_mask``, ``position_ids``; others pass
    through) laid out to continue a cached prefix of ``prefix`` tokens: the mask gains the
    prefix's columns, so the padding sits between prefix and row, masked, and positions
    continue from the prefix as in the unsplit row."""
    import torch

    mask = inputs["attention_mask"]
    prefix_mask = torch.ones((mask.shape[0], prefix), dtype=mask.dtype, device=mask.device)
    return {
        **inputs,
        "attention_mask": torch.cat([prefix_mask, mask], dim=1),
        "position_ids": inputs["position_ids"] + prefix,
    }
