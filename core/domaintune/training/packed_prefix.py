"""Training's shared prefix in the same forward pass as the rows that continue it.

A batch from `LeftPadToLongest` holds the prefix its rows share (``prefix_ids``) and each row's
own, left-padded tokens. Run as a pass of its own (`AnswerLossTrainer.shared_prefix_cache`),
the prefix is one row of about 45 tokens through every layer, forward and backward: on a CPU
its thousands of small calls cost about a fifth of a step (measured: dropping that pass made
steps 1.25-1.30x faster). Here the prefix and the rows are laid one after another as a single
packed row, so every linear layer runs once over all of them, and the attention
(`packed_prefix_attention`, registered with transformers as `PACKED_PREFIX_ATTENTION`) splits
them again: the prefix attends causally to itself, each row to the whole prefix and causally
to its own real tokens. Same loss and gradients as the separate pass; each part of the
attention is transformers' own eager attention, on the same keys and masks. Measured on
SmolLM2-135M, legal overruling rows, 8 rows a step, bf16, 2 vCPUs, each of 16 batches timed
both ways back to back, twice: 1.127x the separate pass's speed (median; quartiles
1.063-1.194).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

PACKED_PREFIX_ATTENTION = "domaintune_packed_prefix"
"""The attention implementation's name: eager attention that also takes `PackedRows`."""


@dataclasses.dataclass
class PackedRows:
    """The layout of a packed forward: ``prefix`` tokens, then ``rows`` rows of ``width``
    columns each, row after row; ``attention_mask`` is the batch's own ([rows, prefix +
    width], the prefix's columns first), so it still counts every real token of every row."""

    prefix: int
    rows: int
    width: int
    attention_mask: torch.Tensor
    masks: dict[Any, tuple[torch.Tensor, torch.Tensor]] = dataclasses.field(default_factory=dict)

    def additive_masks(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """The prefix's causal mask [1, 1, P, P] and the rows' [rows, 1, W, P + W], as the
        additive masks eager attention takes; made once per pass."""
        if dtype not in self.masks:
            import torch

            lowest = torch.finfo(dtype).min
            prefix_sees = torch.ones(self.prefix, self.prefix, dtype=torch.bool).tril()
            own = self.attention_mask[:, self.prefix:].bool()
            causal = torch.ones(self.width, self.width, dtype=torch.bool).tril()
            rows_see = torch.cat(
                [
                    torch.ones(self.rows, self.width, self.prefix, dtype=torch.bool),
                    causal[None] & own[:, None, :],
                ],
                dim=2,
            )

            def additive(sees: torch.Tensor) -> torch.Tensor:
                return torch.zeros(sees.shape, dtype=dtype).masked_fill_(~sees, lowest)

            self.masks[dtype] = (additive(prefix_sees)[None, None], additive(rows_see)[:, None])
        return self.masks[dtype]


def packed_inputs(inputs: dict[str, torch.Tensor], prefix_ids: torch.Tensor) -> tuple[dict[str, Any], PackedRows]:
    """A `LeftPadToLongest` batch (its ``prefix_ids`` taken out) as the model's inputs for one
    packed row, and its layout."""
    import torch

    rows, width = inputs["input_ids"].shape
    prefix = prefix_ids.numel()
    layout = PackedRows(prefix, rows, width, inputs["attention_mask"])
    model_inputs = {
        "input_ids": torch.cat([prefix_ids, inputs["input_ids"].flatten()])[None],
        "position_ids": torch.cat([torch.arange(prefix), inputs["position_ids"].flatten()])[None],
        "packed_rows": layout,
    }
    return model_inputs, layout


def packed_positions(layout: PackedRows, columns: torch.Tensor) -> torch.Tensor:
    """Where each row's ``columns`` (of its own part) sit in the packed row, row by row."""
    import torch

    starts = layout.prefix + torch.arange(layout.rows) * layout.width
    return (starts[:, None] + columns[None, :]).flatten()


def packed_prefix_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    packed_rows: PackedRows | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Eager attention over a packed row (query [1, heads, P + rows x W, d], keys and values
    with the model's key-value heads), or plain eager attention where no `PackedRows` came."""
    import torch

    eager = sys.modules[type(module).__module__].eager_attention_forward  # the model's own
    if packed_rows is None:
        return eager(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
    layout = packed_rows
    prefix_mask, rows_mask = layout.additive_masks(query.dtype)

    def rows_of(states: torch.Tensor) -> torch.Tensor:  # [1, h, P + rows x W, d] -> [rows, h, W, d]
        heads, dim = states.shape[1], states.shape[3]
        return states[0, :, layout.prefix:].reshape(heads, layout.rows, layout.width, dim).transpose(0, 1)

    def with_prefix(states: torch.Tensor) -> torch.Tensor:  # each row's keys: the prefix's, then its own
        prefix = states[:, :, : layout.prefix].expand(layout.rows, -1, -1, -1)
        return torch.cat([prefix, rows_of(states)], dim=2)

    prefix_out, _ = eager(
        module, query[:, :, : layout.prefix], key[:, :, : layout.prefix], value[:, :, : layout.prefix],
        prefix_mask, scaling=scaling, dropout=dropout, **kwargs,
    )
    rows_out, _ = eager(
        module, rows_of(query), with_prefix(key), with_prefix(value), rows_mask, scaling=scaling, dropout=dropout,
        **kwargs,
    )
    rows_out = rows_out.reshape(1, layout.rows * layout.width, *rows_out.shape[2:])
    return torch.cat([prefix_out, rows_out], dim=1), None


def has_eager_attention(model: nn.Module) -> bool:
    """Whether ``model``'s modeling code defines the ``eager_attention_forward`` that
    `packed_prefix_attention` runs (transformers' Llama-style models do)."""
    return callable(getattr(sys.modules.get(type(model).__module__), "eager_attention_forward", None))


def register_packed_prefix_attention() -> None:
    """Make `PACKED_PREFIX_ATTENTION` a name transformers models accept (idempotent); its
    masks for unpacked batches are eager attention's."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(PACKED_PREFIX_ATTENTION, packed_prefix_attention)
    AttentionMaskInterface.register(PACKED_PREFIX_ATTENTION, eager_mask)
