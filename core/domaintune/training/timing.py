"""Where a run's training seconds go: the optimizer steps themselves, and what Trainer does
between two steps (fetching the next batch, logging and the budget check, checkpoint saves,
the held-out loss). metrics.json carries the split, so a run slower than the bench says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from transformers import TrainerCallback


@dataclass
class TimeSplit:
    """Seconds of this process's training, by what they were spent on."""

    steps_s: float = 0.0
    """Inside optimizer steps: forward, backward and the update, over every micro-batch."""
    checkpoint_s: float = 0.0
    """Between two steps where a checkpoint was saved."""
    heldout_loss_s: float = 0.0
    """Between two steps where the held-out loss was computed (early stopping, a sweep)."""
    between_steps_s: float = 0.0
    """Every other gap: the data loader's next batch, logging, callbacks."""
    steps: int = 0

    def as_dict(self) -> dict[str, float]:
        figures = asdict(self)
        total = self.steps_s + self.checkpoint_s + self.heldout_loss_s + self.between_steps_s
        figures["steps_share"] = self.steps_s / total if total else 0.0
        return figures


class StepTimer(TrainerCallback):
    """Times each optimizer step and each gap to the next one, and files the gap under the
    work that happened in it."""

    def __init__(self, now: Callable[[], float] = time.perf_counter) -> None:
        self.now = now
        self.split = TimeSplit()
        self._mark: float | None = None
        self._gap_kind = "between_steps_s"

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        self._mark = None  # an attempt after out-of-memory starts afresh; the split goes on
        return control

    def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        now = self.now()
        if self._mark is not None:
            setattr(self.split, self._gap_kind, getattr(self.split, self._gap_kind) + now - self._mark)
        self._mark, self._gap_kind = now, "between_steps_s"
        return control

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        now = self.now()
        if self._mark is not None:
            self.split.steps_s += now - self._mark
            self.split.steps += 1
        self._mark = now
        return control

    def on_evaluate(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        self._gap_kind = "heldout_loss_s"
        return control

    def on_save(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        if self._gap_kind == "between_steps_s":  # a gap with an evaluation stays the evaluation's
            self._gap_kind = "checkpoint_s"
        return control

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        """The last step's gap (the final save) ends with training."""
        self.on_step_begin(args, state, control)
        self._mark = None
        return control
