"""What a sweep leaves in its folder: the trials as trials.csv and trials.md, Optuna's plots
(optimisation history, parameter importances) as PNG images, and best.yaml, a config file
that `tune --config best.yaml` takes as it is."""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from domaintune.config import RunConfig
from domaintune.files import write_text_atomic
from domaintune.sweep.space import Param

BEST_FILE = "best.yaml"
LEFT_OUT_OF_BEST = {"output_dir"}
"""The sweep's folder is not a setting of the run that follows (the trials' short budgets are
not in the run's settings either: best.yaml keeps the budget the sweep was given)."""


def best_settings(study: optuna.Study, config: RunConfig) -> dict[str, Any] | None:
    """The run's settings with the best trial's values, as a config file holds them: only
    what differs from RunConfig's defaults, plus the domain and the searched values."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    best = min(complete, key=lambda trial: trial.value if trial.value is not None else math.inf)
    defaults = RunConfig(domain=config.domain).to_dict()
    settings = {
        key: value for key, value in config.to_dict().items()
        if key not in LEFT_OUT_OF_BEST and (key == "domain" or value != defaults[key])
    }
    settings.update(best.params)
    return settings


def write_outputs(study: optuna.Study, folder: Path, config: RunConfig, space: dict[str, Param]) -> Path | None:
    """trials.csv, trials.md, the plots, and best.yaml when a trial completed (its path)."""
    trials = study.get_trials(deepcopy=False)
    names = list(space)
    write_text_atomic(folder / "trials.csv", _csv(trials, names))
    plots = _plots(study, folder)
    write_text_atomic(folder / "trials.md", _markdown(trials, names, space, plots))
    settings = best_settings(study, config)
    if settings is None:
        return None
    best = study.best_trial
    header = (
        f"# tune sweep: trial {best.number} of {len(trials)}, validation loss {best.value:.4f}\n"
        f"# tune --config {BEST_FILE}\n"
    )
    write_text_atomic(folder / BEST_FILE, header + yaml.safe_dump(settings, sort_keys=False))
    return folder / BEST_FILE


def _row(trial: FrozenTrial, names: list[str]) -> list[str]:
    seconds = (
        f"{(trial.datetime_complete - trial.datetime_start).total_seconds():.0f}"
        if trial.datetime_start and trial.datetime_complete else ""
    )
    note = trial.user_attrs.get("failed") or trial.user_attrs.get("note", "")
    return [
        str(trial.number), trial.state.name.lower(),
        f"{trial.value:.4f}" if trial.value is not None else "",
        *(_value(trial.params.get(name)) for name in names),
        str(trial.user_attrs.get("steps", "")), seconds, _value(trial.user_attrs.get("validation_seconds")),
        str(note),
    ]


def _value(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


HEADER = ["trial", "state", "validation_loss"]
TRAILER = ["steps", "seconds", "validation_seconds", "note"]


def _csv(trials: list[FrozenTrial], names: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*HEADER, *names, *TRAILER])
    for trial in trials:
        writer.writerow(_row(trial, names))
    return out.getvalue()


def _markdown(trials: list[FrozenTrial], names: list[str], space: dict[str, Param], plots: list[str]) -> str:
    columns = [*HEADER, *names, *TRAILER]
    lines = [
        "# Sweep trials", "",
        "Scored by the loss on the answer tokens of validation rows carved from the training "
        "rows (lower is better); the final held-out rows were not used.", "",
        "Space: " + "; ".join(param.describe() for param in space.values()), "",
        "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
    ]
    for trial in trials:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in _row(trial, names)) + " |")
    lines.append("")
    lines.extend(f"![{name}]({name})" for name in plots)
    return "\n".join(lines) + "\n"


def _plots(study: optuna.Study, folder: Path) -> list[str]:
    """Optuna's own matplotlib plots; importances need two completed trials (and are left out
    before then)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    made = []
    charts = [("optimization_history.png", optuna_plots.plot_optimization_history)]
    if len(complete) >= 2:
        charts.append(("param_importances.png", optuna_plots.plot_param_importances))
    for name, plot in charts:
        with warnings.catch_warnings():  # these plots are marked experimental since Optuna 2.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            axes = plot(study)
        figure = axes.figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        partial = folder / f".{name}.partial.png"
        figure.savefig(partial, dpi=100)
        plt.close(figure)
        partial.replace(folder / name)
        made.append(name)
    return made
