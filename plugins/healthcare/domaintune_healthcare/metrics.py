"""Metrics for the healthcare domains: ROUGE-L for MeQSum's question summaries.

Exact match comes from the core's defaults (SQuAD normalization). ROUGE is Google's
``rouge-score`` (the implementation MeQSum's successors report with), with its Porter
stemmer; the library is imported on first use, so loading the plugin stays light.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


# The paired bootstrap scores the same pairs a thousand times over: score each pair once.
@lru_cache(maxsize=1 << 16)
def rouge_l_pair(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure of one answer against its reference (0 when either is empty)."""
    return float(_scorer().score(reference, prediction)["rougeL"].fmeasure)


def rouge_l(predictions: list[str], references: list[str]) -> float:
    """Mean ROUGE-L F-measure over the eval rows (stemmed, lower-cased tokens)."""
    if not references:
        return 0.0
    return sum(rouge_l_pair(p, r) for p, r in zip(predictions, references)) / len(references)
