"""Legal filters: privileged rows out, personal data masked, unsupported citations flagged.

Training data: rows marked privileged are dropped (and counted). Personal data of private
persons (names, street addresses, phone, e-mail, SSN) is masked with Microsoft Presidio's
analyzer (spaCy ``en_core_web_sm`` for names) while what legal text needs is kept: case
names inside citations and captions ("Smith v. Jones"), judges and justices, courts,
statutes and rules, and companies (organisations are never masked).

Generated answers: every citation eyecite (Free Law Project) extracts is looked up among the
authorities of the prompt and of a user-supplied list; one that is not there, or whose year
or case name differs, is flagged, the way fabricated case citations get caught.

Importing this module is cheap; Presidio, spaCy and eyecite load when a filter is built.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domaintune import FilterOutcome, SafetyFilter
from domaintune.kit import (
    PERSON_WORD,
    STREET_ADDRESS,
    US_STATES,
    PiiMasker,
    Span,
    masker_filter,
    masking_report,
    merge_names,
    name_shape_spans,
    phrase_blocking_filter,
    read_testset,
    safety_testsets,
)

TESTSET, HELDOUT = safety_testsets(__file__)[:2]  # the citation check has a set of its own
CITATION_TESTSET = Path(__file__).parent / "citation_testset.jsonl"
KNOWN_AUTHORITIES_ENV = "DOMAINTUNE_KNOWN_AUTHORITIES"
"""Path of a text file of known authorities (one citation a line) for the citation check."""

PII_KINDS = ("NAME", "ADDRESS", "PHONE", "EMAIL", "SSN")
PUBLIC_KINDS = ("COMPANY", "COURT", "STATUTE", "CITATION", "JUDGE")

PRIVILEGE_MARKERS = [
    "attorney-client privileged",
    "attorney-client privilege",
    "attorney client privileged",
    "attorney work product",
    "attorney work-product",
    "privileged & confidential",
    "privileged and confidential",
    "privileged/confidential",
]


def privilege_filter() -> SafetyFilter:
    """Drops rows marked privileged: the row goes, not the words (counted as ``privileged``)."""
    return phrase_blocking_filter("privilege", "privileged", PRIVILEGE_MARKERS)


# Public legal text, kept unmasked -----------------------------------------------------------

_CAPTION = re.compile(
    rf"(?:\b(?:In re|Ex parte|Matter of)\s+{PERSON_WORD}(?:\s+{PERSON_WORD})*"
    rf"|(?:{PERSON_WORD}|&|of|the|de|[A-Z]\.)(?:[\s,]+(?:{PERSON_WORD}|&|of|the|de|[A-Z]\.|Inc\.|Corp\.|Co\.|Ltd\.|LLC|et al\.)){{0,6}}"
    rf"\s+v(?:s)?\.\s+(?:{PERSON_WORD}|the|of|[A-Z]\.|&)(?:[\s,]+(?:{PERSON_WORD}|&|of|the|de|[A-Z]\.|Inc\.|Corp\.|Co\.|Ltd\.|LLC|et al\.)){{0,6}})"
)
_LOWER_CAPTION = re.compile(r"\b\w[\w'.&-]*(?:\s\w[\w'.&-]*){0,3}\s+vs?\.\s+\w[\w'.&-]*(?:\s\w[\w'.&-]*){0,3}", re.IGNORECASE)
"""Captions as LegalBench writes them, lower-cased ("burke v. o'brien")."""
_STATUTE = re.compile(
    r"\b\d+\s+U\.\s?S\.\s?C\.(?:\s?A\.)?\s*§+\s*[\w.()-]+|§+\s*\d[\w.()-]*"
    r"|\bFed\.\s?R\.\s?(?:Civ|Crim|Evid|App|Bankr)\.(?:\s?P\.)?\s*\d+(?:\([a-zA-Z0-9]+\))*"
    r"|\b(?:[A-Z][a-z]*\.\s){1,4}Code\s*(?:Ann\.\s*)?§+\s*[\w.()-]+"
)
_OFFICIAL = re.compile(
    rf"\b(?:(?:Chief|Associate|Senior|Circuit|District|Magistrate|Bankruptcy)\s+)?(?:Judges?|Justices?|J\.|C\.J\.|Hon\.|Honorable)\s+(?:{PERSON_WORD}\s)?{PERSON_WORD}"
    rf"|\b{PERSON_WORD},\s+(?:C\.\s?J\.|J\.|JJ\.)"
)
_COURT = re.compile(
    r"\b(?:(?:United States|U\.S\.|Supreme|Superior|District|Circuit|Appellate|Bankruptcy|Chancery|Family|Probate|Tax|County|State)\s+)+Courts?"
    rf"(?:\s+(?:of|for)\s+(?:the\s+)?(?:[A-Z][a-z]+\s?|of\s|the\s)+)?|\b(?:{US_STATES})\s+(?:Supreme\s+)?Court\b"
    r"|\b(?:First|Second|Third|Fourth|Fifth|Sixth|Seventh|Eighth|Ninth|Tenth|Eleventh|D\.C\.|Federal|\d+(?:st|nd|rd|th))\s+Circuit\b"
    r"|\bCourt of (?:Appeals?|Chancery|Claims|Criminal Appeals|Federal Claims)(?:\s+for\s+the\s+(?:[A-Z][a-z]+\s?|of\s|the\s)+)?"
)


@functools.cache
def _eyecite() -> Any:
    import logging

    from eyecite import get_citations
    from eyecite.tokenizers import default_tokenizer

    # eyecite logs "Unknown overlap case" for a short form inside a long citation's span and
    # still returns both: that message alone is dropped.
    logging.getLogger("eyecite.helpers").addFilter(
        lambda record: not str(record.msg).startswith("Unknown overlap case")
    )

    get_citations("Roe v. Wade, 410 U.S. 113 (1973).", tokenizer=default_tokenizer)  # builds its tables once

    def citations(text: str) -> list[Any]:
        # eyecite raises ValueError on an empty text; an empty text cites nothing.
        return get_citations(text) if text.strip() else []

    return citations


def public_spans(text: str) -> list[tuple[int, int]]:
    """Citations (eyecite, with their case names), captions, statutes and rules, judges and
    courts: a name inside one of these is public and stays."""
    spans = []
    for citation in _eyecite()(text):
        span = citation.full_span() if hasattr(citation, "full_span") else citation.span()
        spans.append(span)
    for pattern in (_CAPTION, _LOWER_CAPTION, _STATUTE, _OFFICIAL, _COURT):
        spans += [m.span() for m in pattern.finditer(text)]
    return spans


def _refine(text: str, spans: list[Span], doc: Any) -> list[Span]:
    public = public_spans(text)
    # A party named in a caption or citation is public wherever the text names it again
    # ("In Smith, the court held...").
    party_words = {
        word for s, e in public for word in re.findall(PERSON_WORD, text[s:e])
    }
    candidates = [
        span for span in spans + name_shape_spans(text, doc)
        if span.kind not in ("PERSON", "NAME") or not any(span.start < e and s < span.end for s, e in public)
    ]
    kept = []
    for span in merge_names(text, candidates, doc=doc):
        if span.kind in ("PERSON", "NAME"):
            value = text[span.start:span.end]
            if any(span.start < e and s < span.end for s, e in public):
                continue
            words = re.findall(PERSON_WORD, value)
            if not words or all(w in party_words for w in words):
                continue
            if span.kind == "PERSON" and len(value.split()) == 1:
                continue  # one word alone is most often a case's short name or a place
        kept.append(span)
    return kept


def _recognizers() -> list[Any]:
    from domaintune.kit import email_recognizer, pattern_recognizer
    from presidio_analyzer.predefined_recognizers import (
        PhoneRecognizer,
        SpacyRecognizer,
    )

    return [
        SpacyRecognizer(supported_entities=["PERSON"], ner_strength=0.7),
        pattern_recognizer("NAME", [
            (rf"\b(?:Mr|Mrs|Ms|Mx|Miss|Dr)\.?\s+(?P<id>(?:[A-Z]\.\s?)?{PERSON_WORD}(?:\s+{PERSON_WORD})?)", 0.85),
        ], case_sensitive=True),
        pattern_recognizer("ADDRESS", [
            (STREET_ADDRESS, 0.85),
            (rf"\b(?:{US_STATES}),?\s{{1,2}}(?P<id>\d{{5}}(?:-\d{{4}})?)\b", 0.85),
        ], case_sensitive=True),
        pattern_recognizer("SSN", [
            (r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b", 0.6),
            (r"(?<=\b(?:SSN|social security(?: number)?)[\s:#(]{0,3})(?!000|666|9\d\d)\d{3}\s?(?!00)\d{2}\s?(?!0000)\d{4}\b", 0.8),
        ]),
        email_recognizer(),
        PhoneRecognizer(supported_regions=("US",), context=["phone", "tel", "call", "cell", "mobile", "fax", "contact"]),
    ]


@functools.cache
def pii_masker() -> Any:
    """The legal personal-data masker, built once per process (spaCy and eyecite load)."""
    return PiiMasker(
        _recognizers(),
        kinds={"PERSON": "NAME", "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE"},
        thresholds={"NAME": 0.5},
        refine=_refine,
    )


def pii_filter() -> SafetyFilter:
    """Masks personal data of private persons; keeps parties, courts, statutes, citations."""
    return masker_filter("legal-pii", pii_masker, TESTSET, "synthetic legal snippets")


# Citation check on generated answers --------------------------------------------------------

_YEAR_AFTER = re.compile(r"^(?:,\s*(?:at\s+)?\d+(?:[-–]\d+)?(?:\s*n\.\s*\d+)?)*\s*\(([^()]*?)\b(1[6-9]\d\d|20\d\d)\)")
_NAME_STOPWORDS = frozenset("the of and inc corp co ltd llc et al re ex parte matter in for a an".split())


def _name_words(name: str | None) -> frozenset[str]:
    if not name:
        return frozenset()
    return frozenset(w for w in re.findall(r"[a-z]+", name.lower()) if len(w) > 1 and w not in _NAME_STOPWORDS)


def _reporter(citation: Any) -> str:
    try:
        reporter = citation.corrected_reporter()
    except Exception:  # noqa: BLE001 - eyecite raises for some reporter variants
        reporter = citation.groups.get("reporter", "")
    return re.sub(r"\s+", "", reporter or "")


@dataclass(frozen=True)
class CitationCheck:
    """One citation found in a generated answer, and whether an authority supports it."""

    start: int
    end: int
    text: str
    supported: bool
    reason: str


@dataclass
class _Authority:
    page: int
    year: str | None
    plaintiff: frozenset[str]
    defendant: frozenset[str]


class Authorities:
    """The citations of the prompt and the known list, indexed for lookups."""

    def __init__(self, texts: Iterable[str]) -> None:
        from eyecite.models import FullCaseCitation, FullLawCitation

        self.cases: dict[tuple[str, str], list[_Authority]] = {}
        self.laws: set[tuple[str, ...]] = set()
        for text in texts:
            if not text:
                continue
            for citation in _eyecite()(text):
                if isinstance(citation, FullCaseCitation):
                    key = (citation.groups.get("volume", ""), _reporter(citation))
                    self.cases.setdefault(key, []).append(_Authority(
                        page=_int(citation.groups.get("page")),
                        year=_year_after(text, citation),
                        plaintiff=_name_words(citation.metadata.plaintiff),
                        defendant=_name_words(citation.metadata.defendant),
                    ))
                elif isinstance(citation, FullLawCitation):
                    self.laws.add(_law_key(citation))

    def check(self, text: str) -> list[CitationCheck]:
        """Every case or statute citation in ``text``, supported or not (``Id.`` and
        ``supra`` point back to an earlier citation and are not checked)."""
        from eyecite.models import FullCaseCitation, FullLawCitation, ShortCaseCitation

        checks = []
        for citation in _eyecite()(text):
            start, end = citation.span()
            if isinstance(citation, FullCaseCitation):
                start = min(start, citation.full_span()[0])
                supported, reason = self._check_case(text, citation)
            elif isinstance(citation, ShortCaseCitation):
                start = min(start, citation.full_span()[0])
                supported, reason = self._check_short(citation)
            elif isinstance(citation, FullLawCitation):
                supported = _law_key(citation) in self.laws
                reason = "" if supported else "statute not among the authorities"
            else:
                continue
            checks.append(CitationCheck(start, end, text[start:end], supported, reason))
        return checks

    def _check_case(self, text: str, citation: Any) -> tuple[bool, str]:
        key = (citation.groups.get("volume", ""), _reporter(citation))
        page = _int(citation.groups.get("page"))
        matches = [a for a in self.cases.get(key, []) if a.page == page]
        if not matches:
            return False, "not among the authorities"
        year = _year_after(text, citation)
        plaintiff = _name_words(citation.metadata.plaintiff)
        defendant = _name_words(citation.metadata.defendant)
        for authority in matches:
            if year and authority.year and year != authority.year:
                continue
            if plaintiff and authority.plaintiff and not plaintiff & authority.plaintiff:
                continue
            if defendant and authority.defendant and not defendant & authority.defendant:
                continue
            return True, ""
        return False, "year or case name differs from the authority"

    def _check_short(self, citation: Any) -> tuple[bool, str]:
        key = (citation.groups.get("volume", ""), _reporter(citation))
        pin = _int(citation.groups.get("page"))
        candidates = [a for a in self.cases.get(key, []) if a.page <= pin]
        if not candidates:
            return False, "short form of no authority"
        antecedent = _name_words(citation.metadata.antecedent_guess)
        if antecedent and not any(antecedent & (a.plaintiff | a.defendant) for a in candidates if a.plaintiff or a.defendant):
            return False, "short form names another case"
        return True, ""


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return -1


def _year_after(text: str, citation: Any) -> str | None:
    match = _YEAR_AFTER.match(text[citation.span()[1]:citation.span()[1] + 80])
    return match.group(2) if match else None


def _law_key(citation: Any) -> tuple[str, ...]:
    groups = citation.groups
    return (re.sub(r"\s+", "", groups.get("reporter", "")), groups.get("title", ""), groups.get("section", ""))


def known_authorities_from_env() -> list[str]:
    """The lines of the file named by ``DOMAINTUNE_KNOWN_AUTHORITIES``, if set."""
    path = os.environ.get(KNOWN_AUTHORITIES_ENV)
    if not path:
        return []
    return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def citation_filter(known_authorities: Sequence[str] = ()) -> SafetyFilter:
    """Flags each answer citing an authority found neither in its prompt (``context``) nor in
    ``known_authorities``; counts ``citations`` and ``unsupported_citation``.

    ``apply(texts, context=None)``: ``context[i]`` is the prompt of ``texts[i]``. Without
    context only the known list supports a citation.
    """
    _eyecite()
    known = tuple(known_authorities)

    def apply(texts: list[str], context: Sequence[str] | None = None) -> FilterOutcome:
        known_index = _known_index(known)
        flagged, total, unsupported = [], 0, 0
        for i, text in enumerate(texts):
            prompt = context[i] if context is not None else ""
            authorities = known_index if not prompt else Authorities([prompt, *known])
            checks = authorities.check(text)
            total += len(checks)
            bad = sum(not c.supported for c in checks)
            unsupported += bad
            flagged.append(bad > 0)
        counts = {"citations": total} if total else {}
        if unsupported:
            counts["unsupported_citation"] = unsupported
        return FilterOutcome(texts=list(texts), blocked=flagged, counts=counts)

    return SafetyFilter("citations", apply, reads_prompts=True, evaluate=_citation_figures)


@functools.lru_cache(maxsize=8)
def _known_index(known: tuple[str, ...]) -> Authorities:
    return Authorities(known)


# Figures -------------------------------------------------------------------------------------

def _citation_figures() -> dict[str, Any]:
    """What a run's report says of the citation check: flags of altered or invented citations."""
    report = evaluate_citations()
    return {
        "test_set": f"{report['snippets']} generated-style answers, {report['citations']} citations, "
        f"{report['fabricated']} altered or invented",
        "recall": report["recall"],
        "precision": report["precision"],
    }




def evaluate_citations(testset: Path | str | None = None) -> dict[str, Any]:
    """Recall and precision of the citation check on generated-style answers whose every
    citation is labelled ``real`` (in the prompt or the known list), ``altered`` or
    ``invented``; a flagged citation is a hit when it is altered or invented."""
    rows = read_testset(testset or CITATION_TESTSET)
    by_label: dict[str, list[int]] = {}
    flagged_fake = flagged_real = found = 0
    extra_flags = 0
    errors = []
    for row in rows:
        checks = Authorities([row["prompt"], *row["known"]]).check(row["generation"])
        for gold in row["citations"]:
            hits = [c for c in checks if c.start < gold["end"] and gold["start"] < c.end]
            found += bool(hits)
            is_flagged = any(not c.supported for c in hits)
            by_label.setdefault(gold["label"], [0, 0])
            by_label[gold["label"]][0] += 1
            by_label[gold["label"]][1] += is_flagged
            fake = gold["label"] != "real"
            flagged_fake += fake and is_flagged
            flagged_real += (not fake) and is_flagged
            if fake != is_flagged:
                errors.append({"label": gold["label"], "citation": gold["text"], "found": bool(hits),
                               "reasons": [c.reason for c in hits]})
        extra_flags += sum(
            not c.supported and not any(c.start < g["end"] and g["start"] < c.end for g in row["citations"])
            for c in checks
        )
    fakes = sum(n for label, (n, _) in by_label.items() if label != "real")
    flagged = flagged_fake + flagged_real + extra_flags
    return {
        "snippets": len(rows),
        "citations": sum(n for n, _ in by_label.values()),
        "extracted": found,
        "fabricated": fakes,
        "recall": round(flagged_fake / fakes, 4) if fakes else None,
        "precision": round(flagged_fake / flagged, 4) if flagged else None,
        "flag_rate_by_label": {label: round(f / n, 4) for label, (n, f) in sorted(by_label.items())},
        "errors": errors,
    }


def evaluate_filter(testset: Path | str | None = None) -> dict[str, Any]:
    """Personal-data masking on the labelled legal snippets (recall per type, false positives
    on public legal identifiers), and the citation check."""
    report = masking_report(pii_masker().find, testset or TESTSET, HELDOUT)
    report["citations"] = evaluate_citations()
    return report
