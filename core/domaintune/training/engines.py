"""Which engine shards training over the processes (DDP, FSDP or DeepSpeed ZeRO, all through
Trainer and accelerate), whether this machine can run it, and the TrainingArguments it needs.

Checked with the rest of the config, before any data or model is loaded, so that a missing
piece is named at once instead of after minutes of preparation.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEEPSPEED_STAGES = (2, 3)
"""ZeRO stages passed through: 2 shards optimizer state and gradients, 3 the weights too."""


def engine_problems(values: Mapping[str, Any]) -> list[str]:
    """Why the engine ``values`` ask for (config keys ``distributed``, ``deepspeed``) cannot
    run here, one line per missing piece; empty when it can."""
    config_file = values.get("deepspeed")
    if config_file is None:
        return []
    problems = []
    if values.get("distributed", "ddp") != "ddp":
        problems.append(
            f"deepspeed: {config_file} and distributed: {values['distributed']!r} are two ways "
            "to shard one run; keep one (drop --deepspeed, or set distributed: ddp)"
        )
    problems.extend(_deepspeed_file_problems(Path(config_file)))
    if importlib.util.find_spec("deepspeed") is None:
        problems.append(
            f"deepspeed: {config_file} needs the deepspeed package, which is not installed; "
            "pip install deepspeed (on a machine with CUDA GPUs and a CUDA toolkit)"
        )
    import torch

    if not torch.cuda.is_available():
        problems.append(
            f"deepspeed: {config_file} needs CUDA GPUs (ZeRO runs over NCCL), and this machine has "
            "none; on CPU leave --deepspeed out (DDP over gloo, or distributed: fsdp)"
        )
    return problems


def _deepspeed_file_problems(path: Path) -> list[str]:
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"deepspeed: {path}: no such file; pass --deepspeed with a DeepSpeed JSON config"]
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return [f"deepspeed: {path}: not a readable JSON file ({error}); pass a DeepSpeed JSON config"]
    stage = settings.get("zero_optimization", {}).get("stage") if isinstance(settings, dict) else None
    if stage not in DEEPSPEED_STAGES:
        return [
            f"deepspeed: {path}: zero_optimization.stage is {stage!r}; this pass-through is for "
            "ZeRO stage 2 or 3 (set \"zero_optimization\": {\"stage\": 2} or 3)"
        ]
    return []


def engine_arguments(distributed: str, deepspeed: str | None) -> dict[str, Any]:
    """The TrainingArguments that select the engine (Trainer hands them to accelerate)."""
    if deepspeed is not None:
        return {"deepspeed": deepspeed}
    if distributed == "fsdp":
        return {"fsdp": True, "fsdp_config": {"version": 2}}
    return {}
