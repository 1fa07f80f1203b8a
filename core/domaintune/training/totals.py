"""The whole run's training figures across resumes and restarts: seconds trained and real
tokens trained on. Each checkpoint stores them (see `checkpoints`), so that a resumed run
counts what it had done before it was killed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from domaintune.training.distributed import Processes


class TrainingClock:
    """Seconds of training in the whole run: those the resumed checkpoint had counted, plus
    this process's since training first began in it.

    A restart after an out-of-memory error keeps counting (that time was spent); a kill loses
    only the time since the newest checkpoint, whose steps are trained again. ``now`` is the
    time source: `time.monotonic`, or a deterministic one in tests.
    """

    def __init__(self, spent_s: float = 0.0, now: Callable[[], float] = time.monotonic) -> None:
        self.spent_s = spent_s
        self.now = now
        self.started: float | None = None

    def start(self) -> None:
        if self.started is None:
            self.started = self.now()

    def elapsed(self) -> float:
        if self.started is None:
            return self.spent_s
        return self.spent_s + self.now() - self.started


@dataclass
class TokenCount:
    """Real (non-padding) tokens trained on: ``before``, those of every process up to the
    checkpoint this attempt started from; ``here``, this process's since."""

    before: int = 0
    here: int = 0

    def restart(self, before: int) -> None:
        self.before, self.here = before, 0

    def total(self, processes: Processes) -> int:
        """The whole run's count (collective call: every process must make it)."""
        return self.before + sum(processes.gather(self.here))
