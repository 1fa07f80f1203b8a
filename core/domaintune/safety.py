"""Building blocks for safety filters: typed masking of identifiers and blocking of rows.

Plugins compose these into their domain's filters. A match is replaced by a typed
placeholder such as ``[EMAIL]``; placeholders never match again, so filters are idempotent.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from domaintune.domain import FilterOutcome, SafetyFilter


@dataclass(frozen=True)
class Identifier:
    """One kind of identifier: a pattern, and optionally a checksum a match must pass."""

    kind: str
    pattern: re.Pattern[str]
    is_valid: Callable[[str], bool] | None = None


EMAIL = Identifier("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"))
US_SSN = Identifier("SSN", re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b"))
US_PHONE = Identifier(
    "PHONE",
    re.compile(r"(?<![\w-])(?:\+1[ .-]?)?(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}\b"),
)
URL = Identifier("URL", re.compile(r"\bhttps?://[^\s<>\"']+"))
IP_ADDRESS = Identifier(
    "IP_ADDRESS",
    re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"),
)


def mask_text(text: str, identifiers: Iterable[Identifier], counts: Counter[str]) -> str:
    for identifier in identifiers:
        def replace(match: re.Match[str], identifier: Identifier = identifier) -> str:
            if identifier.is_valid and not identifier.is_valid(match.group(0)):
                return match.group(0)
            counts[identifier.kind] += 1
            return f"[{identifier.kind}]"

        text = identifier.pattern.sub(replace, text)
    return text


def masking_filter(name: str, identifiers: list[Identifier]) -> SafetyFilter:
    """A filter that replaces every identifier it finds with ``[KIND]``; it blocks nothing."""

    def apply(texts: list[str]) -> FilterOutcome:
        counts: Counter[str] = Counter()
        masked = [mask_text(text, identifiers, counts) for text in texts]
        return FilterOutcome(texts=masked, blocked=[False] * len(texts), counts=dict(counts))

    return SafetyFilter(name=name, apply=apply)


def phrase_blocking_filter(name: str, kind: str, phrases: list[str]) -> SafetyFilter:
    """A filter that blocks any text containing one of ``phrases`` (case-insensitive)."""
    pattern = re.compile("|".join(re.escape(phrase) for phrase in phrases), re.IGNORECASE)

    def apply(texts: list[str]) -> FilterOutcome:
        blocked = [bool(pattern.search(text)) for text in texts]
        return FilterOutcome(texts=list(texts), blocked=blocked, counts={kind: sum(blocked)} if any(blocked) else {})

    return SafetyFilter(name=name, apply=apply)
