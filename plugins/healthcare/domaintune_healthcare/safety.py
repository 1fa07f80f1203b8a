"""PHI filters for healthcare text: the HIPAA Safe Harbor identifiers, and dose flags.

Training data: Microsoft Presidio's analyzer (spaCy ``en_core_web_sm`` for names, Presidio's
e-mail, phone, SSN, IP, card, NPI, MBI and DEA recognizers) plus recognizers of ours for what
Presidio lacks or over-matches: medical record, health plan, account, licence, device and
vehicle numbers after their label, dates in clinical formats, ZIP codes, street addresses,
ages over 89, fax numbers. Presidio's anonymizer puts typed placeholders in: ``[NAME]``,
``[DATE]``, ``[MRN]``...

Importing this module is cheap; Presidio and spaCy load when :func:`phi_masker` is first
called, once per process.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from domaintune import SafetyFilter
from domaintune.kit import (
    PERSON_WORD,
    STREET_ADDRESS,
    US_STATES,
    PiiMasker,
    Span,
    evaluate_flags,
    flagging_filter,
    labelled,
    masker_filter,
    masking_report,
    merge_names,
    name_shape_spans,
    read_testset,
    safety_testsets,
)

TESTSET, HELDOUT, OUTPUT_TESTSET = safety_testsets(__file__)

PHI_KINDS = (
    "NAME", "ADDRESS", "ZIP", "DATE", "AGE", "PHONE", "FAX", "EMAIL", "SSN", "MRN", "HEALTH_PLAN",
    "ACCOUNT", "LICENSE", "DEVICE_ID", "VEHICLE_ID", "URL", "IP_ADDRESS",
)
STRUCTURED_KINDS = ("SSN", "PHONE", "FAX", "EMAIL", "MRN", "DATE")
"""The identifiers whose recall must be at least 0.98 (issue 6)."""

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?"
    r"|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|SEPT|OCT|NOV|DEC)"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MON = r"(?:0?[1-9]|1[0-2])"
_YEAR = r"(?:19|20)\d{2}"
_ORD = r"(?:st|nd|rd|th)?"
# Safe Harbor: every element of a date except the year is an identifier, so "March 2019" and
# "03/14" go, "2019" stays. Month names are matched case-sensitively ("may" is a verb).
DATE_PATTERNS = [
    (rf"\b{_MON}/{_DAY}/(?:{_YEAR}|\d{{2}})\b", 0.9),
    (rf"\b{_DAY}/{_MON}/(?:{_YEAR}|\d{{2}})\b", 0.85),
    (rf"\b{_MON}-{_DAY}-(?:{_YEAR}|\d{{2}})\b", 0.9),
    (rf"\b{_DAY}\.{_MON}\.{_YEAR}\b", 0.85),
    (rf"\b{_YEAR}[-/.](?:0[1-9]|1[0-2])[-/.](?:0[1-9]|[12]\d|3[01])(?:[T ][0-2]\d:[0-5]\d(?::[0-5]\d)?)?\b", 0.9),
    (rf"\b(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?\s+)?{_MONTH}\.?\s+{_DAY}{_ORD}(?:,?\s+{_YEAR})?\b", 0.85),
    (rf"\b{_DAY}{_ORD}\s+(?:of\s+)?{_MONTH}\.?,?(?:\s+{_YEAR})?\b", 0.85),
    (rf"\b{_DAY}-{_MONTH}-(?:{_YEAR}|\d{{2}})\b", 0.9),
    (rf"\b{_MONTH}\.?,?\s+(?:of\s+)?{_YEAR}\b", 0.8),
    (rf"\b{_MON}/{_YEAR}\b", 0.8),
    (rf"\b(?:Christmas(?: Eve| Day)?|New Year's(?: Eve| Day)?|Thanksgiving(?: Day)?|Easter(?: Sunday)?|Independence Day|Halloween|Valentine's Day|Memorial Day|Labor Day)(?:,?\s+{_YEAR})?\b", 0.7),
    (rf"\b(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?\s+(?:the\s+)?{_DAY}(?:st|nd|rd|th)\b", 0.7),
    # A compact date (20210320), as lab systems and exports write them: a valid year, month and day.
    (rf"(?<![\d.-]){_YEAR}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?![\d-])", 0.5),
    # A bare month/day only after a word that makes it a date, not a score ("pain 7/10").
    (rf"(?:\b(?:on|since|from|until|till|dated|DOB|DOS|admitted|discharged|seen|born|visit)\b:?\s+)(?P<id>{_MON}/{_DAY})\b(?!/)", 0.8),
]

_NINETIES = r"(?:9\d|1[01]\d|ninety(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?|one hundred(?: and \w+)?)"
AGE_PATTERNS = [
    (rf"(?<![\d.,±])\b(?P<id>{_NINETIES})(?:\s*|-)(?:years?|yrs?|y/?o\b|y\.o\.|year-old|-year-old|yo\b)", 0.85),
    (rf"\b(?:aged?|age:|age of)\s+(?P<id>{_NINETIES})\b", 0.85),
    (rf"(?<![\d.,±-])\b(?P<id>{_NINETIES})\s*(?-i:M|F)\b(?=[\s,.;])", 0.5),
    # "Robert Taylor, 93, lives alone": an age after a name, between commas.
    (rf"(?<=\b[A-Z][a-z]+,\s)(?P<id>{_NINETIES}),", 0.5),
]

_ID = r"(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{3,24}[A-Z0-9]"
MRN_LABELS = [
    r"MRN", r"MR\s?#", r"MR\s?No\.?", r"medical\s+record(?:\s+(?:number|no\.?|num|#))?",
    r"med(?:ical)?\s+rec\.?(?:\s+(?:no\.?|#))?", r"chart\s+(?:number|no\.?|#)", r"chart",
    r"patient\s+(?:ID|identifier|number|no\.?)", r"pt\.?\s+(?:ID|identifier|number|no\.?)",
    r"hospital\s+(?:number|no\.?|ID)", r"unit\s+number",
    r"record\s+(?:number|no\.?|#)",
]
HEALTH_PLAN_LABELS = [
    r"member\s+(?:ID|number|no\.?|#)", r"member", r"subscriber\s+(?:ID|number|no\.?|#)",
    r"policy\s+(?:number|no\.?|#|ID)", r"group\s+(?:number|no\.?|#)", r"plan\s+(?:ID|number|no\.?)",
    r"insurance\s+(?:ID|number|no\.?|#)", r"(?:medicaid|medicare|medi-cal)\s+(?:ID|number|no\.?|#)",
    r"beneficiary\s+(?:ID|number|no\.?)", r"health\s+plan\s+(?:ID|number|no\.?|beneficiary\s+number)",
    r"MBI", r"HICN", r"insurance\s+card", r"grp", r"group", r"medicaid", r"medicare", r"medi-cal",
]
ACCOUNT_LABELS = [
    r"account\s+(?:number|no\.?|#)", r"account", r"acct\.?(?:\s+(?:number|no\.?|#))?",
    r"billing\s+(?:number|no\.?|#|ID)", r"invoice\s+(?:number|no\.?|#)", r"claim\s+(?:number|no\.?|#)",
    r"encounter\s+(?:number|no\.?|#|ID)", r"visit\s+(?:number|no\.?|#)",
]
LICENSE_LABELS = [
    r"licen[cs]e\s+(?:number|no\.?|#)", r"licen[cs]e", r"DEA(?:\s+(?:number|no\.?|#|registration))?",
    r"NPI", r"driver'?s\s+licen[cs]e(?:\s+(?:number|no\.?|#))?", r"DL\s?#?", r"certificate\s+(?:number|no\.?|#)",
    r"certification\s+(?:number|no\.?|#)", r"registration\s+(?:number|no\.?|#)", r"passport(?:\s+(?:number|no\.?|#))?",
]
DEVICE_LABELS = [
    r"serial\s+(?:number|no\.?|#)", r"serial", r"S/N", r"SN", r"device\s+(?:ID|identifier|serial)",
    r"UDI", r"IMEI", r"implant\s+(?:ID|serial)", r"pump\s+(?:ID|serial)", r"pacemaker\s+(?:ID|serial)",
]
VEHICLE_LABELS = [
    r"VIN", r"vehicle\s+identification\s+(?:number|no\.?)", r"licen[cs]e\s+plate(?:\s+(?:number|no\.?|#))?",
    r"plate\s+(?:number|no\.?|#)", r"plate", r"tag\s+(?:number|no\.?|#)",
]
_UDI = r"(?:\(\d{2}\)[A-Z0-9]+){2,}|(?=[A-Z0-9./-]*\d)[A-Z0-9][A-Z0-9./-]{3,40}[A-Z0-9]"
_PLATE = r"(?-i:[A-Z0-9]{1,4}[ -]\d{2,5}|(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{3,8})"

_CITY = r"(?:[A-Z][a-z]+(?:[ -][A-Z][a-z]+)?)"
_STATE_CODES = "|".join(code for code in US_STATES.split("|") if len(code) == 2 and code != "ID")
"""State codes a city may stand before; not Idaho's, which reads as the label "ID"."""
CITY_PATTERNS = [
    # Safe Harbor: every place smaller than a state is an identifier. A city is told by what
    # surrounds it: a verb of living or moving, or the state code after it.
    (rf"\b(?i:lives|living|lived|resides|residing|reside|moved|relocated|transferred|grew up|born|home|visiting)"
     rf"(?:\s+(?:alone|here|now|nearby|back))?\s+(?:in|from|to|near|at|outside(?: of)?)\s+(?P<id>{_CITY})\b", 0.6),
    (rf"\bfrom\s+{_CITY}\s+to\s+(?P<id>{_CITY})\b", 0.6),
    # (not a company's seat, as methods sections cite software: "SPSS Inc., Chicago, IL")
    (rf"(?<!\b(?:Inc|Corp|Ltd|LLC|Co|Company|Corporation)\.?,\s)\b(?P<id>{_CITY}),\s(?:{_STATE_CODES})\b(?![\w#:-])", 0.5),
]
_TITLE = r"(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof|Nurse|RN|NP|PA)"
_CAPS_NAME = r"[A-Z](?:['’][A-Z])?[A-Z]+(?:-[A-Z]{2,})?"
"""A name word in capitals: KEVIN, O'BRIEN, AL-SAYED."""
_CAPS_NOT_NAMES = (
    r"(?:RN|NP|PA|MD|DO|BSN|MSN|APRN|CNA|LPN|ICU|ER|ED|OR|PACU|PRN|BID|TID|QID|QD|PO|IV|IM|SC|HR|BP|CT|MRI|EKG|ECG|"
    r"ID|NPI|DEA|MRN|DOB|SSN|ON|CALL|STAT|AM|PM|NOT|AND|THE|IS|WAS|TO)"
)
"""Capitalised words after a title that are not a name (credentials, units, abbreviations)."""
_NAME = PERSON_WORD
_RELATION = (
    r"(?:wife|husband|son|daughter|grandson|granddaughter|grandmother|grandfather|brother|sister|"
    r"mother|father|niece|nephew|aunt|uncle|friend|partner|fianc[eé]e?|neighbou?r|caregiver|proxy)"
)
NAME_PATTERNS = [
    (rf"\b(?i:{_RELATION})(?:'s)?,?\s+(?P<id>{_NAME}(?:\s+{_NAME})?)", 0.8),
    (rf"\b{_TITLE}\.?\s+(?P<id>(?:[A-Z]\.\s?)?{_NAME}(?:\s+{_NAME})?)", 0.85),
    (rf"\b(?:patient|pt|name|patient name|guarantor|contact|signed|seen by|attending|PCP)\s*:\s*(?P<id>{_NAME},?\s+{_NAME}(?:\s+[A-Z]\.)?)", 0.85),
    (r"\b(?:patient|pt|name|patient name)\s*:\s*(?P<id>[A-Z]{2,}(?:,\s*|\s+)[A-Z]{2,})\b", 0.85),
    # A title in any case before a name in capitals ("nurse KEVIN O'BRIEN", "per dr PARK") or
    # a lower-case title before a capitalised one ("nurse Kevin O'Brien").
    (rf"\b(?i:{_TITLE}|nurse|doctor)\b\.?\s+(?P<id>(?:[A-Z]\.\s?)?(?!{_CAPS_NOT_NAMES}\b){_CAPS_NAME}(?:\s+(?!{_CAPS_NOT_NAMES}\b){_CAPS_NAME}){{0,2}})\b", 0.85),
    (rf"\b(?:nurse|doctor|dr)\.?\s+(?P<id>(?:[A-Z]\.\s?)?{_NAME}(?:\s+{_NAME})?)", 0.85),
]
# spaCy tags eponyms, scales and tests as people; these words alone are never a patient's name.
EPONYMS = frozenset("""
addison alzheimer apgar asperger barthel bell billroth bland altman bonferroni breslow
broca burkitt charcot charlson clark cochrane cohen cox crohn cushing danlos doppler down
duchenne dunn ehlers elixhauser epstein barr fisher friedman gleason glasgow graves guillain
barre hartmann hashimoto hodgkin holter hosmer lemeshow huntington kaplan meier kappa
karnofsky kawasaki klinefelter kocher kruskal wallis likert mann whitney marfan mcnemar
medline meniere nissen pap parkinson pearson pfannenstiel raynaud reiter roux sjogren
sjögren spearman student tukey tourette trendelenburg turner valsalva wernicke korsakoff
whipple wilcoxon wilms wilson wolff parkinson-white wald welch levene shapiro wilk scheffe
dunnett bayes poisson gaussian markov monte carlo cronbach bland-altman mallory weiss
barrett bowen paget kaposi merkel hurthle ewing wilms kupffer langerhans purkinje schwann
hirschsprung meckel zenker colles smith barton galeazzi monteggia jones salter harris
""".split())
_EPONYM_FOLLOWER = re.compile(r"^(?:'s|’s|s')?\s*(?:disease|syndrome|sign|test|score|scale|criteria|index|classification|procedure|operation|fracture|tumou?r|lymphoma|sarcoma|method|analysis|correction|estimator|curve|plot|technique|maneuver|manoeuvre|position|stage|grade)\b|^-[A-Z]", re.IGNORECASE)
_NOT_A_CITY = re.compile(
    rf"^(?:{US_STATES}|America|United States|Canada|Mexico|Europe|Asia|Africa|"
    r"[A-Z][a-z]+\s(?:Hospital|Clinic|Center|Centre|Medical|Health|Home|House|Care|Hospice|University))$"
    r"|^(?:Hospital|Clinic|Hospice|Rehab|Emergency|Radiology|Cardiology|Surgery|Oncology|Pharmacy|Home|Room|Bed|Unit|Floor|Ward|Apt|Suite)\b"
)
"""What a city pattern may take that is no identifier: a state, a country, an institution."""
_FAX_BEFORE = re.compile(r"\bfax(?:\s*(?:number|no\.?|#))?\s*[:#]?\s*$", re.IGNORECASE)


def _refine(text: str, spans: list[Span], doc: Any) -> list[Span]:
    """Add "Last, First" names; drop eponyms, drug names and other words spaCy calls people;
    tell fax numbers from phone numbers. Kinds are Presidio's here (``PERSON`` is spaCy's,
    ``NAME`` our patterns')."""
    kept = []
    for span in merge_names(text, spans + name_shape_spans(text, doc), doc=doc):
        value = text[span.start:span.end]
        if span.kind in ("PERSON", "NAME"):
            words = value.replace("-", " ").split()
            if not words or any(ch.isdigit() for ch in value):
                continue
            if all(w.lower().strip(".,'’s") in EPONYMS for w in words if len(w) > 2):
                continue
            if _EPONYM_FOLLOWER.match(text[span.end:span.end + 30]):
                continue
            if span.kind == "PERSON" and len(value.split()) == 1:
                continue  # one word alone (a drug, a scale, "Email"): titles and labels catch surnames
        if span.kind == "ADDRESS" and _NOT_A_CITY.match(value):
            continue
        if span.kind == "PHONE_NUMBER" and _FAX_BEFORE.search(text[max(0, span.start - 20):span.start]):
            span = Span(span.start, span.end, "FAX", span.score)
        kept.append(span)
    return kept


def _recognizers() -> list[Any]:
    from domaintune.kit import (
        OBFUSCATED_EMAIL,
        email_recognizer,
        pattern_recognizer,
        ssn_shape_valid,
    )
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        IpRecognizer,
        MedicalLicenseRecognizer,
        PhoneRecognizer,
        SpacyRecognizer,
        UsMbiRecognizer,
        UsNpiRecognizer,
    )

    return [
        SpacyRecognizer(supported_entities=["PERSON"], ner_strength=0.7),
        pattern_recognizer("NAME", NAME_PATTERNS, case_sensitive=True),
        email_recognizer(),
        PhoneRecognizer(supported_regions=("US",), context=["phone", "tel", "call", "cell", "mobile", "fax", "contact", "pager"]),
        pattern_recognizer("SSN", [
            (r"\b\d{3}-\d{2}-\d{4}\b", 0.6),
            (r"\b\d{3} \d{2} \d{4}\b", 0.4),
            (r"\b\d{9}\b", 0.05),  # counts only beside "SSN" or "social security"
        ], context=["ssn", "social", "security", "ss#"], is_valid=ssn_shape_valid),
        pattern_recognizer("EMAIL", [(OBFUSCATED_EMAIL, 0.7)]),
        pattern_recognizer("MRN", [(labelled([r"ID\s?#", r"ID\s+(?:no\.?|number)", r"identifier"], _ID), 0.7)]),
        IpRecognizer(),
        CreditCardRecognizer(supported_entity="ACCOUNT"),
        UsNpiRecognizer(supported_entity="LICENSE"),
        MedicalLicenseRecognizer(supported_entity="LICENSE"),
        UsMbiRecognizer(supported_entity="HEALTH_PLAN"),
        pattern_recognizer("URL", [(r"\bhttps?://[^\s<>\"']+", 0.9), (r"\bwww\.[a-z0-9-]+\.[^\s<>\"']+", 0.85),
                                   (r"\b[a-z0-9-]+\.(?:com|org|net|gov|edu|health|info)/[^\s<>\"']*", 0.7)]),
        pattern_recognizer("DATE", DATE_PATTERNS, case_sensitive=True),
        pattern_recognizer("AGE", AGE_PATTERNS),
        pattern_recognizer("ZIP", [
            (rf"\b(?:{US_STATES}),?\s{{1,2}}(?P<id>\d{{5}}(?:-\d{{4}})?)\b", 0.9),
        ], case_sensitive=True),
        pattern_recognizer("ZIP", [(labelled([r"zip(?:\s?code)?", r"postal\s+code", r"zipcode"], r"\d{5}(?:-\d{4})?"), 0.9)]),
        pattern_recognizer("ADDRESS", [(STREET_ADDRESS, 0.85)], case_sensitive=True),
        pattern_recognizer("ADDRESS", CITY_PATTERNS, case_sensitive=True),
        pattern_recognizer("MRN", [(labelled(MRN_LABELS, _ID), 0.9)]),
        pattern_recognizer("HEALTH_PLAN", [(labelled(HEALTH_PLAN_LABELS, _ID), 0.9)]),
        pattern_recognizer("ACCOUNT", [(labelled(ACCOUNT_LABELS, _ID), 0.9)]),
        pattern_recognizer("LICENSE", [(labelled(LICENSE_LABELS, _ID), 0.9)]),
        pattern_recognizer("DEVICE_ID", [(labelled(DEVICE_LABELS, _UDI), 0.9)]),
        pattern_recognizer("VEHICLE_ID", [
            (labelled(VEHICLE_LABELS, _PLATE + r"|[A-HJ-NPR-Z0-9]{17}"), 0.9),
            (r"\b(?=[A-HJ-NPR-Z]*\d)(?=\d*[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{17}\b", 0.6),
        ]),
    ]


KINDS = {"PERSON": "NAME", "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "US_SSN": "SSN"}


@functools.cache
def phi_masker() -> Any:
    """The PHI masker, built once per process (spaCy load: about a second)."""
    return PiiMasker(
        _recognizers(),
        kinds=KINDS,
        thresholds={"SSN": 0.3, "NAME": 0.5, "HEALTH_PLAN": 0.5, "LICENSE": 0.5},
        refine=_refine,
    )


def phi_filter() -> SafetyFilter:
    """Masks the Safe Harbor identifiers in training text; blocks nothing."""
    return masker_filter("phi", phi_masker, TESTSET, "synthetic clinical snippets", structured_recall=STRUCTURED_KINDS)


# Output filter: doses ------------------------------------------------------------------------

_NUMBER = r"(?:\d+(?:[.,]\d+)?|one|two|three|four|five|six|half|a half|one-half)"
_UNIT = (
    r"(?:mg|mcg|µg|μg|micrograms?|milligrams?|grams?|g|mL|ml|cc|units?|IU|mEq|mmol|puffs?|"
    r"tablets?|tabs?|capsules?|caps?|pills?|drops?|sprays?|patch(?:es)?|teaspoons?|tsp|tablespoons?|ampoules?|vials?|sachets?|lozenges?)"
)
DOSE = re.compile(
    rf"\b{_NUMBER}(?:\s?(?:-|to|–)\s?{_NUMBER})?\s?{_UNIT}\b"
    r"(?!\s?/\s?(?:d[lL]|L|l|m[lL]|h[rp]f|m2|m²)\b)(?!\s?(?:per\s+)?(?:deciliter|liter|litre)\b)",
    re.IGNORECASE,
)
"""A stated amount of a drug: "500 mg", "2 tablets", "0.5 mg/kg", "10 units". Concentrations
(mg/dL, mmol/L) are lab values, not doses."""


def flag_doses(texts: list[str]) -> list[bool]:
    return [bool(DOSE.search(text)) for text in texts]


def dose_filter() -> SafetyFilter:
    """Flags answers that state a specific drug dose: those need a clinician's review."""
    return flagging_filter("dose", "dose", flag_doses, testset=OUTPUT_TESTSET)


# Figures -------------------------------------------------------------------------------------


def evaluate_filter(testset: Path | str | None = None) -> dict[str, Any]:
    """Per-type recall and precision of the PHI masker on the labelled clinical snippets,
    pooled recall on the structured identifiers, and dose-flag recall and precision."""
    report = masking_report(phi_masker().find, testset or TESTSET, HELDOUT, structured_recall=STRUCTURED_KINDS)
    report["dose_flags"] = evaluate_flags(flag_doses, read_testset(OUTPUT_TESTSET))
    return report


__all__ = [
    "DOSE", "PHI_KINDS", "STRUCTURED_KINDS", "dose_filter", "evaluate_filter",
    "flag_doses", "phi_filter", "phi_masker",
]
