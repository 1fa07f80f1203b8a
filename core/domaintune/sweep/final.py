"""`tune sweep --final`: the best settings and the default ones each run as a whole job on
the full budget, then scored against each other on the real held-out rows (the same rows, a
paired bootstrap interval per metric)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from domaintune.config import build_config, read_config_file
from domaintune.errors import ConfigError, DataError
from domaintune.evaluation.comparison import paired_bootstrap
from domaintune.evaluation.scoring import metric_value
from domaintune.files import write_json_atomic, write_text_atomic
from domaintune.progress import Reporter, SilentReporter
from domaintune.settings import RunSettings, settings_for
from domaintune.sweep.outputs import BEST_FILE

FINAL_FOLDER = "final"


def run_final(settings: RunSettings, folder: Path, reporter: Reporter | None = None) -> dict[str, Any]:
    """Run the defaults (``settings`` as given) and best.yaml's settings, each in its own run
    folder under ``folder``/final, and compare their tuned answers on the held-out rows."""
    from domaintune.run import run_job

    reporter = reporter or SilentReporter()
    best_file = folder / BEST_FILE
    if not best_file.is_file():
        raise ConfigError(
            f"--final: {best_file} does not exist: no trial of this sweep completed yet; run the "
            "sweep (more --trials or --budget-minutes) first."
        )
    base = settings.config
    best_values = read_config_file(best_file)
    best = build_config(base.to_dict(), best_values)
    summaries, answers = {}, {}
    for name, config in (("defaults", base), ("best", best)):
        run_dir = folder / FINAL_FOLDER / name
        config = dataclasses.replace(config, output_dir=str(run_dir))
        reporter.step(f"Final run with the {name} settings in {run_dir}")
        summaries[name] = run_job(config, reporter, settings=settings_for(config)).summary
        answers[name] = [
            json.loads(line) for line in (run_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    defaults_rows, best_rows = answers["defaults"], answers["best"]
    if [(r["prompt"], r["reference"]) for r in defaults_rows] != [(r["prompt"], r["reference"]) for r in best_rows]:
        raise DataError(
            f"The two final runs in {folder / FINAL_FOLDER} were scored on different rows; this is a "
            "bug in the held-out split, please report it."
        )
    references = [str(row["reference"]) for row in defaults_rows]
    columns = _group_columns(settings, len(references))
    comparison: dict[str, Any] = {"rows": len(references), "metrics": {}}
    for metric in settings.parts.metrics:
        default_answers = [str(r["tuned"]) for r in defaults_rows]
        best_answers = [str(r["tuned"]) for r in best_rows]
        interval = paired_bootstrap(metric, default_answers, best_answers, references, base.seed, columns)
        comparison["metrics"][metric.name] = {
            "defaults": metric_value(metric, default_answers, references, columns),
            "best": metric_value(metric, best_answers, references, columns),
            "best_minus_defaults": vars(interval),
            "interval_excludes_zero": interval.excludes_zero,
        }
    comparison["best_settings"] = best_values
    write_json_atomic(folder / FINAL_FOLDER / "comparison.json", comparison)
    write_text_atomic(folder / FINAL_FOLDER / "comparison.md", render_comparison(comparison))
    return comparison


def _group_columns(settings: RunSettings, rows: int) -> dict[str, list[str]]:
    """The held-out rows' groups (their tasks, say) that the domain's metrics average over,
    read as the runs read them: the same split, in the same order."""
    from domaintune.data.prepare import prepare_data

    wanted = {metric.group_by for metric in settings.parts.metrics if metric.group_by}
    if not wanted:
        return {}
    _, held_out, _ = prepare_data(
        settings.domain, settings.config, filters=settings.parts.data_filters, train_rows=settings.train_rows
    )
    if len(held_out) != rows:
        raise DataError(f"The final runs scored {rows} rows, the held-out split has {len(held_out)}; please report it.")
    return {name: [str(v) for v in held_out[name]] for name in sorted(wanted & set(held_out.column_names))}


def render_comparison(comparison: dict[str, Any]) -> str:
    lines = [
        "# Sweep: best settings against the defaults on the held-out rows", "",
        f"{comparison['rows']} held-out rows, never seen by any trial; 95% paired bootstrap interval.", "",
        "| metric | defaults | best | best - defaults | 95% interval |", "|---|---|---|---|---|",
    ]
    for name, figures in comparison["metrics"].items():
        change = figures["best_minus_defaults"]
        lines.append(
            f"| {name} | {figures['defaults']:.3f} | {figures['best']:.3f} | {change['difference']:+.3f} "
            f"| {change['low']:+.3f} to {change['high']:+.3f} |"
        )
    return "\n".join(lines) + "\n"
