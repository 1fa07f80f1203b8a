"""Spans: where a detector found an identifier, and how overlapping findings are resolved.

A masked identifier becomes a typed token such as ``[EMAIL]`` (:data:`MASK_TOKEN`); no
finding may touch one, which is what makes the filters idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MASK_TOKEN = re.compile(r"\[[A-Z][A-Z0-9_]*\]")
"""What a masked identifier becomes; detectors never report a span that touches one."""


@dataclass(frozen=True)
class Span:
    """A finding: ``text[start:end]`` is an identifier of type ``kind`` (the name in its mask token, ``[KIND]``)."""

    start: int
    end: int
    kind: str
    score: float = 1.0


def overlaps(span: Span | tuple[int, int], others: Iterable[Span | tuple[int, int]]) -> bool:
    start, end = (span.start, span.end) if isinstance(span, Span) else span
    for other in others:
        o_start, o_end = (other.start, other.end) if isinstance(other, Span) else other
        if start < o_end and o_start < end:
            return True
    return False


def resolve_overlaps(text: str, spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans in text order, none touching an existing mask token.

    Where spans overlap, the higher score wins, then the longer span, so that a validated
    identifier beats a weak pattern and ``[DATE]`` never splits a phone number.
    """
    taken: list[tuple[int, int]] = [m.span() for m in MASK_TOKEN.finditer(text)]
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (-s.score, s.start - s.end, s.start, s.kind)):
        if span.end > span.start and not overlaps(span, taken):
            chosen.append(span)
            taken.append((span.start, span.end))
    return sorted(chosen, key=lambda s: s.start)

