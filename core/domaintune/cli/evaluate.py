"""`tune eval`: a finished run's base and tuned models scored again (on its held-out rows or
on new files), or any local model or OpenAI-compatible endpoint scored on held-out files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from domaintune.cli.console import RichReporter
from domaintune.cli.render import (
    exit_on_gate_failures, friendly_errors, results_table, say, stdout,
)
from domaintune.cli.run import gate_options
from domaintune.config import PRECISIONS
from domaintune.errors import ConfigError


@click.command(name="eval")
@click.argument("run_dir", type=click.Path(path_type=Path), required=False)
@click.option("--data", "data_files", multiple=True, type=click.Path(path_type=Path),
              help="A held-out file to score on (repeatable); results go to <folder>/<file stem>/.")
@click.option("--domain", help="Without RUN_DIR: the domain whose formatter, filters and metrics to use.")
@click.option("--model", help="Without RUN_DIR: a local model folder or hub name; with --endpoint, the served model's name.")
@click.option("--endpoint", help="An OpenAI-compatible API's base URL, e.g. http://127.0.0.1:8000/v1.")
@click.option("--api-key-env", metavar="VAR", help="The environment variable holding the endpoint's API key.")
@click.option("--concurrency", type=click.IntRange(min=1), default=4, show_default=True,
              help="Requests in flight at once (--endpoint).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds to wait for one answer before retrying (--endpoint).")
@click.option("--retries", type=click.IntRange(min=0), default=4, show_default=True,
              help="Retries with backoff on 429, 5xx, timeouts and dropped connections (--endpoint).")
@click.option("--no-prompt-filters", is_flag=True,
              help="Send prompts without running the domain's data filters on them first (--endpoint, --model).")
@click.option("--output-dir", type=click.Path(path_type=Path),
              help="Without RUN_DIR: where to write (default: evals/<domain>-<time>-<pid>).")
@click.option("--eval-rows", type=click.IntRange(min=1), help="Without RUN_DIR: score at most this many rows of each file (default: the domain's eval_rows).")
@click.option("--few-shot", type=click.IntRange(min=0), default=0,
              help="With RUN_DIR --data: also the base model prompted with K training examples.")
@click.option("--precision", type=click.Choice(PRECISIONS),
              help="Without RUN_DIR: bf16 autocast or fp32 for a local model (default: the domain's).")
@gate_options
def eval_command(
    run_dir: Path | None, data_files: tuple[Path, ...], domain: str | None, model: str | None,
    endpoint: str | None, api_key_env: str | None, concurrency: int, timeout: float, retries: int,
    no_prompt_filters: bool, output_dir: Path | None, eval_rows: int | None, precision: str | None, few_shot: int,
    fail_under: tuple[str, ...], max_regression: tuple[str, ...],
) -> None:
    """Score models on held-out rows.

    \b
    tune eval RUN_DIR                        the run's base and tuned models again (eval.json)
    tune eval RUN_DIR --data FILE            ... on new held-out files (RUN_DIR/evals/<name>/)
    tune eval --domain D --model M --data F  any local model
    tune eval --domain D --endpoint URL --model NAME --data F [--api-key-env VAR]
    """
    from domaintune.evaluation.gate import parse_thresholds

    with friendly_errors():
        floors = parse_thresholds("--fail-under", fail_under)
        margins = parse_thresholds("--max-regression", max_regression)
        if run_dir is not None:
            if domain or model or endpoint or output_dir:
                raise ConfigError(
                    "tune eval RUN_DIR scores the run's own models in the run folder: leave out "
                    "--domain, --model, --endpoint and --output-dir, or leave out RUN_DIR."
                )
            failures = _run_eval(run_dir, list(data_files), floors, margins, few_shot)
        else:
            if few_shot:
                raise ConfigError(
                    "--few-shot K needs a run's training rows: use it with tune eval RUN_DIR --data FILE."
                )
            _other_eval(domain, model, endpoint, api_key_env, list(data_files), output_dir,
                        not no_prompt_filters, {"eval_rows": eval_rows, "precision": precision},
                        (concurrency, timeout, retries))
            failures = []
    exit_on_gate_failures(failures)


def _run_eval(
    run_dir: Path, files: list[Path], floors: dict[str, float], margins: dict[str, float], few_shot: int
) -> list[str]:
    from domaintune.evaluation.gate import gate_failures
    from domaintune.evaluation.rerun import evaluate_run, evaluate_run_on_files

    if few_shot and not files:
        raise ConfigError("--few-shot K is for tune eval RUN_DIR --data FILE: pass the held-out files.")
    if not files:
        summary = evaluate_run(run_dir, RichReporter())
        stdout.print(results_table(summary))
        return gate_failures(summary, floors, margins)
    failures = []
    for name, summary in evaluate_run_on_files(run_dir, files, RichReporter(), few_shot).items():
        say(f"{name}: {summary['data']['eval_source']} ({summary['data']['eval_rows']} rows), "
            f"written to {run_dir / 'evals' / name}")
        stdout.print(results_table(summary))
        failures += [f"{name}: {failure}" for failure in gate_failures(summary, floors, margins)]
    return failures


def _other_eval(
    domain: str | None, model: str | None, endpoint: str | None, api_key_env: str | None,
    files: list[Path], output_dir: Path | None, filter_prompts: bool, options: dict[str, Any],
    limits: tuple[int, float, int],
) -> None:
    from rich.table import Table

    from domaintune.evaluation.external import EvalRequest, evaluate_model

    if not domain or not model or not files:
        raise ConfigError(
            "tune eval without RUN_DIR needs --domain D, --model PATH_OR_NAME (or --endpoint URL "
            "--model NAME) and at least one --data FILE."
        )
    request = EvalRequest(domain, files, output_dir, filter_prompts, {k: v for k, v in options.items() if v})
    if endpoint:
        from domaintune.evaluation.endpoint import Endpoint, evaluate_endpoint

        concurrency, timeout, retries = limits
        results = evaluate_endpoint(
            request, Endpoint(endpoint, model, api_key_env, concurrency, timeout, retries), RichReporter()
        )
    else:
        results = evaluate_model(request, model, RichReporter())
    for name, summary in results.items():
        table = Table(title=f"{summary['domain']}: {summary['model']} on {summary['data']['eval_rows']} rows of {name}")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for metric, value in summary["metrics"].items():
            table.add_row(metric, f"{value:.3f}")
        stdout.print(table)
        if summary.get("method"):
            say("Answers read from: " + ", ".join(f"{kind} {n}" for kind, n in summary["method"].items()))
        say(f"Prompt filters: {summary['data'].get('prompt_filters', 'on')}; written to {summary['output_dir']}")
