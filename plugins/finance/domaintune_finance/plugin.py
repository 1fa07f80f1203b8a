"""Hooks of the finance domain pack."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from domaintune import Domain, Metric, SafetyFilter, for_domains, hookimpl

from domaintune_finance import loaders, metrics

if TYPE_CHECKING:
    import datasets

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
    # `--domain finance --data phrasebank.jsonl` runs the sentiment task, FOMC data the stance one.
    variants=("finance-sentiment", "finance-fomc"),
    canary_kinds=("CARD_NUMBER", "IBAN", "SSN", "EMAIL", "PHONE"),
)

# Non-commercial sets: no bundled data, so a run needs --data (the core says so).
FINANCE_SENTIMENT = Domain(
    name="finance-sentiment",
    description="Financial news sentiment (Financial PhraseBank; non-commercial, pass --data): "
    "positive, negative or neutral.",
    task_type="classification",
    system_prompt="You are a careful financial news analyst. Answer with exactly one word.",
    labels=loaders.PHRASEBANK_LABELS,
    # Measured: 30 minutes on 2 processes (2.6 epochs of 3,677 rows) reach 0.86 accuracy on
    # 200 held-out PhraseBank rows; 0.8 epoch on a busy machine reached 0.815.
    defaults={"max_length": 192, "time_budget_minutes": 30.0, "epochs": 3.0},
    canary_kinds=FINANCE.canary_kinds,
)
FINANCE_FOMC = Domain(
    name="finance-fomc",
    description="Monetary policy stance of FOMC sentences (Shah et al. 2023; non-commercial, "
    "pass --data): hawkish, dovish or neutral.",
    task_type="classification",
    system_prompt="You are a careful monetary policy analyst. Answer with exactly one word.",
    labels=("hawkish", "dovish", "neutral"),
    defaults={"max_length": 192, "time_budget_minutes": 5.0, "epochs": 1.0},
    canary_kinds=FINANCE.canary_kinds,
)


@hookimpl
def register_domains(register):  # noqa: ANN001, ANN201
    register(FINANCE)
    register(FINANCE_SENTIMENT)
    register(FINANCE_FOMC)


@hookimpl
def load_data(
    domain: Domain, source: str, column_map: Mapping[str, str], shape: str
) -> datasets.Dataset | None:
    """PhraseBank's sentence@label .txt; FOMC .xlsx, or .csv/.jsonl with sentence and label;
    TAT-QA JSONL with its answer types, or TAT-QA's release .json. Everything else is left to
    the core."""
    path = Path(source)
    if domain.name == FINANCE_SENTIMENT.name and loaders.is_phrasebank_source(path):
        return loaders.read_phrasebank(path)
    if domain.name == FINANCE_FOMC.name and loaders.is_fomc_source(path):
        return loaders.read_fomc(path)
    if domain.name == FINANCE.name and path.suffix.lower() == ".jsonl" and loaders.is_tatqa_jsonl(path):
        return loaders.read_tatqa_jsonl(path, column_map, shape, domain.name)
    if domain.name == FINANCE.name and path.suffix.lower() == ".json" and path.is_file():
        return loaders.read_tatqa_release(path, column_map, shape)  # None: another kind of JSON
    return None


@hookimpl
@for_domains(FINANCE)  # the classification domains: the core's accuracy and macro-F1
def make_metrics(domain: Domain) -> list[Metric]:
    # Beside the core's SQuAD exact match and token F1: TAT-QA's, numbers compared by value.
    return [
        Metric("tatqa_exact_match", metrics.tatqa_exact_match),
        Metric("tatqa_f1", metrics.tatqa_f1),
    ]


@hookimpl
@for_domains(FINANCE, FINANCE_SENTIMENT, FINANCE_FOMC)
def make_data_filters(domain: Domain) -> list[SafetyFilter]:
    from domaintune_finance.safety import pii_filter

    return [pii_filter()]


@hookimpl
@for_domains(FINANCE, FINANCE_SENTIMENT, FINANCE_FOMC)
def make_output_filters(domain: Domain) -> list[SafetyFilter]:
    from domaintune_finance.safety import advice_filter, pii_filter

    return [pii_filter(), advice_filter()]
