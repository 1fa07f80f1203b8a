"""A conversation with a run's model for `tune chat`: the history, the prompt as trained, the
answer streamed through the engine and the output filters (the same path `tune serve` takes).
Nothing here prints; the caller gets the filtered text piece by piece and the verdict.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass, field

from domaintune.deploy.engine import Engine, Job, Sampling, Update
from domaintune.deploy.guard import AnswerGuard
from domaintune.deploy.runmodel import RunModel
from domaintune.domain import Message
from domaintune.errors import DomaintuneError

DEFAULT_MAX_TOKENS = 256


class GenerationError(DomaintuneError):
    """The model failed while answering, or the conversation no longer fits its context."""


@dataclass
class ChatAnswer:
    text: str
    """What was shown: the filtered text, or the refusal when a filter blocked the answer."""
    blocked: bool
    findings: dict[str, int]
    finish_reason: str


@dataclass
class ChatSession:
    run_model: RunModel
    engine: Engine
    temperature: float = 0.0
    max_tokens: int = DEFAULT_MAX_TOKENS
    seed: int | None = None
    history: list[Message] = field(default_factory=list)

    def ask(self, text: str, on_text: Callable[[str], None] = lambda piece: None) -> ChatAnswer:
        """Answer ``text`` after the conversation so far; ``on_text`` receives the shown text
        as the filters release it. The shown answer joins the history."""
        messages = [*self.history, {"role": "user", "content": text}]
        prompt = self.run_model.render_prompt(messages)
        prompt_ids = self.run_model.encode(prompt)
        room = self.run_model.context_length - len(prompt_ids)
        if room < 1:
            raise GenerationError(
                f"The conversation is {len(prompt_ids)} tokens, the model's context "
                f"{self.run_model.context_length}: start a new chat."
            )
        updates: queue.Queue[Update] = queue.Queue()
        sampling = Sampling(max_tokens=min(self.max_tokens, room), temperature=self.temperature, seed=self.seed)
        job = Job(prompt_ids, sampling, updates.put)
        self.engine.submit(job)
        guard = AnswerGuard(self.run_model, prompt)
        try:
            while not (update := updates.get()).finish_reason:
                piece = guard.feed(update.text)
                if piece:
                    on_text(piece)
        finally:
            job.cancelled.set()  # Ctrl+C while streaming frees the engine
        if update.error:
            raise GenerationError(f"The model failed while answering: {update.error}")
        verdict = guard.finish(update.text)
        if verdict.rest:
            on_text(verdict.rest)
        self.history = [*messages, {"role": "assistant", "content": verdict.text}]
        return ChatAnswer(
            verdict.text, verdict.blocked, verdict.findings,
            "content_filter" if verdict.blocked else update.finish_reason,
        )
