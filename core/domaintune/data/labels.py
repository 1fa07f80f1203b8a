"""Label completions without stray white space: what a classification run trains on is what
it scores (scoring strips the labels), so "Yes ", " No" and "No\t" become "Yes" and "No"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets


def strip_labels(dataset: datasets.Dataset) -> tuple[datasets.Dataset, int]:
    """``dataset`` with each completion (and a chat row's last message) stripped, and how
    many rows changed; the dataset itself when none did."""
    changed = sum(
        sum(label != label.strip() for label in batch["completion"])
        for batch in dataset.select_columns(["completion"]).iter(batch_size=8192)
    )
    if not changed:
        return dataset, 0
    has_messages = "messages" in dataset.column_names

    def strip_batch(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        batch["completion"] = [label.strip() for label in batch["completion"]]
        if has_messages:
            batch["messages"] = [
                [*conversation[:-1], {**conversation[-1], "content": conversation[-1]["content"].strip()}]
                if conversation else conversation
                for conversation in batch["messages"]
            ]
        return batch

    return dataset.map(strip_batch, batched=True, batch_size=1024, load_from_cache_file=False), changed
