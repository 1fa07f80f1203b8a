"""Every pack's safety filters measure themselves on their labelled test sets, and a run's
report carries the figures: the thresholds the issues set hold for the shipped filters."""

from __future__ import annotations

from domaintune.plugins import get_domain
from domaintune.safety.figures import read_testset
from domaintune.safety.measure import measure_filters
from domaintune_healthcare.safety import TESTSET as phi_testset


def test_healthcare_filters_meet_their_targets() -> None:
    figures = measure_filters(get_domain("healthcare"))
    assert set(figures) == {"phi", "dose"}
    phi = figures["phi"]
    assert phi["test_set"].startswith(f"{len(read_testset(phi_testset))} synthetic clinical snippets")
    assert phi["structured_recall"] >= 0.98
    assert phi["recall_by_type"]["SSN"] >= 0.98 and phi["recall_by_type"]["MRN"] >= 0.98
    assert figures["dose"]["recall"] >= 0.9 and figures["dose"]["precision"] >= 0.9


def test_finance_filters_meet_their_targets() -> None:
    figures = measure_filters(get_domain("finance-sentiment"))
    assert set(figures) == {"financial-pii", "advice"}
    pii = figures["financial-pii"]
    assert pii["checksummed_recall"] >= 0.98 and pii["structured_recall"] >= 0.98
    assert pii["public_identifiers"] > 0 and pii["public_false_positive_rate"] <= 0.01


def test_legal_filters_report_masking_and_citation_figures() -> None:
    figures = measure_filters(get_domain("legal"))
    assert {"legal-pii", "citations"} <= set(figures)
    assert figures["legal-pii"]["recall"] >= 0.95
    assert figures["citations"]["recall"] >= 0.95
    assert figures["citations"]["precision"] >= 0.95
