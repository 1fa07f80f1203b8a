"""The domain's output filters between the model and whoever reads its answer, streamed
answers included: text is held back until the filters can decide on it.

A streamed answer is released a sentence at a time: when the raw text so far ends a sentence,
the filters run on all of it, and the filtered text is sent if no filter blocks it and it
continues what was already sent. An identifier or a finding inside an unfinished sentence is
thus never sent before the filters have seen the whole sentence. At the end the filters run on
the whole answer, as they do for a plain answer, so the streamed text equals the plain one; if
they block it, the rest is replaced by the refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from domaintune.deploy.runmodel import FilteredAnswer, RunModel

SENTENCE_END = re.compile(r"[.!?;:](?=\s)|\n")


def refusal(run_model: RunModel, findings: dict[str, int]) -> str:
    found = ", ".join(sorted(findings)) or "a finding"
    return (
        f"I can't give this answer: the {run_model.domain.name} domain's safety filters withheld "
        f"it ({found})."
    )


@dataclass
class Verdict:
    """The filters' decision on a whole answer: the text to show, the part of it not yet
    sent, and the findings."""

    text: str
    rest: str
    blocked: bool
    findings: dict[str, int]

    exact: bool
    """No filter changed the model's text: only then may token logprobs go out, since they
    spell the raw tokens."""


class AnswerGuard:
    """Filters one answer, as it streams or once it is done."""

    def __init__(self, run_model: RunModel, prompt: str) -> None:
        self.run_model, self.prompt = run_model, prompt
        self.sent = ""
        self._checked_up_to = 0
        self._holding = False  # a filter blocked the text so far: send nothing more until the end

    def feed(self, raw: str) -> str:
        """The raw answer so far; returns the filtered text that may be sent now."""
        if not self.run_model.output_filters:
            delta, self.sent = raw[len(self.sent):], raw
            return delta
        if not self.would_filter(raw):
            return ""
        ends = [m.end() for m in SENTENCE_END.finditer(raw, self._checked_up_to)]
        self._checked_up_to = ends[-1]
        verdict = self._filter(raw[: ends[-1]])
        if verdict.blocked or not verdict.text.startswith(self.sent):
            self._holding = verdict.blocked
            return ""
        delta, self.sent = verdict.text[len(self.sent):], verdict.text
        return delta

    def would_filter(self, raw: str) -> bool:
        """Whether `feed` runs the filters on ``raw`` (a sentence ended since the last check):
        only then is it worth running in a thread of its own, off the server's event loop."""
        return (
            bool(self.run_model.output_filters) and not self._holding
            and SENTENCE_END.search(raw, self._checked_up_to) is not None
        )

    def finish(self, raw: str) -> Verdict:
        """The verdict on the whole answer; ``rest`` is what remains to be sent after the
        text already streamed (all of it, for a plain answer)."""
        verdict = self._filter(raw)
        if verdict.blocked or not verdict.text.startswith(self.sent):
            # Never the raw text: what was sent had passed the filters on its own; the rest
            # is the refusal.
            text = refusal(self.run_model, verdict.findings)
            rest = text if not self.sent else "\n\n" + text
            return Verdict(self.sent + rest, rest, True, verdict.findings, exact=False)
        return Verdict(
            verdict.text, verdict.text[len(self.sent):], False, verdict.findings, exact=verdict.text == raw
        )

    def _filter(self, text: str) -> FilteredAnswer:
        if not self.run_model.output_filters:
            return FilteredAnswer(text, False, {})
        return self.run_model.filter_answers([text], [self.prompt])[0]
