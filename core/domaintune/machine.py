"""The cores this process may run on, counted one way for every choice that depends on them:
data workers, `--nproc auto`, and the threads each launched process gets."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container's CPU limit or
    `taskset` narrows), not all the machine's: `os.cpu_count()` off Linux."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
