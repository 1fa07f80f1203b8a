"""Hooks of the healthcare domain pack."""

from __future__ import annotations

import re
from pathlib import Path

from domaintune import Domain, FilterOutcome, SafetyFilter, hookimpl
from domaintune.safety import EMAIL, IP_ADDRESS, URL, US_PHONE, US_SSN, Identifier, masking_filter

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


@hookimpl
def make_data_filters(domain: Domain) -> list[SafetyFilter] | None:
    if domain.name != HEALTHCARE.name:
        return None
    return [masking_filter("phi", PHI_IDENTIFIERS)]


@hookimpl
def make_output_filters(domain: Domain) -> list[SafetyFilter] | None:
    if domain.name != HEALTHCARE.name:
        return None
    return [masking_filter("phi", PHI_IDENTIFIERS), SafetyFilter("dose", _flag_doses)]
