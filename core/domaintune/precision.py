"""Which precision training and scoring run in: bf16 where the hardware runs it fast, else fp32.

Training, scoring and the canary probe all ask here, so that the tuned model is scored in the
precision it was trained in.
"""

from __future__ import annotations


def use_bf16(precision: str) -> bool:
    """bf16 autocast where the hardware runs it fast: a bf16 GPU, or a CPU with native bf16
    instructions (AVX512-BF16 or AMX; measured here: 2x faster LoRA steps than fp32)."""
    if precision != "auto":
        return precision == "bf16"
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
