"""Checkpoint folders: marking the complete ones with the run's totals, finding the newest,
refusing unsafe files before resuming, and removing them once the run is finished."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from transformers import TrainerCallback

from domaintune.errors import CheckpointError
from domaintune.files import write_json_atomic
from domaintune.training.distributed import Processes
from domaintune.training.totals import TokenCount, TrainingClock

CHECKPOINTS_DIR = "checkpoints"
"""The run folder's subfolder that training writes its checkpoints to."""

CHECKPOINT_COMPLETE = "domaintune-complete"
"""Written into a checkpoint folder after Trainer has saved all of it, with the run's totals
at that step: a kill mid-save leaves a folder without it, which resuming skips."""


@dataclass(frozen=True)
class CheckpointTotals:
    """What the run had trained when the checkpoint was saved."""

    seconds: float
    tokens: int


class MarkCompleteCheckpoints(TrainerCallback):
    """Marks each saved checkpoint complete, recording the training seconds and tokens so far."""

    def __init__(self, clock: TrainingClock, tokens: TokenCount, processes: Processes) -> None:
        self.clock = clock
        self.tokens = tokens
        self.processes = processes

    def on_save(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        # Every process counts its own tokens; summing them is a collective call, so every
        # process makes it (Trainer calls on_save on all of them at the same step).
        tokens = self.tokens.total(self.processes)
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            totals = {"step": state.global_step, "seconds": self.clock.elapsed(), "tokens": tokens}
            write_json_atomic(folder / CHECKPOINT_COMPLETE, totals)
        return control


def latest_complete_checkpoint(output_dir: Path) -> Path | None:
    complete = [
        folder
        for folder in output_dir.glob("checkpoint-*")
        if (folder / CHECKPOINT_COMPLETE).is_file() and folder.name.split("-")[-1].isdigit()
    ]
    return max(complete, key=lambda folder: int(folder.name.split("-")[-1]), default=None)


def read_totals(checkpoint: Path) -> CheckpointTotals:
    marker = checkpoint / CHECKPOINT_COMPLETE
    try:
        totals = json.loads(marker.read_text(encoding="utf-8"))
        return CheckpointTotals(seconds=float(totals["seconds"]), tokens=int(totals["tokens"]))
    except (ValueError, TypeError, KeyError) as error:
        raise CheckpointError(
            f"{marker}: holds no training totals (seconds, tokens), so the time budget cannot "
            f"continue where it was; it was written by an older domaintune. Delete {checkpoint.parent} "
            "to train this run from the start, or start a new run in another --output-dir."
        ) from error


def check_checkpoint_files(checkpoint: Path) -> None:
    """Refuse a checkpoint whose optimizer, scheduler or random-state files safe loading would
    refuse (pickled code, or not a torch file), naming the file, before Trainer meets it.

    Loaded as Trainer loads them (weights only, with its numpy allowlist for the random
    state), memory-mapped so that even a full fine-tune's optimizer state costs no reading."""
    import torch
    from transformers.trainer_pt_utils import safe_globals

    for path in sorted([*checkpoint.glob("*.pt"), *checkpoint.glob("*.pth")]):
        try:
            with safe_globals():
                torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as error:  # whatever the reason, this file cannot be resumed from
            reason = str(error).strip().splitlines()[0]
            raise CheckpointError(
                f"{path}: this checkpoint file cannot be loaded safely ({type(error).__name__}: "
                f"{reason}); it may have been tampered with. Do not load it: delete the folder "
                f"{checkpoint} (the run then resumes from an earlier checkpoint, or from the "
                "start), or start a new run in another --output-dir."
            ) from error


def remove_checkpoints(run_dir: Path) -> None:
    """Delete a finished run's checkpoints; call it only once every artifact is written, since
    a run killed before then resumes from them."""
    folder = run_dir / CHECKPOINTS_DIR
    if folder.is_dir():
        shutil.rmtree(folder)


def run_folder_bytes(run_dir: Path, keep_checkpoints: bool) -> int:
    """The run folder's size as it is left: without its checkpoints unless they are kept."""
    skipped = None if keep_checkpoints else run_dir / CHECKPOINTS_DIR
    return sum(
        path.lstat().st_size
        for path in run_dir.rglob("*")
        if path.is_file() and not path.is_symlink() and (skipped is None or skipped not in path.parents)
    )
