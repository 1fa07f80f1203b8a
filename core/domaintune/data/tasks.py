"""Choosing tasks by name in multi-task data (``--task "CUAD_*,overruling"``)."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from domaintune.errors import DataError

if TYPE_CHECKING:
    import datasets


def matches_tasks(task: str, patterns: str) -> bool:
    """Whether ``task`` matches one of the comma-separated fnmatch ``patterns`` (any case)."""
    wanted = [p.strip().lower() for p in patterns.split(",") if p.strip()]
    return any(fnmatch.fnmatchcase(task.lower(), pattern) for pattern in wanted)


def select_tasks(dataset: datasets.Dataset, patterns: str, source: str = "the data") -> datasets.Dataset:
    """The rows whose ``task`` matches ``patterns``; an error lists the tasks when none does."""
    kept = dataset.filter(lambda task: matches_tasks(task, patterns), input_columns="task")
    if len(kept) == 0:
        names = sorted(set(dataset["task"]))
        shown = ", ".join(repr(n) for n in names[:20]) + (" ..." if len(names) > 20 else "")
        raise DataError(
            f"No row of {source} has a task matching {patterns!r}; its tasks are: {shown}. "
            "Fix --task (comma-separated patterns such as 'CUAD_*,overruling')."
        )
    return kept
