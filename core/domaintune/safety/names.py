"""Person names: the shapes spaCy's small model misses ("Last, First"), and tidying name
findings (widen to the proper nouns beside them, trim role words, drop companies, merge)."""

from __future__ import annotations

import re
from typing import Any

from domaintune.safety.recognizers import US_STATES
from domaintune.safety.spans import Span

PERSON_WORD = r"(?:[A-Z]['’])?[A-Z][a-z]+(?:[A-Z][a-z]+)?(?:-[A-Z][a-z]+)?"
"""A capitalised name word: Smith, McCarthy, O'Brien, Al-Sayed."""
_NAME_SHAPES = re.compile(
    rf"\b(?P<last>{PERSON_WORD}),\s(?P<first>{PERSON_WORD})(?:\s[A-Z]\.)?(?![\w'’-])"
    rf"|\b(?P<first2>{PERSON_WORD})\s[A-Z]\.\s(?P<last2>{PERSON_WORD})\b"
)
_PLACES = re.compile(rf"^(?:{US_STATES}|America|Canada|Mexico|England|France|Germany|Spain|Italy|China|Japan|India|Ireland|Scotland|Wales|Australia|Brazil|Russia|Israel)$")


def _widen_to_proper_nouns(start: int, end: int, doc: Any) -> tuple[int, int]:
    if doc is None or not hasattr(doc, "char_span"):
        return start, end
    part = doc.char_span(start, end, alignment_mode="expand")
    if part is None:
        return start, end

    def is_name(token: Any) -> bool:
        word = token.text.lower()
        return (token.tag_ in ("NNP", "NNPS") and token.is_title and not token.is_sent_start
                and word not in ROLE_WORDS and word not in COMPANY_WORDS and word not in PLACE_WORDS)

    first, last = part.start, part.end
    while first > 0 and is_name(doc[first - 1]) and doc[first - 1].whitespace_:
        first -= 1
    while last < len(doc) and is_name(doc[last]) and doc[last - 1].whitespace_:
        last += 1
    return min(start, doc[first].idx), max(end, doc[last - 1].idx + len(doc[last - 1]))


def name_shape_spans(text: str, doc: Any, score: float = 0.6) -> list[Span]:
    """People written as "Last, First" or "First M. Last", which spaCy's small model misses
    or calls an organisation: both words must be tagged proper nouns, and "City, State"
    ("Albany, Illinois") is not a person."""
    if doc is None or not hasattr(doc, "char_span"):
        return []
    spans = []
    for match in _NAME_SHAPES.finditer(text):
        if match.group("first") and _PLACES.match(match.group("first")):
            continue
        if any(w.lower() in PLACE_WORDS or w.lower() in COMPANY_WORDS for w in re.findall(r"[A-Za-z]+", match.group())):
            continue
        words = [match.span(g) for g in ("last", "first", "first2", "last2") if match.start(g) >= 0]
        tokens = [t for start, end in words for t in (doc.char_span(start, end, alignment_mode="expand") or [])]
        if tokens and all(t.tag_ in ("NNP", "NNPS") for t in tokens if t.is_alpha):
            spans.append(Span(match.start(), match.end(), "PERSON", score))
    return spans


ROLE_WORDS = frozenset(
    "patient pt daughter son wife husband mother father brother sister dr mr mrs ms mx miss "
    "nurse contact signed attn email e-mail records neighbour neighbor guardian plaintiff "
    "defendant witness tenant claimant petitioner counsel mrn dob ssn answer question sentence "
    "summary subject message".split()
)
"""Capitalised words spaCy takes into a name ("Patient Sato"): trimmed off name findings."""


PLACE_WORDS = frozenset(
    "court circuit district county state city university hospital clinic department street "
    "avenue road center centre county school college agency board commission".split()
)
"""Words that make a capitalised pair an institution, not a person ("Ninth Circuit, Wei")."""

COMPANY_WORDS = frozenset(
    "inc inc. corp corp. corporation co co. company ltd ltd. llc llp lp plc group holdings bank "
    "trust partners associates sa s.a. ag se gmbh nv bv".split()
)


def merge_names(text: str, spans: list[Span], kinds: tuple[str, ...] = ("PERSON", "NAME"), doc: Any = None) -> list[Span]:
    """Tidy name findings: widen one to the proper nouns beside it ("Garcia" in "Plaintiff
    Priya Garcia" becomes "Priya Garcia"; needs the spaCy ``doc``), trim role words off its
    ends, drop companies ("Tesla, Inc."), and join findings that overlap ("Patient Sato" and
    "Sato, Sofia" become "Sato, Sofia"), keeping the higher score."""
    names, others = [], []
    for span in spans:
        if span.kind not in kinds:
            others.append(span)
            continue
        start, end = _widen_to_proper_nouns(span.start, span.end, doc)
        if "\n" in text[start:end]:  # a name does not run across lines ("Smith\nAnswer")
            end = start + text[start:end].index("\n")
        while end > start and not (text[end - 1].isalnum() or text[end - 1] == "."):
            end -= 1
        while start < end and not text[start].isalnum():
            start += 1
        if end <= start:
            continue
        following = text[end:end + 12].lstrip(" ,").split(" ", 1)[0].lower()
        if following.rstrip(".,;") in COMPANY_WORDS or text[start:end].split()[-1].lower().rstrip(".,") in COMPANY_WORDS:
            continue
        while True:
            match = re.match(r"([A-Za-z-]+|\S*\d\S*)\.?[\s,:;-]+", text[start:end])
            if not match or not (match.group(1).lower() in ROLE_WORDS or any(c.isdigit() for c in match.group(1))):
                break
            start += match.end()
        while True:
            match = re.search(r"[\s,:;-]+([A-Za-z-]+|\S*\d\S*)\.?$", text[start:end])
            if not match or not (match.group(1).lower() in ROLE_WORDS or any(c.isdigit() for c in match.group(1))):
                break
            end = start + match.start()
        if end > start:
            names.append(Span(start, end, span.kind, span.score))
    merged: list[Span] = []
    for span in sorted(names, key=lambda s: s.start):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            # A pattern's finding (NAME: after a title, a label, a relative) outranks the NER's.
            kind = "NAME" if "NAME" in (last.kind, span.kind) else last.kind
            merged[-1] = Span(last.start, max(last.end, span.end), kind, max(last.score, span.score))
        else:
            merged.append(span)
    return others + merged

