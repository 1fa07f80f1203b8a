"""`tune data export --to openai`: chat JSONL after the safety filters, bad examples dropped
and counted by reason, tokens counted."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from domaintune import Domain
from domaintune.cli import cli
from domaintune.data.export_openai import conversation_problem

QUESTION = "Does this sentence mention an animal?"  # the test domain's (tests/conftest.py)


def test_export_filters_validates_and_counts(tmp_path: Path, tiny_model: str, test_domain: Domain) -> None:
    rows = [
        {"prompt": f"{QUESTION} The dog slept.", "completion": "yes"},
        {"prompt": f"{QUESTION} Write to anna.berg@example.com today.", "completion": "no"},
        {"prompt": f"{QUESTION} CONFIDENTIAL: the horse auction.", "completion": "yes"},
        {"prompt": f"{QUESTION} " + "The cat sat on the mat. " * 40, "completion": "yes"},
    ]
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, [
        "data", "export", str(source), str(out), "--domain", "testdomain", "--to", "openai",
        "--model", tiny_model, "--max-tokens", "120",
    ])
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(written) == 2
    for example in written:
        assert [m["role"] for m in example["messages"]] == ["system", "user", "assistant"]
    assert "anna.berg@example.com" not in out.read_text() and "[EMAIL]" in out.read_text()
    output = " ".join(result.output.split())
    assert "Rows written: 2" in output and "Rows dropped: 2" in output
    assert "1: blocked by the safety filters" in output and "1: over 120 tokens" in output
    tokens = int(output.split("total tokens: ")[1].split()[0])
    assert 20 < tokens <= 240


def test_conversation_rules_name_each_bad_row() -> None:
    user, answer = {"role": "user", "content": "Is it?"}, {"role": "assistant", "content": "yes"}
    assert conversation_problem([user, answer]) is None
    assert conversation_problem([]) == "no messages"
    assert conversation_problem([{"role": "tool", "content": "x"}, answer]) == (
        "role 'tool' is not one of system, user, assistant"
    )
    assert conversation_problem([user, {"role": "assistant", "content": "  "}]) == "empty assistant content"
    assert conversation_problem([answer, user]) == "the last message is not the assistant's"
    assert conversation_problem([{"role": "system", "content": "Be brief."}, answer]) == "no user message"
