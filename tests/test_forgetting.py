"""The general-knowledge check picks the more likely completion of each question."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from domaintune.evaluation.forgetting import (
    GENERAL_KNOWLEDGE,
    general_knowledge_accuracy,
)
from domaintune.model import load_model, load_tokenizer


def test_bundled_set_is_well_formed() -> None:
    rows = [json.loads(line) for line in GENERAL_KNOWLEDGE.read_text(encoding="utf-8").split("\n") if line]
    assert len(rows) == 60
    assert all(len(row["choices"]) == 2 and row["choices"][row["answer"]] for row in rows)


def test_marking_the_other_choice_right_gives_the_complement(tmp_path: Path, tiny_model: str) -> None:
    """Whichever completion the model finds more likely is its answer, so moving the right
    answer to the other choice turns every hit into a miss and back."""
    model, tokenizer = load_model(tiny_model), load_tokenizer(tiny_model)
    rows = [json.loads(line) for line in GENERAL_KNOWLEDGE.read_text(encoding="utf-8").split("\n") if line]
    flipped = tmp_path / "flipped.jsonl"
    flipped.write_text("".join(json.dumps({**row, "answer": 1 - row["answer"]}) + "\n" for row in rows))
    original, count = general_knowledge_accuracy(model, tokenizer, bf16=False)
    other, _ = general_knowledge_accuracy(model, tokenizer, bf16=False, path=flipped)
    assert count == 60
    assert original + other == pytest.approx(1.0)
