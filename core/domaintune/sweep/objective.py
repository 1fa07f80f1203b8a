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

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedTokenizerBase

    from domaintune.domain import Domain
    from domaintune.sweep.space import Param

EVALUATIONS_PER_TRIAL = 4
"""Validation passes a trial makes if it runs all its steps: the points the pruner judges at."""
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


class ReportToTrial(TrainerCallback):
    """Each validation loss goes to Optuna; training stops when the pruner says the trial is
    worse than the others were at that step."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.pruned_at: int | None = None

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
        if metrics and "eval_loss" in metrics:
            self.trial.report(float(metrics["eval_loss"]), state.global_step)
            if self.trial.should_prune():
                self.pruned_at = state.global_step
                control.should_training_stop = True
        return control


def trial_config(data: TrialData, params: dict[str, Any], budget_s: float, folder: Path) -> RunConfig:
    """The run's settings with the trial's values, its time budget, and evaluations spread
    over its steps."""
    config = dataclasses.replace(data.config, **params)
    rows = _trial_rows(data, config)
    steps = max(1, math.ceil(len(rows) * config.epochs / (config.batch_size * config.gradient_accumulation)))
    every = max(1, steps // EVALUATIONS_PER_TRIAL)
    return dataclasses.replace(
        config, time_budget_minutes=budget_s / 60, early_stopping_patience=TRIAL_PATIENCE,
        early_stopping_rows=None, save_steps=every, logging_steps=every, output_dir=str(folder),
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
    reporter = ReportToTrial(trial)
    trained = train(
        model, data.tokenizer, tokenize(rows), config, folder / "checkpoints",
        callbacks=[reporter], held_out=tokenize(data.validation_rows),
    )
    shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    trial.set_user_attr("steps", trained.steps)
    trial.set_user_attr("train_seconds", round(trained.seconds, 1))
    trial.set_user_attr("overhead_seconds", round(time.monotonic() - started - trained.seconds, 1))
    trial.set_user_attr("stopped_by_time_budget", trained.stopped_by_budget)
    if reporter.pruned_at is not None:
        raise optuna.TrialPruned(f"pruned at step {reporter.pruned_at} on its validation loss")
    if trained.best_eval_loss is None:
        raise optuna.TrialPruned(
            f"its time budget ({budget_s:.0f} s) ended before its first validation pass"
        )
    return float(trained.best_eval_loss)
