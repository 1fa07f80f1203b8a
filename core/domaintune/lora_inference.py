"""How scoring runs a model's unmerged LoRA adapters: each adapted linear layer as its base
output plus ``(x A^T)(s B)^T`` in one ``addmm``, with ``A`` and ``s B`` cast once per pass.

A tuned model is scored unmerged (merged into bf16 weights, the update is rounded away; see
`domaintune.run`). peft's forward then casts each layer's input to the adapters' fp32 and
back, casts both adapter weights, and runs the scaling and the sum as passes of their own.
Measured on one 576 -> 1,536 layer under bf16 autocast, 2 vCPUs: 500 tokens took 2.45 ms
without an adapter, 3.3-3.9 ms with peft's, 2.8 ms folded; 8 tokens (a decoding step) 100, 167
and 152 us. `bench/eval_throughput.py`, whose "before" keeps peft's forward: tuned-model label
scoring at 1.91x and 2.26x before's rows/s, generation 1.92x and 1.95x (without the fold,
1.45x-2.51x and 2.03x-2.15x on earlier machines). A concatenated weight ``[W | s B]`` ran the
layer in 2.65 ms but holds a second copy of every adapted weight while scoring: not kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn


@contextlib.contextmanager
def folded_adapters(model: nn.Module) -> Iterator[None]:
    """While scoring (no gradients), every plain LoRA layer of ``model`` with one active,
    unmerged adapter runs folded; DoRA and other variants, several active adapters and merged
    layers keep peft's forward. peft's own forward comes back on exit."""
    try:
        from peft.tuners.lora import Linear as LoraLinear
    except ImportError:  # no peft, no adapters
        yield
        return
    folded = [module for module in model.modules() if isinstance(module, LoraLinear) and _foldable(module)]
    for layer in folded:
        layer.forward = _FoldedForward(layer)  # an instance attribute: the class's forward stays
    try:
        yield
    finally:
        for layer in folded:
            del layer.forward


def _foldable(layer: Any) -> bool:
    from torch import nn

    adapters = [name for name in layer.active_adapters if name in layer.lora_A]
    return (
        not layer.merged
        and not layer.disable_adapters
        and len(adapters) == 1
        and adapters[0] not in layer.lora_variant
        and isinstance(layer.base_layer, nn.Linear)
    )


class _FoldedForward:
    """One layer's folded forward; the adapter weights in the dtype each pass computes in
    (bf16 under autocast, else the base weight's), cast on first use."""

    def __init__(self, layer: Any) -> None:
        adapter = next(name for name in layer.active_adapters if name in layer.lora_A)
        self.base = layer.base_layer
        self.lora_a = layer.lora_A[adapter].weight.detach()
        self.lora_b = layer.lora_B[adapter].weight.detach() * layer.scaling[adapter]
        self.cast: dict[torch.dtype, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        import torch

        result = self.base(x, *args, **kwargs)
        if result.dtype not in self.cast:
            self.cast[result.dtype] = (self.lora_a.to(result.dtype), self.lora_b.to(result.dtype).t())
        lora_a, lora_b_t = self.cast[result.dtype]
        rows = x.reshape(-1, x.shape[-1]).to(result.dtype)
        down = torch.nn.functional.linear(rows, lora_a)
        return torch.addmm(result.reshape(-1, result.shape[-1]), down, lora_b_t).view(result.shape)
