"""The regression gate: `--fail-under` and `--max-regression` decide the exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from domaintune import Domain
from domaintune.cli import GATE_FAILED_EXIT_CODE, cli
from domaintune.errors import ConfigError
from domaintune.evaluation.gate import gate_failures, parse_thresholds


def tiny_run(tmp_path: Path, tiny_model: str, *gate: str) -> tuple[int, str, dict]:
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "run", "--domain", "testdomain", "--model", tiny_model, "--output-dir", str(run_dir),
            "--max-train-rows", "8", "--eval-rows", "8", "--batch-size", "4",
            "--precision", "fp32", *gate,
        ],
    )
    summary_file = run_dir / "metrics.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    return result.exit_code, result.output, summary


def test_gate_passes_when_thresholds_are_met(tmp_path: Path, tiny_model: str, test_domain: Domain) -> None:
    code, output, summary = tiny_run(
        tmp_path, tiny_model, "--fail-under", "accuracy=0", "--max-regression", "accuracy=1"
    )
    assert code == 0, output
    assert 0 <= summary["tuned"]["accuracy"] <= 1


def test_gate_fails_when_the_tuned_model_falls_short(
    tmp_path: Path, tiny_model: str, test_domain: Domain
) -> None:
    # No model can reach 1.01, nor beat its own base model by a whole point of accuracy.
    code, output, summary = tiny_run(
        tmp_path, tiny_model, "--fail-under", "accuracy=1.01", "--max-regression", "macro_f1=-1"
    )
    assert code == GATE_FAILED_EXIT_CODE, output
    assert "below --fail-under 1.01" in output
    assert "--max-regression -1" in output
    assert summary["tuned"]["accuracy"] <= 1  # the run itself completed and was written


def test_gate_with_unknown_metric_fails_before_training(
    tmp_path: Path, tiny_model: str, test_domain: Domain
) -> None:
    code, output, summary = tiny_run(tmp_path, tiny_model, "--fail-under", "acuracy=0.5")
    assert code == 1
    assert "acuracy" in output and "accuracy" in output
    assert summary == {}  # nothing was trained or written


def test_threshold_specs_are_parsed_and_bad_ones_named() -> None:
    assert parse_thresholds("--fail-under", ["accuracy=0.8", " macro_f1 = 0.5"]) == {
        "accuracy": 0.8, "macro_f1": 0.5,
    }
    with pytest.raises(ConfigError) as error:
        parse_thresholds("--fail-under", ["accuracy", "f1=high"])
    assert "'accuracy'" in str(error.value) and "'f1=high'" in str(error.value)


def test_gate_failures_compare_against_the_base_model() -> None:
    summary = {"base": {"accuracy": 0.70}, "tuned": {"accuracy": 0.65}}
    assert gate_failures(summary, {}, {"accuracy": 0.10}) == []
    assert len(gate_failures(summary, {}, {"accuracy": 0.01})) == 1
    assert len(gate_failures(summary, {"accuracy": 0.66}, {})) == 1


def test_tune_eval_rescores_a_finished_run_and_gates_it(
    tmp_path: Path, tiny_model: str, test_domain: Domain
) -> None:
    code, output, summary = tiny_run(tmp_path, tiny_model)
    assert code == 0, output
    run_dir = tmp_path / "run"
    again = CliRunner().invoke(cli, ["eval", str(run_dir)])
    assert again.exit_code == 0, again.output
    rescored = json.loads((run_dir / "eval.json").read_text())
    # The same models on the same rows with the same settings give the same figures.
    assert rescored["base"] == pytest.approx(summary["base"])
    assert rescored["tuned"] == pytest.approx(summary["tuned"])
    failed = CliRunner().invoke(cli, ["eval", str(run_dir), "--fail-under", "accuracy=1.01"])
    assert failed.exit_code == GATE_FAILED_EXIT_CODE
    missing = CliRunner().invoke(cli, ["eval", str(tmp_path)])
    assert missing.exit_code == 1 and "not a run folder" in " ".join(missing.output.split())
