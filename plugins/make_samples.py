"""Rebuild the sample data bundled in the plugin packages from ../shared/data.

Only permissively licensed sets are bundled (see each package's data/ATTRIBUTION.md); the
non-commercial finance sets are read from a path at run time instead. Run from the repo root:
``python plugins/make_samples.py ../shared/data``.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterable
from pathlib import Path

# (plugin, source file, bundled name, train rows, eval rows)
SAMPLES = [
    ("legal", "legal/legalbench_overruling.train.jsonl", "overruling", 1000, 200),
    ("healthcare", "healthcare/pubmedqa.train.jsonl", "pubmedqa", 350, 150),
    ("healthcare", "healthcare/meqsum.train.jsonl", "meqsum", 500, 100),
    ("finance", "finance/tatqa.train.jsonl", "tatqa", 600, 100),
]
SEED = 20261124


def unique_prompts(rows: Iterable[dict]) -> list[dict]:
    """One row per distinct prompt (case and spacing ignored), so that no held-out prompt is
    also trained on; a prompt given conflicting answers is dropped altogether."""
    answers: dict[str, set[str]] = {}
    first: dict[str, dict] = {}
    for row in rows:
        key = " ".join(row["prompt"].lower().split())
        answers.setdefault(key, set()).add(row["completion"].strip())
        first.setdefault(key, row)
    return [row for key, row in first.items() if len(answers[key]) == 1]


def main(shared_data: Path) -> None:
    for plugin, source, name, train_rows, eval_rows in SAMPLES:
        # split("\n"), not splitlines(): the texts hold U+2028 and other line separators.
        rows = unique_prompts(
            json.loads(line) for line in (shared_data / source).read_text(encoding="utf-8").split("\n") if line.strip()
        )
        random.Random(SEED).shuffle(rows)
        if len(rows) < eval_rows + train_rows:
            raise SystemExit(f"{source}: only {len(rows)} distinct prompts for {eval_rows} + {train_rows} rows")
        target = Path("plugins") / plugin / f"domaintune_{plugin}" / "data"
        target.mkdir(parents=True, exist_ok=True)
        for split, chosen in (("eval", rows[:eval_rows]), ("train", rows[eval_rows:eval_rows + train_rows])):
            with (target / f"{name}.{split}.jsonl").open("w", encoding="utf-8") as handle:
                for row in chosen:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
