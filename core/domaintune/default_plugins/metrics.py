"""Default metrics: accuracy and macro-F1 for labels, exact match and token F1 for text."""

from __future__ import annotations

from domaintune import Domain, Metric, hookimpl
from domaintune.metrics import accuracy, exact_match, macro_f1, token_f1


@hookimpl(trylast=True)
def make_metrics(domain: Domain) -> list[Metric]:
    if domain.task_type == "classification":
        return [Metric("accuracy", accuracy), Metric("macro_f1", macro_f1)]
    return [Metric("exact_match", exact_match), Metric("token_f1", token_f1)]
