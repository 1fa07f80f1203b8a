"""The healthcare PHI filter and dose flag, on small real inputs and the labelled test set."""

from __future__ import annotations

import subprocess
import sys

from domaintune.plugins import collect, get_domain
from domaintune.safety.canaries import canary_check
from domaintune.safety.figures import read_testset
from domaintune.testing import module_fixture
from domaintune_healthcare import safety


phi = module_fixture(safety.phi_filter)
report = module_fixture(safety.evaluate_filter)


def test_safe_harbor_identifiers_become_typed_placeholders(phi) -> None:  # noqa: ANN001
    text = (
        "Patient: Doe, John  DOB: 03/14/1957  MRN: 00482913  SSN 123-45-6789. "
        "A 93-year-old man seen on March 3, 2023 at 55 Fruit Street, Boston, MA 02114. "
        "Call (617) 555-0143, fax 617-555-0199, e-mail jdoe@example.org, portal "
        "https://mychart.example.org/p/12, IP 10.2.33.4. Member ID: XJH123456789. "
        "Pacemaker serial number PZK-400123. VIN 1HGCM82633A004352. Dr. Alice Wong saw him."
    )
    outcome = phi.apply([text])
    masked = outcome.texts[0]
    for value in ("John", "03/14/1957", "00482913", "123-45-6789", "93", "March 3, 2023", "Fruit Street",
                  "02114", "555-0143", "555-0199", "jdoe@", "mychart", "10.2.33.4", "XJH123456789",
                  "PZK-400123", "1HGCM82633A004352", "Alice Wong"):
        assert value not in masked, value
    for placeholder in ("[NAME]", "[DATE]", "[MRN]", "[SSN]", "[AGE]", "[ADDRESS]", "[ZIP]", "[PHONE]", "[FAX]",
                        "[EMAIL]", "[URL]", "[IP_ADDRESS]", "[HEALTH_PLAN]", "[DEVICE_ID]", "[VEHICLE_ID]"):
        assert placeholder in masked, placeholder
    assert "MRN: [MRN]" in masked  # the label stays readable
    assert outcome.blocked == [False]
    assert outcome.counts["DATE"] == 2 and outcome.counts["NAME"] == 2


def test_clinical_content_is_kept(phi) -> None:  # noqa: ANN001
    texts = [
        "Parkinson's disease and Crohn's disease; Kaplan-Meier curves; Fisher's exact test.",
        "Metformin 500 mg twice daily since 2018; pain 7/10; BP 120/80; a 67-year-old man.",
        "Glasgow Coma Scale 14; HbA1c 8.1%; creatinine 1.4 mg/dL; 1,204 patients in 12 centres.",
    ]
    assert phi.apply(texts).texts == texts


def test_filter_is_batched_deterministic_and_idempotent(phi) -> None:  # noqa: ANN001
    texts = [row["text"] for row in read_testset(safety.TESTSET)][:80]
    once = phi.apply(texts)
    assert len(once.texts) == len(texts) and len(once.blocked) == len(texts)
    assert phi.apply(texts).texts == once.texts
    assert phi.apply(once.texts).texts == once.texts
    assert phi.apply(once.texts).counts == {}


def test_structured_identifiers_reach_the_recall_target(report: dict) -> None:
    assert report["snippets"] >= 200
    for kind in safety.STRUCTURED_KINDS:
        assert report["types"][kind]["recall"] >= 0.98, (kind, report["types"][kind])
    assert report["structured_recall"] >= 0.98
    assert report["recall"] >= 0.95
    assert report["precision"] >= 0.95


def test_every_safe_harbor_type_is_in_the_test_set(report: dict) -> None:
    assert set(safety.PHI_KINDS) <= {kind for kind, row in report["types"].items() if row["support"]}


def test_dose_flags(report: dict) -> None:
    assert report["dose_flags"]["recall"] >= 0.95 and report["dose_flags"]["precision"] >= 0.9
    outcome = safety.dose_filter().apply(["Take 400 mg every 6 hours.", "Glucose 180 mg/dL is high.", "Yes."])
    assert outcome.blocked == [True, False, False]
    assert outcome.counts == {"dose": 1}


def test_canaries_planted_before_the_filter_do_not_survive(phi) -> None:  # noqa: ANN001
    texts = [row["text"] for row in read_testset(safety.TESTSET)][:60]
    result = canary_check([phi], texts, kinds=get_domain("healthcare").canary_kinds, count=40, seed=3)
    assert result["planted"] == 40
    assert result["leaked_values"] == []


def test_hooks_return_the_filters() -> None:
    domain = get_domain("healthcare")
    assert [f.name for f in collect("make_data_filters", domain=domain)] == ["phi"]
    assert [f.name for f in collect("make_output_filters", domain=domain)] == ["phi", "dose"]


def test_plugin_import_loads_no_presidio_or_spacy() -> None:
    code = (
        "import sys, domaintune_healthcare.plugin, domaintune_healthcare.safety\n"
        "heavy = [m for m in ('presidio_analyzer', 'spacy', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_identifiers_split_across_a_line_break_are_masked(phi) -> None:  # noqa: ANN001
    # Issue 15: a narrow form or a fax breaks values after a hyphen or at the @ (0 of 4 masked).
    texts = [
        "Facesheet: SSN 412-67-\n3390 verified.",
        "Wristband: MRN KT-\n550218, bed 4.",
        "Reply to marguerite.oyelaran@\nexample.net today.",
        "Or write to k.tan\n@example.org instead.",
    ]
    assert phi.apply(texts).texts == [
        "Facesheet: SSN [SSN] verified.",
        "Wristband: MRN [MRN], bed 4.",
        "Reply to [EMAIL] today.",
        "Or write to [EMAIL] instead.",
    ]


def test_compact_dates_prefixed_ids_capital_names_and_cities_are_masked(phi) -> None:  # noqa: ANN001
    # Issue 15's other misses: 20210320, "Pt ID#PX-778812", "nurse KEVIN O'BRIEN", a city.
    texts = [
        "Specimen collected 20210320; culture pending.",
        "Pt ID#PX-778812 registered at triage.",
        "Meds given by nurse KEVIN O'BRIEN at 09:00; per dr PARK, hold heparin.",
        "Patient lives alone in Worcester and moved from Fresno to Dayton in 2019.",
        "Transferred from Bakersfield, CA for a higher level of care.",
    ]
    assert phi.apply(texts).texts == [
        "Specimen collected [DATE]; culture pending.",
        "Pt ID#[MRN] registered at triage.",
        "Meds given by nurse [NAME] at 09:00; per dr [NAME], hold heparin.",
        "Patient lives alone in [ADDRESS] and moved from [ADDRESS] to [ADDRESS] in 2019.",
        "Transferred from [ADDRESS], CA for a higher level of care.",
    ]


def test_states_institutions_credentials_and_years_stay(phi) -> None:  # noqa: ANN001
    texts = [
        "She moved to Florida in 2019; enrolled in NCT03548935; ICD-10 E11.9 since 2015.",
        "Transferred from Memorial Hospital to the ICU; seen by nurse RN on call.",
        "Ins: Aetna, ID is on the card. The study ran in the United States from 2015 to 2019.",
        "Data were analysed with SPSS version 16 (SPSS Inc., Chicago, IL).",
    ]
    assert phi.apply(texts).texts == texts
