"""Experiment tracking (`--report-to`): Trainer's own TensorBoard or MLflow callback for the
training curves, into stores inside the run folder only, and the run's results (metrics, their
intervals, safety counts) logged beside them once scoring is done.

Nothing leaves the machine: TensorBoard writes event files to RUN_DIR/tensorboard; MLflow gets
a sqlite: tracking URI of RUN_DIR/mlflow.db, set explicitly (so no server or environment default is
used) and its telemetry off.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRACKERS = ("none", "tensorboard", "mlflow")
"""--report-to values. Trainer offers more integrations, but the others here (wandb, comet,
neptune, clearml, trackio...) send to a service or need an account; these two stay local."""

MLFLOW_DATABASE = "mlflow.db"
"""The run's MLflow store (runs, metrics), in the run folder; artifacts go beside it."""

MLFLOW_EXPERIMENT = "domaintune"

INSTALL_HINT = "pip install 'domaintune[tracking]'"


@dataclass
class Tracker:
    """One run's tracker: Trainer callbacks for the curves, then `log_results`."""

    kind: str
    run_dir: Path
    callbacks: list[Any] = field(default_factory=list)
    _writer: Any = None
    _mlflow: Any = None

    def log_results(self, summary: dict[str, Any]) -> None:
        """The held-out figures, at the last training step, beside the training curves."""
        values = result_values(summary)
        step = int(summary.get("train", {}).get("steps", 0))
        if self._writer is not None:
            for name, value in values.items():
                self._writer.add_scalar(name, value, step)
            self._writer.flush()
        if self._mlflow is not None:
            self._mlflow.log_metrics({name.replace("/", "_"): value for name, value in values.items()}, step=step)


def result_values(summary: dict[str, Any]) -> dict[str, float]:
    """results/... scalars from a run's summary: base and tuned metrics, the difference and its
    95% interval, general knowledge, and the safety counts (canaries, rows masked or dropped)."""
    values: dict[str, float] = {}
    for which in ("base", "tuned"):
        for name, value in summary.get(which, {}).items():
            values[f"results/{which}/{name}"] = float(value)
    for name, change in summary.get("tuned_minus_base", {}).items():
        for key in ("difference", "low", "high"):
            values[f"results/tuned_minus_base/{name}/{key}"] = float(change[key])
    general = summary.get("general_knowledge", {})
    for which in ("base", "tuned"):
        if which in general:
            values[f"results/general_knowledge/{which}"] = float(general[which])
    data = summary.get("data", {})
    for split in ("train_filter", "eval_filter"):
        report = data.get(split, {})
        for key in ("rows_in", "rows_changed", "rows_dropped"):
            if key in report:
                values[f"safety/{split}/{key}"] = float(report[key])
        for kind, count in report.get("counts", {}).items():
            values[f"safety/{split}/{kind}"] = float(count)
    canaries = data.get("canaries", {})
    for prefix, figures in (("", canaries), ("tuned_model/", canaries.get("tuned_model", {}))):
        for key, value in figures.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values[f"safety/canaries/{prefix}{key}"] = float(value)
    return values


def tracker_problems(values: Mapping[str, Any]) -> list[str]:
    """Checked with the rest of the config, before any work: the tracker's package is
    installed (the value itself is checked against RunConfig.report_to's choices)."""
    import importlib.util

    kind = values.get("report_to", "none")
    if kind in TRACKERS and kind != "none" and importlib.util.find_spec(kind) is None:
        return [
            f"report_to: {kind} needs the {kind} package, which is not installed; "
            f"{INSTALL_HINT} (or --report-to none)"
        ]
    return []


@contextlib.contextmanager
def open_tracker(kind: str, run_dir: Path) -> Iterator[Tracker]:
    """The tracker for one run, closed (its files flushed, the MLflow run ended) at the end."""
    tracker = Tracker(kind, run_dir)
    if kind == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback

        tracker._writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        tracker.callbacks.append(TensorBoardCallback(tb_writer=tracker._writer))
    elif kind == "mlflow":
        # Read when mlflow is imported and by Trainer's MLflowCallback: set both first.
        os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
        os.environ["DO_NOT_TRACK"] = "true"
        # The file store is retired in MLflow 3; a SQLite file in the run folder replaces it.
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{(run_dir / MLFLOW_DATABASE).resolve()}"
        import mlflow
        from transformers.integrations import MLflowCallback

        # mlflow gives its logger a stderr handler on import: its lines go to train.log instead.
        logging.getLogger("mlflow").handlers.clear()
        logging.getLogger("mlflow").propagate = True
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        if mlflow.get_experiment_by_name(MLFLOW_EXPERIMENT) is None:
            # Artifacts inside the run folder too, not in ./mlruns of wherever tune was started.
            artifacts = (run_dir / "mlflow-artifacts").resolve().as_uri()
            mlflow.create_experiment(MLFLOW_EXPERIMENT, artifact_location=artifacts)
        mlflow.set_experiment(MLFLOW_EXPERIMENT)
        # Started here, so that Trainer's callback logs into it and leaves it open for the results.
        mlflow.start_run(run_name=run_dir.name)
        tracker._mlflow = mlflow
        tracker.callbacks.append(MLflowCallback())
    try:
        yield tracker
    finally:
        if tracker._writer is not None:
            tracker._writer.close()
        if tracker._mlflow is not None:
            tracker._mlflow.end_run()
