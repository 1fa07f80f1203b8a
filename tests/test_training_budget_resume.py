"""A budgeted run killed with SIGKILL and resumed stops at the step the uninterrupted run
stops at, on the same learning-rate curve, and its figures cover the whole run: the seconds
its checkpoint had trained count against the budget.

Run as a script, this file is one training process on the tiny model. Its clock ticks one
second each time it is read (at the start of training and of each step, and at each
checkpoint), so that the budget runs out at the same step on any machine, however loaded;
with the real clock, a loaded machine would shift the stopping step from run to run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from processes import sigkill_when_written
from training_rows import user_assistant, yes_no_rows

ROWS = 120
BUDGET_TICKS = 20  # the clock is read once per step and once per checkpoint: 17 steps
SAVE_STEPS = 4
KILL_AFTER_CHECKPOINT = 8


class TickingClock:
    """One second later each time it is read."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return float(self.reads)


def train_with_ticking_clock(model_path: str, output_dir: Path, **settings: object) -> dict[str, object]:
    import transformers
    from domaintune.config import build_config
    from domaintune.model import load_model, load_tokenizer
    from domaintune.training.batches import tokenize_dataset
    from domaintune.training.methods import prepare_model
    from domaintune.training.train import train

    rows = yes_no_rows(ROWS, lambda i: 8 + i % 5)

    config = build_config({
        "domain": "any", "model": model_path, "batch_size": 4, "gradient_accumulation": 1,
        "max_length": 64, "precision": "fp32", "logging_steps": 1, "save_steps": SAVE_STEPS,
        "epochs": 1, "learning_rate": 1e-2, "warmup_ratio": 0.0,
        "time_budget_minutes": BUDGET_TICKS / 60, **settings,
    })
    transformers.set_seed(0)  # the adapters are initialised before Trainer seeds
    tokenizer = load_tokenizer(model_path)
    tokens = tokenize_dataset(rows, user_assistant, tokenizer, 64, "any")
    model = prepare_model(load_model(model_path), config)
    result = train(model, tokenizer, tokens, config, output_dir, now=TickingClock())
    return {
        "steps": result.steps,
        "seconds": result.seconds,
        "tokens": result.tokens,
        "stopped_by_budget": result.stopped_by_budget,
        "resumed_from": result.resumed_from,
        "learning_rates": {e["step"]: e["learning_rate"] for e in result.log_history if "learning_rate" in e},
        "validated_at": [e["step"] for e in result.log_history if "eval_loss" in e],
        "best_eval_loss": result.best_eval_loss,
    }


def command(tiny_model: str, output_dir: Path) -> list[str]:
    return [sys.executable, __file__, tiny_model, str(output_dir)]


def outcome(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_resumed_budgeted_run_stops_where_the_uninterrupted_one_does(tmp_path: Path, tiny_model: str) -> None:
    from domaintune.training.checkpoints import CHECKPOINT_COMPLETE

    whole = outcome(subprocess.run(command(tiny_model, tmp_path / "whole"), capture_output=True, text=True, timeout=600))
    assert whole["stopped_by_budget"] and 12 <= whole["steps"] < ROWS // 4

    killed = tmp_path / "killed"
    process = subprocess.Popen(command(tiny_model, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = killed / f"checkpoint-{KILL_AFTER_CHECKPOINT}" / CHECKPOINT_COMPLETE
    sigkill_when_written(process, marker, 300, ended="the run ended before it could be killed", never="no checkpoint was written")

    resumed = outcome(subprocess.run(command(tiny_model, killed), capture_output=True, text=True, timeout=600))
    assert resumed["resumed_from"] is not None
    assert int(str(resumed["resumed_from"]).split("-")[-1]) >= KILL_AFTER_CHECKPOINT
    assert resumed["steps"] == whole["steps"] and resumed["stopped_by_budget"]
    assert resumed["learning_rates"].keys() == whole["learning_rates"].keys()
    for step, rate in whole["learning_rates"].items():
        assert resumed["learning_rates"][step] == pytest.approx(rate, rel=1e-9), f"step {step}"
    # The figures cover the whole run, not the part after the resume.
    assert resumed["tokens"] == whole["tokens"]
    assert resumed["seconds"] == pytest.approx(whole["seconds"])


def test_a_budget_stop_validates_the_steps_since_the_last_validation(tmp_path: Path, tiny_model: str) -> None:
    """With early stopping on, the run keeps its best validated checkpoint; the steps trained
    after the last validation were dropped when the budget ended the run (a sweep trial whose
    budget ended before its first validation had no score at all)."""
    result = train_with_ticking_clock(
        tiny_model, tmp_path / "run", save_steps=100, early_stopping_patience=2, early_stopping_rows=16
    )
    assert result["stopped_by_budget"] and result["steps"] < (ROWS - 16) // 4
    assert result["validated_at"] == [result["steps"]]
    assert result["best_eval_loss"] is not None


if __name__ == "__main__":
    print(json.dumps(train_with_ticking_clock(sys.argv[1], Path(sys.argv[2]))))
