"""Personal financial data filters, and flags on advice in generated answers.

Training data: Microsoft Presidio's analyzer with recognizers that validate what they find
(no bare regexes): payment cards (Luhn, Presidio's recognizer), IBANs (mod-97 and country
format: python-stdnum), ABA routing numbers (checksum: stdnum ``us.rtn``) and bank account
numbers after a label, SSNs (stdnum ``us.ssn``), tax ids (EIN and ITIN: stdnum), e-mail and
US phone numbers (Google's libphonenumber via Presidio). Customer records also carry names
(spaCy ``en_core_web_sm``, titles and labels such as "account holder"), street addresses
and ZIP codes, dates of birth, card security codes and driver's licence numbers after their
label. What is public and needed by the task is kept: tickers, ISINs and CUSIPs (checksums
from stdnum), CIKs, amounts, company names (spaCy's organisations are never a person).

Importing this module is cheap; Presidio and spaCy load when :func:`pii_masker` is first called.
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
    read_testset,
    safety_testsets,
)

TESTSET, HELDOUT, OUTPUT_TESTSET = safety_testsets(__file__)

PII_KINDS = (
    "CARD_NUMBER", "IBAN", "ROUTING_NUMBER", "BANK_ACCOUNT", "SSN", "TAX_ID", "EMAIL", "PHONE",
    "CVV", "NAME", "ADDRESS", "ZIP", "DATE", "DRIVER_LICENSE",
)
CHECKSUMMED_KINDS = ("CARD_NUMBER", "IBAN", "ROUTING_NUMBER")
"""The identifiers whose recall must be at least 0.98 (issue 7)."""
STRUCTURED_KINDS = (*CHECKSUMMED_KINDS, "BANK_ACCOUNT", "SSN", "TAX_ID", "EMAIL", "PHONE", "CVV", "ZIP", "DATE", "DRIVER_LICENSE")
"""Identifiers with a fixed shape (all but names and street addresses): recall at least 0.98 (issue 15)."""
PUBLIC_KINDS = ("TICKER", "ISIN", "CUSIP", "CIK", "AMOUNT", "COMPANY")


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _valid_rtn(value: str) -> bool:
    from stdnum.us import rtn

    return rtn.is_valid(_digits(value))


def _valid_ssn(value: str) -> bool:
    from domaintune.kit import ssn_shape_valid

    # The SSA's rules (no 000, 666 or 9xx area...). stdnum's ssn.is_valid also rejects
    # numbers known from advertising (219-09-9999); masking those too costs nothing.
    return ssn_shape_valid(value)


def _valid_tax_id(value: str) -> bool:
    from stdnum.us import ein, itin

    digits = _digits(value)
    return ein.is_valid(digits) or itin.is_valid(digits)


def _valid_iban(value: str) -> bool:
    from stdnum import iban

    return iban.is_valid(value.upper())


def _valid_card(value: str) -> bool:
    from stdnum import luhn

    digits = _digits(value)
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn.is_valid(digits)


# Public identifiers: a finding that overlaps one of these is dropped. ----------------------

_ISIN = re.compile(r"\b[A-Z]{2}[A-Z0-9]{9}\d\b")
_CUSIP = re.compile(r"\b[0-9A-Z]{8}\d\b")
_CUSIP_LABEL = re.compile(r"\b(?:CUSIP|ISIN|SEDOL|CIK|FIGI|LEI)\b[\s:#.]*$", re.IGNORECASE)
_AMOUNT = re.compile(
    r"(?:[$€£¥]|\b(?:USD|EUR|GBP|JPY|CHF|CAD)\s?)\(?\d[\d,]*(?:\.\d+)?\)?(?:\s?(?:million|billion|thousand|mn|bn|[mbk])\b)?"
    r"|\(\d{1,3}(?:,\d{3})+(?:\.\d+)?\)|\b\d{1,3}(?:,\d{3})+(?:\.\d+)?\b",
    re.IGNORECASE,
)
_TICKER = re.compile(r"\b(?:NYSE|NASDAQ|Nasdaq|AMEX|NYSE American|LSE|TSX|ticker(?: symbol)?)\s*:?\s*[A-Z]{1,5}(?:\.[A-Z])?\b|\$[A-Z]{1,5}\b")


def public_spans(text: str) -> list[tuple[int, int]]:
    """Where the public identifiers are: checksum-valid ISINs, CUSIPs (valid and labelled, or
    with letters), CIKs after their label, amounts, and tickers after an exchange name."""
    from stdnum import cusip, isin

    spans = [m.span() for m in _ISIN.finditer(text) if isin.is_valid(m.group())]
    for m in _CUSIP.finditer(text):
        value = m.group()
        labelled_ = bool(_CUSIP_LABEL.search(text[max(0, m.start() - 12):m.start()]))
        if cusip.is_valid(value) and (labelled_ or not value.isdigit()):
            spans.append(m.span())
    for m in re.finditer(r"\bCIK\b[\s:#]*(\d{6,10})\b", text):
        spans.append(m.span(1))
    spans += [m.span() for m in _AMOUNT.finditer(text)]
    spans += [m.span() for m in _TICKER.finditer(text)]
    return spans


STRONG = ("EMAIL", "IBAN_CODE", "CREDIT_CARD")
"""Findings whose own checksum or shape is proof enough to mask even beside an amount."""


def _organisations(doc: Any) -> list[tuple[int, int]]:
    return [(e.start_char, e.end_char) for e in getattr(doc, "ents", ()) if e.label_ in ("ORG", "PRODUCT", "NORP")]


def _refine(text: str, spans: list[Span], doc: Any) -> list[Span]:
    """Drop findings inside public identifiers, tell cards from IBAN digits, and keep names
    only where they are a customer's: not a company, not one word that no title backs, and
    after a title or beside another personal identifier."""
    public = public_spans(text)
    organisations = _organisations(doc)
    kept = []
    for span in merge_names(text, spans, doc=doc):
        if span.kind not in STRONG and any(span.start < e and s < span.end for s, e in public):
            continue
        value = text[span.start:span.end]
        if span.kind == "PHONE_NUMBER" and not value.startswith("+") and len(_digits(value)) < 10:
            continue  # "310566.5 thousand" in a table is not a local phone number
        if span.kind == "CREDIT_CARD" and re.search(r"\b[A-Z]{2}\d{2}\s?$", text[max(0, span.start - 6):span.start], re.IGNORECASE):
            continue  # the digits of an IBAN whose checksum failed, not a card
        if span.kind == "PERSON":
            if len(value.split()) == 1 or any(span.start < e and s < span.end for s, e in organisations):
                continue
            if any(ch.isdigit() for ch in value):
                continue
        kept.append(span)
    # A name is a customer's beside another personal identifier (a card, an account, an
    # address...) or after a title; alone in a filing or a news line it is an officer's, a
    # product's or a segment's ("Intelligent Cloud"), and the task needs those.
    in_record = any(span.kind not in ("PERSON", "NAME") for span in kept)
    return [span for span in kept if in_record or span.kind not in ("PERSON", "NAME") or _customer_named(text, span, doc)]


_TITLE_BEFORE = re.compile(r"\b(?:Mr|Mrs|Ms|Mx|Miss|Dr)\.?\s+$")


def _customer_named(text: str, span: Span, doc: Any) -> bool:
    """A name after a title or a label only a person has ("beneficiary: Jane Roe"), or one
    spaCy calls a person after "customer" or "client" ("Customer Support Revenues" is a segment)."""
    before = text[max(0, span.start - 40):span.start]
    if _TITLE_BEFORE.search(before) or _PERSON_LABEL_BEFORE.search(before):
        return True
    people = [(e.start_char, e.end_char) for e in getattr(doc, "ents", ()) if e.label_ == "PERSON"]
    return bool(_LABEL_BEFORE.search(before)) and any(span.start < e and s < span.end for s, e in people)


_ACCOUNT_ID = r"\d[\d -]{4,20}\d"
CVV_LABELS = [r"CVV2?", r"CVC2?", r"CID", r"CSC", r"security\s+code", r"card\s+verification\s+(?:value|code|number)"]
LICENCE_LABELS = [
    r"driver'?s?\s+licen[cs]e(?:\s+(?:number|no\.?|#))?", r"driving\s+licen[cs]e(?:\s+(?:number|no\.?|#))?",
    r"DL\s?#?", r"DLN", r"licen[cs]e\s+(?:number|no\.?|#)",
]
_LICENCE_ID = r"(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{4,18}[A-Z0-9]"
BIRTH_LABELS = [r"DOB", r"D\.O\.B\.?", r"date\s+of\s+birth", r"birth\s*date", r"born(?:\s+on)?"]
_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_BIRTH_DATE = (
    r"\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)?\d{2}|(?:19|20)\d{2}-\d{2}-\d{2}"
    rf"|{_MONTHS}\s+\d{{1,2}},?\s+(?:19|20)\d{{2}}|\d{{1,2}}\s+{_MONTHS}\s+(?:19|20)\d{{2}}"
)
"""A full date of birth (a year alone is no identifier: "DOB: 1975" stays)."""
_NAME_LABELS = (
    r"(?:account\s+holder|cardholder|card\s+holder|customer|client|beneficiary|payee|payer|"
    r"applicant|borrower|co-signer|guarantor|name|account\s+name)"
)
_LABEL_BEFORE = re.compile(rf"\b(?i:{_NAME_LABELS})\b:?\s+$")
_PERSON_LABEL_BEFORE = re.compile(
    r"\b(?i:account\s+holder|card\s?holder|beneficiary|payee|payer|applicant|borrower|co-signer|guarantor)\b:?\s+$"
)
"""Labels that only a person follows ("customer" and "client" also start segment names)."""
NAME_PATTERNS = [
    (rf"\b(?:Mr|Mrs|Ms|Mx|Miss|Dr)\.?\s+(?P<id>(?:[A-Z]\.\s?)?{PERSON_WORD}(?:\s+{PERSON_WORD})?)", 0.85),
    (rf"\b(?i:{_NAME_LABELS})\b:?\s+(?P<id>{PERSON_WORD}\s+(?:[A-Z]\.\s)?{PERSON_WORD})\b", 0.6),
]
"""A name after a title, or two name words after a label of a person ("account holder
Jane Roe"); a label before a company name is left to the company check."""


def _recognizers() -> list[Any]:
    from domaintune.kit import email_recognizer, pattern_recognizer
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        IbanRecognizer,
        PhoneRecognizer,
        SpacyRecognizer,
    )

    account_labels = [
        r"(?:bank|checking|savings|deposit|brokerage|chequing)?\s*account(?:\s+(?:number|no\.?|#))?",
        r"acct\.?(?:\s+(?:number|no\.?|#))?", r"a/c", r"checking", r"savings",
    ]
    return [
        CreditCardRecognizer(),
        # Presidio's card pattern misses the Mastercard 2-series (2221-2720): Luhn via stdnum.
        pattern_recognizer("CREDIT_CARD", [(r"\b[2-6]\d{3}(?:[ -]?\d){9,15}\b", 0.5)], is_valid=_valid_card),
        IbanRecognizer(),
        pattern_recognizer("IBAN_CODE", [(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b", 0.5)],
                           is_valid=_valid_iban),
        pattern_recognizer("ROUTING_NUMBER", [
            (labelled([r"routing(?:\s*/\s*transit)?(?:\s+(?:transit\s+)?(?:number|no\.?|#))?", r"ABA(?:\s+(?:routing\s+)?(?:number|no\.?|#))?",
                       r"RTN", r"transit\s+(?:number|no\.?)"], r"\d{9}|\d{4}-\d{4}-\d"), 0.9),
            (r"\b\d{9}\b", 0.05),
        ], context=["routing", "aba", "rtn", "transit", "bank"], is_valid=_valid_rtn),
        pattern_recognizer("BANK_ACCOUNT", [(labelled(account_labels, _ACCOUNT_ID), 0.8)]),
        pattern_recognizer("SSN", [
            (r"\b\d{3}-\d{2}-\d{4}\b", 0.6),
            (r"\b\d{3} \d{2} \d{4}\b", 0.4),
            (labelled([r"SSN", r"SS#", r"social\s+security(?:\s+(?:number|no\.?|#))?"], r"\d{9}"), 0.8),
        ], context=["ssn", "social", "security"], is_valid=_valid_ssn),
        pattern_recognizer("TAX_ID", [
            (r"\b\d{2}-\d{7}\b", 0.5),
            (r"\b9\d{2}-[5-9]\d-\d{4}\b", 0.6),
            (labelled([r"EIN", r"TIN", r"ITIN", r"tax\s*(?:payer)?\s*(?:identification\s+)?(?:id|number|no\.?)",
                       r"employer\s+identification\s+number"], r"\d{2}-?\d{7}|\d{3}-?\d{2}-?\d{4}"), 0.9),
        ], context=["ein", "tin", "itin", "tax", "employer"], is_valid=_valid_tax_id),
        email_recognizer(),
        PhoneRecognizer(supported_regions=("US",), context=["phone", "tel", "call", "cell", "mobile", "fax", "contact"]),
        SpacyRecognizer(supported_entities=["PERSON"], ner_strength=0.7),
        pattern_recognizer("NAME", NAME_PATTERNS, case_sensitive=True),
        pattern_recognizer("CVV", [(labelled(CVV_LABELS, r"\d{3,4}"), 0.9)]),
        pattern_recognizer("DRIVER_LICENSE", [(labelled(LICENCE_LABELS, _LICENCE_ID), 0.9)]),
        pattern_recognizer("DATE", [(labelled(BIRTH_LABELS, _BIRTH_DATE), 0.9)]),
        pattern_recognizer("ADDRESS", [(STREET_ADDRESS, 0.85)], case_sensitive=True),
        pattern_recognizer("ZIP", [(rf"\b(?:{US_STATES}),?\s{{1,2}}(?P<id>\d{{5}}(?:-\d{{4}})?)\b", 0.9)], case_sensitive=True),
        pattern_recognizer("ZIP", [(labelled([r"(?:billing\s+)?zip(?:\s?code)?", r"postal\s+code"], r"\d{5}(?:-\d{4})?"), 0.9)]),
    ]


KINDS = {"CREDIT_CARD": "CARD_NUMBER", "IBAN_CODE": "IBAN", "PHONE_NUMBER": "PHONE", "PERSON": "NAME"}


@functools.cache
def pii_masker() -> Any:
    """The financial PII masker, built once per process (spaCy load: about a second)."""
    return PiiMasker(
        _recognizers(),
        kinds=KINDS,
        # A bare nine-digit number counts as a routing number only near "routing" or "ABA".
        thresholds={"ROUTING_NUMBER": 0.35, "PHONE": 0.3, "NAME": 0.5},
        refine=_refine,
    )


def pii_filter() -> SafetyFilter:
    """Masks personal financial data in training text; blocks nothing."""
    return masker_filter(
        "financial-pii", pii_masker, TESTSET, "synthetic financial snippets",
        checksummed_recall=CHECKSUMMED_KINDS, structured_recall=STRUCTURED_KINDS,
    )


# Output filter: advice -----------------------------------------------------------------------

_ASSET = r"(?:stocks?|shares?|bonds?|funds?|ETFs?|options?|crypto(?:currency)?|bitcoin|gold|it|them|this|these|[A-Z]{2,5})"
ADVICE = re.compile(
    "|".join([
        # Promised returns.
        r"(?<!\bnot )(?<!\bno )(?<!n't )\bguarantee[sd]?\b(?:(?!\bno\b|\bnot\b)[^.]){0,40}\b(?:returns?|profits?|gains?|income|yield|to (?:go up|rise|grow|double))",
        r"\b(?:returns?|profits?|gains?) (?:of [\d.]+% )?(?:are|is) (?:guaranteed|assured|certain)",
        r"(?<!\bnot )(?<!\bno )\b(?:guaranteed|assured|certain|sure) (?:to )?(?:returns?|profits?|gains?|go up|rise|double|make (?:a )?(?:profit|money))",
        r"\brisk[- ]free (?:investment|returns?|profits?|bet|trade)",
        r"\bdouble your money\b", r"\bcan(?:no|')t lose\b", r"\bcannot lose\b", r"\bno way to lose\b",
        r"\bwill (?:definitely|certainly|surely) (?:earn|make|return|rise|go up|gain|double)",
        r"\bsure (?:thing|bet)\b", r"\byou are sure to (?:make|earn|profit)",
        # Personal buy/sell instructions.
        r"\byou (?:should|must|ought to|need to|have to) (?:definitely )?(?:buy|sell|short|dump|invest|move|put|load up|get out)",
        r"\b(?:I|we) (?:would )?(?:recommend|suggest|advise)(?: that you)? (?:buying|selling|shorting|you (?:buy|sell|short|invest)|investing|moving|putting|to (?:buy|sell))",
        r"\bI'?d (?:recommend|suggest|advise) (?:you )?(?:buy|sell|short|invest|buying|selling)",
        r"^(?:buy|sell|short)\b", rf"[.!:;]\s*(?:buy|sell|short) (?:now|today|immediately|{_ASSET})",
        rf"\b(?:buy|sell|short|dump) (?:{_ASSET} )?(?:now|today|immediately|right now|before)",
        r"\b(?:buy|sell) (?:more|all|your)\b", r"\bload up on\b",
        r"\byour best (?:move|bet|option) is to (?:buy|sell|invest|put|move)",
        r"\b(?:put|invest|move) (?:all |everything |all of )?your (?:money|savings|401\(?k\)?|retirement|portfolio|ira)\b",
        r"\bas your (?:financial )?advis[oe]r\b",
    ]),
    re.IGNORECASE | re.MULTILINE,
)
"""Promised returns ("guaranteed 12% return", "can't lose") and buy/sell instructions to the
reader ("you should sell", "buy now", "I recommend buying"). Reported facts ("the firm sold
2 million shares", "past performance does not guarantee future returns") pass."""


def flag_advice(texts: list[str]) -> list[bool]:
    return [bool(ADVICE.search(text)) for text in texts]


def advice_filter() -> SafetyFilter:
    """Flags answers that promise returns or give personalised buy/sell advice."""
    return flagging_filter("advice", "advice", flag_advice, testset=OUTPUT_TESTSET)


# Figures -------------------------------------------------------------------------------------


def evaluate_filter(testset: Path | str | None = None) -> dict[str, Any]:
    """Per-type recall and precision on the labelled snippets, pooled recall on the
    checksummed identifiers, false-positive rate on public identifiers, and advice flags."""
    report = masking_report(
        pii_masker().find, testset or TESTSET, HELDOUT,
        checksummed_recall=CHECKSUMMED_KINDS, structured_recall=STRUCTURED_KINDS,
    )
    report["advice_flags"] = evaluate_flags(flag_advice, read_testset(OUTPUT_TESTSET))
    return report
