"""A sweep killed mid-trial (SIGKILL) resumes with the same command: the killed trial is
marked failed, not lost, and the sweep finishes the trials that are left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
from domaintune.plugins import LOAD_PLUGINS_ENV
from domaintune.sweep.study import STUDY_FILE, STUDY_NAME
from processes import sigkill_when_written


def sweep_command(folder: Path, tiny_model: str) -> list[str]:
    # The real legal pack's data with the tiny local model: real trials, in seconds.
    return [
        sys.executable, "-m", "domaintune", "sweep", "--domain", "legal", "--model", tiny_model,
        "--trials", "3", "--budget-minutes", "5", "--output-dir", str(folder),
        "--config", str(folder.parent / "settings.yaml"), "--space", str(folder.parent / "space.yaml"),
    ]


def test_killed_sweep_resumes_and_finishes(tmp_path: Path, tiny_model: str) -> None:
    (tmp_path / "settings.yaml").write_text(
        "max_train_rows: 24\neval_rows: 8\nbatch_size: 4\ngradient_accumulation: 1\nprecision: fp32\n",
        encoding="utf-8",
    )
    (tmp_path / "space.yaml").write_text(
        "epochs: {low: 0.5, high: 1}\nmax_length: 64\nlora_r: {choices: [2, 4]}\n", encoding="utf-8"
    )
    env = {**os.environ, LOAD_PLUGINS_ENV: "legal"}
    folder = tmp_path / "sweep"
    process = subprocess.Popen(
        sweep_command(folder, tiny_model), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    # Killed while trial 1 trains: its checkpoints folder exists only during training.
    mid_trial = folder / "trials" / "trial-1" / "checkpoints"
    sigkill_when_written(
        process, mid_trial, 600, ended="the sweep ended before it could be killed", never="trial 1 never started training"
    )
    storage = f"sqlite:///{folder / STUDY_FILE}"
    before = optuna.load_study(study_name=STUDY_NAME, storage=storage).trials
    assert [trial.state.name for trial in before] == ["COMPLETE", "RUNNING"] or (
        [trial.state.name for trial in before] == ["PRUNED", "RUNNING"]
    )

    resumed = subprocess.run(sweep_command(folder, tiny_model), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = optuna.load_study(study_name=STUDY_NAME, storage=storage).trials
    states = [trial.state.name for trial in after]
    assert states[0] == before[0].state.name and after[0].params == before[0].params
    assert states[1] == "FAIL" and after[1].user_attrs["failed"].startswith("killed")
    assert len(states) == 4 and set(states[2:]) <= {"COMPLETE", "PRUNED"}, states
    table = (folder / "trials.csv").read_text(encoding="utf-8")
    assert ",fail," in table and "killed" in table
