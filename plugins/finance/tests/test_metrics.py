"""TAT-QA exact match and F1 with numbers normalized, overall and by answer type."""

from __future__ import annotations

import json

import pytest
from domaintune.testing import domain_metrics, get_domain
from domaintune_finance.metrics import (
    answer_keys,
    parse_number,
    tatqa_em_f1,
    tatqa_exact_match,
    tatqa_f1,
    tatqa_scores_by_answer_type,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,452.4", (1452.4, "")),
        ("$  1,036.9", (1036.9, "")),
        ("-10309.5 thousand", (-10309.5, "thousand")),
        ("(223)", (-223.0, "")),
        ("$(9.8) million", (-9.8, "million")),
        ("-$5,410", (-5410.0, "")),
        ("16.03%", (16.03, "percent")),
        ("13.2 percent", (13.2, "percent")),
        ("2 billion", (2.0, "billion")),
        (".5", (0.5, "")),
    ],
)
def test_numbers_are_parsed_with_sign_grouping_percent_and_scale(text: str, value: tuple) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["2019, 2018", "(223", "fixed-price type", "12 34", "1,23"])
def test_text_is_not_a_number(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("153,391 thousand", "153391 thousand"),
        ("$153391 thousand", "153391 thousand"),
        ("153391000", "153391 thousand"),  # by value: the scale may be spelled out
        ("(12.6) million", "-12.6 million"),
        ("-22.22 %", "-22.22%"),
        ("0.2222", "22.22%"),
        ("2018; 2019", "2019; 2018"),  # spans in any order
        ("73,260 thousand; 57,768 thousand", "73,260; 57,768 thousand"),  # a shared scale
        ("$13 thousand; 23 thousand", "$13; 23 thousand"),
        ("The fixed-price type", "fixed-price type"),
    ],
)
def test_equal_answers_match_exactly(prediction: str, reference: str) -> None:
    assert tatqa_em_f1(prediction, reference) == (1.0, 1.0)


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("153391", "153391 thousand"),  # the scale is part of the answer
        ("22.22", "22.22%"),
        ("153.39 million", "153391 thousand"),  # rounded to 2 decimals before scaling
        ("2019", "2019; 2018"),
        ("12.6 million", "-12.6 million"),
    ],
)
def test_different_answers_do_not_match(prediction: str, reference: str) -> None:
    assert tatqa_em_f1(prediction, reference)[0] == 0.0


def test_f1_is_word_overlap_for_spans_and_exact_match_for_numbers() -> None:
    # Word sets {fixed, price} vs {fixed, price, type}: P 1, R 2/3.
    assert tatqa_em_f1("fixed price", "fixed price type") == (0.0, 0.8)
    assert tatqa_em_f1("2019", "2019; 2018") == (0.0, 0.67)  # rounded as TAT-QA does
    assert tatqa_em_f1("5 segments", "5", answer_type="count") == (0.0, 0.0)
    assert tatqa_em_f1("5 segments", "5") == (0.0, 0.0)  # one number: treated as arithmetic
    assert tatqa_em_f1("5 segments", "5", answer_type="span") == (0.0, 0.67)


def test_meta_scale_applies_when_the_reference_text_has_none() -> None:
    assert tatqa_em_f1("23,363 thousand", "23,363", scale="thousand") == (1.0, 1.0)
    assert answer_keys("13.2", scale="percent") == ["0.1320"]


def test_mean_scores_and_breakdown_by_answer_type() -> None:
    predictions = ["153391 thousand", "2018", "fixed price", "3"]
    references = ["153391 thousand", "2019; 2018", "fixed price type", "4"]
    types = ["arithmetic", "multi-span", "span", "count"]
    assert tatqa_exact_match(predictions, references) == 0.25
    assert tatqa_f1(predictions, references) == pytest.approx((1 + 0.67 + 0.8 + 0) / 4)
    by_type = tatqa_scores_by_answer_type(predictions, references, types)
    assert by_type["arithmetic"] == {"exact_match": 1.0, "f1": 1.0, "rows": 1.0}
    assert by_type["multi-span"] == {"exact_match": 0.0, "f1": 0.67, "rows": 1.0}
    assert by_type["count"] == {"exact_match": 0.0, "f1": 0.0, "rows": 1.0}
    assert by_type["all"]["exact_match"] == 0.25 and by_type["all"]["rows"] == 4.0
    assert tatqa_exact_match([], []) == 0.0


def test_every_bundled_reference_matches_itself_and_its_raw_answer() -> None:
    domain = get_domain("finance")
    for path in (domain.train_data, domain.eval_data):
        for line in path.read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            row = json.loads(line)
            meta = row["meta"]
            assert tatqa_em_f1(row["completion"], row["completion"], meta["answer_type"]) == (1.0, 1.0)
            # The raw answer spans with the scale apart (meta.scale), as TAT-QA stores them.
            spans = meta["answer"] if isinstance(meta["answer"], list) else [meta["answer"]]
            if all(parse_number(str(span)) or not meta["scale"] for span in spans):
                raw = "; ".join(str(span) for span in reversed(spans))
                assert answer_keys(raw, meta["scale"]) == answer_keys(row["completion"]), row["completion"]


def test_domains_get_the_metrics_they_are_judged_by() -> None:
    assert [m.name for m in domain_metrics(get_domain("finance"))] == [
        "tatqa_exact_match", "tatqa_f1", "exact_match", "token_f1",
    ]
    for name in ("finance-sentiment", "finance-fomc"):
        assert [m.name for m in domain_metrics(get_domain(name))] == ["accuracy", "macro_f1"]
