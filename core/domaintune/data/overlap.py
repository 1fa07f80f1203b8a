"""An eval file that shares rows with the training data: the shared rows leave training, and an
eval file wholly inside the training data is refused, since its scores would be on rows the
model trained on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domaintune.data.keys import prompt_keys
from domaintune.errors import DataError

if TYPE_CHECKING:
    import datasets


def drop_eval_overlap(
    train: datasets.Dataset, eval_set: datasets.Dataset, train_source: str, eval_source: str
) -> tuple[datasets.Dataset, int]:
    """``train`` without the rows whose prompt (normalized for case, Unicode forms and white
    space, as `tune data check` compares them) is also an eval row's, and how many left.

    The eval rows stay as they are: an eval file is a benchmark, compared across runs.
    """
    eval_keys = set(prompt_keys(eval_set))
    train_keys = prompt_keys(train)
    kept = [index for index, key in enumerate(train_keys) if key not in eval_keys]
    if eval_keys and eval_keys <= set(train_keys):
        raise DataError(
            f"--eval-data: all {len(eval_set)} rows of the eval data {eval_source} are in the "
            f"training data {train_source} (the same prompt, after normalizing case and spaces), "
            "so its scores would be on rows the model trained on. To score on rows held out "
            "from the training data, leave out --eval-data; else give an eval file whose rows "
            "are not in the training data."
        )
    if not kept:
        raise DataError(
            f"--data: every row of the training data {train_source} is also in the eval data "
            f"{eval_source}, so nothing is left to train on; give training rows that are not "
            "in the eval file."
        )
    dropped = len(train_keys) - len(kept)
    return (train.select(kept) if dropped else train), dropped
