"""How a job shows progress and where the libraries' own output goes: the Reporter protocol
the CLI implements (a silent one for tests and other processes), the training status it is
fed, and the routing of library logs and warnings to the run's train.log."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from domaintune.evaluation.scoring import (
    Progress,
)

TRAIN_LOG = "train.log"
"""The run folder's file of library logs and warnings (and Trainer's log dicts)."""
LIBRARY_LOG = "library.log"
"""Library logs and warnings of `tune eval` and `tune sweep`, in the folder they write."""

LIBRARY_LOGGER = "domaintune.library"
"""Where the job logs what the libraries report (Trainer's log dicts): train.log only."""


@dataclass(frozen=True)
class TrainingStatus:
    """Where training stands, after an optimizer step."""

    step: int
    total_steps: int
    loss: float | None
    """The latest logged training loss (every logging_steps steps); None before the first."""
    tokens_per_second: float
    seconds_left: float | None
    """Estimated from the pace so far, capped by the time budget; None before the first step."""
    budget_seconds_left: float | None
    """Seconds of the time budget left; None without a budget."""


TrainingProgress = Callable[[TrainingStatus], None]


class Reporter(Protocol):
    """How a job shows progress; the CLI gives a rich one, tests a silent one."""

    def step(self, message: str) -> None: ...

    def progress(self, description: str, total: float) -> contextlib.AbstractContextManager[Progress]: ...

    def training(self, total_steps: int) -> contextlib.AbstractContextManager[TrainingProgress]: ...


class SilentReporter:
    def step(self, message: str) -> None:
        pass

    @contextlib.contextmanager
    def progress(self, description: str, total: float) -> Iterator[Progress]:
        yield lambda n: None

    @contextlib.contextmanager
    def training(self, total_steps: int) -> Iterator[TrainingProgress]:
        yield lambda status: None


def quiet_libraries() -> None:
    """The job reports its own progress; the libraries' bars for quick steps are noise."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


@contextlib.contextmanager
def library_logs() -> Iterator[Callable[[Path], None]]:
    """Route Python logging, warnings (transformers' FutureWarnings among them) and the
    transformers/datasets loggers to the root logger while the job runs, held in memory until
    the run folder is known; call the yielded function with the log file's path to write them
    there. The console sees them only through a handler the CLI adds (`--verbose`)."""
    import datasets  # noqa: F401  (each sets up its logger, with a stderr handler, on import)
    import transformers  # noqa: F401

    root = logging.getLogger()
    held = logging.handlers.MemoryHandler(capacity=1_000_000, flushLevel=logging.CRITICAL + 1)
    held.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    libraries = [logging.getLogger(name) for name in ("transformers", "datasets")]
    before = (root.level, [(logger.level, logger.handlers[:], logger.propagate) for logger in libraries])
    root.addHandler(held)
    root.setLevel(logging.INFO)
    for logger in libraries:
        logger.handlers.clear()  # their own stderr handlers; ours get the records
        logger.setLevel(logging.INFO)
        logger.propagate = True
    logging.getLogger(LIBRARY_LOGGER).setLevel(logging.INFO)
    logging.captureWarnings(True)
    file_handler: logging.FileHandler | None = None

    def write_to(path: Path) -> None:
        """What was held goes to ``path``, and from now on each record as it comes."""
        nonlocal file_handler
        file_handler = logging.FileHandler(path, encoding="utf-8")
        file_handler.setFormatter(held.formatter)
        held.setTarget(file_handler)
        held.flush()
        root.removeHandler(held)
        root.addHandler(file_handler)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")  # each distinct warning once per place, into the log
            yield write_to
    finally:
        logging.captureWarnings(False)
        root.removeHandler(held)
        held.close()
        if file_handler is not None:
            root.removeHandler(file_handler)
            file_handler.close()
        root.setLevel(before[0])
        for logger, (level, handlers, propagate) in zip(libraries, before[1]):
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate


@contextlib.contextmanager
def library_logs_into(path: Path) -> Iterator[None]:
    """`library_logs` written to ``path`` from the start (its folder is made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with library_logs() as write_to:
        write_to(path)
        yield
