"""Which rows train and which are held out for scoring, and the per-task cap on training rows.

The held-out split is seeded and stratified by task and label for classification data; a
training row whose normalized prompt is also held out is left out of training.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from domaintune.data.keys import prompt_keys
from domaintune.errors import DataError

if TYPE_CHECKING:
    import datasets


def split_indices(
    dataset: datasets.Dataset, eval_rows: int, seed: int, stratify: bool
) -> tuple[list[int], list[int], int]:
    """Train indices, held-out indices, and how many train rows were left out because their
    prompt (normalized) is also held out: a copy of an eval row in training inflates scores."""
    if eval_rows >= len(dataset):
        raise DataError(
            f"Cannot hold out {eval_rows} eval rows from {len(dataset)} rows; give a smaller "
            "eval_rows, more data, or a separate --eval-data file."
        )
    rng = random.Random(seed)
    indices = list(range(len(dataset)))
    if stratify:
        held_out = _stratified_eval_pick(dataset, eval_rows, rng)
    else:
        rng.shuffle(indices)
        held_out = indices[:eval_rows]
    held = set(held_out)
    train = [i for i in indices if i not in held]
    rng.shuffle(train)
    keys = prompt_keys(dataset)
    held_keys = {keys[i] for i in held_out}
    kept = [i for i in train if keys[i] not in held_keys]
    return kept, sorted(held_out), len(train) - len(kept)


def _largest_remainder(total: int, quotas: dict[Any, float]) -> dict[Any, int]:
    """Whole shares of ``total`` proportional to ``quotas`` that add up to exactly ``total``."""
    scale = sum(quotas.values())
    exact = {key: total * quota / scale for key, quota in quotas.items()}
    sizes = {key: int(share) for key, share in exact.items()}
    for key in sorted(exact, key=lambda k: (sizes[k] - exact[k], str(k)))[: total - sum(sizes.values())]:
        sizes[key] += 1
    return sizes


def _equal_task_sizes(members: dict[str, int], rows: int) -> dict[str, int]:
    """The same number of rows from every task; a task that can give fewer (``members``)
    gives what it can and the others share the rest."""
    sizes: dict[str, int] = {}
    open_tasks = dict(members)
    while open_tasks:
        share = _largest_remainder(rows - sum(sizes.values()), {task: 1.0 for task in open_tasks})
        short = {task: n for task, n in open_tasks.items() if n < share[task]}
        if not short:
            sizes.update(share)
            break
        sizes.update(short)
        for task in short:
            del open_tasks[task]
    return sizes


def _strata(dataset: datasets.Dataset) -> dict[str, dict[str, list[int]]]:
    """Row indices by task (one "" task when rows have none), then by label."""
    tasks = dataset["task"] if "task" in dataset.column_names else [""] * len(dataset)
    strata: dict[str, dict[str, list[int]]] = {}
    for index, (task, label) in enumerate(zip(tasks, dataset["completion"])):
        strata.setdefault(str(task), {}).setdefault(label.strip(), []).append(index)
    return strata


def _task_counts(strata: dict[str, dict[str, list[int]]]) -> dict[str, int]:
    return {task: sum(len(m) for m in by_label.values()) for task, by_label in strata.items()}


def _pick(strata: dict[str, dict[str, list[int]]], task_sizes: dict[str, int], rng: random.Random) -> list[int]:
    """``task_sizes[task]`` random indices of each task, keeping its label shares."""
    picked: list[int] = []
    for task in sorted(strata):
        by_label = strata[task]
        shares = _largest_remainder(task_sizes[task], {label: float(len(m)) for label, m in by_label.items()})
        for label in sorted(by_label):
            members = by_label[label]
            rng.shuffle(members)
            picked.extend(members[: shares[label]])
    rng.shuffle(picked)
    return picked


def _stratified_eval_pick(dataset: datasets.Dataset, rows: int, rng: random.Random) -> list[int]:
    """``rows`` indices that keep each label's share within each task, every task of a
    multi-task set giving the same number, so that each task's score (and their mean,
    LegalBench's headline) rests on as many rows as the others'."""
    strata = _strata(dataset)
    members = _task_counts(strata)
    if len(members) > 1:  # every task keeps at least half of its rows for training
        members = {task: n // 2 for task, n in members.items()}
    return _pick(strata, _equal_task_sizes(members, rows), rng)


def cap_rows_per_task(dataset: datasets.Dataset, limit: int, seed: int) -> datasets.Dataset:
    """At most ``limit`` rows of each task, each task's label shares kept (seeded)."""
    if "task" not in dataset.column_names:
        return dataset
    strata = _strata(dataset)
    members = _task_counts(strata)
    if max(members.values()) <= limit:
        return dataset
    return dataset.select(_pick(strata, {task: min(limit, n) for task, n in members.items()}, random.Random(seed)))


def split_train_eval(
    dataset: datasets.Dataset, eval_rows: int, seed: int, stratify: bool
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Hold out ``eval_rows`` rows deterministically, stratified by label when asked.

    Stratification keeps each label's share (each task's, in a multi-task set, where every
    task gives the same number of rows) in the held-out rows (within rounding), so that a
    small eval set still shows every label. Train rows whose prompt is also held out (exact
    or normalized duplicates) are left out of training, so the scores are not inflated.
    """
    train, held_out, _ = split_indices(dataset, eval_rows, seed, stratify)
    return dataset.select(train), dataset.select(held_out)
