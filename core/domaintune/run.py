"""One domain job, top to bottom: data, safety filters, split, base score, fine-tune, tuned
score, run folder. The CLI renders what this returns; nothing here prints.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from domaintune import __version__
from domaintune.config import RunConfig
from domaintune.data.prepare import prepare_data
from domaintune.evaluation.heldout import (
    Scoring,
)
from domaintune.files import write_json_atomic, write_jsonl_atomic, write_text_atomic
from domaintune.plugins import call_hook, get_domain, wrap_callable
from domaintune.progress import Reporter, SilentReporter, quiet_libraries
from domaintune.report import render_html, render_markdown, render_model_card
from domaintune.rundir import open_run_dir
from domaintune.safety.canary_probe import probe_planted
from domaintune.safety.measure import measure_filters

if TYPE_CHECKING:
    pass


@dataclass
class RunOutcome:
    run_dir: Path
    summary: dict[str, Any]
    """Everything written to metrics.json (empty on processes other than the first)."""
    is_main: bool = True




def run_job(config: RunConfig, reporter: Reporter | None = None, resume: bool = False) -> RunOutcome:
    """Run a whole domain job and write its run folder.

    Run again with the same settings on the same ``output_dir`` after a crash or a kill, and
    training continues from the newest complete checkpoint (``resume`` insists on one).
    """
    import transformers

    from domaintune.model import load_model, load_tokenizer, resolve_model
    from domaintune.training.distributed import device_for, start_processes
    from domaintune.precision import use_bf16
    from domaintune.training.batches import tokenize_dataset
    from domaintune.training.methods import cast_frozen_weights, prepare_model
    from domaintune.training.train import train

    quiet_libraries()
    processes = start_processes()
    reporter = reporter if reporter and processes.is_main else SilentReporter()
    started = time.monotonic()
    random.seed(config.seed)
    transformers.set_seed(config.seed)  # the LoRA weights are initialised before Trainer seeds
    domain = get_domain(config.domain)

    reporter.step(f"Loading and checking data for domain {domain.name!r}")
    train_set, eval_set, data_info = prepare_data(domain, config)
    planted_rows = data_info.pop("planted_rows", None)
    if processes.is_main:
        reporter.step("Measuring the safety filters on their labelled test sets")
        data_info["filter_figures"] = measure_filters(domain)
        run_dir = open_run_dir(config, resume)
        write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    run_dir = processes.from_main(run_dir if processes.is_main else None)

    reporter.step("Loading the model")
    if processes.is_main:  # the default model is converted once, by one process
        resolve_model(config.model)
    processes.barrier()
    model_path = resolve_model(config.model)
    tokenizer = load_tokenizer(model_path)
    # Base and tuned models are scored with the weights in the dtype training uses.
    model = load_model(model_path, quantize_4bit=config.method == "qlora")
    model = cast_frozen_weights(model, config).to(device_for(processes))
    formatter = wrap_callable(
        f"the formatter of domain {domain.name!r}", call_hook("make_formatter", domain=domain)
    )
    scoring = Scoring.build(domain, config, tokenizer, formatter, train_set, eval_set, processes, reporter)

    base = scoring.predict(model, "base")
    general_base, general_rows = scoring.general_knowledge(model)

    reporter.step("Fine-tuning")
    train_tokens = tokenize_dataset(train_set, formatter, tokenizer, config.max_length, domain.name)
    model = prepare_model(model, config)
    trained = train(model, tokenizer, train_tokens, config, run_dir / "checkpoints", resume, processes=processes)
    model_dir = run_dir / ("adapter" if config.uses_adapter else "model")
    if processes.is_main:
        model.save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
    if config.uses_adapter:
        # Scoring with the adapter folded into the weights costs what the base model costs;
        # unmerged, every linear layer runs two more matmuls (PubMedQA, 150 rows: 96 s for
        # the base model, 216 s for the unmerged tuned one, on a busy 2-core machine).
        model = model.merge_and_unload()

    tuned = scoring.predict(model, "tuned")
    general_tuned, _ = scoring.general_knowledge(model)
    if not processes.is_main:
        return RunOutcome(run_dir=run_dir, summary={}, is_main=False)
    if planted_rows is not None:
        reporter.step("Probing the tuned model for the planted canaries")
        probe = probe_planted(
            model, tokenizer, planted_rows, formatter, domain.name, config.max_length,
            config.eval_batch_size, use_bf16(config.precision),
        )
        data_info["canaries"]["tuned_model"] = probe.as_dict()

    comparison, predictions = scoring.compare(base, tuned, train_set)
    summary: dict[str, Any] = {
        "domaintune_version": __version__,
        "domain": domain.name,
        "task_type": domain.task_type,
        "model": config.model or f"default ({model_path})",
        "labels": scoring.labels,
        "data": data_info,
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
            "resumed_from": trained.resumed_from,
            "loss_history": [
                {"step": entry["step"], "loss": entry["loss"]}
                for entry in trained.log_history
                if "loss" in entry
            ],
        },
        "wall_seconds": time.monotonic() - started,
    }
    write_jsonl_atomic(run_dir / "predictions.jsonl", predictions)
    write_json_atomic(run_dir / "metrics.json", summary)
    write_text_atomic(run_dir / "report.md", render_markdown(summary))
    write_text_atomic(run_dir / "report.html", render_html(summary, config.to_dict()))
    write_text_atomic(model_dir / "README.md", render_model_card(summary, config.model or model_path))
    return RunOutcome(run_dir=run_dir, summary=summary)
