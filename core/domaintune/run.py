"""One domain job, top to bottom: run folder, data, safety filters, split, model, base score,
fine-tune, tuned score, artifacts. The CLI renders what this returns; nothing here prints.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from domaintune import __version__
from domaintune.config import RunConfig
from domaintune.data.prepare import prepare_data
from domaintune.errors import PluginError
from domaintune.evaluation.fewshot import few_shot_column, few_shot_summary
from domaintune.evaluation.heldout import Scoring
from domaintune.files import write_json_atomic, write_jsonl_atomic, write_text_atomic
from domaintune.progress import TRAIN_LOG, Reporter, SilentReporter, library_logs, quiet_libraries
from domaintune.rundir import model_folder, open_run_dir
from domaintune.safety.canary_probe import probe_planted
from domaintune.safety.measure import measure_filters
from domaintune.settings import RunSettings, settings_for

if TYPE_CHECKING:
    import datasets

@dataclass
class RunOutcome:
    run_dir: Path
    summary: dict[str, Any]
    """Everything written to metrics.json (empty on processes other than the first)."""
    is_main: bool = True


def run_job(
    config: RunConfig, reporter: Reporter | None = None, resume: bool = False,
    settings: RunSettings | None = None,
) -> RunOutcome:
    """Run a whole domain job and write its run folder.

    Run again with the same settings on the same ``output_dir`` after a crash or a kill, and
    training continues from the newest complete checkpoint (``resume`` insists on one); a run
    killed after its metrics were written gets the reports it lacks. ``settings``: what
    `domaintune.settings.resolve_settings` found for ``config`` (the data it read, the
    domain's parts), so that nothing is read or called twice; None resolves them here.
    """
    import transformers

    from domaintune.model import load_model, load_tokenizer, model_label, resolve_model, save_tuned_model
    from domaintune.training.distributed import device_for, start_processes
    from domaintune.precision import use_bf16
    from domaintune.training.batches import tokenize_dataset
    from domaintune.training.methods import adapter_placement, cast_frozen_weights, prepare_model
    from domaintune.training.checkpoints import remove_checkpoints, run_folder_bytes
    from domaintune.training.tracking import open_tracker
    from domaintune.training.train import train

    quiet_libraries()
    processes = start_processes()
    reporter = reporter if reporter and processes.is_main else SilentReporter()
    started = time.monotonic()
    settings = settings or settings_for(config)
    config, domain = settings.config, settings.domain
    random.seed(config.seed)
    transformers.set_seed(config.seed)  # the LoRA weights are initialised before Trainer seeds

    with contextlib.ExitStack() as held:
        # Library logs and warnings go to train.log, not the console (held until it exists).
        write_log_to = held.enter_context(library_logs())
        # The folder is checked and locked before any work, and held until the run ends.
        folder = held.enter_context(open_run_dir(config, resume)) if processes.is_main else None
        for notice in folder.notices if folder else []:
            reporter.step(notice)
        run_dir, state = processes.from_main((folder.path, folder.state) if folder else None)
        if state == "reports":
            if not processes.is_main:
                return RunOutcome(run_dir=run_dir, summary={}, is_main=False)
            write_log_to(run_dir / TRAIN_LOG)
            reporter.step("Training and scoring had finished: writing the reports the run lacks")
            summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
            write_reports(run_dir, summary, config)
            if not config.keep_checkpoints:
                remove_checkpoints(run_dir)
            return RunOutcome(run_dir=run_dir, summary=summary)

        parts = settings.parts  # each make_* hook called once, here
        reporter.step(f"Loading and checking data for domain {domain.name!r}")
        train_set, eval_set, data_info = prepare_data(
            domain, config, filters=parts.data_filters, train_rows=settings.train_rows
        )
        planted_rows = data_info.pop("planted_rows", None)
        if processes.is_main:
            reporter.step("Measuring the safety filters on their labelled test sets")
            data_info["filter_figures"] = measure_filters(
                domain, filters=[*parts.data_filters, *parts.output_filters]
            )

        reporter.step("Loading the model")
        if processes.is_node_main:  # the default model is converted once per node (no shared disk needed)
            resolve_model(config.model)
        processes.barrier()
        model_path = resolve_model(config.model)
        tokenizer = load_tokenizer(model_path, trust_remote_code=config.trust_remote_code)
        # Base and tuned models are scored with the weights in the dtype training uses.
        model = load_model(
            model_path, quantize_4bit=config.method == "qlora", trust_remote_code=config.trust_remote_code
        )
        model = cast_frozen_weights(model, config).to(device_for(processes))
        if processes.is_main:  # only now: a model that does not load leaves no run behind
            write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
            write_log_to(run_dir / TRAIN_LOG)  # the logs held so far, then each as it comes
        scoring = Scoring.build(domain, config, tokenizer, parts, train_set, eval_set, processes, reporter)

        base = scoring.predict(model, "base")
        general_base, general_rows = scoring.general_knowledge(model)
        few_shot = (
            few_shot_column(scoring, model, eval_set, train_set, parts.formatter, config.few_shot)
            if config.few_shot else None
        )

        reporter.step("Fine-tuning" + adapter_placement(config))
        train_tokens = tokenize_dataset(train_set, parts.formatter, tokenizer, config.max_length, domain.name)
        warnings = [warning] if (warning := cut_answers_warning(train_tokens, config.max_length)) else []
        for warning in warnings:
            reporter.step(f"Warning: {warning}")
        model = prepare_model(model, config)
        tracker = held.enter_context(open_tracker(config.report_to if processes.is_main else "none", run_dir))
        trained = train(
            model, tokenizer, train_tokens, config, run_dir / "checkpoints", resume, processes=processes,
            callbacks=tracker.callbacks, reporter=reporter,
        )
        model_dir = model_folder(run_dir, config)
        if processes.is_main:
            save_tuned_model(model, tokenizer, model_dir, model_label(config.model))
        # The tuned model is scored unmerged: merged into bf16 weights, the small LoRA update
        # is rounded away (PhraseBank run, 200 held-out rows: 0.700 unmerged, 0.605 merged).

        tuned = scoring.predict(model, "tuned")
        general_tuned, _ = scoring.general_knowledge(model)
        if not processes.is_main:
            return RunOutcome(run_dir=run_dir, summary={}, is_main=False)
        if planted_rows is not None:
            reporter.step("Probing the tuned model for the planted canaries")
            probe = probe_planted(
                model, tokenizer, planted_rows, parts.formatter, domain.name, config.max_length,
                config.eval_batch_size, use_bf16(config.precision),
            )
            data_info["canaries"]["tuned_model"] = probe.as_dict()

        # A metric that raises is left out here and raised below, once the rest is written.
        comparison, predictions = scoring.compare(base, tuned, train_set)
        if few_shot is not None:
            comparison["few_shot"] = few_shot_summary(scoring, few_shot[1], few_shot[0], base, tuned)
            for row, answer in zip(predictions, few_shot[0].predictions):
                row["few_shot"] = answer
        summary: dict[str, Any] = {
            "domaintune_version": __version__,
            "domain": domain.name,
            "description": domain.description,
            "task_type": domain.task_type,
            "model": model_label(config.model),
            "labels": scoring.labels,
            "data": data_info,
            "warnings": warnings,
            **comparison,
            "general_knowledge": {"base": general_base, "tuned": general_tuned, "rows": general_rows},
            "train": {
                "steps": trained.steps,
                "epochs": trained.epochs,
                "seconds": trained.seconds,
                "tokens": trained.tokens,
                "tokens_per_second": trained.tokens_per_second,
                "stopped_by_time_budget": trained.stopped_by_budget,
                "stopped_early": trained.stopped_early,
                "best_eval_loss": trained.best_eval_loss,
                "micro_batch_changes": trained.micro_batch_changes,
                "time_split": trained.time_split,
                "resumed_from": trained.resumed_from,
                "loss_history": [
                    {"step": entry["step"], "loss": entry["loss"]}
                    for entry in trained.log_history
                    if "loss" in entry
                ],
                "eval_loss_history": [
                    {"step": entry["step"], "loss": entry["eval_loss"]}
                    for entry in trained.log_history
                    if "eval_loss" in entry
                ],
            },
            "wall_seconds": time.monotonic() - started,
        }
        write_jsonl_atomic(run_dir / "predictions.jsonl", predictions)
        summary["run_dir_bytes"] = run_folder_bytes(run_dir, config.keep_checkpoints)
        write_json_atomic(run_dir / "metrics.json", summary)
        tracker.log_results(summary)
        write_reports(run_dir, summary, config, predictions)
        if not config.keep_checkpoints:  # only now: a run killed before this resumes from them
            remove_checkpoints(run_dir)
        if "metric_errors" in summary:
            raise PluginError(
                "\n".join(summary["metric_errors"].values())
                + f"\nThe other figures are in {run_dir / 'metrics.json'}; once the metric is "
                f"fixed, `tune eval {run_dir}` scores the run again."
            )
        return RunOutcome(run_dir=run_dir, summary=summary)


def write_reports(
    run_dir: Path, summary: dict[str, Any], config: RunConfig, predictions: list[dict[str, Any]] | None = None
) -> None:
    """report.md, report.html and the model card, from what metrics.json holds."""
    from domaintune.report import render_html, render_markdown, render_model_card

    if predictions is None and (run_dir / "predictions.jsonl").is_file():
        text = (run_dir / "predictions.jsonl").read_text(encoding="utf-8")
        predictions = [json.loads(line) for line in text.splitlines() if line.strip()]
    write_text_atomic(run_dir / "report.md", render_markdown(summary))
    write_text_atomic(run_dir / "report.html", render_html(summary, config.to_dict(), predictions))
    write_text_atomic(model_folder(run_dir, config) / "README.md", render_model_card(summary, config.to_dict()))


def cut_answers_warning(train_tokens: datasets.Dataset, max_length: int) -> str | None:
    """A warning when max_length leaves answers cut: a row whose answer takes all but one of
    its tokens lost part of it, or nearly all of its prompt (data.encoding keeps at most
    max_length - 1 answer tokens)."""
    cut = sum(
        1 for labels in train_tokens["labels"] if sum(label != -100 for label in labels) >= max_length - 1
    )
    if not cut:
        return None
    return (
        f"max_length {max_length}: in {cut} of {len(train_tokens)} training rows the answer fills "
        "the whole example (cut, or leaving no room for the prompt); raise --max-length"
    )
