"""The domain's safety filters over a dataset, batched: changed and dropped rows, counted."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from domaintune.data.rows import TEXT_FIELDS, prompt_of
from domaintune.domain import SafetyFilter
from domaintune.errors import DataError
from domaintune.plugins import blame

if TYPE_CHECKING:
    import datasets


@dataclass
class FilterReport:
    """How the safety filters changed a dataset."""

    rows_in: int = 0
    rows_changed: int = 0
    rows_dropped: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    dropped_rows: list[int] = field(default_factory=list)
    """Indices (0-based) of the first dropped rows, for `tune data check`."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_changed": self.rows_changed,
            "rows_dropped": self.rows_dropped,
            "counts": dict(sorted(self.counts.items())),
        }


def apply_filters(
    dataset: datasets.Dataset, filters: list[SafetyFilter], cache_file_name: str | None = None
) -> tuple[datasets.Dataset, FilterReport]:
    """Run every filter over the prompts and completions in batches; drop blocked rows.

    Chat rows are filtered message by message (system turns included), and their prompt and
    completion are rebuilt from the filtered messages, so the two can never disagree.
    """
    report = FilterReport(rows_in=len(dataset))
    if not filters:
        return dataset, report
    has_messages = "messages" in dataset.column_names

    def filter_batch(batch: dict[str, list[Any]], indices: list[int]) -> dict[str, list[Any]]:
        size = len(batch["prompt"])
        blocked = [False] * size
        changed = [False] * size
        if has_messages:
            # Rows without messages (a plugin's dataset may mix) contribute prompt and completion.
            parts = [
                [m["content"] for m in conversation] if conversation else [p, c]
                for conversation, p, c in zip(batch["messages"], batch["prompt"], batch["completion"])
            ]
            owners = [i for i, texts in enumerate(parts) for _ in texts]
            fields = {"messages": [text for texts in parts for text in texts]}
        else:
            owners = list(range(size))
            fields = {name: list(batch[name]) for name in TEXT_FIELDS}
        for safety_filter in filters:
            for name, texts in fields.items():
                with blame(f"safety filter {safety_filter.name!r}"):
                    outcome = safety_filter.apply(list(texts))
                if len(outcome.texts) != len(texts) or len(outcome.blocked) != len(texts):
                    raise DataError(
                        f"Safety filter {safety_filter.name!r} returned {len(outcome.texts)} "
                        f"texts for {len(texts)} inputs; a filter must return one text per input."
                    )
                for owner, before, after, is_blocked in zip(owners, texts, outcome.texts, outcome.blocked):
                    changed[owner] |= before != after
                    blocked[owner] |= bool(is_blocked)
                fields[name] = list(outcome.texts)
                report.counts.update(
                    {f"{safety_filter.name}:{kind}": n for kind, n in outcome.counts.items()}
                )
        if has_messages:
            filtered = iter(fields["messages"])
            for i, conversation in enumerate(batch["messages"]):
                if conversation:
                    conversation = [{**m, "content": next(filtered)} for m in conversation]
                    batch["messages"][i] = conversation
                    batch["prompt"][i] = prompt_of(conversation)
                    batch["completion"][i] = conversation[-1]["content"]
                else:
                    batch["prompt"][i], batch["completion"][i] = next(filtered), next(filtered)
        else:
            batch.update(fields)
        report.rows_changed += sum(c and not b for c, b in zip(changed, blocked))
        report.rows_dropped += sum(blocked)
        room = 20 - len(report.dropped_rows)
        report.dropped_rows.extend([i for i, b in zip(indices, blocked) if b][:max(room, 0)])
        return {key: [v for v, b in zip(values, blocked) if not b] for key, values in batch.items()}

    # Counts accumulate in this process, so keep a single worker and skip the cache.
    filtered = dataset.map(
        filter_batch, batched=True, batch_size=256, with_indices=True,
        load_from_cache_file=False, cache_file_name=cache_file_name,
    )
    return filtered, report
