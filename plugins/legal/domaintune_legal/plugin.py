"""Hooks of the legal domain pack."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from domaintune import Domain, Metric, SafetyFilter, hookimpl

from domaintune_legal import loaders, metrics

if TYPE_CHECKING:
    import datasets

DATA = Path(__file__).parent / "data"

LEGAL = Domain(
    name="legal",
    description="Legal classification (LegalBench): does a sentence overrule a case, does a "
    "clause belong to a contract type.",
    task_type="classification",
    system_prompt="You are a careful legal analyst. Answer with exactly one word.",
    labels=("Yes", "No"),
    train_data=DATA / "overruling.train.jsonl",
    eval_data=DATA / "overruling.eval.jsonl",
    data_attribution=(DATA / "ATTRIBUTION.md").read_text(encoding="utf-8"),
    defaults={"max_length": 256, "time_budget_minutes": 5.0, "epochs": 1.0},
)

@hookimpl
def register_domains(register):  # noqa: ANN001, ANN201
    register(LEGAL)


@hookimpl
def load_data(domain: Domain, source: str) -> datasets.Dataset | None:
    """LegalBench task folders (base_prompt.txt + train.tsv/test.tsv), a folder of them, one of
    their .tsv files, or a glob over them. Prompt/completion JSONL is left to the core."""
    if domain.name != LEGAL.name:
        return None
    return loaders.read_legalbench(source)


@hookimpl
def make_metrics(domain: Domain) -> list[Metric] | None:
    if domain.name != LEGAL.name:
        return None
    # LegalBench's headline metric, beside the core's accuracy and macro-F1. Over rows of
    # several tasks it is pooled; per task and macro over tasks once metrics see row tasks.
    return [Metric("balanced_accuracy", metrics.balanced_accuracy)]


@hookimpl
def make_data_filters(domain: Domain) -> list[SafetyFilter] | None:
    if domain.name != LEGAL.name:
        return None
    from domaintune_legal.safety import pii_filter, privilege_filter

    # Privileged material must never reach a training set, so the row goes, not the words.
    return [privilege_filter(), pii_filter()]


@hookimpl
def make_output_filters(domain: Domain) -> list[SafetyFilter] | None:
    if domain.name != LEGAL.name:
        return None
    from domaintune_legal.safety import citation_filter, known_authorities_from_env

    return [citation_filter(known_authorities_from_env())]
