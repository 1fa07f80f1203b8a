"""ROUGE-L for MeQSum, and which metrics each healthcare domain is judged by."""

from __future__ import annotations

import pytest
from domaintune.testing import compute_metrics, domain_metrics, get_domain
from domaintune_healthcare.metrics import rouge_l, rouge_l_pair


def test_rouge_l_of_identical_and_disjoint_answers() -> None:
    assert rouge_l(["Who manufactures cetirizine?"], ["Who manufactures cetirizine?"]) == 1.0
    assert rouge_l(["Where is Paris?"], ["What treats gout?"]) == 0.0
    assert rouge_l([], []) == 0.0


def test_rouge_l_is_the_longest_common_subsequence_f_measure() -> None:
    # Reference 6 tokens, answer 4; the LCS "what are treatments for" has 4: P 1, R 4/6.
    reference, answer = "What are the treatments for gout?", "what are treatments for"
    assert rouge_l_pair(answer, reference) == pytest.approx(2 * 1 * (4 / 6) / (1 + 4 / 6))
    # Porter stemming: "treatment" matches "treatments".
    assert rouge_l_pair("treatment of gout", "treatments of gout") == 1.0


def test_rouge_l_is_the_mean_over_rows() -> None:
    value = rouge_l(["Who makes bromocriptine?", "nothing alike"], ["Who makes bromocriptine?", "What causes gout?"])
    assert value == pytest.approx(0.5)


def test_summary_domain_is_judged_by_rouge_l_and_exact_match() -> None:
    metrics = domain_metrics(get_domain("healthcare-summary"))
    assert [m.name for m in metrics] == ["rouge_l", "exact_match", "token_f1"]
    values = compute_metrics(metrics, ["Who manufactures cetirizine?"], ["Who manufactures cetirizine?"])
    assert values == {"rouge_l": 1.0, "exact_match": 1.0, "token_f1": 1.0}


def test_pubmedqa_domain_keeps_the_core_classification_metrics() -> None:
    assert [m.name for m in domain_metrics(get_domain("healthcare"))] == ["accuracy", "macro_f1"]
