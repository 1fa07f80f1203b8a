"""The financial PII filter and advice flag, on small real inputs and the labelled test set."""

from __future__ import annotations

from domaintune.plugins import collect, get_domain
from domaintune.safety.canaries import canary_check
from domaintune.safety.figures import read_testset
from domaintune.testing import module_fixture
from domaintune_finance import safety


pii = module_fixture(safety.pii_filter)
report = module_fixture(safety.evaluate_filter)


def test_valid_identifiers_are_masked(pii) -> None:  # noqa: ANN001
    text = (
        "Card 4111 1111 1111 1111, Mastercard 2221000000000009, IBAN DE89 3704 0044 0532 0130 00, "
        "routing number 021000021, account number 000123456789, SSN 536-22-8726, EIN 12-3456789, "
        "jane@example.com, (415) 555-0132."
    )
    masked = pii.apply([text]).texts[0]
    assert masked == (
        "Card [CARD_NUMBER], Mastercard [CARD_NUMBER], IBAN [IBAN], routing number [ROUTING_NUMBER], "
        "account number [BANK_ACCOUNT], SSN [SSN], EIN [TAX_ID], [EMAIL], [PHONE]."
    )


def test_checksum_failures_and_public_identifiers_are_kept(pii) -> None:  # noqa: ANN001
    texts = [
        "Card 4111 1111 1111 1112 fails Luhn; IBAN DE89 3704 0044 0532 0130 01 fails mod 97.",
        "Apple Inc. (NASDAQ: AAPL), ISIN US0378331005, CUSIP 037833100, CIK 0000320193.",
        "Revenue | $46,273 | 43,869 | (85,743) | 310566.5 thousand; 123456789 shares.",
    ]
    assert pii.apply(texts).texts == texts


def test_filter_is_deterministic_and_idempotent(pii) -> None:  # noqa: ANN001
    texts = [row["text"] for row in read_testset(safety.TESTSET)]
    once = pii.apply(texts)
    assert pii.apply(texts).texts == once.texts
    assert pii.apply(once.texts).texts == once.texts


def test_recall_on_checksummed_identifiers_and_public_false_positives(report: dict) -> None:
    assert report["snippets"] >= 200
    for kind in safety.CHECKSUMMED_KINDS:
        assert report["types"][kind]["recall"] >= 0.98, (kind, report["types"][kind])
    assert report["checksummed_recall"] >= 0.98
    assert report["structured_recall"] >= 0.98 and report["heldout"]["recall"] >= 0.95
    assert set(safety.PII_KINDS) == {kind for kind, row in report["types"].items() if row["support"]}
    assert report["public_identifiers"] >= 200
    assert report["public_fp_rate"] <= 0.01
    assert set(safety.PUBLIC_KINDS) == set(report["public"])
    assert report["recall"] >= 0.95


def test_advice_flags(report: dict) -> None:
    assert report["advice_flags"]["recall"] >= 0.95 and report["advice_flags"]["precision"] >= 0.9
    outcome = safety.advice_filter().apply([
        "You should buy Tesla now.", "This fund guarantees a 12% return.",
        "Past performance does not guarantee future returns.", "Net income was $4.2 million.",
    ])
    assert outcome.blocked == [True, True, False, False]


def test_canaries_do_not_survive(pii) -> None:  # noqa: ANN001
    texts = [row["text"] for row in read_testset(safety.TESTSET)][:60]
    assert canary_check([pii], texts, kinds=get_domain("finance").canary_kinds, count=40, seed=5)["leaked"] == 0


def test_hooks_return_the_filters() -> None:
    domain = get_domain("finance")
    assert [f.name for f in collect("make_data_filters", domain=domain)] == ["financial-pii"]
    assert [f.name for f in collect("make_output_filters", domain=domain)] == ["financial-pii", "advice"]


def test_customer_record_identifiers_are_masked(pii) -> None:  # noqa: ANN001
    # Issue 15: customer records carry all of these, and the filter masked none of them.
    texts = [
        "Card on file 4539 1488 0343\n6467, please update.",
        "Card 4111 1111 1111 1111 exp 11/27, CVV 813; security code: 4471.",
        "Account holder Tobias Wendt called; Ms. Kowalczyk asked about her bill.",
        "Mailing address: 3307 Birchwood Court, Ann Arbor, MI 48104.",
        "Customer DOB 02/29/1988; date of birth: July 9, 1979.",
        "Driver's license S530-4417-2290 matched; DL# D1234567 on file.",
    ]
    assert pii.apply(texts).texts == [
        "Card on file [CARD_NUMBER], please update.",
        "Card [CARD_NUMBER] exp 11/27, CVV [CVV]; security code: [CVV].",
        "Account holder [NAME] called; Ms. [NAME] asked about her bill.",
        "Mailing address: [ADDRESS], MI [ZIP].",
        "Customer DOB [DATE]; date of birth: [DATE].",
        "Driver's license [DRIVER_LICENSE] matched; DL# [DRIVER_LICENSE] on file.",
    ]


def test_companies_years_and_transaction_dates_stay(pii) -> None:  # noqa: ANN001
    texts = [
        "Johnson & Johnson and Goldman Sachs Group, Inc. reported results; Procter & Gamble Co. did too.",
        "SSN: on file  DOB: 1975  Employer: Berkshire Hathaway Inc.",
        "The card was used on 2024-03-14 for $49.99; the CVV is on the back.",
    ]
    assert pii.apply(texts).texts == texts


def test_names_in_filings_without_a_customer_identifier_stay(pii) -> None:  # noqa: ANN001
    # Segment and product names spaCy takes for people, and officers named in a filing, are
    # what the task asks about; a customer's name comes with a title, a label or an identifier.
    texts = [
        "Intelligent Cloud revenue grew 21%; Customer Support Revenues were $5,120.",
        "Nicholas Wilkinson, Chairman Emeritus, signed the report for Willis Towers Watson.",
    ]
    assert pii.apply(texts).texts == texts
    assert pii.apply(["Nicholas Wilkinson, card 4111 1111 1111 1111."]).texts == ["[NAME], card [CARD_NUMBER]."]
