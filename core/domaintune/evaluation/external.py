"""`tune eval --domain D --model PATH_OR_NAME --data FILE`: any local model (a baseline, a
colleague's model, an exported merged folder) scored on held-out files without a run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.evaluation.heldout_files import check_files, eval_names, load_heldout_file, write_eval_folder
from domaintune.evaluation.single import prediction_rows, single_model_page, single_model_summary
from domaintune.progress import LIBRARY_LOG, Reporter, SilentReporter, library_logs_into, quiet_libraries
from domaintune.report.examples import user_text

if TYPE_CHECKING:
    from domaintune.settings import RunSettings


@dataclass(frozen=True)
class EvalRequest:
    """What `tune eval` without a run folder was asked: the domain, the files, where to write."""

    domain: str
    files: list[Path]
    output_dir: Path | None = None
    filter_prompts: bool = True
    options: dict[str, Any] | None = None
    """Run settings given on the command line (max_length, eval_rows, eval_batch_size, ...)."""


def default_output_dir(domain: str) -> Path:
    return Path("evals") / f"{domain}-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


def evaluate_model(
    request: EvalRequest, model: str, reporter: Reporter | None = None
) -> dict[str, dict[str, Any]]:
    """Score ``model`` (a local folder or hub name) on each file with the domain's settings,
    formatter, filters and metrics; writes OUTPUT_DIR/<file stem>/ (and the libraries' logs
    to OUTPUT_DIR/library.log). Returns {name: metrics}."""
    from domaintune.settings import check_model, resolve_settings

    settings = resolve_settings({**(request.options or {}), "domain": request.domain, "model": model}, for_run=False)
    check_model(model)
    check_files(request.files)
    output_dir = request.output_dir or default_output_dir(settings.domain.name)
    with library_logs_into(output_dir / LIBRARY_LOG):
        return _score_files(settings, request, model, output_dir, reporter or SilentReporter())


def _score_files(
    settings: RunSettings, request: EvalRequest, model: str, output_dir: Path, reporter: Reporter
) -> dict[str, dict[str, Any]]:
    from domaintune.evaluation.heldout import Scoring
    from domaintune.model import load_model, load_tokenizer, model_label
    from domaintune.training.distributed import start_processes

    config, domain, parts = settings.config, settings.domain, settings.parts
    quiet_libraries()
    filters = parts.data_filters if request.filter_prompts else []
    loaded = [load_heldout_file(domain, config, Path(path), filters) for path in request.files]
    reporter.step(f"Loading {model}")
    tokenizer = load_tokenizer(model, trust_remote_code=config.trust_remote_code)
    network = load_model(model, trust_remote_code=config.trust_remote_code)
    processes = start_processes()
    results = {}
    for name, (rows, info) in zip(eval_names(request.files), loaded):
        info["prompt_filters"] = "on" if request.filter_prompts else "off (--no-prompt-filters)"
        scoring = Scoring.build(domain, config, tokenizer, parts, rows, rows, processes, reporter)
        predicted = scoring.predict(network, name)
        summary = {
            "domain": domain.name,
            "task_type": domain.task_type,
            "model": model_label(model),
            "source": "local model",
            "labels": scoring.labels,
            "data": info,
            "eval_seconds": predicted.seconds,
            "output_filter": predicted.output_filter_counts,
            **single_model_summary(parts.metrics, predicted.predictions, scoring.references, scoring.columns),
        }
        users = [user_text({"prompt": prompt}) for prompt in scoring.prompts]
        rows_out = prediction_rows(users, scoring.prompts, scoring.references, predicted.predictions)
        write_eval_folder(output_dir / name, summary, rows_out, single_model_page(summary, rows_out))
        summary["output_dir"] = str(output_dir / name)
        results[name] = summary
    return results
