"""Batched generation for chat and serve: one worker thread takes the requests that are
queued, left-pads them into one batch and decodes them together with the KV cache, sending
each request its text after every token. Streaming and plain answers take this one path.

Written here rather than with `model.generate`: each row of a batch has its own sampling
settings, stop strings, seed and logprobs, streams as it goes, and leaves the batch when it is
done or its client goes away, which `generate` (one setting for the whole batch) does not do.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from domaintune.errors import DomaintuneError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class EngineBusy(DomaintuneError):
    """The queue of waiting requests is full; the client should retry later."""


@dataclass(frozen=True)
class Sampling:
    """How one request is decoded. ``temperature`` 0 is greedy; ``top_logprobs`` None sends
    no logprobs, 0 the chosen token's only."""

    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_logprobs: int | None = None


@dataclass
class TokenLogprob:
    token: str
    logprob: float
    top: list[tuple[str, float]]


@dataclass
class Update:
    """A request's answer so far. ``text`` is the whole raw answer (never shrinks: a possible
    start of a stop string or a half UTF-8 character is held back); ``finish_reason`` is set
    on the last update: ``stop``, ``length``, ``cancelled`` or ``error``."""

    text: str
    completion_tokens: int
    finish_reason: str | None = None
    logprobs: list[TokenLogprob] = field(default_factory=list)
    """The tokens generated since the previous update."""
    error: str | None = None


@dataclass
class Job:
    prompt_ids: list[int]
    sampling: Sampling
    sink: Callable[[Update], None]
    """Called from the worker thread with each update; must not block."""
    cancelled: threading.Event = field(default_factory=threading.Event)


class Engine:
    """Owns the model for generation. ``max_batch`` rows decode together; at most
    ``max_queue`` more wait, and `submit` raises :class:`EngineBusy` past that."""

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_batch: int = 8, max_queue: int = 64
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_batch, self.max_queue = max_batch, max_queue
        self._queue: deque[Job] = deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="domaintune-engine", daemon=True)
        eos = model.generation_config.eos_token_id
        self.eos_ids = {tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None}
        self.batch_sizes: Counter[int] = Counter()
        """How many batches of each size were decoded (GET /health shows it)."""
        self.cancelled = 0
        """Requests dropped from a batch because their client went away."""

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def start(self) -> Engine:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Finish the batch in progress, refuse nothing more, end the worker."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=60)

    def submit(self, job: Job) -> None:
        with self._wake:
            if len(self._queue) >= self.max_queue:
                raise EngineBusy(
                    f"{len(self._queue)} requests are already waiting (the limit, --max-queue, is "
                    f"{self.max_queue}); retry in a moment."
                )
            self._queue.append(job)
            self._wake.notify()

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stopping:
                    self._wake.wait()
                if self._stopping and not self._queue:
                    return
                batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            batch = [job for job in batch if not job.cancelled.is_set()]
            if not batch:
                continue
            self.batch_sizes[len(batch)] += 1
            try:
                self._decode(batch)
            except Exception as exc:  # every request of the batch gets an answer, never a hang
                for job in batch:
                    job.sink(Update("", 0, "error", error=f"{type(exc).__name__}: {exc}"))

    def _decode(self, jobs: list[Job]) -> None:
        import torch

        from domaintune.evaluation.scoring import left_padded

        model = self.model
        rows = [_Row(self, job, model.device) for job in jobs]
        inputs = left_padded([job.prompt_ids for job in jobs], self.tokenizer.pad_token_id, model.device)
        mask, positions = inputs["attention_mask"], inputs["position_ids"]
        cache = None
        step_ids = inputs["input_ids"]
        with torch.inference_mode():
            while rows:
                output = model(
                    input_ids=step_ids, attention_mask=mask, position_ids=positions,
                    cache=cache, use_cache=True, logits_to_keep=1,
                )
                cache, logits = output.cache, output.logits[:, -1, :].float()
                tokens = [row.choose(logits[i]) for i, row in enumerate(rows)]
                keep = [i for i, (row, token) in enumerate(zip(rows, tokens)) if not row.advance(token, self.eos_ids)]
                if len(keep) < len(rows):
                    rows = [rows[i] for i in keep]
                    if not rows:
                        break
                    index = torch.tensor(keep, device=model.device)
                    cache.batch_select_indices(index)
                    mask, positions = mask[index], positions[index]
                    tokens = [tokens[i] for i in keep]
                step_ids = torch.tensor([[t] for t in tokens], device=model.device)
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
                positions = positions[:, -1:] + 1


class _Row:
    """One request's state inside a batch."""

    def __init__(self, engine: Engine, job: Job, device: torch.device) -> None:
        import torch

        self.engine, self.job, self.tokenizer = engine, job, engine.tokenizer
        self.ids: list[int] = []
        self.sent = ""
        self.pending: list[TokenLogprob] = []
        self.generator = None
        if job.sampling.temperature > 0:
            self.generator = torch.Generator(device=device)
            if job.sampling.seed is None:
                self.generator.seed()
            else:
                self.generator.manual_seed(job.sampling.seed)

    def choose(self, logits: torch.Tensor) -> int:
        import torch

        sampling = self.job.sampling
        if self.generator is None:
            token = int(torch.argmax(logits))
        else:
            probs = torch.softmax(logits / sampling.temperature, dim=-1)
            if sampling.top_p < 1.0:
                sorted_probs, order = torch.sort(probs, descending=True)
                # Keep the smallest set whose mass reaches top_p (the top token always).
                outside = sorted_probs.cumsum(-1) - sorted_probs >= sampling.top_p
                sorted_probs[outside] = 0.0
                probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
            token = int(torch.multinomial(probs, 1, generator=self.generator))
        if sampling.top_logprobs is not None:
            log_probs = torch.log_softmax(logits, dim=-1)
            top = torch.topk(log_probs, sampling.top_logprobs) if sampling.top_logprobs else None
            alternatives = (
                [(self.tokenizer.decode([int(i)]), float(v)) for v, i in zip(top.values, top.indices)]
                if top is not None else []
            )
            self.pending.append(TokenLogprob(self.tokenizer.decode([token]), float(log_probs[token]), alternatives))
        return token

    def advance(self, token: int, eos_ids: set[int]) -> bool:
        """Take the chosen token; send the request its update; True when the row is done."""
        job, sampling = self.job, self.job.sampling
        if job.cancelled.is_set():
            job.sink(Update(self.sent, len(self.ids), "cancelled"))
            self.engine.cancelled += 1
            return True
        finish = None
        if token in eos_ids:
            finish = "stop"
        else:
            self.ids.append(token)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        stop_at = min((text.find(s) for s in sampling.stop if s in text), default=-1)
        if stop_at >= 0:
            text, finish = text[:stop_at], "stop"
        elif finish is None and len(self.ids) >= sampling.max_tokens:
            finish = "length"
        if finish is None:
            text = _stable(text, sampling.stop)
        if not text.startswith(self.sent):  # a decoding that rewrote earlier text: keep what was sent
            text = self.sent
        self.sent = text
        logprobs, self.pending = self.pending, []
        job.sink(Update(text, len(self.ids), finish, logprobs))
        return finish is not None


def _stable(text: str, stops: tuple[str, ...]) -> str:
    """``text`` without what may still change: a trailing half character, and an ending that
    could be the start of a stop string."""
    text = text.rstrip("\ufffd")
    held = max((k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
    return text[: len(text) - held]
