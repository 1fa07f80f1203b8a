"""Running one job over several processes (torchrun): who does what, and sharing results.

Every process prepares the same data (deterministic), scores its share of the eval rows and
trains its share of each batch (DDP through Trainer); process 0 alone writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Processes:
    rank: int
    world: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

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

    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Processes(rank=dist.get_rank(), world=dist.get_world_size())


def device_for(processes: Processes) -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"
