"""Which positions reach the output layer: `logits_to_keep` as indices of the last positions.

transformers slices the hidden states with an int (``hidden[:, -k:, :]``, a strided view).
torch's matmul of such a view of a batch with a weight that needs no gradient (a frozen or
merged model's output layer, 49k x 576 for the default model) takes a path that copies the
weight for every row: 1.3 s instead of 7 ms per call here (bench/README.md). An index tensor
makes transformers gather the rows into a contiguous tensor instead, for the same logits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def last_positions(count: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``logits_to_keep`` for the last ``count`` positions, whatever the sequence length
    (negative indices: the same tensor serves a prefill and every decode step)."""
    import torch

    return torch.arange(-count, 0, device=device)
