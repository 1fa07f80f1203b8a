"""What torchrun is asked to start: this node's processes, alone (--standalone) or as one
node of several meeting at a static rendezvous (--nnodes, --node_rank, --master_addr,
--master_port), and how many of them `--nproc auto` takes on this machine. torchrun starts,
watches and stops the processes; this only builds its arguments, so that a plain
`torchrun ... -m domaintune run ...` works the same way."""

from __future__ import annotations

from dataclasses import dataclass

from domaintune.errors import ConfigError


@dataclass(frozen=True)
class Nodes:
    """The machines of one job and this one's place among them."""

    count: int = 1
    rank: int = 0
    master_addr: str | None = None
    master_port: int | None = None

    def check(self) -> None:
        """Refuse, before any work, a node setting torchrun would only fail on later."""
        if self.count == 1:
            if self.rank:
                raise ConfigError(f"--node-rank {self.rank}: a one-node job is node 0; pass --nnodes too.")
            return
        missing = [
            flag for flag, value in (("--master-addr", self.master_addr), ("--master-port", self.master_port))
            if value is None
        ]
        if missing:
            raise ConfigError(
                f"--nnodes {self.count}: the nodes meet at node 0's address and port; pass "
                f"{' and '.join(missing)} (the same on every node, e.g. --master-addr 10.0.0.1 "
                "--master-port 29500)."
            )
        if not 0 <= self.rank < self.count:
            raise ConfigError(
                f"--node-rank {self.rank}: must be between 0 and {self.count - 1} for --nnodes "
                f"{self.count} (each node gets its own rank; node 0 writes the run folder)."
            )
        if self.master_port is not None and not 0 < self.master_port < 65536:
            raise ConfigError(f"--master-port {self.master_port}: must be a TCP port, 1 to 65535.")

    @property
    def several(self) -> bool:
        return self.count > 1


def torchrun_arguments(nproc: int, nodes: Nodes) -> list[str]:
    """torchrun's options for ``nproc`` processes on this node of ``nodes``."""
    nodes.check()
    if not nodes.several:
        return ["--standalone", f"--nproc_per_node={nproc}"]
    return [
        f"--nnodes={nodes.count}", f"--node_rank={nodes.rank}", f"--nproc_per_node={nproc}",
        f"--master_addr={nodes.master_addr}", f"--master_port={nodes.master_port}",
    ]


@dataclass(frozen=True)
class ProcessChoice:
    """How many processes `--nproc auto` runs, and why, in words for the run's output."""

    count: int
    reason: str


CORES_PER_CPU_PROCESS = 8
"""On CPU, a further process must bring cores of its own: on 2 cores, two processes of one
thread ran 1-10% faster than one of two threads for 1.44x the memory (bench/train_throughput.py,
setups c and d), which does not pay. Above 2 cores this is a rule, not a measurement."""
CPU_PROCESS_BYTES = 4 * 2**30
"""Memory each CPU process needs: the default model's run peaked at 3.2 GB of RSS."""


def choose_processes(cores: int, available_bytes: int | None, gpus: int) -> ProcessChoice:
    """`--nproc auto`: one process per GPU; on CPU, one per CORES_PER_CPU_PROCESS cores while
    the available memory holds them."""
    if gpus:
        return ProcessChoice(gpus, f"{gpus} GPU(s): one process each")
    by_cores = max(1, cores // CORES_PER_CPU_PROCESS)
    if available_bytes is None:
        by_memory, memory = by_cores, "available memory unknown"
    else:
        by_memory = max(1, available_bytes // CPU_PROCESS_BYTES)
        memory = f"{available_bytes / 2**30:.0f} GiB available, about {CPU_PROCESS_BYTES / 2**30:.0f} GiB each"
    count = min(by_cores, by_memory)
    return ProcessChoice(
        count, f"{cores} CPU cores (a process per {CORES_PER_CPU_PROCESS}), {memory}; --nproc N sets it"
    )


def machine_processes() -> ProcessChoice:
    """`choose_processes` for this machine: its GPUs, the cores this process may use, and
    MemAvailable from /proc/meminfo (Linux)."""
    import torch

    from domaintune.machine import usable_cores

    cores = usable_cores()
    available = None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return choose_processes(cores, available, torch.cuda.device_count() if torch.cuda.is_available() else 0)
