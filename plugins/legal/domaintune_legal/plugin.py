"""Hooks of the legal domain pack."""

from __future__ import annotations

from pathlib import Path

from domaintune import Domain, SafetyFilter, hookimpl
from domaintune.safety import EMAIL, US_PHONE, US_SSN, masking_filter, phrase_blocking_filter

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

PRIVILEGE_MARKERS = [
    "attorney-client privileged",
    "attorney-client privilege",
    "attorney work product",
    "privileged & confidential",
    "privileged and confidential",
]


@hookimpl
def register_domains(register):  # noqa: ANN001, ANN201
    register(LEGAL)


@hookimpl
def make_data_filters(domain: Domain) -> list[SafetyFilter] | None:
    if domain.name != LEGAL.name:
        return None
    return [
        # Privileged material must never reach a training set, so the row goes, not the words.
        phrase_blocking_filter("privilege", "privileged", PRIVILEGE_MARKERS),
        masking_filter("legal-pii", [EMAIL, US_SSN, US_PHONE]),
    ]
