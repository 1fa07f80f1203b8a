"""Is the tuned model really better? Paired bootstrap intervals and the examples that flipped."""

from __future__ import annotations

import random
from dataclasses import dataclass

from domaintune.domain import Metric
from domaintune.evaluation.metrics import normalize_answer
from domaintune.evaluation.scoring import Columns, metric_value

BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    difference: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def paired_bootstrap(
    metric: Metric,
    base: list[str],
    tuned: list[str],
    references: list[str],
    seed: int,
    columns: Columns | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Interval:
    """95% percentile interval of metric(tuned) - metric(base), resampling eval rows with
    replacement; both models are scored on the same resampled rows (a paired test), and a
    row's group (its task, say) goes with it."""
    rng = random.Random(seed)
    n = len(references)
    # Plain lists: indexing a datasets column row by row costs more than the metrics here.
    base, tuned, references = list(base), list(tuned), list(references)
    columns = {name: list(values) for name, values in (columns or {}).items()}
    differences = []
    for _ in range(resamples):
        rows = [rng.randrange(n) for _ in range(n)]
        pick = lambda values: [values[i] for i in rows]  # noqa: E731
        refs, picked_columns = pick(references), {k: pick(v) for k, v in columns.items()}
        differences.append(
            metric_value(metric, pick(tuned), refs, picked_columns)
            - metric_value(metric, pick(base), refs, picked_columns)
        )
    differences.sort()
    tail = (1 - CONFIDENCE) / 2
    return Interval(
        difference=metric_value(metric, tuned, references, columns)
        - metric_value(metric, base, references, columns),
        low=differences[int(tail * resamples)],
        high=differences[min(resamples - 1, int((1 - tail) * resamples))],
    )


def flipped_rows(base: list[str], tuned: list[str], references: list[str]) -> dict[str, list[int]]:
    """Row indices the tuning fixed (base wrong, tuned right) and broke (the reverse)."""
    fixed, broken = [], []
    for i, (b, t, r) in enumerate(zip(base, tuned, references)):
        base_right, tuned_right = normalize_answer(b) == normalize_answer(r), normalize_answer(t) == normalize_answer(r)
        if tuned_right and not base_right:
            fixed.append(i)
        elif base_right and not tuned_right:
            broken.append(i)
    return {"fixed": fixed, "broken": broken}
