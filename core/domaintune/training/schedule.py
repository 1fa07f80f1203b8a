"""When training stops and how fast it learns: the wall-clock budget and the learning-rate
curve (warmup, a stable peak, then a linear decay to zero by the last step or the end of the
budget)."""

from __future__ import annotations

import torch
from transformers import TrainerCallback
from transformers.trainer_utils import IntervalStrategy, SaveStrategy

from domaintune.training.totals import TrainingClock


class WallClockBudget(TrainerCallback):
    """One clock for all processes: the share of the time budget used, read by process 0 at
    the start of each step and sent to the others, so that every process decays its learning
    rate and stops at the same step (diverging replicas would deadlock DDP).

    The clock counts the whole run's training time: a restart after an out-of-memory error
    gets no fresh budget, and neither does a resumed run (its checkpoint's seconds count)."""

    def __init__(self, budget_s: float | None, clock: TrainingClock | None = None) -> None:
        self.budget_s = budget_s
        self.clock = clock or TrainingClock()
        self.fraction_used = 0.0
        self.stopped = False

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        self.clock.start()
        return control

    def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        if self.budget_s:
            elapsed = torch.tensor([self.clock.elapsed()], dtype=torch.float64)
            if torch.distributed.is_initialized():
                torch.distributed.broadcast(elapsed, src=0)
            self.fraction_used = float(elapsed) / self.budget_s
        return control

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        if self.fraction_used >= 1.0:
            control.should_training_stop = self.stopped = True
            # What Trainer does at its last step: evaluate the steps since the last evaluation
            # (or early stopping's best-model reload would drop them) and checkpoint them.
            if args.eval_strategy == IntervalStrategy.STEPS and state.global_step % state.eval_steps:
                control.should_evaluate = True
            if args.save_strategy == SaveStrategy.STEPS:
                control.should_save = True
        return control


def warmup_stable_decay(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int,
    budget: WallClockBudget,
    decay_fraction: float = 1.0,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup, the peak learning rate, then linear decay to zero over the last
    ``decay_fraction`` of the run, which ends at the last step or at the end of the time
    budget, whichever comes first: a budget-capped run still ends at a low learning rate."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = max(step / max(total_steps, 1), budget.fraction_used)
        return max(0.0, min(1.0, (1.0 - progress) / decay_fraction))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
