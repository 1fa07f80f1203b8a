"""Held-out files given to `tune eval --data`: read as a run reads its eval file, checked
against the training rows, and written out as an eval folder (metrics.json,
predictions.jsonl, report.html)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.config import RunConfig
from domaintune.data.filtering import apply_filters
from domaintune.data.keys import prompt_keys
from domaintune.data.labels import strip_labels
from domaintune.data.prepare import load_source
from domaintune.data.tasks import select_tasks
from domaintune.domain import Domain, SafetyFilter
from domaintune.errors import ConfigError
from domaintune.files import write_json_atomic, write_jsonl_atomic, write_text_atomic

if TYPE_CHECKING:
    import datasets

EVALS_FOLDER = "evals"
"""Inside a run folder: one subfolder per held-out file scored by `tune eval RUN --data`."""


def check_files(files: tuple[Path, ...] | list[Path]) -> None:
    """Every --data file exists, checked before any model loads."""
    missing = [str(path) for path in files if not Path(path).is_file()]
    if missing:
        raise ConfigError(f"--data: no such file: {', '.join(missing)}; pass held-out data files.")


def eval_names(files: list[Path]) -> list[str]:
    """A folder name per file: its stem, numbered when two files share one."""
    names: list[str] = []
    for path in files:
        name, n = Path(path).stem, 2
        while name in names:
            name, n = f"{Path(path).stem}-{n}", n + 1
        names.append(name)
    return names


def load_heldout_file(
    domain: Domain, config: RunConfig, path: Path, filters: list[SafetyFilter]
) -> tuple[datasets.Dataset, dict[str, Any]]:
    """The rows of ``path`` as a run reads its --eval-data file (see prepare_data): the
    run's tasks, labels stripped, the domain's data filters applied (none when ``filters`` is
    empty), at most ``config.eval_rows`` rows sampled with the run's seed; and what happened."""
    rows = load_source(domain, path, config.column_map, config.shape)
    if config.task:
        rows = select_tasks(rows, config.task, str(path))
    if domain.task_type == "classification":
        rows, _ = strip_labels(rows)
    rows, filtered = apply_filters(rows, filters)
    read = len(rows)
    if len(rows) > config.eval_rows:
        rows = rows.shuffle(seed=config.seed).select(range(config.eval_rows))
    info = {
        "eval_source": str(path),
        "eval_rows": len(rows),
        "rows_after_filters": read,
        "safety_filters": [f.name for f in filters],
        "eval_filter": filtered.as_dict(),
    }
    return rows, info


def training_overlap(train_set: datasets.Dataset, rows: datasets.Dataset) -> list[int]:
    """Indices of ``rows`` whose prompt (normalized as `tune data check` compares them) is
    also a training row's: scores on them measure memory, not generalisation."""
    train_keys = set(prompt_keys(train_set))
    return [i for i, key in enumerate(prompt_keys(rows)) if key in train_keys]


def overlap_warning(path: Path, overlap: list[int], total: int) -> str | None:
    if not overlap:
        return None
    shown = ", ".join(str(i + 1) for i in overlap[:10]) + (" ..." if len(overlap) > 10 else "")
    return (
        f"{len(overlap)} of {total} scored rows of {path} are in the run's training data (the "
        f"same prompt; scored rows {shown}): their scores are on rows the model trained on. "
        "Remove them from the file to measure held-out performance."
    )


def write_eval_folder(
    folder: Path, summary: dict[str, Any], predictions: list[dict[str, Any]], page: str
) -> None:
    """predictions.jsonl first and metrics.json after it, each written whole, then the page."""
    write_jsonl_atomic(folder / "predictions.jsonl", predictions)
    write_json_atomic(folder / "metrics.json", summary)
    write_text_atomic(folder / "report.html", page)
