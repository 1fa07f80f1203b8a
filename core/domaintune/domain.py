"""Value objects that plugins build and the core consumes: domains, metrics, safety filters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Message = dict[str, str]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""

Batch = Mapping[str, Sequence[Any]]
"""A batch of rows as ``datasets.map(batched=True)`` passes it: column name -> values."""

Formatter = Callable[[Batch], list[list[Message]]]
"""Turns a batch of rows into one conversation per row; the last message is the assistant's
answer (the training target, and the reference when scoring)."""

TaskType = Literal["classification", "generation"]

DEFAULT_CANARY_KINDS = ("SSN", "PHONE", "EMAIL")
"""The identifiers every domain's data filters are expected to catch."""


@dataclass(frozen=True)
class Domain:
    """A domain a plugin offers: what `tune --domain NAME` trains on and how it is judged.

    ``task_type`` decides how the model is scored: ``classification`` compares the
    log-likelihood of each label after the prompt; ``generation`` decodes greedily.
    """

    name: str
    description: str
    task_type: TaskType
    system_prompt: str
    train_data: Path | None = None
    eval_data: Path | None = None
    labels: tuple[str, ...] = ()
    max_new_tokens: int = 32
    data_attribution: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Run-config values that suit this domain (e.g. ``max_length``); the user's config and
    command-line options override them."""
    variants: tuple[str, ...] = ()
    """Other domains of the same pack that ``--domain NAME --data FILE`` hands over to when
    FILE's answers fit them better: a classification variant when every answer is one of its
    labels, a generation variant when the answers are not this domain's labels. So ``tune
    --domain finance --data phrasebank.jsonl`` runs the finance pack's sentiment task."""
    tasks: str = ""
    """Comma-separated task-name patterns (``--task``'s syntax, e.g. ``"CUAD_*"``) for a
    variant: it takes over when every row of the data has a task that matches, and its answers
    are among its labels. So ``--domain legal --data cuad.jsonl`` gets the defaults that suit
    38 contract tasks."""
    canary_kinds: tuple[str, ...] = DEFAULT_CANARY_KINDS
    """Kinds of fake identifier a run with ``--canaries N`` plants in the training prompts:
    the identifiers this domain's data filters must catch (a finance pack adds
    ``CARD_NUMBER`` and ``IBAN``), among ``domaintune.safety.canaries.PLANTABLE_KINDS``."""


@dataclass(frozen=True)
class Metric:
    """A score over a whole eval set. ``compute(predictions, references)`` returns one float.

    With ``group_by`` (an eval column such as ``"task"``) the metric is also reported per
    group when the eval set has several; ``macro`` makes the headline figure the mean over
    groups (as LegalBench averages over tasks) instead of the figure over all rows.
    """

    name: str
    compute: Callable[[list[str], list[str]], float]
    higher_is_better: bool = True
    group_by: str | None = None
    macro: bool = False


@dataclass
class FilterOutcome:
    """What a safety filter did to a batch of texts.

    ``texts`` has one (possibly rewritten) text per input; ``blocked[i]`` marks a text that
    must not be used (a training row is dropped, a generated answer is flagged); ``counts``
    tallies findings by type, e.g. ``{"EMAIL": 2, "privileged": 1}``.
    """

    texts: list[str]
    blocked: list[bool]
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SafetyFilter:
    """A named, batched filter over texts. ``apply`` must be deterministic and idempotent.

    An output filter with ``reads_prompts`` is called as ``apply(answers, context=prompts)``,
    ``prompts[i]`` being the prompt ``answers[i]`` replied to (a citation checker needs it).
    """

    name: str
    apply: Callable[..., FilterOutcome]
    reads_prompts: bool = False
    evaluate: Callable[[], Mapping[str, Any]] | None = None
    """Scores the filter on its pack's labelled test set (recall, precision, false-positive
    rate...) and returns those figures; a run calls it once and puts them in its report, so
    that every report says how well the filters that ran are known to work."""
