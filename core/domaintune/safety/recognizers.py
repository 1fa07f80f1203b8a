"""Recognizers and patterns for identifiers that packs compose into their maskers: labelled
identifiers, e-mail (offline), SSN shape, US states, street addresses.

Presidio loads inside the functions that build a recognizer, not at import.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any


def email_recognizer() -> Any:
    """Presidio's e-mail recognizer, accepting any alphabetic top-level domain.

    Presidio's own check looks the domain up in tldextract's public-suffix list, which it
    tries to download (offline: an error logged, then the bundled copy) and which rejects
    reserved and internal names (``user@host.example``, ``x@intranet.local``) that are
    still somebody's address.
    """
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            tld = pattern_text.rsplit(".", 1)[-1]
            return tld.isalpha() and 2 <= len(tld) <= 24

    return OfflineEmailRecognizer(supported_entity="EMAIL")


def ssn_shape_valid(value: str) -> bool:
    """The SSA's structural rules only (no 000, 666 or 9xx area, no 00 group, no 0000
    serial). Presidio and python-stdnum also reject numbers known from advertising
    (078-05-1120, 219-09-9999); a training-data filter masks those too."""
    digits = re.sub(r"\D", "", value)
    return (len(digits) == 9 and digits[:3] not in ("000", "666") and digits[0] != "9"
            and digits[3:5] != "00" and digits[5:] != "0000")


OBFUSCATED_EMAIL = r"\b[\w.+-]+\s*(?:\(at\)|\[at\]|\sat\s)\s*[\w-]+(?:\s*(?:\(dot\)|\[dot\]|\sdot\s)\s*[A-Za-z]{2,})+\b"
"""An address written to dodge scrapers: ``k.oduya at gmail dot com``."""


def pattern_recognizer(
    entity: str,
    patterns: Sequence[tuple[str, float]],
    context: Sequence[str] = (),
    is_valid: Callable[[str], bool] | None = None,
    case_sensitive: bool = False,
) -> Any:
    """A Presidio recognizer for ``entity`` from ``(regex, score)`` patterns.

    Patterns use the ``regex`` module, as Presidio does. Where a pattern has a group named
    ``id``, only that group is the finding, so a label stays readable: ``MRN: [MRN]`` (see
    :func:`labelled`). ``is_valid`` (a checksum) must pass for a match to count. ``context``
    words near a match raise its score (Presidio's context enhancer).
    """
    import regex
    from presidio_analyzer import LocalRecognizer, RecognizerResult

    flags = regex.MULTILINE | (0 if case_sensitive else regex.IGNORECASE)
    compiled = [(regex.compile(rx, flags), score) for rx, score in patterns]

    class Recognizer(LocalRecognizer):
        def load(self) -> None:
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            results = []
            for rx, score in compiled:
                for match in rx.finditer(text):
                    start, end = match.span("id") if "id" in rx.groupindex else match.span()
                    if start == end or (is_valid is not None and not is_valid(text[start:end])):
                        continue
                    results.append(RecognizerResult(
                        entity, start, end, score,
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                        },
                    ))
            return results

    return Recognizer(
        supported_entities=[entity], name=f"{entity.title()}Recognizer", context=list(context) or None
    )


def labelled(labels: Sequence[str], value: str) -> str:
    """A pattern for an identifier that follows one of ``labels``: ``MRN: 00123456``,
    ``member ID #ABC-12345``, ``account number is 123456``, ``ID#PX-778812`` (a label that
    ends in a sign may touch its value). The identifier is group ``id``."""
    return (
        rf"\b(?:{'|'.join(labels)})(?:(?<![A-Za-z])|(?![A-Za-z]))(?:\s*(?:(?:is|was|of|number|num|id)\b|no\.)){{0,2}}"
        rf"\s{{0,3}}[:#=]?\s{{0,3}}(?:#\s?)?(?P<id>{value})(?![\w-])"
    )


US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|"
    "NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|Alabama|Alaska|Arizona|Arkansas|"
    "California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|"
    "Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|"
    "Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|"
    "North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|"
    "Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming"
)
"""US states and their postal codes, as a regex alternation (case-sensitive use)."""

STREET_ADDRESS = (
    r"\b(?:\d{1,6}[A-Z]?\s+(?:[NSEW]\.?\s+|North\s+|South\s+|East\s+|West\s+)?"
    r"(?:(?:[A-Z][a-z]+|\d{1,3}(?:st|nd|rd|th))\.?\s+){1,3}"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|"
    r"Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Plaza|Row|Alley)\b\.?"
    r"(?:\s+(?:NE|NW|SE|SW|N|S|E|W)\b)?"
    r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Room|Rm|Fl|Floor)\.?\s*#?\s*[A-Z0-9-]+)?"
    r"|P\.?\s?O\.?\s+Box\s+\d{1,6})"
    rf"(?:,\s+(?!(?:{US_STATES})\b)(?:[A-Z][a-z]+\s){{0,2}}[A-Z][a-z]+(?=,?\s+(?:{US_STATES})\b|\s*[,.;)]|$))?"
)
"""A US street address (number, name, suffix, unit) or P.O. box, with the city after it; the
state and ZIP code are left to other patterns. Case-sensitive."""

