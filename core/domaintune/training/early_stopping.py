"""Early stopping on rows held out from training: which rows, how Trainer evaluates them, and
whether it stopped the run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from transformers import EarlyStoppingCallback, Trainer, TrainerCallback

from domaintune.config import RunConfig
from domaintune.errors import ConfigError

if TYPE_CHECKING:
    import datasets

EARLY_STOPPING_SHARE = 0.05
EARLY_STOPPING_MIN_ROWS = 16
EARLY_STOPPING_MAX_ROWS = 200


def hold_out_for_early_stopping(
    dataset: datasets.Dataset, config: RunConfig
) -> tuple[datasets.Dataset, datasets.Dataset | None]:
    """The training rows, and the rows early stopping judges by (not trained on; None without
    early stopping). Chosen by seed, so every process and every resume holds out the same."""
    if config.early_stopping_patience is None:
        return dataset, None
    rows = config.early_stopping_rows or min(
        EARLY_STOPPING_MAX_ROWS, max(EARLY_STOPPING_MIN_ROWS, round(len(dataset) * EARLY_STOPPING_SHARE))
    )
    if rows >= len(dataset):
        raise ConfigError(
            f"early_stopping_rows: holding out {rows} of the {len(dataset)} training rows for "
            "early stopping leaves none to train on; lower early_stopping_rows, or pass more data."
        )
    split = dataset.train_test_split(test_size=rows, seed=config.seed)
    return split["train"], split["test"]


def evaluation_arguments(config: RunConfig, micro_batch: int) -> dict[str, Any]:
    """TrainingArguments for early stopping: evaluate at every checkpoint, keep the best."""
    if config.early_stopping_patience is None:
        return {}
    return {
        "eval_strategy": "steps",
        "eval_steps": config.save_steps,
        "per_device_eval_batch_size": micro_batch,
        "prediction_loss_only": True,
        "metric_for_best_model": "eval_loss",
        "load_best_model_at_end": True,
        # The patience counter continues after a resume instead of starting over.
        "restore_callback_states_from_checkpoint": True,
    }


def early_stopping_callbacks(config: RunConfig) -> list[TrainerCallback]:
    if config.early_stopping_patience is None:
        return []
    return [EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience)]


def stopped_early(trainer: Trainer, total_steps: int) -> bool:
    """Whether early stopping ended training before its last step."""
    # Looked up on the trainer: resuming replaces the callback with one restored from the checkpoint.
    patience = next(
        (c for c in trainer.callback_handler.callbacks if isinstance(c, EarlyStoppingCallback)), None
    )
    return (
        patience is not None
        and patience.early_stopping_patience_counter >= patience.early_stopping_patience
        and trainer.state.global_step < total_steps
    )
