"""Default metrics: accuracy and macro-F1 for labels, exact match and token F1 for text."""

from __future__ import annotations

from domaintune import Domain, Metric, hookimpl
from domaintune.evaluation.metrics import accuracy, exact_match, macro_f1, token_f1


@hookimpl(trylast=True)
def make_metrics(domain: Domain) -> list[Metric]:
    # Multi-task data (a `task` column with several values) is also scored per task, and the
    # headline figure is the mean over tasks, as LegalBench reports it.
    per_task = {"group_by": "task", "macro": True}
    if domain.task_type == "classification":
        return [Metric("accuracy", accuracy, **per_task), Metric("macro_f1", macro_f1, **per_task)]
    return [Metric("exact_match", exact_match, **per_task), Metric("token_f1", token_f1, **per_task)]
