"""`--domain D --data FILE` runs the variant of D whose answers FILE holds (Domain.variants)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from domaintune.cli import cli
from domaintune.plugins import get_domain
from domaintune.run import domain_for_data


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
        # legal has no variants: free-text answers stay legal (and class_labels says why later).
        ("legal", ["Yes", "Perhaps"], "legal"),
    ],
)
def test_the_answers_in_the_data_choose_the_variant(
    tmp_path: Path, domain: str, answers: list[str], expected: str
) -> None:
    source = write_rows(tmp_path / "rows.jsonl", answers)
    assert domain_for_data(get_domain(domain), source).name == expected


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
    assert "fit domain 'finance-sentiment'" in result.output
    assert "tatqa_f1" in result.output and "accuracy" in result.output
