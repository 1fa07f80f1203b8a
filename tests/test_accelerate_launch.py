"""`accelerate launch` starts the same job on two CPU processes, and it trains the run of one.

On CPU, `accelerate launch --cpu --num_processes 2` starts one process (several need mpirun and
a hostfile); `--multi_gpu --num_processes 2` starts two through torch.distributed.run, on CPU
too, and each reads RANK/WORLD_SIZE as under `tune --nproc 2`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from domaintune.plugins import LOAD_PLUGINS_ENV
from curves import assert_same_loss_curve

ACCELERATE_TWO_PROCESSES = [
    "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
    "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
]


def run(run_dir: Path, tiny_model: str, launcher: list[str]) -> dict:
    command = [
        sys.executable, *launcher, "-m", "domaintune", "run", "--domain", "legal",
        "--model", tiny_model, "--output-dir", str(run_dir), "--max-train-rows", "48",
        "--batch-size", "8", "--eval-rows", "12", "--precision", "fp32", "--seed", "5",
        "--config", str(run_dir.parent / "settings.yaml"),
    ]
    env = {**os.environ, LOAD_PLUGINS_ENV: "legal"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="--multi_gpu would train on the GPUs")
def test_accelerate_launch_on_two_cpu_processes_gives_the_loss_curve_of_one(
    tmp_path: Path, tiny_model: str
) -> None:
    (tmp_path / "settings.yaml").write_text(
        "epochs: 1\nlogging_steps: 1\nlearning_rate: 0.005\ngradient_accumulation: 1\nsave_steps: 3\n"
        "keep_checkpoints: true\n",  # the test reads a checkpoint after the run finished
        encoding="utf-8",
    )
    one = run(tmp_path / "one", tiny_model, [])
    two = run(tmp_path / "two", tiny_model, ACCELERATE_TWO_PROCESSES)

    # Trainer saves one random-number state per process: two processes trained.
    checkpoint = tmp_path / "two" / "checkpoints" / "checkpoint-6"
    assert sorted(path.name for path in checkpoint.glob("rng_state*")) == ["rng_state_0.pth", "rng_state_1.pth"]
    assert_same_loss_curve(one, two, steps=6)
    predictions = (tmp_path / "two" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(predictions) == 12
    assert two["base"] == one["base"]
