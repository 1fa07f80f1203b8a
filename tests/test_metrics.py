"""Metrics over groups (tasks): per-group figures, macro headline, paired bootstrap."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from domaintune import Metric
from domaintune.evaluation.comparison import paired_bootstrap
from domaintune.evaluation.metrics import accuracy, balanced_accuracy, macro_f1
from domaintune.evaluation.scoring import compute_metrics, metrics_by_group

# Task a: 4 rows, 3 right; task b: 2 rows, 0 right.
PREDICTIONS = ["Yes", "Yes", "No", "No", "Yes", "Yes"]
REFERENCES = ["Yes", "Yes", "No", "Yes", "No", "No"]
TASKS = ["a", "a", "a", "a", "b", "b"]


def test_macro_metric_averages_over_tasks_and_plain_metric_pools_rows() -> None:
    macro = Metric("accuracy", accuracy, group_by="task", macro=True)
    pooled = Metric("pooled_accuracy", accuracy, group_by="task")
    values = compute_metrics([macro, pooled], PREDICTIONS, REFERENCES, {"task": TASKS})
    assert values["accuracy"] == pytest.approx((3 / 4 + 0 / 2) / 2)
    assert values["pooled_accuracy"] == pytest.approx(3 / 6)
    groups = metrics_by_group([macro, pooled], PREDICTIONS, REFERENCES, {"task": TASKS})
    assert groups == {"task": {"a": {"accuracy": 0.75, "pooled_accuracy": 0.75}, "b": {"accuracy": 0.0, "pooled_accuracy": 0.0}}}


def test_single_task_data_is_unchanged_by_grouping() -> None:
    macro = Metric("accuracy", accuracy, group_by="task", macro=True)
    assert compute_metrics([macro], PREDICTIONS, REFERENCES, {"task": ["x"] * 6}) == {"accuracy": 0.5}
    assert metrics_by_group([macro], PREDICTIONS, REFERENCES, {"task": ["x"] * 6}) == {}


def test_paired_bootstrap_interval_brackets_the_difference() -> None:
    macro = Metric("accuracy", accuracy, group_by="task", macro=True)
    tuned = REFERENCES[:]  # all right
    interval = paired_bootstrap(macro, PREDICTIONS, tuned, REFERENCES, seed=0, columns={"task": TASKS})
    assert interval.difference == pytest.approx(1 - 0.375)
    assert interval.low <= interval.difference <= interval.high
    assert interval.low > 0 and interval.excludes_zero
    same = paired_bootstrap(macro, PREDICTIONS, PREDICTIONS, REFERENCES, seed=0, columns={"task": TASKS})
    assert (same.low, same.high) == (0.0, 0.0) and not same.excludes_zero


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["Yes", "No", "maybe"]), st.sampled_from(["Yes", "No", "maybe"])), min_size=1, max_size=40))
def test_counted_metrics_equal_scikit_learns(pairs: list[tuple[str, str]]) -> None:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    predictions, references = [p for p, _ in pairs], [r for _, r in pairs]
    labels = sorted(set(references))
    assert accuracy(predictions, references) == pytest.approx(accuracy_score(references, predictions))
    assert macro_f1(predictions, references) == pytest.approx(
        f1_score(references, predictions, labels=labels, average="macro", zero_division=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # predictions of labels no reference has
        expected = balanced_accuracy_score(references, predictions)
    assert balanced_accuracy(predictions, references) == pytest.approx(expected)
