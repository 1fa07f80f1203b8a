"""Running one job over several processes (torchrun): who does what, and sharing results.

Every process prepares the same data (deterministic, in its own private cache: nodes need no
shared filesystem), scores its share of the eval rows and trains its share of each batch
(DDP through Trainer); global process 0 alone writes the run folder. Collectives wait at most
PROCESS_GROUP_TIMEOUT, so a rank that dies cannot leave the others blocked for long.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from domaintune.errors import CheckpointError

T = TypeVar("T")

PROCESS_GROUP_TIMEOUT = timedelta(minutes=10)
"""How long a collective (barrier, gather, DDP's all-reduce) waits for the other ranks before
it fails, instead of gloo's and NCCL's 30 minutes. It bounds the longest work one rank does
while the others wait at a barrier (rank 0 converting the default model and measuring the
safety filters: under a minute here); a dead rank is usually noticed sooner, when torchrun's
agent sees it exit and stops the rest."""


@dataclass(frozen=True)
class Processes:
    rank: int
    world: int
    local_rank: int = 0
    """This process's place on its own node (torchrun's LOCAL_RANK)."""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_node_main(self) -> bool:
        """The first process of its node: it prepares what each node needs on its own disk."""
        return self.local_rank == 0

    def shard(self, items: list[T]) -> list[T]:
        """This process's share: every world-th item, from its rank on."""
        return items[self.rank :: self.world]

    def unshard(self, shard: list[T]) -> list[T]:
        """Every process's shard put back in the original order (collective call)."""
        if self.world == 1:
            return shard
        shards = self.gather(shard)
        merged: list[T] = []
        for i in range(max(len(s) for s in shards)):
            merged.extend(s[i] for s in shards if i < len(s))
        return merged

    def gather(self, value: T) -> list[T]:
        if self.world == 1:
            return [value]
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.world
        dist.all_gather_object(gathered, value)
        return gathered

    def from_main(self, value: T) -> T:
        """Process 0's value, on every process (collective call)."""
        if self.world == 1:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()


def start_processes() -> Processes:
    """This process's place; initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Processes(rank=0, world=1)
    import torch
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
        dist.init_process_group(
            "nccl" if torch.cuda.is_available() else "gloo", timeout=PROCESS_GROUP_TIMEOUT
        )
    return Processes(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local_rank)


def check_same_checkpoint(processes: Processes, checkpoint: Path | None, output_dir: Path) -> None:
    """Refuse to resume when the processes see different newest checkpoints (collective call).

    Only global rank 0 writes checkpoints, so on nodes that do not share ``output_dir`` the
    others would start from scratch while rank 0 resumes, and the run would silently diverge."""
    seen = processes.gather(checkpoint.name if checkpoint else None)
    if len(set(seen)) > 1:
        by_rank = ", ".join(f"rank {rank}: {name or 'none'}" for rank, name in enumerate(seen))
        raise CheckpointError(
            f"{output_dir}: the processes see different newest checkpoints ({by_rank}). Resuming "
            "over several nodes needs the run folder on a filesystem they share (or node 0's "
            "checkpoints copied to the same path on every node); or start over in a new --output-dir."
        )


def device_for(processes: Processes) -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"
