"""`tune --nproc 2`: two CPU processes under torchrun train the same run as one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from domaintune.plugins import LOAD_PLUGINS_ENV
from curves import assert_same_loss_curve


def run(run_dir: Path, tiny_model: str, nproc: int) -> dict:
    command = [
        sys.executable, "-m", "domaintune", "run", "--domain", "legal", "--model", tiny_model,
        "--output-dir", str(run_dir), "--max-train-rows", "48", "--batch-size", "8",
        "--eval-rows", "12", "--precision", "fp32", "--seed", "5", "--nproc", str(nproc),
        "--config", str(run_dir.parent / "settings.yaml"),
    ]
    env = {**os.environ, LOAD_PLUGINS_ENV: "legal"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))


def test_two_processes_give_the_loss_curve_of_one(tmp_path: Path, tiny_model: str) -> None:
    # The same global batch of 8 rows: 8 on one process, 4 on each of two.
    (tmp_path / "settings.yaml").write_text(
        "epochs: 1\nlogging_steps: 1\nlearning_rate: 0.005\ngradient_accumulation: 1\n", encoding="utf-8"
    )
    one, two = run(tmp_path / "one", tiny_model, 1), run(tmp_path / "two", tiny_model, 2)

    assert_same_loss_curve(one, two, steps=6)
    # Both processes' tokens are counted (in the curve check); scoring covers every held-out row once.
    assert two["data"]["eval_rows"] == 12
    predictions = (tmp_path / "two" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(predictions) == 12
    assert two["base"] == one["base"]
