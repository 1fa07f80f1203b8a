"""The fine-tuning run, top to bottom: LoRA, DoRA, QLoRA or full fine-tuning with Hugging Face
Trainer, resumed from the newest complete checkpoint, within an optional wall-clock budget,
with optional early stopping, and at a smaller micro-batch after an out-of-memory error.

The pieces live beside this module: batches (tokenizing, padding), methods (which weights
train), loss (answer tokens only), schedule (budget, learning rate), totals (figures across
resumes), checkpoints, early_stopping and memory. Imported only when a run starts (never by
`tune --help`), so torch is imported at the top.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from accelerate.utils import find_executable_batch_size
from transformers import PrinterCallback, TrainerCallback, TrainingArguments

from domaintune.config import RunConfig
from domaintune.errors import ConfigError
from domaintune.precision import use_bf16
from domaintune.progress import Reporter, SilentReporter, TrainingProgress
from domaintune.training.attention import training_attention
from domaintune.training.batches import LeftPadToLongest
from domaintune.training.checkpoints import (
    CheckpointTotals,
    MarkCompleteCheckpoints,
    check_checkpoint_files,
    latest_complete_checkpoint,
    read_totals,
)
from domaintune.training.distributed import Processes, check_same_checkpoint, start_processes
from domaintune.training.engines import engine_arguments
from domaintune.training.early_stopping import (
    early_stopping_callbacks,
    evaluation_arguments,
    hold_out_for_early_stopping,
    stopped_early,
)
from domaintune.training.loss import AnswerLossTrainer
from domaintune.training.memory import MicroBatches, StartingWeights, no_lowering_on_several_processes
from domaintune.training.methods import adapter_inputs_uncast
from domaintune.training.schedule import WallClockBudget, warmup_stable_decay
from domaintune.training.status import StatusCallback
from domaintune.training.timing import StepTimer
from domaintune.training.totals import TokenCount, TrainingClock

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass
class TrainResult:
    """What training did. Steps, seconds and tokens cover the whole run: a resumed run counts
    what its checkpoint had trained."""

    steps: int
    epochs: float
    seconds: float
    """Seconds of training (not of data preparation or scoring)."""
    tokens: int
    """Real (non-padding) tokens trained on."""
    log_history: list[dict[str, Any]]
    stopped_by_budget: bool
    resumed_from: str | None
    stopped_early: bool = False
    """Early stopping ended training: the held-out loss stopped improving."""
    best_eval_loss: float | None = None
    """The held-out loss of the checkpoint kept, with early stopping on."""
    micro_batch_changes: list[str] = dataclasses.field(default_factory=list)
    """How the micro-batch was lowered after out-of-memory errors, e.g. "micro-batch 8 -> 4,
    gradient accumulation 1 -> 2 after out-of-memory"; the rows per optimizer step stay."""
    time_split: dict[str, float] = dataclasses.field(default_factory=dict)
    """This process's training seconds in optimizer steps and in the gaps between them
    (`timing.TimeSplit`), for this attempt at the run (not before a resume)."""

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


@dataclass
class TrainingPlan:
    """Everything an attempt at training needs; the same for every attempt of one run."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    train_rows: datasets.Dataset
    held_out: datasets.Dataset | None
    config: RunConfig
    output_dir: Path
    processes: Processes
    total_steps: int
    micro: MicroBatches
    clock: TrainingClock
    budget: WallClockBudget
    tokens: TokenCount
    starting_weights: StartingWeights | None
    callbacks: Sequence[TrainerCallback] = ()
    show: TrainingProgress = lambda status: None
    timer: StepTimer = dataclasses.field(default_factory=StepTimer)


def train(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train_dataset: datasets.Dataset,
    config: RunConfig,
    output_dir: Path,
    resume: bool = False,
    processes: Processes | None = None,
    now: Callable[[], float] = time.monotonic,
    callbacks: Sequence[TrainerCallback] = (),
    held_out: datasets.Dataset | None = None,
    reporter: Reporter | None = None,
) -> TrainResult:
    """Fine-tune ``model`` (already prepared with `prepare_model`) in place, continuing from
    the newest complete checkpoint in ``output_dir`` if there is one.

    On one process, an out-of-memory error lowers the micro-batch (with more accumulation
    steps, so each optimizer step sees the same rows) and training starts again from the
    newest checkpoint, or from the start. ``now`` is the clock of the time budget and of the
    seconds figure. ``callbacks``: more Trainer callbacks (a sweep's pruner reads the
    held-out loss at each evaluation); ``held_out``: the rows early stopping (when on) judges by, in
    place of those it would hold out of ``train_dataset`` (a sweep scores every trial on the
    same rows). ``reporter`` shows the step, loss, tokens/s and time left as training goes.
    """
    processes = processes or start_processes()
    checkpoint = latest_complete_checkpoint(output_dir)
    check_same_checkpoint(processes, checkpoint, output_dir)
    if resume and checkpoint is None:
        raise ConfigError(
            f"--resume: {output_dir} holds no complete checkpoint (one is written every "
            f"{config.save_steps} steps); run without --resume to start over."
        )
    if config.batch_size % processes.world:
        raise ConfigError(
            f"batch_size: {config.batch_size} rows per forward pass cannot be split evenly over "
            f"{processes.world} processes; choose a multiple of {processes.world}."
        )
    if checkpoint is not None:
        check_checkpoint_files(checkpoint)  # before Trainer's loading meets a tampered file
    resumed = read_totals(checkpoint) if checkpoint else CheckpointTotals(seconds=0.0, tokens=0)

    if held_out is None:
        train_rows, held_out = hold_out_for_early_stopping(train_dataset, config)
    else:
        train_rows = train_dataset
    micro = MicroBatches(config, processes.world)
    # batch_size is rows per optimizer step over all processes: the same run, and the same
    # loss curve, on 1 process or N, and at any micro-batch.
    total_steps = max(1, math.ceil(len(train_rows) * config.epochs / micro.global_batch))
    # The seconds the checkpoint had trained count against the budget: a resumed run stops
    # where the uninterrupted one would, on the same learning-rate curve.
    clock = TrainingClock(resumed.seconds, now)
    budget_s = config.time_budget_minutes * 60 if config.time_budget_minutes else None
    trainable = [p for p in model.parameters() if p.requires_grad]
    plan = TrainingPlan(
        model=model, tokenizer=tokenizer, train_rows=train_rows, held_out=held_out, config=config,
        output_dir=output_dir, processes=processes, total_steps=total_steps, micro=micro,
        clock=clock, budget=WallClockBudget(budget_s, clock), tokens=TokenCount(),
        starting_weights=StartingWeights(trainable) if processes.world == 1 else None,
        callbacks=callbacks,
    )

    attempt = functools.partial(_train_at, plan=plan)
    with (reporter or SilentReporter()).training(total_steps) as plan.show:
        if processes.world == 1:
            trainer = find_executable_batch_size(
                attempt, starting_batch_size=micro.size, reduce_batch_size_fn=micro.lower
            )()
        else:
            with no_lowering_on_several_processes(micro.size):
                trainer = attempt(micro.size)

    return TrainResult(
        steps=trainer.state.global_step,
        epochs=float(trainer.state.epoch or 0.0),
        seconds=clock.elapsed(),
        tokens=plan.tokens.total(processes),
        log_history=list(trainer.state.log_history),
        stopped_by_budget=plan.budget.stopped,
        resumed_from=str(checkpoint) if checkpoint else None,
        stopped_early=stopped_early(trainer, total_steps),
        best_eval_loss=trainer.state.best_metric,
        micro_batch_changes=micro.changes,
        time_split=plan.timer.split.as_dict(),
    )


def _train_at(micro_batch: int, plan: TrainingPlan) -> AnswerLossTrainer:
    """One attempt at ``micro_batch`` rows per forward pass, from the newest complete
    checkpoint (a resume, or a restart after out-of-memory) or from the start."""
    start_from = latest_complete_checkpoint(plan.output_dir)
    if start_from is None and plan.micro.changes and plan.starting_weights:
        plan.starting_weights.restore()  # the attempt that ran out of memory had trained
    # Each step's tokens count once: the checkpoint's, plus this attempt's from there.
    plan.tokens.restart(read_totals(start_from).tokens if start_from else 0)
    trainer = _build_trainer(micro_batch, plan)
    with adapter_inputs_uncast(plan.model, plan.config), training_attention(plan.model, plan.config.max_length):
        trainer.train(resume_from_checkpoint=str(start_from) if start_from else None)
    return trainer


def _build_trainer(micro_batch: int, plan: TrainingPlan) -> AnswerLossTrainer:
    config, world = plan.config, plan.processes.world
    args = TrainingArguments(
        output_dir=str(plan.output_dir),
        per_device_train_batch_size=micro_batch,
        gradient_accumulation_steps=plan.micro.global_batch // (micro_batch * world),
        num_train_epochs=config.epochs,
        max_steps=plan.total_steps,
        learning_rate=config.learning_rate,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        report_to="none",  # trackers come as callbacks (training.tracking), local stores only
        disable_tqdm=True,  # the reporter shows progress (StatusCallback)
        seed=config.seed,
        bf16=use_bf16(config.precision),
        # Without it, Trainer under torchrun on CPU does not wrap the model in DDP (it warns).
        use_cpu=not torch.cuda.is_available(),
        train_sampling_strategy="group_by_length",
        remove_unused_columns=False,
        label_names=["labels"],
        ddp_find_unused_parameters=False,
        activation_checkpointing=config.gradient_checkpointing,
        # Non-reentrant checkpointing needs no gradient on the (frozen) input embeddings.
        activation_checkpointing_kwargs={"use_reentrant": False},
        **evaluation_arguments(config, micro_batch),
        **engine_arguments(config.distributed, config.deepspeed),
    )
    trainable = [p for p in plan.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0)
    warmup = int(plan.total_steps * config.warmup_ratio)
    scheduler = warmup_stable_decay(optimizer, plan.total_steps, warmup, plan.budget, config.decay_fraction)
    trainer = AnswerLossTrainer(
        model=plan.model,
        args=args,
        train_dataset=plan.train_rows,
        eval_dataset=plan.held_out,
        # Checkpointing would run a layer again and extend the prefix's cache twice.
        data_collator=LeftPadToLongest(plan.tokenizer.pad_token_id, share_prefix=not config.gradient_checkpointing),
        optimizers=(optimizer, scheduler),
        callbacks=[
            plan.budget,
            MarkCompleteCheckpoints(plan.clock, plan.tokens, plan.processes),
            *early_stopping_callbacks(config),
            StatusCallback(plan.show, plan.tokens, plan.budget, world),
            plan.timer,
            *plan.callbacks,
        ],
        tokens=plan.tokens,
        max_forward_tokens=config.max_forward_tokens,
    )
    trainer.remove_callback(PrinterCallback)  # it prints log dicts; StatusCallback logs them
    return trainer
