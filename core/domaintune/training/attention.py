"""Which attention kernel training runs: on a CPU, for rows of up to 256 tokens, transformers'
eager attention (two batched matmuls and a softmax) in place of SDPA, whose CPU flash-attention
backward pass is slow on such short rows; as `PACKED_PREFIX_ATTENTION`, which also runs a
batch's shared prefix in its rows' own pass (`training.packed_prefix`). Scoring, generation and
serving keep the model's own choice.

Measured on SmolLM2-135M, legal overruling rows, 8 rows a step with their shared prefix run
once, bf16, 2 vCPUs: the flash-attention backward took 19% of a step (8 ms a call for 8 rows of
about 100 tokens against 145 keys); on the same batches eager ran 1.15-1.21x SDPA's speed,
and the prefix in the rows' pass 1.10x more (`bench/train_step_levers.py`). Scoring gained
nothing (14.8 rows/s either way), so it keeps SDPA. On a GPU, SDPA's kernels win.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from domaintune.training.packed_prefix import (
    PACKED_PREFIX_ATTENTION,
    has_eager_attention,
    register_packed_prefix_attention,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel

CPU_TRAINING_ATTENTION = PACKED_PREFIX_ATTENTION
EAGER_MAX_LENGTH = 256
"""Longest rows (``max_length``) trained with eager attention. It keeps each layer's attention
weights for the backward pass, rows x heads x positions x key positions: at the default model's
9 heads and 30 layers, with `RunConfig.max_forward_tokens` 1,024 positions a pass, up to about
425 MB at 256 tokens, growing with the length (3.4 GB at 2,048). SDPA's memory grows linearly."""


@contextlib.contextmanager
def training_attention(model: PreTrainedModel, max_length: int) -> Iterator[None]:
    """While training on a CPU rows of at most `EAGER_MAX_LENGTH` tokens, ``model`` (a peft
    model or a plain one) attends with `CPU_TRAINING_ATTENTION` where it used SDPA; its own
    implementation comes back after."""
    pretrained = model.get_base_model() if hasattr(model, "get_base_model") else model
    own = getattr(pretrained.config, "_attn_implementation", None)
    if (
        pretrained.device.type != "cpu"
        or max_length > EAGER_MAX_LENGTH
        or own != "sdpa"
        or not pretrained._can_set_attn_implementation()
        or not has_eager_attention(pretrained)
    ):
        yield
        return
    register_packed_prefix_attention()
    pretrained.set_attn_implementation(CPU_TRAINING_ATTENTION)
    try:
        yield
    finally:
        pretrained.set_attn_implementation(own)
