"""TAT-QA exact match and F1 over generated answers, with numbers normalized as TAT-QA does.

An answer is one or more spans joined by ``"; "``; a scale word after the last span
(``73,260; 57,768 thousand``) applies to every bare number before it, as in the bundled
completions. A span that is a number is compared by value: commas, currency signs, a leading
minus or accounting parentheses (``$(9.8)`` is -9.8), a percent sign (``16.03%`` is 0.1603)
and a scale word (thousand, million, billion, percent) are all understood, and the value is
rounded to two decimals before scaling, as TAT-QA's evaluation does (a bare number is also
tried unrounded, so 0.2342 answers 23.42%). Other spans are compared as SQuAD-normalized
words (numbers inside them by value).

As in TAT-QA's evaluation (``tatqa_metric.py``): exact match compares the sorted spans; F1 is
the F1 of the two answers' word sets, rounded to two decimals; for arithmetic and count
questions F1 is exact match. Scale is part of the answer: ``153391`` does not match
``153391 thousand``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from domaintune.kit import normalize_answer

SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "percent": 0.01}
NUMERIC_ANSWER_TYPES = ("arithmetic", "count")
SPAN_SEPARATOR = ";"

_NUMBER = re.compile(
    r"""^(?P<minus>[-−])?\s*[$€£¥]?\s*(?P<open>\()?\s*(?P<minus_inside>[-−])?\s*[$€£¥]?\s*
    (?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)
    \s*(?P<close>\))?\s*(?P<percent>%)?\s*(?:(?P<scale>thousand|million|billion|percent)s?)?$""",
    re.VERBOSE | re.IGNORECASE,
)


def parse_number(text: str, default_scale: str = "") -> tuple[float, str] | None:
    """``(value, scale)`` of a span that is a number, else None; the value is unscaled."""
    match = _NUMBER.match(text.strip())
    if not match or bool(match["open"]) != bool(match["close"]):
        return None
    value = float(match["digits"].replace(",", ""))
    if match["minus"] or match["minus_inside"] or match["open"]:
        value = -value
    scale = (match["scale"] or "").lower() or ("percent" if match["percent"] else "") or default_scale
    return value, scale


def _number_key(value: float, scale: str) -> str:
    # Round, then scale: TAT-QA's '%.4f' % (round(number, 2) * scale).
    return "%.4f" % (round(value, 2) * SCALES.get(scale, 1.0) + 0.0)


def _text_key(text: str) -> str:
    words = []
    for word in text.split():
        number = parse_number(word)
        words.append(_number_key(*number) if number else normalize_answer(word))
    return " ".join(word for word in words if word)


def answer_keys(answer: str, scale: str = "") -> list[str]:
    """The normalized, sorted spans of an answer. ``scale`` (a TAT-QA ``meta.scale``) applies
    to bare numbers when the text itself carries no scale."""
    spans = [span.strip() for span in answer.split(SPAN_SEPARATOR)]
    spans = [span for span in spans if span]
    if not spans:
        return []
    last = parse_number(spans[-1])
    shared_scale = (last[1] if last else "") or scale
    keys = []
    for span in spans:
        number = parse_number(span, default_scale=shared_scale)
        keys.append(_number_key(*number) if number else _text_key(span))
    return sorted(key for key in keys if key)


def _set_f1(predicted: set[str], expected: set[str]) -> float:
    common = len(predicted & expected)
    if not predicted or not expected:
        return float(predicted == expected)
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


# The paired bootstrap scores the same pairs a thousand times over: score each pair once.
@lru_cache(maxsize=1 << 16)
def tatqa_em_f1(prediction: str, reference: str, answer_type: str = "", scale: str = "") -> tuple[float, float]:
    """Exact match and F1 of one answer. Without ``answer_type``, a reference that is one
    number is treated as an arithmetic answer (F1 equals exact match)."""
    expected = answer_keys(reference, scale)
    predicted = answer_keys(prediction)
    exact = float(bool(expected) and predicted == expected)
    bare = parse_number(prediction)
    if not exact and bare and not bare[1] and "%" not in prediction:
        # TAT-QA also tries a bare number unrounded: 0.2342 answers 23.42 percent.
        predicted = ["%.4f" % bare[0]]
        exact = float(predicted == expected)
    numeric = answer_type in NUMERIC_ANSWER_TYPES or (
        not answer_type and len(expected) == 1 and parse_number(reference, scale) is not None
    )
    if numeric:
        return exact, exact
    f1 = _set_f1(set(" ".join(predicted).split()), set(" ".join(expected).split()))
    return exact, round(f1, 2)


def tatqa_exact_match(predictions: list[str], references: list[str]) -> float:
    if not references:
        return 0.0
    return sum(tatqa_em_f1(p, r)[0] for p, r in zip(predictions, references)) / len(references)


def tatqa_f1(predictions: list[str], references: list[str]) -> float:
    if not references:
        return 0.0
    return sum(tatqa_em_f1(p, r)[1] for p, r in zip(predictions, references)) / len(references)


def tatqa_scores_by_answer_type(
    predictions: Sequence[str],
    references: Sequence[str],
    answer_types: Sequence[str],
    scales: Sequence[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Exact match, F1 and row count per answer type (span, multi-span, arithmetic, count), and
    over all rows (``"all"``), as TAT-QA reports them. ``answer_types`` and ``scales`` are the
    eval rows' ``meta.answer_type`` and ``meta.scale``."""
    scales = scales or [""] * len(references)
    groups: dict[str, list[tuple[float, float]]] = {}
    for prediction, reference, answer_type, scale in zip(predictions, references, answer_types, scales):
        scores = tatqa_em_f1(prediction, reference, answer_type or "", scale or "")
        groups.setdefault(answer_type or "unknown", []).append(scores)
        groups.setdefault("all", []).append(scores)
    return {
        group: {
            "exact_match": sum(em for em, _ in scores) / len(scores),
            "f1": sum(f1 for _, f1 in scores) / len(scores),
            "rows": float(len(scores)),
        }
        for group, scores in sorted(groups.items())
    }
