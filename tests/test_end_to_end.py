"""Whole runs: a tiny one on every test run, and one on the real default model (`-m slow`)."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from domaintune import Domain
from domaintune.config import build_config
from domaintune.plugins import LOAD_PLUGINS_ENV
from domaintune.run import run_job

EVAL_ROWS = 8
TRAIN_ROWS = 16
BATCH_SIZE = 4


def metrics_table(report: str) -> dict[str, dict[str, str]]:
    """The report's metrics table: metric name -> {column header: cell}."""
    section = report.split("## Held-out metrics", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    split = lambda line: [cell.strip() for cell in line.strip().strip("|").split("|")]  # noqa: E731
    header = split(lines[0])
    return {cells[0]: dict(zip(header, cells)) for cells in map(split, lines[2:])}


def test_tiny_end_to_end_run(tmp_path: Path, tiny_model: str, test_domain: Domain) -> None:
    from safetensors.torch import load_file

    run_dir = tmp_path / "run"
    config = build_config(
        dict(test_domain.defaults),
        {
            "domain": "testdomain",
            "model": tiny_model,
            "output_dir": str(run_dir),
            "max_train_rows": TRAIN_ROWS,
            "eval_rows": EVAL_ROWS,
            "epochs": 1,
            "batch_size": BATCH_SIZE,
            "gradient_accumulation": 1,
            "eval_batch_size": 4,
            "learning_rate": 1e-2,
            "logging_steps": 1,
            "precision": "fp32",
        },
    )
    outcome = run_job(config)
    assert outcome.run_dir == run_dir

    # config.yaml is the config the run used.
    assert yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) == config.to_dict()

    summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert summary == json.loads(json.dumps(outcome.summary))
    assert summary["domain"] == "testdomain"
    assert summary["task_type"] == "classification"
    assert summary["model"] == Path(tiny_model).name  # no folder of the training machine (#15)
    assert summary["labels"] == ["yes", "no"]

    data = summary["data"]
    assert (data["train_rows"], data["eval_rows"]) == (TRAIN_ROWS, EVAL_ROWS)
    assert data["train_source"] == str(test_domain.train_data)
    assert data["eval_source"] == f"held out from {test_domain.train_data}"
    assert data["safety_filters"] == ["test-redact"]
    # 41 rows: one is blocked (CONFIDENTIAL), one has an address masked.
    assert data["train_filter"] == {
        "rows_in": 41, "rows_changed": 1, "rows_dropped": 1,
        "counts": {"test-redact:EMAIL": 1, "test-redact:confidential": 1},
    }

    for which in ("base", "tuned"):
        assert set(summary[which]) == {"accuracy", "macro_f1"}
        assert all(0.0 <= value <= 1.0 for value in summary[which].values())

    train = summary["train"]
    assert train["steps"] == math.ceil(TRAIN_ROWS / BATCH_SIZE)
    assert train["epochs"] == pytest.approx(1.0)
    assert train["tokens"] > TRAIN_ROWS * 10  # every row is a whole conversation
    assert train["tokens_per_second"] > 0
    assert train["stopped_by_time_budget"] is False
    losses = [entry["loss"] for entry in train["loss_history"]]
    assert len(losses) == train["steps"]
    assert all(math.isfinite(loss) and loss > 0 for loss in losses)

    # predictions.jsonl: one row per eval row; the metrics are computed from these very rows.
    predictions = [
        json.loads(line)
        for line in (run_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(predictions) == EVAL_ROWS
    references = [row["reference"] for row in predictions]
    assert Counter(references) == {"yes": EVAL_ROWS // 2, "no": EVAL_ROWS // 2}  # stratified
    for row in predictions:
        assert row["prompt"].startswith("<|im_start|>system\nYou answer yes or no.<|im_end|>")
        assert row["prompt"].endswith("<|im_start|>assistant\n")
        assert row["base"] in ("yes", "no") and row["tuned"] in ("yes", "no")
    for which in ("base", "tuned"):
        hits = sum(row[which] == row["reference"] for row in predictions)
        assert summary[which]["accuracy"] == pytest.approx(hits / EVAL_ROWS)
    majority = summary["majority_baseline"]
    assert majority["label"] in ("yes", "no")
    assert majority["accuracy"] == pytest.approx(references.count(majority["label"]) / EVAL_ROWS)

    # The adapter was trained: LoRA's B matrices start at zero and no longer are.
    adapter = run_dir / "adapter"
    assert (adapter / "adapter_config.json").is_file()
    weights = load_file(adapter / "adapter_model.safetensors")
    lora_b = [tensor for name, tensor in weights.items() if "lora_B" in name]
    assert lora_b and any(float(tensor.abs().max()) > 0 for tensor in lora_b)
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == config.lora_r
    assert (adapter / "tokenizer_config.json").is_file()

    # The change and its bootstrap interval, and the rows that flipped, agree with the above.
    for name in ("accuracy", "macro_f1"):
        change = summary["tuned_minus_base"][name]
        assert change["difference"] == pytest.approx(summary["tuned"][name] - summary["base"][name])
        assert -1.0 <= change["low"] <= change["high"] <= 1.0
    fixed = sum(r["base"] != r["reference"] == r["tuned"] for r in predictions)
    broken = sum(r["tuned"] != r["reference"] == r["base"] for r in predictions)
    assert summary["flips"] == {"fixed": fixed, "broken": broken}

    # The general-knowledge check ran before and after tuning.
    general = summary["general_knowledge"]
    assert general["rows"] == 60 and 0 <= general["base"] <= 1 and 0 <= general["tuned"] <= 1

    # report.md shows the same numbers as metrics.json.
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# domaintune run: testdomain")
    table = metrics_table(report)
    assert set(table) == {"accuracy", "macro_f1"}
    for name, row in table.items():
        assert float(row["base"]) == pytest.approx(summary["base"][name], abs=5e-4)
        assert float(row["tuned"]) == pytest.approx(summary["tuned"][name], abs=5e-4)
        change = next(cell for header, cell in row.items() if "change" in header or "-" in header)
        assert float(change) == pytest.approx(summary["tuned"][name] - summary["base"][name], abs=1e-3)
    assert "rows in, 1 changed, 1 dropped" in report
    # The filter's own figures on its labelled snippets are measured in the run and reported.
    assert data["filter_figures"] == {"test-redact": {"test_set": "3 snippets", "recall": 1.0}}
    assert "- filter 'test-redact' on its labelled test set: test set 3 snippets; recall 1.000" in report

    # report.html stands alone: both charts are embedded PNGs, and the numbers are there.
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 2
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert f"{summary['tuned']['accuracy']:.3f}" in html
    assert "http" not in html.replace("http-equiv", "")  # nothing fetched from the network

    # The adapter's model card names its base model and carries the tuned metrics.
    card = (run_dir / "adapter" / "README.md").read_text(encoding="utf-8")
    front_matter = yaml.safe_load(card.split("---\n")[1])
    # By its folder's name: a shared card must not carry the training machine's paths (#15).
    assert front_matter["base_model"] == Path(tiny_model).name
    assert front_matter["library_name"] == "peft"
    card_metrics = front_matter["model-index"][0]["results"][0]["metrics"]
    assert {m["type"]: m["value"] for m in card_metrics} == pytest.approx(summary["tuned"], abs=1e-4)


def test_run_refuses_to_overwrite_an_earlier_run(tmp_path: Path, tiny_model: str, test_domain: Domain) -> None:
    from domaintune.errors import ConfigError

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text("{}", encoding="utf-8")
    config = build_config(
        {"domain": "testdomain", "model": tiny_model, "output_dir": str(run_dir), "eval_rows": 8}
    )
    with pytest.raises(ConfigError, match="holds a finished run"):
        run_job(config)
    assert (run_dir / "metrics.json").read_text(encoding="utf-8") == "{}"


@pytest.mark.slow
def test_tune_legal_on_the_default_model(tmp_path: Path) -> None:
    run_dir = tmp_path / "legal-run"
    env = {k: v for k, v in os.environ.items() if k != LOAD_PLUGINS_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "domaintune", "--domain", "legal", "--output-dir", str(run_dir)],
        capture_output=True, text=True, env=env, timeout=3600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    for name in ("config.yaml", "metrics.json", "predictions.jsonl", "report.md"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "adapter" / "adapter_config.json").is_file()

    summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert summary["domain"] == "legal"
    assert 0.0 <= summary["base"]["accuracy"] <= 1.0
    assert 0.0 <= summary["tuned"]["accuracy"] <= 1.0
    predictions = (run_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(predictions) == summary["data"]["eval_rows"] > 0
    assert summary["train"]["steps"] > 0
    # The job exists to make the model better on the domain: the bundled legal sample must show it.
    assert summary["tuned"]["accuracy"] > summary["base"]["accuracy"]
    # The CLI shows the comparison and where the run went.
    assert "accuracy" in result.stdout
    assert f"{summary['tuned']['accuracy']:.3f}" in result.stdout
    assert "Run folder:" in result.stdout
    assert "| accuracy |" in (run_dir / "report.md").read_text(encoding="utf-8")
