"""The kit's pack-level safety helpers: a pack's test set paths, a masker's report on its
test and held-out sets, and a flagging filter's figures from its labelled set."""

from __future__ import annotations

import json
import re
from pathlib import Path

from domaintune.kit import Span, flagging_filter, masking_report, safety_testsets


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _find_emails(texts: list[str]) -> list[list[Span]]:
    return [[Span(m.start(), m.end(), "EMAIL") for m in re.finditer(r"\S+@\S+", text)] for text in texts]


def test_safety_testsets_are_the_files_beside_the_module(tmp_path: Path) -> None:
    sets = safety_testsets(tmp_path / "safety.py")
    assert sets == (
        tmp_path / "safety_testset.jsonl", tmp_path / "safety_heldout.jsonl", tmp_path / "safety_output_testset.jsonl"
    )
    assert sets.heldout == tmp_path / "safety_heldout.jsonl"


def test_masking_report_covers_both_sets_and_the_pooled_recalls(tmp_path: Path) -> None:
    testset = _write(tmp_path / "t.jsonl", [
        {"text": "mail a@b.org now", "spans": [{"start": 5, "end": 12, "type": "EMAIL"}]},
        {"text": "SSN 123-45-6789", "spans": [{"start": 4, "end": 15, "type": "SSN"}]},
    ])
    heldout = _write(tmp_path / "h.jsonl", [{"text": "x@y.com", "spans": [{"start": 0, "end": 7, "type": "EMAIL"}]}])
    report = masking_report(_find_emails, testset, heldout, email_recall=("EMAIL",), pooled=("EMAIL", "SSN"))
    assert report["snippets"] == 2 and report["recall"] == 0.5
    assert report["heldout"]["snippets"] == 1 and report["heldout"]["recall"] == 1.0
    assert report["email_recall"] == 1.0
    assert report["pooled"] == 0.5


def test_flagging_filter_measures_itself_on_its_testset(tmp_path: Path) -> None:
    testset = _write(tmp_path / "out.jsonl", [
        {"text": "buy now", "flag": True}, {"text": "sold shares", "flag": False}, {"text": "sell today", "flag": True},
    ])
    flagged = flagging_filter("advice", "advice", lambda texts: ["buy" in t for t in texts], testset=testset)
    assert flagged.evaluate() == {"test_set": "3 labelled answers", "recall": 0.5, "precision": 1.0}
    assert flagging_filter("advice", "advice", lambda texts: [False] * len(texts)).evaluate is None
