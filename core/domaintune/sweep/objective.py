"""One sweep trial: a real short run through the library's training path (the run's model
loading, tokenizing, adapters and `training.train`), scored by its answer-token loss on a
validation split carved once from the training rows, and pruned on that loss as it trains.
Imported only when a sweep starts, so optuna and transformers are imported at the top."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import transformers
from transformers import TrainerCallback

from domaintune.config import RunConfig
from domaintune.data.split import cap_rows_per_task
from domaintune.files import write_text_atomic
from domaintune.settings import DomainParts
from domaintune.training.totals import TrainingClock

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedTokenizerBase

    from domaintune.domain import Domain
    from domaintune.sweep.space import Param

EVALUATIONS_PER_TRIAL = 3
"""Validation passes a trial makes, at each third of it: the points the pruner judges at. Each
pass costs what training on about a sixth as many rows does (the legal sample on the default
model: 48 rows, 20 s), so more passes would leave a short trial few steps."""
TRIAL_PATIENCE = 2
"""Evaluations without a better validation loss after which a trial stops (early stopping)."""


@dataclass
class TrialData:
    """What every trial trains and is scored on; the final held-out rows are not in it."""

    domain: Domain
    parts: DomainParts
    config: RunConfig
    train_rows: datasets.Dataset
    validation_rows: datasets.Dataset
    model_path: str
    tokenizer: PreTrainedTokenizerBase


def prompt_digest(prompt: str) -> str:
    """A short stable id of a row's prompt, for the record of which rows a trial used."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


class ValidateAndReport(TrainerCallback):
    """A validation pass at each third of the trial, by its time budget or by its steps,
    whichever ends it first, and each loss reported to Optuna as that third's number.

    The pruner compares trials at the same reported step, so they are compared at the same
    share of their budget however fast each one trains. (Shares of the planned steps would
    never come when the budget ends a trial first.) Training stops when the pruner says the
    trial is worse than the others were at that point. Runs after Trainer's and the budget's
    callbacks, so it sees whether this step is the last."""

    def __init__(self, trial: optuna.Trial, budget_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self.trial = trial
        self.budget_s = budget_s
        self.clock = TrainingClock(now=now)
        self.point = 0
        self.pruned_at: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        self.clock.start()
        return control

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        if control.should_training_stop:  # its last step or its budget's end: the last point
            point = EVALUATIONS_PER_TRIAL
        else:
            share = max(state.global_step / max(state.max_steps, 1), self.clock.elapsed() / self.budget_s)
            point = min(EVALUATIONS_PER_TRIAL - 1, math.floor(share * EVALUATIONS_PER_TRIAL))
        if point > self.point:
            self.point = point
            control.should_evaluate = control.should_save = True  # saved: early stopping keeps the best
        return control

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
        if metrics and "eval_loss" in metrics:
            self.trial.report(float(metrics["eval_loss"]), max(1, self.point))
            if self.trial.should_prune():
                self.pruned_at = state.global_step
                control.should_training_stop = True
        return control


def trial_config(data: TrialData, params: dict[str, Any], budget_s: float, folder: Path) -> RunConfig:
    """The run's settings with the trial's values and its time budget. Its validation passes
    (and the checkpoints early stopping keeps) come from `ValidateAndReport`, so none falls
    due by step count: save_steps is past the last step."""
    config = dataclasses.replace(data.config, **params)
    rows = _trial_rows(data, config)
    steps = max(1, math.ceil(len(rows) * config.epochs / (config.batch_size * config.gradient_accumulation)))
    return dataclasses.replace(
        config, time_budget_minutes=budget_s / 60, early_stopping_patience=TRIAL_PATIENCE,
        early_stopping_rows=None, save_steps=steps + 1,
        logging_steps=max(1, steps // EVALUATIONS_PER_TRIAL), output_dir=str(folder),
    )


def _trial_rows(data: TrialData, config: RunConfig) -> datasets.Dataset:
    rows = data.train_rows
    if config.max_rows_per_task:
        rows = cap_rows_per_task(rows, config.max_rows_per_task, config.seed)
    if config.max_train_rows and len(rows) > config.max_train_rows:
        rows = rows.shuffle(seed=config.seed).select(range(config.max_train_rows))
    return rows


def run_trial(trial: optuna.Trial, data: TrialData, space: dict[str, Param], budget_s: float, folder: Path) -> float:
    """Train one trial's settings within ``budget_s`` seconds of training; its best
    validation loss. Raises optuna.TrialPruned when the pruner stopped it."""
    from domaintune.model import load_model
    from domaintune.training.batches import tokenize_dataset
    from domaintune.training.methods import cast_frozen_weights, prepare_model
    from domaintune.training.train import train

    started = time.monotonic()
    params = {name: param.suggest(trial) for name, param in space.items()}
    config = trial_config(data, params, budget_s, folder)
    rows = _trial_rows(data, config)
    # Which rows the trial saw, by prompt digest: the held-out rows must be in neither list.
    write_text_atomic(folder / "rows.json", json.dumps({
        "train": [prompt_digest(p) for p in rows["prompt"]],
        "validation": [prompt_digest(p) for p in data.validation_rows["prompt"]],
    }))
    transformers.set_seed(config.seed)
    model = load_model(data.model_path, trust_remote_code=config.trust_remote_code)
    model = prepare_model(cast_frozen_weights(model, config), config)
    tokenize = lambda dataset: tokenize_dataset(  # noqa: E731
        dataset, data.parts.formatter, data.tokenizer, config.max_length, data.domain.name
    )
    reporter = ValidateAndReport(trial, budget_s)
    trained = train(
        model, data.tokenizer, tokenize(rows), config, folder / "checkpoints",
        callbacks=[reporter], held_out=tokenize(data.validation_rows),
    )
    shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    trial.set_user_attr("steps", trained.steps)
    trial.set_user_attr("train_seconds", round(trained.seconds, 1))
    validation_s = sum(entry.get("eval_runtime", 0.0) for entry in trained.log_history)
    trial.set_user_attr("validation_seconds", round(validation_s, 1))
    # What the trial took beyond its training budget: loading, and the last step and
    # validation pass after the budget ran out; the next trials' budgets leave room for it.
    overrun = max(0.0, trained.seconds - budget_s)
    trial.set_user_attr("overhead_seconds", round(time.monotonic() - started - trained.seconds + overrun, 1))
    trial.set_user_attr("stopped_by_time_budget", trained.stopped_by_budget)
    if reporter.pruned_at is not None:
        raise optuna.TrialPruned(f"pruned at step {reporter.pruned_at} on its validation loss")
    if trained.best_eval_loss is None:
        raise optuna.TrialPruned(
            f"its time budget ({budget_s:.0f} s) ended before its first validation pass"
        )
    return float(trained.best_eval_loss)
