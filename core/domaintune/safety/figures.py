"""Figures of safety filters on labelled test sets: recall, precision and public identifiers
kept for maskers, recall and precision for flagging filters."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from domaintune.safety.spans import Span, overlaps


class SafetyTestsets(NamedTuple):
    """A pack's labelled safety test sets, under the file names every pack keeps beside its
    safety module."""

    masking: Path
    """``safety_testset.jsonl``: the snippets the masker is tuned and reported on."""
    heldout: Path
    """``safety_heldout.jsonl``: hand-written snippets in other styles, never used to tune it."""
    output: Path
    """``safety_output_testset.jsonl``: labelled answers for the pack's output filter."""


def safety_testsets(module_file: str | Path) -> SafetyTestsets:
    """The test sets beside ``module_file`` (a pack's ``safety.py`` passes ``__file__``)."""
    folder = Path(module_file).parent
    return SafetyTestsets(
        folder / "safety_testset.jsonl", folder / "safety_heldout.jsonl", folder / "safety_output_testset.jsonl"
    )


def read_testset(path: Path | str) -> list[dict[str, Any]]:
    """Rows of a JSONL test set (``text``, ``spans``, optional ``public``)."""
    with Path(path).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _covered(start: int, end: int, text: str, predicted: Sequence[Span]) -> bool:
    """Every non-space character of ``text[start:end]`` lies inside some predicted span."""
    return all(
        text[i].isspace() or any(p.start <= i < p.end for p in predicted) for i in range(start, end)
    )


def evaluate_masking(
    find: Callable[[list[str]], list[list[Span]]], rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Recall, precision and public false positives of a span detector on a labelled set.

    Each row has ``text``, ``spans`` (identifiers that must be masked: ``start``, ``end``,
    ``type``) and optionally ``public`` (identifiers that must be kept, same shape).

    - ``recall``: share of identifiers whose every character is masked (by any type): what
      protects privacy. ``typed_recall`` also asks for the right type.
    - ``precision`` per predicted type: share of findings that overlap an identifier.
    - ``public``: per type, how many public identifiers had any character masked;
      ``public_fp_rate`` over all of them.
    """
    texts = [row["text"] for row in rows]
    predictions = find(texts)
    gold: Counter[str] = Counter()
    hit: Counter[str] = Counter()
    typed_hit: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    public: Counter[str] = Counter()
    public_hit: Counter[str] = Counter()
    misses: list[dict[str, str]] = []
    false_positives: list[dict[str, str]] = []
    for row, spans in zip(rows, predictions):
        text = row["text"]
        for g in row.get("spans", []):
            gold[g["type"]] += 1
            if _covered(g["start"], g["end"], text, spans):
                hit[g["type"]] += 1
                if any(s.kind == g["type"] and s.start < g["end"] and g["start"] < s.end for s in spans):
                    typed_hit[g["type"]] += 1
            else:
                misses.append({"type": g["type"], "value": text[g["start"]:g["end"]], "text": text})
        gold_ranges = [(g["start"], g["end"]) for g in row.get("spans", [])]
        for s in spans:
            predicted[s.kind] += 1
            if overlaps(s, gold_ranges):
                correct[s.kind] += 1
            else:
                false_positives.append({"type": s.kind, "value": text[s.start:s.end], "text": text})
        for p in row.get("public", []):
            public[p["type"]] += 1
            if overlaps((p["start"], p["end"]), spans):
                public_hit[p["type"]] += 1
    types = {
        kind: {
            "support": gold[kind],
            "recall": _ratio(hit[kind], gold[kind]),
            "typed_recall": _ratio(typed_hit[kind], gold[kind]),
            "predicted": predicted[kind],
            "precision": _ratio(correct[kind], predicted[kind]),
        }
        for kind in sorted(set(gold) | set(predicted))
    }
    return {
        "snippets": len(rows),
        "identifiers": sum(gold.values()),
        "recall": _ratio(sum(hit.values()), sum(gold.values())),
        "precision": _ratio(sum(correct.values()), sum(predicted.values())),
        "types": types,
        "public": {
            kind: {"support": public[kind], "masked": public_hit[kind], "fp_rate": _ratio(public_hit[kind], public[kind])}
            for kind in sorted(public)
        },
        "public_identifiers": sum(public.values()),
        "public_fp_rate": _ratio(sum(public_hit.values()), sum(public.values())),
        "misses": misses,
        "false_positives": false_positives,
    }


def masking_figures(report: Mapping[str, Any], test_set: str) -> dict[str, Any]:
    """The headline of an ``evaluate_masking`` report, for a run's report: no examples (they
    hold identifiers), recall per type, and the false-positive rate where public identifiers
    are labelled."""
    figures: dict[str, Any] = {
        "test_set": f"{report['snippets']} {test_set}, {report['identifiers']} identifiers",
        "recall": report["recall"],
        "precision": report["precision"],
        "recall_by_type": {kind: row["recall"] for kind, row in report["types"].items() if row["support"]},
    }
    if report["public_identifiers"]:
        figures["public_identifiers"] = report["public_identifiers"]
        figures["public_false_positive_rate"] = report["public_fp_rate"]
    return figures


def masker_figures(
    find: Callable[[list[str]], list[list[Span]]], testset: Path | str, test_set: str,
    **pooled: Iterable[str],
) -> dict[str, Any]:
    """A masker's figures for a run's report (``SafetyFilter.evaluate``): its
    :func:`masking_figures` on the labelled ``testset``, and for each keyword the pooled
    recall over those kinds (``structured_recall=("SSN", "MRN")``)."""
    report = evaluate_masking(find, read_testset(testset))
    return {**masking_figures(report, test_set), **{key: recall_over(report, kinds) for key, kinds in pooled.items()}}


def masking_report(
    find: Callable[[list[str]], list[list[Span]]], testset: Path | str, heldout: Path | str,
    **pooled: Iterable[str],
) -> dict[str, Any]:
    """A masker's full :func:`evaluate_masking` report on ``testset``, the held-out set's
    report under ``"heldout"``, and for each keyword the pooled recall over those kinds on
    ``testset`` (``structured_recall=("SSN", "MRN")``): what a pack's ``evaluate_filter`` gives."""
    report = evaluate_masking(find, read_testset(testset))
    report["heldout"] = evaluate_masking(find, read_testset(heldout))
    report.update({key: recall_over(report, kinds) for key, kinds in pooled.items()})
    return report


def recall_over(report: Mapping[str, Any], kinds: Iterable[str]) -> float | None:
    """Pooled recall of ``evaluate_masking`` over some types (e.g. the checksummed ones)."""
    kinds = [k for k in kinds if k in report["types"] and report["types"][k]["support"]]
    support = sum(report["types"][k]["support"] for k in kinds)
    found = sum(round(report["types"][k]["recall"] * report["types"][k]["support"]) for k in kinds)
    return _ratio(found, support)


def flag_figures(flag: Callable[[list[str]], list[bool]], testset: Path | str) -> dict[str, Any]:
    """A flagging filter's headline on a labelled test set, for a run's report (`SafetyFilter.evaluate`)."""
    report = evaluate_flags(flag, read_testset(testset))
    return {"test_set": f"{report['snippets']} labelled answers", "recall": report["recall"], "precision": report["precision"]}


def evaluate_flags(
    flag: Callable[[list[str]], list[bool]], rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Recall and precision of a flagging filter on rows with ``text`` and ``flag`` (bool)."""
    flags = flag([row["text"] for row in rows])
    tp = sum(f and row["flag"] for f, row in zip(flags, rows))
    fp = sum(f and not row["flag"] for f, row in zip(flags, rows))
    fn = sum(not f and row["flag"] for f, row in zip(flags, rows))
    return {
        "snippets": len(rows),
        "positives": tp + fn,
        "recall": _ratio(tp, tp + fn),
        "precision": _ratio(tp, tp + fp),
        "errors": [
            {"expected": row["flag"], "text": row["text"]}
            for f, row in zip(flags, rows) if f != row["flag"]
        ],
    }


def strip_examples(report: dict[str, Any]) -> dict[str, Any]:
    """A report without the example lists (misses, false positives): what goes in metrics."""
    return {
        key: strip_examples(value) if isinstance(value, dict) else value
        for key, value in report.items()
        if key not in ("misses", "false_positives", "errors")
    }


