"""`tune compare A B [C ...]`: runs and eval folders scored on the same rows, side by side:
each model's metrics, every pair's difference with its paired-bootstrap interval, and the rows
where they disagree. Folders scored on different rows are refused, naming the files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from domaintune.errors import ConfigError, DataError
from domaintune.evaluation.comparison import paired_bootstrap
from domaintune.evaluation.metrics import normalize_answer
from domaintune.evaluation.scoring import compute_metrics
from domaintune.report.examples import user_text

PREDICTIONS = "predictions.jsonl"
SEED = 0
MAX_DISAGREEMENTS_SHOWN = 100


@dataclass(frozen=True)
class Scored:
    """One folder's rows: the row keys (user text, reference) and each model's answers."""

    folder: Path
    domain: str
    keys: list[tuple[str, str]]
    answers: dict[str, list[str]]


def read_scored(folder: Path) -> Scored:
    """A run folder or an eval folder: its predictions.jsonl ("base"/"tuned" columns, or the
    one "model" column of `tune eval --model`/`--endpoint`) and the domain in metrics.json."""
    predictions, metrics = folder / PREDICTIONS, folder / "metrics.json"
    if not predictions.is_file() or not metrics.is_file():
        raise ConfigError(
            f"{folder}: no {PREDICTIONS} and metrics.json; pass run folders or eval folders "
            "(RUN_DIR/evals/<name>/, or the --output-dir of tune eval)."
        )
    rows = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines() if line.strip()]
    columns = ["base", "tuned"] if rows and "tuned" in rows[0] else ["model"]
    if rows and "few_shot" in rows[0]:
        columns.append("few_shot")
    summary = json.loads(metrics.read_text(encoding="utf-8"))
    label = folder.name if columns == ["model"] else None
    name = summary.get("model", folder.name) if label is None else f"{label} ({summary.get('model', '?')})"
    return Scored(
        folder=folder,
        domain=summary["domain"],
        keys=[(user_text(row), str(row["reference"]).strip()) for row in rows],
        answers={(f"{folder.name} {c}" if c != "model" else name): [str(row[c]) for row in rows] for c in columns},
    )


def aligned(scored: list[Scored]) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """The first folder's rows, and every model's answers in that order; refuses folders
    whose rows differ (as multisets of user text and reference)."""
    first = scored[0]
    order = sorted(range(len(first.keys)), key=first.keys.__getitem__)
    keys = [first.keys[i] for i in order]
    answers: dict[str, list[str]] = {}
    for other in scored:
        if other.domain != first.domain:
            raise DataError(
                f"{other.folder / 'metrics.json'} is domain {other.domain!r}, {first.folder / 'metrics.json'} "
                f"is {first.domain!r}: compare folders of one domain."
            )
        mine = sorted(range(len(other.keys)), key=other.keys.__getitem__)
        if [other.keys[i] for i in mine] != keys:
            only_first = set(first.keys) - set(other.keys)
            only_other = set(other.keys) - set(first.keys)
            example = next(iter(only_other or only_first), ("", ""))[0][:80]
            raise DataError(
                f"{first.folder / PREDICTIONS} ({len(first.keys)} rows) and {other.folder / PREDICTIONS} "
                f"({len(other.keys)} rows) are not scored on the same rows: {len(only_first)} only in the "
                f"first, {len(only_other)} only in the second (e.g. {example!r}). Compare folders "
                "scored on the same held-out file: `tune eval ... --data FILE` with the same FILE."
            )
        for name, values in other.answers.items():
            unique, n = name, 2
            while unique in answers:
                unique, n = f"{name} #{n}", n + 1
            answers[unique] = [values[i] for i in mine]
    return keys, answers


def compare_folders(folders: list[Path]) -> dict[str, Any]:
    """Metrics per model, every pair's paired interval (second minus first) and the rows where
    the models' answers differ."""
    from domaintune.evaluation.heldout import domain_metrics
    from domaintune.plugins import get_domain

    if len(folders) < 2:
        raise ConfigError("tune compare needs at least two folders (runs or eval folders).")
    scored = [read_scored(Path(folder)) for folder in folders]
    keys, answers = aligned(scored)
    if len(answers) < 2:
        raise ConfigError("tune compare: the folders hold only one model's answers; add another folder.")
    references = [reference for _, reference in keys]
    metrics = domain_metrics(get_domain(scored[0].domain))
    values = {name: compute_metrics(metrics, predicted, references) for name, predicted in answers.items()}
    pairs = []
    for first, second in combinations(answers, 2):
        for metric in metrics:
            interval = paired_bootstrap(metric, answers[first], answers[second], references, SEED)
            pairs.append({"first": first, "second": second, "metric": metric.name, **vars(interval)})
    disagreements = [
        {"row": i + 1, "user_text": key[0], "reference": key[1], "answers": {n: a[i] for n, a in answers.items()}}
        for i, key in enumerate(keys)
        if len({normalize_answer(a[i]) for a in answers.values()}) > 1
    ]
    return {
        "domain": scored[0].domain,
        "folders": [str(folder) for folder in folders],
        "rows": len(keys),
        "metrics": values,
        "pairs": pairs,
        "disagreements": disagreements,
    }
