"""Regression gate: turn a run's metrics into a pass/fail that CI pipelines can rely on.

``--fail-under accuracy=0.8`` fails when the tuned model scores below 0.8;
``--max-regression accuracy=0.02`` fails when it scores more than 0.02 below the base model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domaintune.errors import ConfigError


def parse_thresholds(option: str, specs: Iterable[str]) -> dict[str, float]:
    """``["accuracy=0.8", "macro_f1=0.7"]`` -> ``{"accuracy": 0.8, "macro_f1": 0.7}``."""
    thresholds: dict[str, float] = {}
    problems = []
    for spec in specs:
        name, sep, value = spec.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            thresholds[name.strip()] = float(value)
        except ValueError:
            problems.append(f"{option} {spec!r}: expected METRIC=NUMBER, e.g. accuracy=0.8")
    if problems:
        raise ConfigError("\n".join(problems))
    return thresholds


def check_unknown_metrics(thresholds: dict[str, float], option: str, known: Iterable[str]) -> None:
    unknown = sorted(set(thresholds) - set(known))
    if unknown:
        raise ConfigError(
            f"{option} names metric(s) {unknown} that this run does not compute; "
            f"choose from {sorted(known)}."
        )


def check_gates(fail_under: dict[str, float], max_regression: dict[str, float], known: Iterable[str]) -> None:
    """Refuse a gate on a metric the run does not compute: checked before the training it
    would judge."""
    known = list(known)
    check_unknown_metrics(fail_under, "--fail-under", known)
    check_unknown_metrics(max_regression, "--max-regression", known)


def gate_failures(
    summary: dict[str, Any], fail_under: dict[str, float], max_regression: dict[str, float]
) -> list[str]:
    """Every unmet threshold, as a sentence; empty when the tuned model passes."""
    check_gates(fail_under, max_regression, summary["tuned"])
    failures = []
    for name, floor in fail_under.items():
        tuned = summary["tuned"][name]
        if tuned < floor:
            failures.append(f"tuned {name} {tuned:.4f} is below --fail-under {floor}")
    for name, allowed in max_regression.items():
        drop = summary["base"][name] - summary["tuned"][name]
        if drop > allowed:
            failures.append(
                f"tuned {name} is {drop:.4f} below the base model's, more than "
                f"--max-regression {allowed}"
            )
    return failures
