"""Batched generation for chat and serve: one worker thread decodes every request in flight
together, one token per forward pass with the KV cache, and between two passes prefills the
requests that arrived (left-padded) and adds them to the batch; each request gets its text
after every token. Streaming and plain answers take this one path. `start_engine` loads the
model on that same thread, so that all torch work of chat and serve runs on one thread.

Written here rather than with `model.generate`: each row of a batch has its own sampling
settings, stop strings, seed and logprobs, streams as it goes, and leaves the batch when it is
done or its client goes away, which `generate` (one setting for the whole batch) does not do.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from domaintune.errors import DomaintuneError
from domaintune.positions import last_positions

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from domaintune.deploy.runmodel import RunModel


ENGINE_THREAD = "domaintune-engine"


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
        self._thread: threading.Thread | None = None
        """The worker: `start`'s, or the thread `start_engine` loaded the model on."""
        eos = model.generation_config.eos_token_id
        self.eos_ids = {tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None}
        self.batch_sizes: Counter[int] = Counter()
        """Forward passes by how many rows they ran (GET /health shows it)."""
        self.cancelled = 0
        """Requests dropped from a batch because their client went away."""

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def start(self) -> Engine:
        self._thread = threading.Thread(target=self._work, name=ENGINE_THREAD, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Finish the batch in progress, refuse nothing more, end the worker."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
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
        """Decode steps over the rows in flight; between two steps, the requests that arrived
        are prefilled and join the batch (continuous batching), so a request never waits for
        a whole batch to finish."""
        batch: _Batch | None = None
        while True:
            with self._wake:
                while not self._queue and batch is None and not self._stopping:
                    self._wake.wait()
                if self._stopping and not self._queue and batch is None:
                    return
                room = self.max_batch - (len(batch.rows) if batch else 0)
                arrived = [self._queue.popleft() for _ in range(min(room, len(self._queue)))]
            arrived = [job for job in arrived if not job.cancelled.is_set()]
            try:
                if arrived:
                    joining = self._prefill(arrived)
                    batch = joining if batch is None else batch.join(joining)
                if batch is not None:
                    batch = self._step(batch)
            except Exception as exc:  # every request in flight gets an answer, never a hang
                failed = (batch.rows if batch else []) + [_Row(self, job, self.model.device) for job in arrived]
                for row in {id(row.job): row for row in failed}.values():
                    row.job.sink(Update(row.sent, len(row.ids), "error", error=f"{type(exc).__name__}: {exc}"))
                batch = None

    def _prefill(self, jobs: list[Job]) -> _Batch | None:
        """Run the new prompts (left-padded together) and choose their first tokens."""
        from domaintune.evaluation.scoring import left_padded

        rows = [_Row(self, job, self.model.device) for job in jobs]
        inputs = left_padded([job.prompt_ids for job in jobs], self.tokenizer.pad_token_id, self.model.device)
        return self._forward(
            rows, inputs["input_ids"], inputs["attention_mask"], inputs["position_ids"], cache=None
        )

    def _step(self, batch: _Batch) -> _Batch | None:
        """Feed every row its last chosen token; choose the next."""
        import torch

        mask = torch.cat([batch.mask, torch.ones_like(batch.mask[:, :1])], dim=1)
        return self._forward(batch.rows, batch.next_ids, mask, batch.positions, batch.cache)

    def _forward(self, rows: list[_Row], input_ids: Any, mask: Any, positions: Any, cache: Any) -> _Batch | None:
        import torch

        self.batch_sizes[len(rows)] += 1
        with torch.inference_mode():
            output = self.model(
                input_ids=input_ids, attention_mask=mask, position_ids=positions,
                cache=cache, use_cache=True, logits_to_keep=last_positions(1, input_ids.device),
            )
            logits = output.logits[:, -1, :].float()
            tokens = [row.choose(logits[i]) for i, row in enumerate(rows)]
        keep = [i for i, (row, token) in enumerate(zip(rows, tokens)) if not row.advance(token, self.eos_ids)]
        if not keep:
            return None
        cache = output.cache
        if len(keep) < len(rows):
            index = torch.tensor(keep, device=mask.device)
            cache.batch_select_indices(index)
            mask, positions = mask[index], positions[index]
        return _Batch(
            rows=[rows[i] for i in keep], cache=cache, mask=mask,
            next_ids=torch.tensor([[tokens[i]] for i in keep], device=mask.device),
            positions=positions[:, -1:] + 1,
        )


def start_engine(load: Callable[[], RunModel], max_batch: int = 8, max_queue: int = 64) -> tuple[RunModel, Engine]:
    """Load a run's model on a new thread and decode on that same thread; raises what
    ``load`` raises.

    Every torch call then runs on one thread. Once a second thread runs torch, each has its
    own OpenMP worker pool, the process holds more threads than cores, and libgomp stops
    spinning for work between kernels: a one-row bf16 decode step of the default model took
    69 ms on the thread that loaded it and 85-90 ms once another thread had run it (a one-row
    576x1536 bf16 matmul 78 us against 153 us; 2 vCPUs with AVX512-BF16).
    """
    ready: Future[tuple[RunModel, Engine]] = Future()

    def load_then_work() -> None:
        try:
            run_model = load()
            engine = Engine(run_model.model, run_model.tokenizer, max_batch, max_queue)
        except BaseException as exc:
            ready.set_exception(exc)
            return
        engine._thread = threading.current_thread()
        ready.set_result((run_model, engine))
        engine._work()

    threading.Thread(target=load_then_work, name=ENGINE_THREAD, daemon=True).start()
    return ready.result()


@dataclass
class _Batch:
    """Rows in flight: their KV cache, the attention mask over it (left padding is 0), the
    token each row feeds next and its position."""

    rows: list[_Row]
    cache: Any
    mask: Any
    next_ids: Any
    positions: Any

    def join(self, other: _Batch | None) -> _Batch:
        """One batch of both: the shorter cache and mask are padded on the left (masked), so
        every row keeps its own positions and attends to its own tokens only."""
        import torch

        if other is None:
            return self
        width = max(self.mask.shape[1], other.mask.shape[1])
        for mine, theirs in zip(self.cache.layers, other.cache.layers):
            mine.keys = torch.cat([_pad_left(mine.keys, width, -2), _pad_left(theirs.keys, width, -2)])
            mine.values = torch.cat([_pad_left(mine.values, width, -2), _pad_left(theirs.values, width, -2)])
        return _Batch(
            rows=self.rows + other.rows,
            cache=self.cache,
            mask=torch.cat([_pad_left(self.mask, width, -1), _pad_left(other.mask, width, -1)]),
            next_ids=torch.cat([self.next_ids, other.next_ids]),
            positions=torch.cat([self.positions, other.positions]),
        )


def _pad_left(tensor: Any, width: int, dim: int) -> Any:
    import torch

    missing = width - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([torch.zeros(shape, dtype=tensor.dtype, device=tensor.device), tensor], dim=dim)


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
