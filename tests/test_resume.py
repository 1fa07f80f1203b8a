"""A run killed with SIGKILL resumes from its newest complete checkpoint and ends with the
same loss curve as an uninterrupted run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from domaintune.plugins import LOAD_PLUGINS_ENV
from domaintune.training.checkpoints import CHECKPOINT_COMPLETE
from processes import sigkill_when_written

KILL_AFTER_CHECKPOINT = 8


def tune_command(run_dir: Path, tiny_model: str) -> list[str]:
    # The real legal pack's data with the tiny local model: a real run, in seconds.
    return [
        sys.executable, "-m", "domaintune", "run", "--domain", "legal", "--model", tiny_model,
        "--output-dir", str(run_dir), "--max-train-rows", "160", "--epochs", "1",
        "--batch-size", "4", "--eval-rows", "8", "--precision", "fp32", "--seed", "3",
        "--config", str(run_dir.parent / "settings.yaml"),
    ]


def loss_curve(run_dir: Path) -> dict[int, float]:
    summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    return {entry["step"]: entry["loss"] for entry in summary["train"]["loss_history"]}


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "settings.yaml").write_text(
        "save_steps: 4\nlogging_steps: 1\ngradient_accumulation: 1\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if k != LOAD_PLUGINS_ENV}
    env[LOAD_PLUGINS_ENV] = "legal"
    return env


def test_killed_run_resumes_with_the_same_loss_curve(
    tmp_path: Path, tiny_model: str, environment: dict[str, str]
) -> None:
    whole = tmp_path / "whole"
    subprocess.run(tune_command(whole, tiny_model), env=environment, check=True, capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        tune_command(killed, tiny_model), env=environment,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    marker = killed / "checkpoints" / f"checkpoint-{KILL_AFTER_CHECKPOINT}" / CHECKPOINT_COMPLETE
    # Data, model and base scoring come first: 600 s, for a busy machine.
    sigkill_when_written(process, marker, 600, ended="the run ended before it could be killed", never="no checkpoint was written")
    assert not (killed / "metrics.json").exists()
    newest = max(
        killed.glob(f"checkpoints/checkpoint-*/{CHECKPOINT_COMPLETE}"),
        key=lambda marker: int(marker.parent.name.split("-")[-1]),
    )
    seconds_before_the_kill = json.loads(newest.read_text(encoding="utf-8"))["seconds"]

    resumed = subprocess.run(tune_command(killed, tiny_model), env=environment, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads((killed / "metrics.json").read_text(encoding="utf-8"))
    assert summary["train"]["resumed_from"].split("-")[-1].isdigit()
    assert int(summary["train"]["resumed_from"].split("-")[-1]) >= KILL_AFTER_CHECKPOINT

    # The figures cover the whole run, not the part after the resume.
    whole_train = json.loads((whole / "metrics.json").read_text(encoding="utf-8"))["train"]
    assert summary["train"]["tokens"] == whole_train["tokens"]
    assert summary["train"]["seconds"] > seconds_before_the_kill > 0

    expected, got = loss_curve(whole), loss_curve(killed)
    assert sorted(got) == sorted(expected) and len(expected) == 40
    for step, loss in expected.items():
        assert got[step] == pytest.approx(loss, rel=1e-3, abs=1e-4), f"step {step}"


def test_resume_refuses_a_run_started_with_other_settings(
    tmp_path: Path, tiny_model: str, environment: dict[str, str]
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("domain: legal\nseed: 1\n", encoding="utf-8")
    result = subprocess.run(tune_command(run_dir, tiny_model), env=environment, capture_output=True, text=True)
    assert result.returncode == 1
    assert "interrupted run started with other settings" in result.stderr
    assert "seed: 1 -> 3" in result.stderr
