"""What training does after an out-of-memory error: on one process, a smaller micro-batch
with more accumulation steps (so each optimizer step sees the same rows), restarted from the
newest checkpoint or from the starting weights; on several, a clear error."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from accelerate.utils.memory import should_reduce_batch_size

from domaintune.config import RunConfig
from domaintune.errors import ConfigError


def smaller_micro_batch(micro_batch: int) -> int:
    """The largest micro-batch below ``micro_batch`` that divides it (half, when it is even),
    so that the rows per optimizer step stay the same with more accumulation steps."""
    return next(micro_batch // factor for factor in range(2, micro_batch + 1) if micro_batch % factor == 0)


class MicroBatches:
    """The micro-batch training runs at, and how it was lowered (``changes``, for the report)."""

    def __init__(self, config: RunConfig, world: int) -> None:
        self.config = config
        self.global_batch = config.batch_size * config.gradient_accumulation
        self.size = config.batch_size // world
        self.changes: list[str] = []

    def lower(self) -> int:
        """Called by accelerate's find_executable_batch_size after an out-of-memory error:
        the next micro-batch to try."""
        old = self.size
        if old == 1:
            raise ConfigError(
                f"Out of memory while training even one row at a time (max_length "
                f"{self.config.max_length}); lower max_length or set gradient_checkpointing: true"
                + (", or use method lora." if self.config.method == "full" else ".")
            )
        self.size = smaller_micro_batch(old)
        self.changes.append(
            f"micro-batch {old} -> {self.size}, gradient accumulation {self.global_batch // old} -> "
            f"{self.global_batch // self.size} after out-of-memory"
        )
        return self.size


class StartingWeights:
    """A copy of the trainable weights before training: what a restart after an
    out-of-memory error starts from when no checkpoint exists yet (the adapters under LoRA, a
    few MB; a copy of the model under full fine-tuning)."""

    def __init__(self, trainable: list[torch.nn.Parameter]) -> None:
        self.trainable = trainable
        self.values = [p.detach().to("cpu", copy=True) for p in trainable]

    def restore(self) -> None:
        with torch.no_grad():
            for parameter, value in zip(self.trainable, self.values):
                parameter.copy_(value)


@contextlib.contextmanager
def no_lowering_on_several_processes(micro_batch: int) -> Iterator[None]:
    """One process lowering its micro-batch alone would leave the others waiting: say so."""
    try:
        yield
    except RuntimeError as error:
        if not should_reduce_batch_size(error):
            raise
        raise ConfigError(
            f"Out of memory at micro-batch {micro_batch} per process; on several processes it "
            "is not lowered automatically. Lower batch_size and raise gradient_accumulation, or "
            "run on one process."
        ) from error
