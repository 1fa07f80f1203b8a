"""Hooks of the healthcare domain pack."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from domaintune import Domain, Metric, SafetyFilter, for_domains, hookimpl

from domaintune_healthcare import loaders, metrics

if TYPE_CHECKING:
    import datasets

DATA = Path(__file__).parent / "data"

HEALTHCARE = Domain(
    name="healthcare",
    description="Biomedical question answering (PubMedQA): yes, no or maybe from an abstract.",
    task_type="classification",
    system_prompt="You are a careful biomedical research assistant. Answer with exactly one word.",
    labels=("yes", "no", "maybe"),
    train_data=DATA / "pubmedqa.train.jsonl",
    eval_data=DATA / "pubmedqa.eval.jsonl",
    data_attribution=(DATA / "ATTRIBUTION.md").read_text(encoding="utf-8"),
    defaults={"max_length": 384, "time_budget_minutes": 5.0, "epochs": 1.0},
    # `--domain healthcare --data meqsum.jsonl` runs the summarization task.
    variants=("healthcare-summary",),
    canary_kinds=("SSN", "PHONE", "EMAIL", "MRN", "DATE"),
)

HEALTHCARE_SUMMARY = Domain(
    name="healthcare-summary",
    description="Consumer health question summarization (MeQSum): one short, precise question.",
    task_type="generation",
    system_prompt="You are a careful medical librarian. Reply with one short question only.",
    train_data=DATA / "meqsum.train.jsonl",
    eval_data=DATA / "meqsum.eval.jsonl",
    max_new_tokens=40,
    data_attribution=(DATA / "meqsum.ATTRIBUTION.md").read_text(encoding="utf-8"),
    defaults={"max_length": 256, "time_budget_minutes": 5.0, "epochs": 1.0},
    canary_kinds=HEALTHCARE.canary_kinds,
)

@hookimpl
def register_domains(register):  # noqa: ANN001, ANN201
    register(HEALTHCARE)
    register(HEALTHCARE_SUMMARY)


@hookimpl
def load_data(domain: Domain, source: str) -> datasets.Dataset | None:
    """PubMedQA's ori_pqal.json; MeQSum's workbook, or CSV/TSV/JSONL with its CHQ and Summary
    columns. Everything else is left to the core."""
    path = Path(source)
    if domain.name == HEALTHCARE.name and loaders.is_pubmedqa_json(path):
        return loaders.read_pubmedqa_json(path)
    if domain.name == HEALTHCARE_SUMMARY.name and loaders.is_meqsum_source(path):
        suffix = path.suffix.lower()
        if suffix == ".xlsx":
            return loaders.read_meqsum_xlsx(path)
        if suffix == ".jsonl":
            return loaders.read_meqsum_jsonl(path)
        return loaders.read_meqsum_table(path)
    return None


@hookimpl
@for_domains(HEALTHCARE_SUMMARY)  # PubMedQA: the core's accuracy and macro-F1
def make_metrics(domain: Domain) -> list[Metric]:
    return [Metric("rouge_l", metrics.rouge_l)]


@hookimpl
@for_domains(HEALTHCARE, HEALTHCARE_SUMMARY)  # MeQSum is free text written by the public
def make_data_filters(domain: Domain) -> list[SafetyFilter]:
    from domaintune_healthcare.safety import phi_filter

    return [phi_filter()]


@hookimpl
@for_domains(HEALTHCARE, HEALTHCARE_SUMMARY)  # MeQSum is free text written by the public
def make_output_filters(domain: Domain) -> list[SafetyFilter]:
    from domaintune_healthcare.safety import dose_filter, phi_filter

    return [phi_filter(), dose_filter()]
