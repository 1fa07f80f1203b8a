"""Reading, validating, filtering and splitting domain data, before any model is loaded.

Every problem names the file, the line and the field, and says how to fix it; all problems
of a file are gathered (up to a limit) so that one run shows them all.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.domain import SafetyFilter
from domaintune.errors import DataError
from domaintune.plugins import blame

if TYPE_CHECKING:
    import datasets

MAX_REPORTED_PROBLEMS = 20
REQUIRED_FIELDS = ("prompt", "completion")


def _row_problems(row: Any) -> list[tuple[str, str]]:
    """(field, problem) pairs for one parsed JSON value."""
    if not isinstance(row, dict):
        return [("(row)", f"is a JSON {type(row).__name__}, expected an object with "
                 '"prompt" and "completion"')]
    problems = []
    for name in REQUIRED_FIELDS:
        if name not in row:
            problems.append((name, "is missing"))
        elif not isinstance(row[name], str):
            problems.append((name, f"is a {type(row[name]).__name__}, expected a string"))
        elif not row[name].strip():
            problems.append((name, "is empty"))
    return problems


def _jsonl_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """Parsed rows of a JSONL file with 1-based line numbers; raises DataError listing every
    bad line (up to a limit) once the whole file has been read."""
    problems: list[str] = []
    rows = 0
    with path.open("rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            if line_number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark, as Windows editors write it
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append(
                    f"{path}:{line_number}: byte {exc.start} is not UTF-8; re-save the file "
                    "as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
                )
                continue
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(
                    f"{path}:{line_number}: invalid JSON at column {exc.colno}: {exc.msg}; "
                    "each line must be one complete JSON object."
                )
                continue
            row_problems = _row_problems(row)
            if row_problems:
                problems.extend(
                    f"{path}:{line_number}: field {name!r} {problem}; every row needs "
                    'non-empty string fields "prompt" and "completion".'
                    for name, problem in row_problems
                )
                continue
            rows += 1
            yield line_number, row
    if problems:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(shown)
        raise DataError(
            f"{len(problems)} problem(s) in {path}:\n  "
            + "\n  ".join(shown)
            + (f"\n  ... and {more} more." if more else "")
        )
    if rows == 0:
        raise DataError(
            f"{path} has no rows; it must hold one JSON object per line with "
            '"prompt" and "completion".'
        )


def validate_jsonl(path: Path) -> int:
    """Check a JSONL file without keeping it in memory; return the number of rows."""
    return sum(1 for _ in _jsonl_lines(path))


def _normalized_rows(path: str) -> Iterator[dict[str, str]]:
    for _, row in _jsonl_lines(Path(path)):
        meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
        yield {
            "prompt": row["prompt"],
            "completion": row["completion"],
            "task": str(row.get("task") or meta.get("task") or ""),
        }


def read_jsonl(path: Path) -> datasets.Dataset:
    """Validate a prompt/completion JSONL file, then load it into Arrow (memory stays bounded).

    The ``task`` column carries ``task`` or ``meta.task`` (empty when absent) so that
    multi-task files can be scored per task.
    """
    import datasets

    if not path.is_file():
        raise DataError(f"Data file {path} does not exist; pass an existing file with --data.")
    validate_jsonl(path)
    stat = path.stat()
    return datasets.Dataset.from_generator(
        _normalized_rows,
        gen_kwargs={"path": str(path)},
        # The cache key must change when the file does.
        fingerprint=f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}",
        features=datasets.Features(
            {name: datasets.Value("string") for name in ("prompt", "completion", "task")}
        ),
    )


@dataclass
class FilterReport:
    """How the safety filters changed a dataset."""

    rows_in: int = 0
    rows_changed: int = 0
    rows_dropped: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_changed": self.rows_changed,
            "rows_dropped": self.rows_dropped,
            "counts": dict(sorted(self.counts.items())),
        }


TEXT_FIELDS = ("prompt", "completion")


def apply_filters(
    dataset: datasets.Dataset, filters: list[SafetyFilter]
) -> tuple[datasets.Dataset, FilterReport]:
    """Run every filter over the prompts and completions in batches; drop blocked rows."""
    report = FilterReport(rows_in=len(dataset))
    if not filters:
        return dataset, report

    def filter_batch(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        size = len(batch["prompt"])
        blocked = [False] * size
        changed = [False] * size
        for safety_filter in filters:
            for name in TEXT_FIELDS:
                with blame(f"safety filter {safety_filter.name!r}"):
                    outcome = safety_filter.apply(list(batch[name]))
                if len(outcome.texts) != size or len(outcome.blocked) != size:
                    raise DataError(
                        f"Safety filter {safety_filter.name!r} returned {len(outcome.texts)} "
                        f"texts for {size} inputs; a filter must return one text per input."
                    )
                for i, (before, after) in enumerate(zip(batch[name], outcome.texts)):
                    changed[i] |= before != after
                    blocked[i] |= outcome.blocked[i]
                batch[name] = outcome.texts
                report.counts.update(
                    {f"{safety_filter.name}:{kind}": n for kind, n in outcome.counts.items()}
                )
        report.rows_changed += sum(c and not b for c, b in zip(changed, blocked))
        report.rows_dropped += sum(blocked)
        return {key: [v for v, b in zip(values, blocked) if not b] for key, values in batch.items()}

    # Counts accumulate in this process, so keep a single worker and skip the cache.
    filtered = dataset.map(filter_batch, batched=True, batch_size=256, load_from_cache_file=False)
    return filtered, report


def split_train_eval(
    dataset: datasets.Dataset, eval_rows: int, seed: int, stratify: bool
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Hold out ``eval_rows`` rows deterministically, stratified by label when asked.

    Stratification keeps each label's share in the held-out rows (within rounding), so that a
    small eval set still shows every label.
    """
    if eval_rows >= len(dataset):
        raise DataError(
            f"Cannot hold out {eval_rows} eval rows from {len(dataset)} rows; give a smaller "
            "eval_rows, more data, or a separate --eval-data file."
        )
    rng = random.Random(seed)
    indices = list(range(len(dataset)))
    if stratify:
        by_label: dict[str, list[int]] = {}
        for index, label in enumerate(dataset["completion"]):
            by_label.setdefault(label.strip(), []).append(index)
        # Largest-remainder rounding: the shares add up to exactly eval_rows.
        quotas = {label: eval_rows * len(m) / len(dataset) for label, m in by_label.items()}
        sizes = {label: int(quota) for label, quota in quotas.items()}
        leftover = eval_rows - sum(sizes.values())
        for label in sorted(quotas, key=lambda l: (sizes[l] - quotas[l], l))[:leftover]:
            sizes[label] += 1
        held_out: list[int] = []
        for label in sorted(by_label):
            members = by_label[label]
            rng.shuffle(members)
            held_out.extend(members[: sizes[label]])
        rng.shuffle(held_out)
    else:
        rng.shuffle(indices)
        held_out = indices[:eval_rows]
    held = set(held_out)
    train = [i for i in indices if i not in held]
    rng.shuffle(train)
    return dataset.select(train), dataset.select(sorted(held_out))
