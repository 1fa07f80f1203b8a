"""The legal filters: privilege exclusion, personal-data masking, and the citation check."""

from __future__ import annotations

from domaintune.plugins import collect, get_domain
from domaintune.safety.canaries import canary_check
from domaintune.safety.figures import read_testset
from domaintune.testing import module_fixture
from domaintune_legal import safety


pii = module_fixture(safety.pii_filter)
report = module_fixture(safety.evaluate_filter)


def test_privileged_rows_are_blocked_and_counted() -> None:
    outcome = safety.privilege_filter().apply([
        "ATTORNEY-CLIENT PRIVILEGED: settlement memo.", "This draft is attorney work product.",
        "Privileged & Confidential", "The court reversed.",
    ])
    assert outcome.blocked == [True, True, True, False]
    assert outcome.counts == {"privileged": 3}


def test_private_persons_are_masked_and_legal_names_kept(pii) -> None:  # noqa: ANN001
    text = (
        "Plaintiff Rosa Delgado, of 1180 Ridgeview Dr, Boise, ID 83702 (rdelgado@example.com, "
        "208-555-0144, SSN 401-55-7812), sued Walmart Inc. in the Ninth Circuit under 42 U.S.C. § 1983. "
        "See Palsgraf v. Long Island R.R. Co., 248 N.Y. 339 (1928); Judge Easterbrook dissented."
    )
    masked = pii.apply([text]).texts[0]
    for value in ("Rosa Delgado", "Ridgeview", "83702", "rdelgado", "555-0144", "401-55-7812"):
        assert value not in masked, value
    for kept in ("Walmart Inc.", "Ninth Circuit", "42 U.S.C. § 1983", "Palsgraf v. Long Island R.R. Co., 248 N.Y. 339",
                 "Judge Easterbrook"):
        assert kept in masked, kept


def test_legalbench_sentences_pass_unchanged(pii) -> None:  # noqa: ANN001
    texts = [
        "we overrule burke v. o'brien to the extent it conflicts.",
        "In Smith v. Jones, 123 F.3d 456 (9th Cir. 1999), the court held otherwise; Smith controls here.",
    ]
    assert pii.apply(texts).texts == texts


def test_masking_figures(report: dict, pii) -> None:  # noqa: ANN001
    assert report["recall"] >= 0.95
    assert report["public_fp_rate"] <= 0.01
    texts = [row["text"] for row in read_testset(safety.TESTSET)]
    once = pii.apply(texts).texts
    assert pii.apply(once).texts == once


def test_citation_figures(report: dict) -> None:
    citations = report["citations"]
    assert citations["snippets"] >= 100
    assert citations["recall"] >= 0.95 and citations["precision"] >= 0.95
    assert citations["flag_rate_by_label"]["real"] <= 0.02


def test_citation_filter_checks_against_the_prompt_and_the_known_list() -> None:
    check = safety.citation_filter(["Terry v. Ohio, 392 U.S. 1 (1968)"])
    prompt = "Does Miranda v. Arizona, 384 U.S. 436 (1966) apply?"
    answers = [
        "Yes: Miranda v. Arizona, 384 U.S. 436 (1966), and Miranda, 384 U.S. at 444.",  # in the prompt
        "See Terry v. Ohio, 392 U.S. 1 (1968).",  # in the known list
        "See Miranda v. Arizona, 384 U.S. 463 (1966).",  # altered page
        "See Miranda v. Arizona, 384 U.S. 436 (1971).",  # altered year
        "See Henderson v. Marlowe Industries, 612 F.3d 1184 (9th Cir. 2011).",  # invented
        "No authority needed.",
    ]
    outcome = check.apply(answers, context=[prompt] * len(answers))
    assert outcome.blocked == [False, False, True, True, True, False]
    assert outcome.counts == {"citations": 6, "unsupported_citation": 3}
    # Without the prompt, only the known list supports a citation.
    assert check.apply(answers[:2]).blocked == [True, False]


def test_canaries_do_not_survive(pii) -> None:  # noqa: ANN001
    texts = [row["text"] for row in read_testset(safety.TESTSET)][:60]
    assert canary_check([safety.privilege_filter(), pii], texts, kinds=get_domain("legal").canary_kinds, count=30)["leaked"] == 0


def test_hooks_return_the_filters() -> None:
    domain = get_domain("legal")
    assert [f.name for f in collect("make_data_filters", domain=domain)] == ["privilege", "legal-pii"]
    assert [f.name for f in collect("make_output_filters", domain=domain)] == ["citations"]
