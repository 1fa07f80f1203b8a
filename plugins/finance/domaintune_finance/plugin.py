"""Hooks of the finance domain pack."""

from __future__ import annotations

import re
from pathlib import Path

from domaintune import Domain, FilterOutcome, SafetyFilter, hookimpl
from domaintune.safety import EMAIL, US_PHONE, US_SSN, Identifier, masking_filter

DATA = Path(__file__).parent / "data"

FINANCE = Domain(
    name="finance",
    description="Financial question answering over report tables and text (TAT-QA).",
    task_type="generation",
    system_prompt="You are a precise financial analyst. Give only the final answer.",
    train_data=DATA / "tatqa.train.jsonl",
    eval_data=DATA / "tatqa.eval.jsonl",
    max_new_tokens=24,
    data_attribution=(DATA / "ATTRIBUTION.md").read_text(encoding="utf-8"),
    defaults={"max_length": 512, "time_budget_minutes": 5.0, "epochs": 1.0, "eval_batch_size": 8},
)


def _luhn_valid(candidate: str) -> bool:
    from stdnum import luhn

    digits = re.sub(r"\D", "", candidate)
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _iban_valid(candidate: str) -> bool:
    from stdnum import iban

    return iban.is_valid(candidate)


# Checksums keep amounts, tickers, ISINs and CUSIPs (public and needed by the task) unmasked.
CARD = Identifier("CARD_NUMBER", re.compile(r"\b\d(?:[ -]?\d){12,18}\b"), _luhn_valid)
IBAN = Identifier("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), _iban_valid)
FINANCIAL_PII = [EMAIL, IBAN, CARD, US_SSN, US_PHONE]

ADVICE = re.compile(
    r"\b(?:guaranteed? (?:returns?|profits?|gains?)|risk[- ]free (?:returns?|profits?)"
    r"|you should (?:buy|sell|short)|(?:buy|sell) (?:this|these|now)\b|can(?:no|')t lose)",
    re.IGNORECASE,
)


def _flag_advice(texts: list[str]) -> FilterOutcome:
    """Flag answers that promise returns or tell the reader to buy or sell."""
    flagged = [bool(ADVICE.search(text)) for text in texts]
    return FilterOutcome(texts=list(texts), blocked=flagged, counts={"advice": sum(flagged)} if any(flagged) else {})


@hookimpl
def register_domains(register):  # noqa: ANN001, ANN201
    register(FINANCE)


@hookimpl
def make_data_filters(domain: Domain) -> list[SafetyFilter] | None:
    if domain.name != FINANCE.name:
        return None
    return [masking_filter("financial-pii", FINANCIAL_PII)]


@hookimpl
def make_output_filters(domain: Domain) -> list[SafetyFilter] | None:
    if domain.name != FINANCE.name:
        return None
    return [masking_filter("financial-pii", FINANCIAL_PII), SafetyFilter("advice", _flag_advice)]
