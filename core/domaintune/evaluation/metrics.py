"""Metric functions over whole eval sets: ``f(predictions, references) -> float``."""

from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalization: lower case, no punctuation, articles or extra spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def accuracy(predictions: list[str], references: list[str]) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(references, predictions))


def macro_f1(predictions: list[str], references: list[str]) -> float:
    """Macro-F1 over the labels that occur in the references (as LegalBench reports it)."""
    from sklearn.metrics import f1_score

    labels = sorted(set(references))
    return float(f1_score(references, predictions, labels=labels, average="macro", zero_division=0))


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
