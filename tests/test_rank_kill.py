"""One rank of a two-process run killed with SIGKILL: the other stops within a bounded time
(torchrun's agent tears the group down; collectives time out), and the same command resumes
from the newest complete checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from domaintune.plugins import LOAD_PLUGINS_ENV
from domaintune.training.checkpoints import CHECKPOINT_COMPLETE

KILL_AFTER_CHECKPOINT = 4
STOP_WITHIN_S = 60
"""The survivors must be gone this long after the kill (torchrun's agent notices a dead
worker within seconds; without it the rank blocked in an all-reduce would wait for the
process group's timeout)."""


def tune_command(run_dir: Path, tiny_model: str) -> list[str]:
    return [
        sys.executable, "-m", "domaintune", "run", "--domain", "legal", "--model", tiny_model,
        "--output-dir", str(run_dir), "--max-train-rows", "96", "--epochs", "1",
        "--batch-size", "4", "--eval-rows", "8", "--precision", "fp32", "--seed", "3", "--nproc", "2",
        "--config", str(run_dir.parent / "settings.yaml"),
    ]


def descendants(root: int) -> list[int]:
    """Every live process under ``root`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rank_process(root: int, rank: int) -> int:
    for pid in descendants(root):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and b"LOCAL_RANK=" + str(rank).encode() in environ:
            return pid
    raise AssertionError(f"no process of rank {rank} under {root}")


def test_a_killed_rank_stops_the_run_and_the_same_command_resumes(tmp_path: Path, tiny_model: str) -> None:
    (tmp_path / "settings.yaml").write_text(
        "save_steps: 2\nlogging_steps: 1\ngradient_accumulation: 1\n", encoding="utf-8"
    )
    env = {**os.environ, LOAD_PLUGINS_ENV: "legal"}
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        tune_command(run_dir, tiny_model), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        marker = run_dir / "checkpoints" / f"checkpoint-{KILL_AFTER_CHECKPOINT}" / CHECKPOINT_COMPLETE
        deadline = time.monotonic() + 600
        while not marker.exists():
            assert process.poll() is None, "the run ended before a rank could be killed"
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.01)
        os.kill(rank_process(process.pid, 1), signal.SIGKILL)
        killed_at = time.monotonic()
        process.wait(timeout=STOP_WITHIN_S)
        assert time.monotonic() - killed_at < STOP_WITHIN_S
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode != 0
    assert not descendants(process.pid)
    assert not (run_dir / "metrics.json").exists()

    resumed = subprocess.run(tune_command(run_dir, tiny_model), env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    train = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))["train"]
    assert int(train["resumed_from"].split("-")[-1]) >= KILL_AFTER_CHECKPOINT
    assert train["steps"] == 24  # 96 rows, 4 a step: the whole run, counted across the resume
    assert [entry["step"] for entry in train["loss_history"]][-1] == 24
