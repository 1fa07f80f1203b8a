"""`tune eval RUN_DIR`: a finished run's base and tuned models scored again, and gated."""

from __future__ import annotations

from pathlib import Path

import click

from domaintune.cli.render import RichReporter, exit_on_gate_failures, friendly_errors, results_table, stdout
from domaintune.cli.run import gate_options


@click.command(name="eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@gate_options
def eval_command(run_dir: Path, fail_under: tuple[str, ...], max_regression: tuple[str, ...]) -> None:
    """Score a finished run's base and tuned models again on its held-out rows (writes eval.json)."""
    from domaintune.evaluation.gate import gate_failures, parse_thresholds
    from domaintune.evaluation.rerun import evaluate_run

    with friendly_errors():
        floors = parse_thresholds("--fail-under", fail_under)
        margins = parse_thresholds("--max-regression", max_regression)
        summary = evaluate_run(run_dir, RichReporter())
        stdout.print(results_table(summary))
        failures = gate_failures(summary, floors, margins)
    exit_on_gate_failures(failures)
