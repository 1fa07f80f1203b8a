"""Re-scoring a finished run's base and tuned models: on the rows it held out (`tune eval
RUN`), or on new held-out files (`tune eval RUN --data FILE`, one eval folder per file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from domaintune.data.prepare import prepare_data
from domaintune.errors import ConfigError
from domaintune.evaluation.heldout import Scoring
from domaintune.evaluation.heldout_files import (
    EVALS_FOLDER,
    check_files,
    eval_names,
    load_heldout_file,
    overlap_warning,
    training_overlap,
    write_eval_folder,
)
from domaintune.files import write_json_atomic
from domaintune.progress import LIBRARY_LOG, Reporter, SilentReporter, library_logs_into, quiet_libraries

if TYPE_CHECKING:
    from domaintune.settings import RunSettings


def run_settings(run_dir: Path) -> RunSettings:
    """The settings a run folder was trained with; refuses a folder without a trained model."""
    from domaintune.config import build_config
    from domaintune.settings import settings_for

    saved = run_dir / "config.yaml"
    if not saved.is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml); pass the folder a run wrote.")
    settings = settings_for(build_config(yaml.safe_load(saved.read_text(encoding="utf-8"))), for_run=False)
    if not tuned_dir(run_dir, settings).is_dir():
        raise ConfigError(
            f"{run_dir} holds no trained model ({tuned_dir(run_dir, settings).name}/): the run did not finish."
        )
    return settings


def tuned_dir(run_dir: Path, settings: RunSettings) -> Path:
    return run_dir / ("adapter" if settings.config.uses_adapter else "model")


def run_models(run_dir: Path, settings: RunSettings) -> Iterator[tuple[str, Any]]:
    """("base", model) then ("tuned", model), in the dtype the run scored them in."""
    from domaintune.model import load_model, resolve_model
    from domaintune.training.methods import cast_frozen_weights

    config = settings.config
    model = load_model(
        resolve_model(config.model), quantize_4bit=config.method == "qlora",
        trust_remote_code=config.trust_remote_code,
    )
    model = cast_frozen_weights(model, config)
    yield "base", model
    if config.uses_adapter:
        from peft import PeftModel

        # Unmerged, as the run scored it: merging into bf16 weights rounds the update away.
        model = PeftModel.from_pretrained(model, tuned_dir(run_dir, settings))
    else:
        model = load_model(str(tuned_dir(run_dir, settings)), trust_remote_code=config.trust_remote_code)
    yield "tuned", model


def _run_data(settings: RunSettings, reporter: Reporter, step: str) -> tuple[Any, Any, dict[str, Any]]:
    """A finished run's training rows, held-out rows and data figures, read and filtered as
    the run read them (the canaries it planted are no figure of the data)."""
    quiet_libraries()
    reporter.step(f"{step} for domain {settings.domain.name!r}")
    train_set, eval_set, data_info = prepare_data(settings.domain, settings.config, filters=settings.parts.data_filters)
    data_info.pop("planted_rows", None)
    return train_set, eval_set, data_info


def evaluate_run(run_dir: Path, reporter: Reporter | None = None) -> dict[str, Any]:
    """Score a finished run's base and tuned models again on its held-out rows, with the
    settings it was trained with; writes ``eval.json`` in the run folder and returns it
    (library logs go to RUN_DIR/evals/library.log)."""
    settings = run_settings(run_dir)  # a run folder, before anything is written in it
    with library_logs_into(Path(run_dir) / EVALS_FOLDER / LIBRARY_LOG):
        return _evaluate_run(run_dir, settings, reporter or SilentReporter())


def _evaluate_run(run_dir: Path, settings: RunSettings, reporter: Reporter) -> dict[str, Any]:
    from domaintune.model import load_tokenizer, model_label, resolve_model
    from domaintune.training.distributed import start_processes

    train_set, eval_set, data_info = _run_data(settings, reporter, "Loading held-out data")
    config, domain, parts = settings.config, settings.domain, settings.parts
    reporter.step("Loading the models")
    tokenizer = load_tokenizer(resolve_model(config.model), trust_remote_code=config.trust_remote_code)
    scoring = Scoring.build(
        domain, config, tokenizer, parts, train_set, eval_set, start_processes(), reporter
    )
    predicted, general = {}, {}
    for which, model in run_models(run_dir, settings):
        predicted[which] = scoring.predict(model, which)
        general[which] = scoring.general_knowledge(model)
    comparison, _ = scoring.compare(predicted["base"], predicted["tuned"], train_set)
    summary = {
        "domain": domain.name,
        "model": model_label(config.model),
        "data": data_info,
        **comparison,
        "general_knowledge": {
            "base": general["base"][0], "tuned": general["tuned"][0], "rows": general["base"][1],
        },
    }
    write_json_atomic(run_dir / "eval.json", summary)
    return summary


def evaluate_run_on_files(
    run_dir: Path, files: list[Path], reporter: Reporter | None = None, few_shot: int = 0
) -> dict[str, dict[str, Any]]:
    """Score a finished run's base and tuned models on each held-out file, with the run's
    settings and filters: the run's figures (intervals, flips, per-task figures, the
    forgetting check), written to RUN_DIR/evals/<file stem>/. Rows of a file that are in the
    run's training data are counted and warned about. ``few_shot``: also the base model with
    that many training examples in each prompt (see evaluation.fewshot), a third column.
    Returns {eval name: metrics}; library logs go to RUN_DIR/evals/library.log."""
    check_files(files)
    settings = run_settings(run_dir)  # a run folder, before anything is written in it
    with library_logs_into(Path(run_dir) / EVALS_FOLDER / LIBRARY_LOG):
        return _evaluate_run_on_files(run_dir, settings, files, reporter or SilentReporter(), few_shot)


def _evaluate_run_on_files(
    run_dir: Path, settings: RunSettings, files: list[Path], reporter: Reporter, few_shot: int
) -> dict[str, dict[str, Any]]:
    from domaintune.evaluation.fewshot import few_shot_column, few_shot_summary
    from domaintune import __version__
    from domaintune.model import load_tokenizer, model_label, resolve_model
    from domaintune.report import render_html
    from domaintune.training.distributed import start_processes

    train_set, _, run_data = _run_data(settings, reporter, "Reading the run's training data and the held-out files")
    config, domain, parts = settings.config, settings.domain, settings.parts
    tokenizer = load_tokenizer(resolve_model(config.model), trust_remote_code=config.trust_remote_code)
    processes = start_processes()
    scorings, infos, warnings, eval_sets = [], [], [], []
    for path in files:
        rows, info = load_heldout_file(domain, config, Path(path), parts.data_filters)
        overlap = training_overlap(train_set, rows)
        info |= {"train_source": run_data["train_source"], "train_rows": run_data["train_rows"],
                 "training_overlap": {"rows": len(overlap), "row_numbers": [i + 1 for i in overlap]}}
        warning = overlap_warning(Path(path), overlap, len(rows))
        if warning:
            reporter.step(f"Warning: {warning}")
        warnings.append([warning] if warning else [])
        infos.append(info)
        eval_sets.append(rows)
        scorings.append(Scoring.build(domain, config, tokenizer, parts, train_set, rows, processes, reporter))
    reporter.step("Loading the models")
    predicted: list[dict[str, Any]] = [{} for _ in files]
    general = {}
    for which, model in run_models(run_dir, settings):
        for i, scoring in enumerate(scorings):
            predicted[i][which] = scoring.predict(model, which)
            if few_shot and which == "base":
                predicted[i]["few_shot"] = few_shot_column(
                    scoring, model, eval_sets[i], train_set, parts.formatter, few_shot
                )
        general[which] = scorings[0].general_knowledge(model)
    results = {}
    for name, scoring, info, found, warned in zip(eval_names(files), scorings, infos, predicted, warnings):
        comparison, predictions = scoring.compare(found["base"], found["tuned"], train_set)
        if few_shot:
            shots, shots_info = found["few_shot"]
            comparison["few_shot"] = few_shot_summary(scoring, shots_info, shots, found["base"], found["tuned"])
            for row, answer in zip(predictions, shots.predictions):
                row["few_shot"] = answer
        summary = {
            "domaintune_version": __version__,
            "domain": domain.name,
            "task_type": domain.task_type,
            "model": model_label(config.model),
            "run_dir": str(run_dir),
            "labels": scoring.labels,
            "data": info,
            "warnings": warned,
            **comparison,
            "general_knowledge": {
                "base": general["base"][0], "tuned": general["tuned"][0], "rows": general["base"][1],
            },
        }
        write_eval_folder(
            run_dir / EVALS_FOLDER / name, summary, predictions,
            render_html(summary, config.to_dict(), predictions),
        )
        results[name] = summary
    return results
