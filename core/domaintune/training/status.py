"""Trainer's progress as the job's own: a callback that feeds the Reporter a TrainingStatus
after each optimizer step and sends Trainer's log dicts to train.log instead of the console
(Trainer's PrinterCallback, which prints them, is taken out in train.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from transformers import TrainerCallback

from domaintune.progress import LIBRARY_LOGGER, TrainingProgress, TrainingStatus
from domaintune.training.schedule import WallClockBudget
from domaintune.training.totals import TokenCount

logger = logging.getLogger(LIBRARY_LOGGER)


class StatusCallback(TrainerCallback):
    """Reports step of total, the latest loss, tokens/s and the time left to ``show``."""

    def __init__(
        self, show: TrainingProgress, tokens: TokenCount, budget: WallClockBudget, world: int,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.show, self.tokens, self.budget, self.world = show, tokens, budget, world
        self.now = now
        self.loss: float | None = None
        self.attempt_start: tuple[float, int] | None = None
        """When this attempt's first step began, and the global step it began at (a resumed
        run's pace counts only the steps trained here)."""

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        self.attempt_start = (self.now(), state.global_step)
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
        if state.is_world_process_zero and logs:
            logger.info("step %d: %s", state.global_step, {k: v for k, v in logs.items() if k != "total_flos"})
        if logs and "loss" in logs:
            self.loss = float(logs["loss"])
        return control

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        if state.is_world_process_zero:
            self.show(self.status(state.global_step, state.max_steps))
        return control

    def status(self, step: int, total_steps: int) -> TrainingStatus:
        # Its own clock: reading the run's TrainingClock would tick a test's deterministic one.
        started, first_step = self.attempt_start or (self.now(), step)
        seconds_here = self.now() - started
        done_here = step - first_step
        seconds_left = seconds_here / done_here * (total_steps - step) if done_here > 0 else None
        # The share of the budget used, as the budget callback read it at this step's start.
        budget_s = self.budget.budget_s
        budget_left = max(0.0, budget_s * (1.0 - self.budget.fraction_used)) if budget_s else None
        if budget_left is not None and seconds_left is not None:
            seconds_left = min(seconds_left, budget_left)
        # This attempt's tokens; other processes train as many as this one, near enough.
        tokens_here = self.tokens.here * self.world
        return TrainingStatus(
            step=step, total_steps=total_steps, loss=self.loss,
            tokens_per_second=tokens_here / seconds_here if seconds_here > 0 else 0.0,
            seconds_left=seconds_left, budget_seconds_left=budget_left,
        )
