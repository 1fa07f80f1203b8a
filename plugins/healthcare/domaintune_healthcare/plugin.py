"""Hooks of the healthcare domain pack."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from domaintune import Domain, FilterOutcome, Metric, SafetyFilter, hookimpl
from domaintune.safety import EMAIL, IP_ADDRESS, URL, US_PHONE, US_SSN, Identifier

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
)

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
# HIPAA Safe Harbor: dates more precise than the year are identifiers; a bare year is not.
DATE = Identifier(
    "DATE",
    re.compile(
        rf"\b(?:\d{{1,2}}[/-]\d{{1,2}}[/-](?:\d{{4}}|\d{{2}})|\d{{4}}-\d{{2}}-\d{{2}}"
        rf"|{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}|\d{{1,2}} {_MONTH},? \d{{4}})\b",
        re.IGNORECASE,
    ),
)
MRN = Identifier("MRN", re.compile(r"\b(?:MRN|medical record(?: number| no\.?)?)[:#\s]*[A-Z]{0,3}\d{5,10}\b", re.IGNORECASE))
PHI_IDENTIFIERS = [EMAIL, URL, IP_ADDRESS, US_SSN, MRN, DATE, US_PHONE]

DOSE = re.compile(r"\b\d+(?:\.\d+)?\s?(?:mg|mcg|µg|g|ml|mL|units?|IU)\b(?:\s?(?:/|per)\s?(?:kg|day|dose))?")


def _flag_doses(texts: list[str]) -> FilterOutcome:
    """Flag answers that state a specific dose: those need a clinician's review."""
    flagged = [bool(DOSE.search(text)) for text in texts]
    return FilterOutcome(texts=list(texts), blocked=flagged, counts={"dose": sum(flagged)} if any(flagged) else {})


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
def make_metrics(domain: Domain) -> list[Metric] | None:
    if domain.name != HEALTHCARE_SUMMARY.name:
        return None  # PubMedQA: the core's accuracy and macro-F1
    return [Metric("rouge_l", metrics.rouge_l)]


@hookimpl
def make_data_filters(domain: Domain) -> list[SafetyFilter] | None:
    if domain.name != HEALTHCARE.name:
        return None
    from domaintune_healthcare.safety import phi_filter

    return [phi_filter()]


@hookimpl
def make_output_filters(domain: Domain) -> list[SafetyFilter] | None:
    if domain.name != HEALTHCARE.name:
        return None
    from domaintune_healthcare.safety import dose_filter, phi_filter

    return [phi_filter(), dose_filter()]
