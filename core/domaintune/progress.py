"""How a job shows progress: the Reporter protocol the CLI implements, and a silent one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from domaintune.evaluation.scoring import (
    Progress,
)

if TYPE_CHECKING:
    pass


class Reporter(Protocol):
    """How a job shows progress; the CLI gives a rich one, tests a silent one."""

    def step(self, message: str) -> None: ...

    def progress(self, description: str, total: float) -> contextlib.AbstractContextManager[Progress]: ...


class SilentReporter:
    def step(self, message: str) -> None:
        pass

    @contextlib.contextmanager
    def progress(self, description: str, total: float) -> Iterator[Progress]:
        yield lambda n: None


def quiet_libraries() -> None:
    """The job reports its own progress; the libraries' bars for quick steps are noise."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
