"""Metric functions over whole eval sets: ``f(predictions, references) -> float``."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalization: lower case, no punctuation, articles or extra spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def accuracy(predictions: Sequence[str], references: Sequence[str]) -> float:
    if not references:
        return 0.0
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


# accuracy, macro_f1 and balanced_accuracy are counted here rather than by scikit-learn: its
# input validation costs about 5 ms a call, and the paired bootstrap calls each metric 2,000
# times per comparison. Measured on the README job's 200 held-out rows: 40 s of the run's
# scoring went to it; these take well under 1 s for the same calls, with the same values
# (tests/test_metrics.py compares them with scikit-learn's).


def _label_counts(predictions: Sequence[str], references: Sequence[str]) -> tuple[Counter, Counter, Counter]:
    """Per label: true positives, predicted count, reference count."""
    hits: Counter = Counter(r for p, r in zip(predictions, references) if p == r)
    return hits, Counter(predictions), Counter(references)


def macro_f1(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Macro-F1 over the labels that occur in the references (as LegalBench reports it)."""
    if not references:
        return 0.0
    hits, predicted, expected = _label_counts(predictions, references)
    # F1 = 2 TP / (predicted + expected); a label never predicted and never hit scores 0.
    return sum(2 * hits[label] / (predicted[label] + count) for label, count in expected.items()) / len(expected)


def balanced_accuracy(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Mean recall over the labels that occur in the references."""
    if not references:
        return 0.0
    hits, _, expected = _label_counts(predictions, references)
    return sum(hits[label] / count for label, count in expected.items()) / len(expected)


def exact_match(predictions: list[str], references: list[str]) -> float:
    if not references:
        return 0.0
    hits = sum(normalize_answer(p) == normalize_answer(r) for p, r in zip(predictions, references))
    return hits / len(references)


def _token_f1(prediction: str, reference: str) -> float:
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def token_f1(predictions: list[str], references: list[str]) -> float:
    """Mean SQuAD token F1 (bag of normalized words)."""
    if not references:
        return 0.0
    return sum(_token_f1(p, r) for p, r in zip(predictions, references)) / len(references)


def majority_baseline(train_labels: list[str], references: list[str]) -> tuple[str, float]:
    """The most common training label and the accuracy of always answering it."""
    label = Counter(train_labels).most_common(1)[0][0]
    return label, sum(ref == label for ref in references) / max(len(references), 1)
