"""LegalBench's metrics: balanced accuracy (its headline for classification tasks), accuracy
and macro-F1, per task and macro-averaged over tasks, beside each task's majority-class
baseline.

Answers are normalized as LegalBench's ``evaluation.py`` does (punctuation removed, stripped,
lower-cased) before they are compared.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Callable, Sequence

from domaintune.kit import accuracy as kit_accuracy
from domaintune.kit import balanced_accuracy as kit_balanced_accuracy
from domaintune.kit import macro_f1 as kit_macro_f1

Scores = dict[str, float]
PER_TASK_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")

_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_label(text: str) -> str:
    return str(text).translate(_PUNCTUATION).strip().lower()


def _normalized(predictions: Sequence[str], references: Sequence[str]) -> tuple[list[str], list[str]]:
    return [normalize_label(p) for p in predictions], [normalize_label(r) for r in references]


def accuracy(predictions: Sequence[str], references: Sequence[str]) -> float:
    return kit_accuracy(*_normalized(predictions, references))


def balanced_accuracy(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Mean recall over the labels that occur in the references (LegalBench's metric); an
    answer no reference has ("maybe") only costs recall."""
    return kit_balanced_accuracy(*_normalized(predictions, references))


def macro_f1(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Macro-F1 over the labels that occur in the references."""
    return kit_macro_f1(*_normalized(predictions, references))


METRIC_FUNCTIONS: dict[str, Callable[[Sequence[str], Sequence[str]], float]] = {
    "accuracy": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "macro_f1": macro_f1,
}


def _by_task(values: Sequence[str], tasks: Sequence[str]) -> dict[str, list[int]]:
    if len(values) != len(tasks):
        raise ValueError(f"{len(values)} rows but {len(tasks)} task names; give one task per row.")
    rows: dict[str, list[int]] = {}
    for index, task in enumerate(tasks):
        rows.setdefault(task, []).append(index)
    return rows


def macro_over_tasks(
    metric: Callable[[Sequence[str], Sequence[str]], float],
) -> Callable[[Sequence[str], Sequence[str], Sequence[str]], float]:
    """``metric`` computed on each task's rows apart, then averaged with equal weight per task
    (how LegalBench reports a group of tasks)."""

    def over_tasks(predictions: Sequence[str], references: Sequence[str], tasks: Sequence[str]) -> float:
        groups = _by_task(references, tasks)
        if not groups:
            return 0.0
        return sum(
            metric([predictions[i] for i in rows], [references[i] for i in rows]) for rows in groups.values()
        ) / len(groups)

    over_tasks.__name__ = f"macro_{getattr(metric, '__name__', 'metric')}"
    return over_tasks


def majority_label(labels: Sequence[str]) -> str:
    """The most common label (the first seen among equals)."""
    return Counter(labels).most_common(1)[0][0]


def scores_by_task(
    predictions: Sequence[str],
    references: Sequence[str],
    tasks: Sequence[str],
    train_labels: Sequence[str] | None = None,
    train_tasks: Sequence[str] | None = None,
) -> dict[str, dict[str, Scores]]:
    """Per task: rows, accuracy, balanced accuracy, macro-F1, and the majority-class baseline
    (the task's most common training label, or its most common reference when the training
    rows are not given or hold none of the task); ``"macro"``: the mean of each over tasks.

    Returns ``{"tasks": {task: scores}, "macro": scores}``.
    """
    train_by_task = _by_task(train_labels, train_tasks) if train_labels is not None and train_tasks is not None else {}
    per_task: dict[str, Scores] = {}
    for task, rows in sorted(_by_task(references, tasks).items()):
        predicted = [predictions[i] for i in rows]
        expected = [references[i] for i in rows]
        scores: Scores = {"rows": float(len(rows))}
        scores.update({name: metric(predicted, expected) for name, metric in METRIC_FUNCTIONS.items()})
        source = [train_labels[i] for i in train_by_task[task]] if task in train_by_task else expected
        majority = [majority_label(source)] * len(expected)
        scores["majority_accuracy"] = accuracy(majority, expected)
        scores["majority_balanced_accuracy"] = balanced_accuracy(majority, expected)
        per_task[task] = scores
    names = [*METRIC_FUNCTIONS, "majority_accuracy", "majority_balanced_accuracy"]
    macro = {name: sum(s[name] for s in per_task.values()) / len(per_task) for name in names} if per_task else {}
    return {"tasks": per_task, "macro": macro}


def majority_labels_by_task(train_labels: Sequence[str], train_tasks: Sequence[str]) -> dict[str, str]:
    """Each task's majority-class label, for the report."""
    return {task: majority_label([train_labels[i] for i in rows]) for task, rows in sorted(_by_task(train_labels, train_tasks).items())}
