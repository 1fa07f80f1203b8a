"""How many processes a ``datasets.map`` over the data runs in."""

from __future__ import annotations

from domaintune.machine import usable_cores

PARALLEL_MIN_ROWS = 20_000
"""Below this, a datasets.map runs in this process: starting workers costs about a second."""
MAX_WORKERS = 8


def map_workers(rows: int) -> int | None:
    """Processes for a ``datasets.map`` over ``rows`` rows: one per core, none when small."""
    cores = usable_cores()
    if rows < PARALLEL_MIN_ROWS or cores < 2:
        return None
    return min(cores, MAX_WORKERS)
