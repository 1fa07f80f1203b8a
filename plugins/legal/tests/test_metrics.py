"""LegalBench metrics: balanced accuracy, per task and macro over tasks, with baselines."""

from __future__ import annotations

import warnings

import pytest
from domaintune.testing import compute_metrics, domain_metrics, get_domain
from domaintune_legal.metrics import (
    accuracy,
    balanced_accuracy,
    macro_f1,
    macro_over_tasks,
    majority_labels_by_task,
    scores_by_task,
)

# Task a: 4 Yes, 2 No. Task b: 1 Yes, 3 No.
REFERENCES = ["Yes", "Yes", "Yes", "Yes", "No", "No", "Yes", "No", "No", "No"]
PREDICTIONS = ["Yes", "Yes", "Yes", "No", "No", "Yes", "No", "No", "No", "No"]
TASKS = ["a"] * 6 + ["b"] * 4


def test_balanced_accuracy_is_the_mean_recall_per_label() -> None:
    a_refs, a_preds = REFERENCES[:6], PREDICTIONS[:6]
    assert balanced_accuracy(a_preds, a_refs) == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert balanced_accuracy(["Yes"] * 4, ["Yes", "No", "No", "No"]) == 0.5  # always one label


def test_answers_are_normalized_as_legalbench_does() -> None:
    assert accuracy(["Yes.", " no"], ["Yes", "No"]) == 1.0
    assert balanced_accuracy(["yes", "No!"], ["Yes", "No"]) == 1.0
    assert macro_f1(["YES", "no"], ["Yes", "No"]) == 1.0


def test_an_answer_outside_the_references_costs_recall_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert balanced_accuracy(["maybe", "No"], ["Yes", "No"]) == 0.5


def test_scores_by_task_and_their_macro_average() -> None:
    result = scores_by_task(PREDICTIONS, REFERENCES, TASKS)
    a, b = result["tasks"]["a"], result["tasks"]["b"]
    assert a["rows"] == 6.0 and b["rows"] == 4.0
    assert a["accuracy"] == pytest.approx(4 / 6)
    assert a["balanced_accuracy"] == pytest.approx(0.625)
    assert b["accuracy"] == 0.75 and b["balanced_accuracy"] == pytest.approx((0 + 1) / 2)
    # Majority baseline without training labels: the task's most common reference.
    assert a["majority_accuracy"] == pytest.approx(4 / 6) and b["majority_accuracy"] == 0.75
    assert a["majority_balanced_accuracy"] == 0.5
    macro = result["macro"]
    assert macro["balanced_accuracy"] == pytest.approx((0.625 + 0.5) / 2)
    assert macro["accuracy"] == pytest.approx((4 / 6 + 0.75) / 2)  # not the pooled 7/10
    assert macro["macro_f1"] == pytest.approx((a["macro_f1"] + b["macro_f1"]) / 2)


def test_majority_baseline_comes_from_each_tasks_training_labels() -> None:
    train_labels = ["No", "No", "Yes", "Yes", "Yes", "Yes"]
    train_tasks = ["a", "a", "b", "b", "c", "c"]
    result = scores_by_task(PREDICTIONS, REFERENCES, TASKS, train_labels, train_tasks)
    assert result["tasks"]["a"]["majority_accuracy"] == pytest.approx(2 / 6)  # always "No"
    assert result["tasks"]["b"]["majority_accuracy"] == 0.25  # always "Yes"
    assert majority_labels_by_task(train_labels, train_tasks) == {"a": "No", "b": "Yes", "c": "Yes"}


def test_macro_over_tasks_wraps_any_metric() -> None:
    macro_balanced = macro_over_tasks(balanced_accuracy)
    assert macro_balanced(PREDICTIONS, REFERENCES, TASKS) == pytest.approx((0.625 + 0.5) / 2)
    assert macro_balanced([], [], []) == 0.0
    with pytest.raises(ValueError, match="one task per row"):
        macro_balanced(PREDICTIONS, REFERENCES, TASKS[:-1])


def test_legal_domain_is_judged_by_balanced_accuracy_too() -> None:
    metrics = domain_metrics(get_domain("legal"))
    assert [m.name for m in metrics] == ["balanced_accuracy", "accuracy", "macro_f1"]
    values = compute_metrics(metrics, PREDICTIONS[:6], REFERENCES[:6])
    assert values["balanced_accuracy"] == pytest.approx(0.625)
