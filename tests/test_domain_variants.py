"""`--domain D --data FILE` runs the variant of D whose answers FILE holds (Domain.variants)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from domaintune.cli import cli
from domaintune.plugins import get_domain
from domaintune.settings import domain_for_data


def write_rows(path: Path, answers: list[str]) -> Path:
    rows = [{"prompt": f"Sentence number {i} about the company.", "completion": a} for i, a in enumerate(answers)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("domain", "answers", "expected"),
    [
        ("finance", ["positive", "negative", "neutral", "neutral"], "finance-sentiment"),
        ("finance", ["hawkish", "dovish", "neutral"], "finance-fomc"),
        # Numbers are TAT-QA answers: the finance domain itself.
        ("finance", ["12.5", "3 million", "neutral"], "finance"),
        ("healthcare", ["yes", "no", "maybe"], "healthcare"),
        ("healthcare", ["What are the side effects of statins?", "How is gout treated?"], "healthcare-summary"),
        # Free-text answers stay legal (and class_labels says why later).
        ("legal", ["Yes", "Perhaps"], "legal"),
    ],
)
def test_the_answers_in_the_data_choose_the_variant(
    tmp_path: Path, domain: str, answers: list[str], expected: str
) -> None:
    source = write_rows(tmp_path / "rows.jsonl", answers)
    assert domain_for_data(get_domain(domain), source).name == expected


def write_task_rows(path: Path, tasks: list[str]) -> Path:
    rows = [{"prompt": f"Clause {i}.", "completion": "Yes" if i % 2 else "No", "meta": {"task": t}} for i, t in enumerate(tasks)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        (["CUAD_Audit Rights", "CUAD_Insurance"], "legal-cuad"),
        # One row outside the variant's tasks: the legal domain itself.
        (["CUAD_Audit Rights", "overruling"], "legal"),
        (["overruling", "overruling"], "legal"),
    ],
)
def test_the_tasks_in_the_data_choose_the_variant(tmp_path: Path, tasks: list[str], expected: str) -> None:
    source = write_task_rows(tmp_path / "rows.jsonl", tasks)
    chosen = domain_for_data(get_domain("legal"), source)
    assert chosen.name == expected
    if expected == "legal-cuad":
        assert chosen.defaults["max_rows_per_task"] == 150


def test_no_data_keeps_the_domain() -> None:
    assert domain_for_data(get_domain("finance"), None).name == "finance"


def test_cli_says_which_domain_runs_and_uses_its_metrics(tmp_path: Path) -> None:
    """The finance domain's own metric is unknown to the sentiment variant: the gate check,
    which runs before any training, proves that the variant's metrics are in force."""
    source = write_rows(tmp_path / "sentiment.jsonl", ["positive", "negative", "neutral"] * 4)
    result = CliRunner().invoke(
        cli, ["--domain", "finance", "--data", str(source), "--fail-under", "tatqa_f1=0.5"]
    )
    assert result.exit_code != 0
    assert "fits domain 'finance-sentiment'" in result.output
    assert "tatqa_f1" in result.output and "accuracy" in result.output


def test_cuad_variant_caps_training_rows_per_task_and_holds_out_each_task_equally(tmp_path: Path) -> None:
    from collections import Counter

    from domaintune.config import build_config
    from domaintune.data.prepare import prepare_data

    tasks = ["CUAD_Audit Rights"] * 400 + ["CUAD_Insurance"] * 60 + ["CUAD_Price Restrictions"] * 40
    source = write_task_rows(tmp_path / "cuad.jsonl", tasks)
    domain = domain_for_data(get_domain("legal"), source)
    config = build_config(dict(domain.defaults), {}, {"domain": domain.name, "data": str(source), "eval_rows": 30})
    train_set, eval_set, info = prepare_data(domain, config)
    assert Counter(eval_set["task"]) == {"CUAD_Audit Rights": 10, "CUAD_Insurance": 10, "CUAD_Price Restrictions": 10}
    assert Counter(train_set["task"]) == {"CUAD_Audit Rights": 150, "CUAD_Insurance": 50, "CUAD_Price Restrictions": 30}
    assert not set(train_set["prompt"]) & set(eval_set["prompt"])
    assert info["train_rows"] == 230 and info["max_rows_per_task"] == 150
