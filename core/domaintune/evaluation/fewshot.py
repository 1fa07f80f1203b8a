"""The few-shot baseline: the base model prompted with K training examples before each row,
stratified by label and the same for every row, as many as fit within the model's context. It
answers "do we need fine-tuning at all?".

The limit is the model's context, not the run's max_length: max_length bounds a training row,
and K examples before a row make a prompt about K+1 rows long, so within max_length the
baseline was most often 0-shot (a legal run with max_length 256 fitted none of 2)."""

from __future__ import annotations

import dataclasses
import random
from typing import TYPE_CHECKING, Any

from domaintune.data.encoding import split_prompt_answer, tokenize_texts
from domaintune.domain import Message
from domaintune.evaluation.comparison import paired_bootstrap
from domaintune.evaluation.scoring import Predicted, compute_metrics
from domaintune.plugins import blame

if TYPE_CHECKING:
    import datasets

    from domaintune.evaluation.heldout import Scoring


def pick_examples(train_set: datasets.Dataset, k: int, seed: int, stratify: bool) -> list[int]:
    """``k`` training row indices, taken in turn from each label (sorted) when ``stratify``,
    in a seeded random order within each label."""
    groups: dict[str, list[int]] = {}
    for index, completion in enumerate(train_set["completion"]):
        groups.setdefault(completion.strip() if stratify else "", []).append(index)
    rng = random.Random(seed)
    for members in groups.values():
        rng.shuffle(members)
    picked: list[int] = []
    queues = [groups[label] for label in sorted(groups)]
    while len(picked) < k and any(queues):
        for queue in queues:
            if queue and len(picked) < k:
                picked.append(queue.pop(0))
    return picked


def with_shots(conversation: list[Message], shots: list[list[Message]]) -> list[Message]:
    """The row's conversation with the examples' turns after its system message(s)."""
    start = next((i for i, m in enumerate(conversation) if m["role"] != "system"), len(conversation))
    return conversation[:start] + [m for shot in shots for m in shot] + conversation[start:]


def few_shot_prompts(
    scoring: Scoring, eval_set: datasets.Dataset, train_set: datasets.Dataset, formatter: Any, k: int
) -> tuple[list[str], int]:
    """Every row's prompt with the first ``used`` of ``k`` picked examples, ``used`` the most
    for which every prompt still fits within the scoring's max_length (room left for the
    answer)."""
    domain, config, tokenizer = scoring.domain, scoring.config, scoring.tokenizer
    picked = train_set.select(pick_examples(train_set, k, config.seed, domain.task_type == "classification"))
    with blame(f"the formatter of domain {domain.name!r}"):
        shots = [[m for m in c if m["role"] != "system"] for c in formatter(picked.to_dict())]
        rows = formatter(eval_set.to_dict())
    answer_room = (
        max(len(ids) for ids in tokenize_texts(tokenizer, scoring.labels))
        if scoring.labels else domain.max_new_tokens
    )
    for used in range(len(shots), -1, -1):
        prompts, _ = split_prompt_answer([with_shots(row, shots[:used]) for row in rows], tokenizer)
        if max(len(ids) for ids in tokenize_texts(tokenizer, prompts)) <= config.max_length - answer_room:
            return prompts, used
    return scoring.prompts, 0


def few_shot_column(
    scoring: Scoring, base_model: Any, eval_set: datasets.Dataset, train_set: datasets.Dataset,
    formatter: Any, k: int,
) -> tuple[Predicted, dict[str, Any]]:
    """The base model's answers with the examples, and what they cost it: the examples used,
    within the model's context (``max_length`` in the result)."""
    from domaintune.model import context_length

    window = max(scoring.config.max_length, context_length(base_model, scoring.config.max_length))
    scoring = dataclasses.replace(scoring, config=dataclasses.replace(scoring.config, max_length=window))
    prompts, used = few_shot_prompts(scoring, eval_set, train_set, formatter, k)
    predicted = dataclasses.replace(scoring, prompts=prompts).predict(base_model, f"{used}-shot base")
    return predicted, {"asked": k, "examples": used, "max_length": window}


def few_shot_summary(
    scoring: Scoring, info: dict[str, Any], few_shot: Predicted, base: Predicted, tuned: Predicted
) -> dict[str, Any]:
    """The few-shot column: its metrics, and tuned minus few-shot and few-shot minus base,
    each with its paired interval."""
    metrics, refs, columns, seed = scoring.metrics, scoring.references, scoring.columns, scoring.config.seed
    return {
        **info,
        "metrics": compute_metrics(metrics, few_shot.predictions, refs, columns),
        "tuned_minus_few_shot": {
            m.name: vars(paired_bootstrap(m, few_shot.predictions, tuned.predictions, refs, seed, columns))
            for m in metrics
        },
        "few_shot_minus_base": {
            m.name: vars(paired_bootstrap(m, base.predictions, few_shot.predictions, refs, seed, columns))
            for m in metrics
        },
    }
