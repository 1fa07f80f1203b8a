"""`tune eval RUN --data FILE`: a finished run's models scored on new held-out files, in eval
folders of the run; the run's own eval file gives the run's own figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from domaintune import Domain
from domaintune.cli import cli
from eval_rows import HELD_OUT, QUESTION


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def held_out_rows() -> list[dict[str, str]]:
    return [{"prompt": f"{QUESTION} {s}", "completion": label} for s, label in HELD_OUT]


@pytest.fixture
def finished_run(tmp_path: Path, tiny_model: str, test_domain: Domain) -> tuple[Path, Path, dict]:
    eval_file = write_jsonl(tmp_path / "heldout.jsonl", held_out_rows())
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "run", "--domain", "testdomain", "--model", tiny_model, "--output-dir", str(run_dir),
            "--eval-data", str(eval_file), "--max-train-rows", "8", "--eval-rows", "8",
            "--batch-size", "4", "--precision", "fp32",
        ],
    )
    assert result.exit_code == 0, result.output
    return run_dir, eval_file, json.loads((run_dir / "metrics.json").read_text())


def test_eval_on_the_runs_eval_file_gives_the_runs_scores_and_warns_about_training_rows(
    tmp_path: Path, finished_run: tuple[Path, Path, dict], test_domain: Domain, tiny_model: str
) -> None:
    run_dir, eval_file, run_summary = finished_run
    # A second file: two held-out rows and every row of the training file (the run trained on 8).
    trained_on = [json.loads(line) for line in Path(test_domain.train_data).read_text().splitlines()]
    mixed_file = write_jsonl(tmp_path / "mixed.jsonl", held_out_rows()[:2] + trained_on)
    result = CliRunner().invoke(
        cli, ["eval", str(run_dir), "--data", str(eval_file), "--data", str(mixed_file), "--few-shot", "2"]
    )
    assert result.exit_code == 0, result.output
    assert (run_dir / "evals" / "library.log").is_file()  # the libraries' logs (tests/test_console.py)

    again = json.loads((run_dir / "evals" / "heldout" / "metrics.json").read_text())
    assert again["base"] == pytest.approx(run_summary["base"])
    assert again["tuned"] == pytest.approx(run_summary["tuned"])
    assert again["tuned_minus_base"] == run_summary["tuned_minus_base"]
    assert again["flips"] == run_summary["flips"]
    assert again["general_knowledge"] == pytest.approx(run_summary["general_knowledge"])
    assert again["data"]["training_overlap"]["rows"] == 0
    rows = [json.loads(line) for line in (run_dir / "evals" / "heldout" / "predictions.jsonl").read_text().splitlines()]
    run_rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert [{k: v for k, v in row.items() if k != "few_shot"} for row in rows] == run_rows
    # The few-shot column: the base model with 2 training examples (max_length 64 may fit fewer).
    shots = again["few_shot"]
    assert shots["asked"] == 2 and 0 <= shots["examples"] <= 2
    assert all(row["few_shot"] in ("yes", "no") for row in rows)
    accuracy = sum(row["few_shot"] == row["reference"] for row in rows) / len(rows)
    assert shots["metrics"]["accuracy"] == pytest.approx(accuracy)
    compared = CliRunner().invoke(
        cli, ["compare", str(run_dir / "evals" / "heldout"), "--output", str(tmp_path / "cmp.html")]
    )
    assert compared.exit_code == 1  # one folder is refused, even with three columns
    both = CliRunner().invoke(
        cli, ["compare", str(run_dir / "evals" / "heldout"), str(run_dir), "--output", str(tmp_path / "cmp.html")]
    )
    assert both.exit_code == 0, both.output
    assert len(json.loads((tmp_path / "cmp.json").read_text())["metrics"]) == 5
    assert "<html" in (run_dir / "evals" / "heldout" / "report.html").read_text()

    mixed = json.loads((run_dir / "evals" / "mixed" / "metrics.json").read_text())
    # At most eval_rows (8) rows are scored, sampled as the run samples; the 8 training rows
    # the run kept are counted among them, whichever were sampled.
    assert mixed["data"]["eval_rows"] == 8
    assert 1 <= mixed["data"]["training_overlap"]["rows"] <= 8
    assert "in the run's training data" in " ".join(result.output.split())
    assert mixed["warnings"] and "Remove them" in mixed["warnings"][0]

    # Any local model: the run's base model scored alone gives the run's base figures.
    local = CliRunner().invoke(
        cli, ["eval", "--domain", "testdomain", "--model", tiny_model, "--data", str(eval_file),
              "--output-dir", str(tmp_path / "base-alone"), "--eval-rows", "8", "--precision", "fp32"],
    )
    assert local.exit_code == 0, local.output
    alone = json.loads((tmp_path / "base-alone" / "heldout" / "metrics.json").read_text())
    assert alone["metrics"] == pytest.approx(run_summary["base"])
    alone_rows = (tmp_path / "base-alone" / "heldout" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["model"] for line in alone_rows] == [row["base"] for row in rows]


def test_eval_refuses_a_missing_file_before_loading_anything(tmp_path: Path, test_domain: Domain) -> None:
    result = CliRunner().invoke(cli, ["eval", str(tmp_path), "--data", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 1
    assert "nope.jsonl" in result.output and not (tmp_path / "evals").exists()
    local = CliRunner().invoke(
        cli, ["eval", "--domain", "testdomain", "--model", str(tmp_path), "--data", str(tmp_path / "nope.jsonl"),
              "--output-dir", str(tmp_path / "out")],
    )
    assert local.exit_code == 1 and "nope.jsonl" in local.output and not (tmp_path / "out").exists()
