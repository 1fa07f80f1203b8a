"""The console of a run: plain lines when piped, no library noise (Trainer's log dicts, tqdm
bars, transformers' FutureWarning), those in RUN_DIR/train.log instead; live displays only on a
terminal and not with --quiet; and the report-data fields a run writes (#20)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from domaintune.cli.console import RichReporter, status_line
from domaintune.plugins import LOAD_PLUGINS_ENV
from domaintune.progress import TRAIN_LOG, TrainingStatus
from domaintune_legal.plugin import LEGAL

ANSI = re.compile(r"\x1b\[")
TQDM = re.compile(r"\d+it/s|s/it\]|█|\|\s*\d+/\d+ \[")


def tune(run_dir: Path, tiny_model: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """The real legal pack with the tiny local model, stdout and stderr piped (no terminal);
    a held-out loss every 2 steps, a training loss every step."""
    settings = run_dir.parent / f"{run_dir.name}.yaml"
    settings.write_text("save_steps: 2\nlogging_steps: 1\ngradient_accumulation: 1\n", encoding="utf-8")
    command = [
        sys.executable, "-m", "domaintune", "run", "--domain", "legal", "--model", tiny_model,
        "--output-dir", str(run_dir), "--max-train-rows", "48", "--epochs", "1", "--batch-size", "4",
        "--eval-rows", "8", "--precision", "fp32", "--early-stopping-patience", "20",
        "--config", str(settings), *extra,
    ]
    env = {**os.environ, LOAD_PLUGINS_ENV: "legal"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_piped_run_prints_plain_lines_and_logs_the_libraries_to_train_log(tmp_path: Path, tiny_model: str) -> None:
    run_dir = tmp_path / "run"
    result = tune(run_dir, tiny_model)
    console = result.stdout + result.stderr
    for noise in ("{'loss'", "{'train_runtime'", "'grad_norm'", "FutureWarning", "is_gradient_checkpointing",
                  "Caching processed dataset"):
        assert noise not in console, noise
    assert not TQDM.search(console), TQDM.search(console)
    assert not ANSI.search(console)
    training_lines = [line for line in result.stderr.splitlines() if line.startswith("Training: step ")]
    assert training_lines, result.stderr
    assert re.fullmatch(r"Training: step (\d+)/\1, loss \d+\.\d+, \d+ tokens/s, 0:00 left, .*", training_lines[-1])
    assert "Scoring the tuned model: done in" in result.stderr
    assert re.search(r"Processes: \d+ \(\d+ CPU cores \(a process per 8\)", result.stderr)  # --nproc auto
    assert "base vs tuned on 8 held-out rows" in result.stdout  # the final table stays

    log = (run_dir / TRAIN_LOG).read_text(encoding="utf-8")
    assert "FutureWarning" in log and "is_gradient_checkpointing" in log
    assert "{'loss':" in log and "'train_runtime':" in log

    summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert summary["description"] == LEGAL.description
    held_out = summary["train"]["eval_loss_history"]
    assert held_out and [entry["step"] for entry in held_out] == list(range(2, 2 * len(held_out) + 1, 2))
    assert all(isinstance(entry["loss"], float) for entry in held_out)
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 8
    for row in rows:
        assert row["user_text"] and "<|" not in row["user_text"]
        assert row["user_text"].strip() in row["prompt"]


def test_eval_logs_the_libraries_to_library_log_not_the_console(tmp_path: Path, tiny_model: str) -> None:
    """In a fresh process, as users run it: in-process, earlier tests change the libraries'
    loggers."""
    out = tmp_path / "evals"
    command = [
        sys.executable, "-m", "domaintune", "eval", "--domain", "legal", "--model", tiny_model,
        "--data", str(LEGAL.eval_data), "--eval-rows", "8", "--precision", "fp32", "--output-dir", str(out),
    ]
    result = subprocess.run(command, env={**os.environ, LOAD_PLUGINS_ENV: "legal"}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    console = result.stdout + result.stderr
    assert "transformers" not in console and not TQDM.search(console), console[-2000:]
    assert "transformers" in (out / "library.log").read_text(encoding="utf-8")


def test_quiet_run_with_verbose_shows_library_logs_in_plain_lines(tmp_path: Path, tiny_model: str) -> None:
    result = tune(tmp_path / "run", tiny_model, "--quiet", "--verbose")
    assert "FutureWarning" in result.stderr and "is_gradient_checkpointing" in result.stderr
    assert "INFO transformers" in result.stderr or "INFO datasets" in result.stderr
    assert not ANSI.search(result.stderr) and not TQDM.search(result.stderr)
    assert "{'loss':" in (tmp_path / "run" / TRAIN_LOG).read_text(encoding="utf-8")


def terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=120), buffer


STATUS = TrainingStatus(
    step=3, total_steps=10, loss=0.8679, tokens_per_second=183.4, seconds_left=200.0, budget_seconds_left=None
)


def test_a_terminal_gets_a_live_training_display_and_quiet_plain_lines() -> None:
    console, buffer = terminal()
    with RichReporter(console=console).training(10) as show:
        show(STATUS)
    live = buffer.getvalue()
    assert ANSI.search(live) and "step 3/10, loss 0.8679, 183 tokens/s, 3:20 left" in live

    console, buffer = terminal()
    reporter = RichReporter(plain=True, console=console)
    reporter.step("Fine-tuning")
    with reporter.training(10) as show:
        for step in range(1, 11):
            show(TrainingStatus(step, 10, 0.5, 100.0, float(10 - step), 600.0 - step))
    with reporter.progress("Scoring the tuned model", total=8) as advance:
        advance(8)
    lines = buffer.getvalue().splitlines()
    assert not ANSI.search(buffer.getvalue())
    assert lines[0] == "> Fine-tuning"
    assert lines[1:11] == [
        f"Training: step {step}/10, loss 0.5000, 100 tokens/s, 0:{10 - step:02d} left, "
        f"{(600 - step) // 60}:{(600 - step) % 60:02d} of the time budget left"
        for step in range(1, 11)
    ]
    assert re.fullmatch(r"Scoring the tuned model: done in \d+ s", lines[11])


def test_status_line_before_any_loss_or_pace() -> None:
    assert status_line(TrainingStatus(0, 124, None, 0.0, None, None)) == "step 0/124, 0 tokens/s"
