"""Safety filters built from parts: typed masking of regex identifiers, blocking of rows that
a flag function or a phrase marks, and the ``apply`` of a filter over a cached masker.

A match is replaced by a typed token such as ``[EMAIL]`` (:data:`~.spans.MASK_TOKEN`); tokens
never match again, so filters are idempotent. Presidio-based maskers are in :mod:`.engine`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domaintune.domain import FilterOutcome, SafetyFilter
from domaintune.safety.figures import flag_figures, masker_figures


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


@dataclass(frozen=True)
class FlagApply:
    """``SafetyFilter.apply`` that blocks the texts ``flag`` marks and counts them as ``kind``.

    A module-level value (not a closure), so that ``datasets.map`` can fingerprint it.
    """

    kind: str
    flag: Callable[[list[str]], list[bool]]

    def __call__(self, texts: list[str]) -> FilterOutcome:
        flagged = [bool(f) for f in self.flag(list(texts))]
        return FilterOutcome(texts=list(texts), blocked=flagged, counts={self.kind: sum(flagged)} if any(flagged) else {})


def flagging_filter(
    name: str, kind: str, flag: Callable[[list[str]], list[bool]],
    evaluate: Callable[[], Any] | None = None, testset: Path | str | None = None,
) -> SafetyFilter:
    """A filter that blocks each text ``flag`` marks (a training row is dropped, an answer is
    flagged), counted as ``kind``; it rewrites nothing. Given a labelled ``testset`` (and no
    ``evaluate``), its figures are :func:`~.figures.flag_figures` on that set."""
    if evaluate is None and testset is not None:
        labelled_set = testset

        def figures() -> dict[str, Any]:
            return flag_figures(flag, labelled_set)

        evaluate = figures
    return SafetyFilter(name=name, apply=FlagApply(kind, flag), evaluate=evaluate)


@dataclass(frozen=True)
class PhraseFlag:
    """Marks the texts containing one of ``phrases`` (case-insensitive)."""

    phrases: tuple[str, ...]

    def __call__(self, texts: list[str]) -> list[bool]:
        pattern = re.compile("|".join(re.escape(phrase) for phrase in self.phrases), re.IGNORECASE)
        return [bool(pattern.search(text)) for text in texts]


def phrase_blocking_filter(name: str, kind: str, phrases: list[str]) -> SafetyFilter:
    """A filter that blocks any text containing one of ``phrases`` (case-insensitive)."""
    return flagging_filter(name, kind, PhraseFlag(tuple(phrases)))


@dataclass(frozen=True)
class MaskingApply:
    """``SafetyFilter.apply`` for a masker built by a module-level cached factory.

    It holds only the factory (pickled by reference), never the spaCy pipeline, so that
    ``datasets.map`` fingerprints it at once, and the masker is built once per process.
    """

    factory: Callable[[], Any]

    def __call__(self, texts: list[str]) -> FilterOutcome:
        return self.factory().mask(list(texts))


def masker_filter(
    name: str, masker: Callable[[], Any], testset: Path | str, test_set: str, **pooled: Iterable[str],
) -> SafetyFilter:
    """A filter that masks with ``masker``, a module-level cached factory of a
    :class:`~.engine.PiiMasker`; it blocks nothing. The masker is built now, so that a missing
    model fails here and not in the middle of the data. Its figures are
    :func:`~.figures.masker_figures` on the labelled ``testset`` (described as ``test_set``),
    with each keyword's pooled recall (``structured_recall=("SSN", "MRN")``)."""
    masker()
    return SafetyFilter(
        name, MaskingApply(masker), evaluate=lambda: masker_figures(masker().find, testset, test_set, **pooled)
    )
