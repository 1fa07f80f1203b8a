"""`tune sweep`: parse the options, call domaintune.sweep, show where the outputs are."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from domaintune.cli.console import RichReporter
from domaintune.cli.render import friendly_errors, stdout
from domaintune.cli.run import RUN_OPTIONS

SWEEP_RUN_OPTIONS = {
    "--domain", "--data", "--eval-data", "--map", "--shape", "--task", "--model", "--method",
    "--eval-rows", "--batch-size", "--gradient-accumulation", "--time-budget-minutes", "--seed",
    "--precision", "--trust-remote-code",
}
"""The run options a sweep takes: the data, the model and what the trials do not search.
--output-dir is the sweep folder; --time-budget-minutes is the budget of the --final runs."""


def sweep_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for name, kwargs in reversed(RUN_OPTIONS):
        if name in SWEEP_RUN_OPTIONS:
            function = click.option(name, default=None, **kwargs)(function)
    return function


@click.command("sweep")
@sweep_options
@click.option("--trials", type=int, required=True, help="Trials to finish (completed or pruned).")
@click.option("--budget-minutes", type=float, required=True, help="Minutes for the whole sweep, trials included.")
@click.option("--space", "space_file", type=click.Path(path_type=Path), default=None,
              help="YAML or TOML file changing the search space (see the README).")
@click.option("--output-dir", default=None, help="Sweep folder (default: sweeps/<domain>); the same folder resumes.")
@click.option("--final", is_flag=True,
              help="Then run the best settings and the defaults on the full budget and compare them on the held-out rows.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="YAML or TOML file of run settings; options given here override it.")
def sweep_command(
    trials: int, budget_minutes: float, space_file: Path | None, output_dir: str | None, final: bool,
    config_file: Path | None, **options: Any,
) -> None:
    """Search a domain's run settings with Optuna within a time budget, scoring each trial
    on validation rows carved from the training rows (never the held-out rows)."""
    with friendly_errors():
        from domaintune.sweep.study import prepare_sweep, run_sweep, sweep_folder

        settings, space = prepare_sweep(options, config_file, trials, budget_minutes, space_file)
        folder = sweep_folder(settings.config.domain, output_dir)
        outcome = run_sweep(settings, space, trials, budget_minutes, folder, RichReporter())
        if outcome.stopped_by_budget:
            stdout.print(f"The budget of {budget_minutes:g} minutes ended the sweep before {trials} trials.")
        stdout.print(f"Trials: {folder / 'trials.md'}", markup=False, emoji=False)
        if outcome.best_file is None:
            stdout.print("No trial completed: no best.yaml.")
            return
        stdout.print(f"Best settings: {outcome.best_file} (tune --config {outcome.best_file})", markup=False, emoji=False)
        if final:
            from domaintune.sweep.final import render_comparison, run_final

            stdout.print(render_comparison(run_final(settings, folder, RichReporter())), markup=False)
