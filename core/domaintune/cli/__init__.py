"""The `tune` command line. Imports of torch and transformers happen inside the commands that
need them, so `tune --help` and `tune plugins` start fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from domaintune import __version__
from domaintune.errors import DomaintuneError

stdout = Console()
stderr = Console(stderr=True)

# CLI option name -> RunConfig key, for the options that override the config.
RUN_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--domain", {"help": "Domain to tune for (see `tune plugins`)."}),
    ("--data", {"help": "Training data file (default: the domain's bundled sample)."}),
    ("--eval-data", {"help": "Held-out data file (default: bundled split, or a split of --data)."}),
    ("--map", {"callback": lambda ctx, param, value: _store_column_map(ctx, value), "expose_value": False,
               "metavar": "FIELD=COLUMN,...", "help": "Which data column holds each field, e.g. prompt=question,completion=answer."}),
    ("--shape", {"type": click.Choice(["auto", "prompt_completion", "messages", "instruction", "text"]),
                 "help": "Row shape of the data (default: detected from its fields)."}),
    ("--task", {"help": "Only rows whose task matches these comma-separated patterns, e.g. 'CUAD_*'."}),
    ("--model", {"help": "Local model folder or hub name (default: embedded SmolLM2-135M-Instruct)."}),
    ("--output-dir", {"help": "Run folder to create (default: runs/<domain>-<time>)."}),
    ("--method", {"type": click.Choice(["lora", "dora", "qlora", "full"]),
                  "help": "Fine-tuning method: LoRA adapters, DoRA (LoRA with learned magnitudes), QLoRA (LoRA on 4-bit weights; CUDA GPU and bitsandbytes), or every weight."}),
    ("--epochs", {"type": float, "help": "Passes over the training data."}),
    ("--time-budget-minutes", {"type": float, "help": "Stop training after this many minutes."}),
    ("--max-train-rows", {"type": int, "help": "Train on at most this many rows."}),
    ("--max-rows-per-task", {"type": int, "help": "In a multi-task set, train on at most this many rows of each task."}),
    ("--eval-rows", {"type": int, "help": "Rows held out (or kept) for scoring."}),
    ("--batch-size", {"type": int, "help": "Rows per forward pass (over all processes)."}),
    ("--gradient-accumulation", {"type": int, "help": "Forward passes per optimizer step."}),
    ("--learning-rate", {"type": float, "help": "Peak learning rate."}),
    ("--decay-fraction", {"type": float, "help": "Last share of the run over which the learning rate falls to zero (1.0: from the end of warmup; 0.3: warmup-stable-decay)."}),
    ("--early-stopping-patience", {"type": int, "metavar": "N",
                                   "help": "Stop when the loss on rows held out from training has not improved for N evaluations (one every save_steps steps); keep the best checkpoint."}),
    ("--max-length", {"type": int, "help": "Tokens per example."}),
    ("--lora-r", {"type": int, "help": "LoRA rank."}),
    ("--canaries", {"type": int, "help": "Plant this many fake identifiers in training prompts; report how many survive the safety filters."}),
    ("--seed", {"type": int, "help": "Random seed for splits, shuffling and initialisation."}),
    ("--precision", {"type": click.Choice(["auto", "bf16", "fp32"]), "help": "Training precision."}),
]


GATE_FAILED_EXIT_CODE = 3


def run_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for name, kwargs in reversed(RUN_OPTIONS):
        function = click.option(name, default=None, **kwargs)(function)
    function = click.option(
        "--max-regression", multiple=True, metavar="METRIC=DELTA",
        help=f"Exit {GATE_FAILED_EXIT_CODE} if the tuned model scores more than DELTA below the base model.",
    )(function)
    function = click.option(
        "--nproc", type=click.IntRange(min=1), default=1, show_default=True,
        help="Processes to train and score with (torchrun; DDP). On CPU each gets an equal "
        "share of the cores.",
    )(function)
    function = click.option(
        "--resume", is_flag=True,
        help="Continue the interrupted run in --output-dir from its newest checkpoint "
        "(running the same command again does this too; --resume insists).",
    )(function)
    function = click.option(
        "--fail-under", multiple=True, metavar="METRIC=VALUE",
        help=f"Exit {GATE_FAILED_EXIT_CODE} if the tuned model scores below VALUE.",
    )(function)
    return click.option(
        "--config", "config_file", type=click.Path(path_type=Path), default=None,
        help="YAML or TOML file of settings; options given here override it.",
    )(function)


def _fail(error: DomaintuneError) -> None:
    stderr.print(f"[bold red]Error:[/] {escape(str(error))}", highlight=False, emoji=False)
    sys.exit(1)


@contextlib.contextmanager
def _friendly_errors() -> Iterator[None]:
    try:
        yield
    except DomaintuneError as error:
        _fail(error)


class RichReporter:
    def step(self, message: str) -> None:
        stderr.print(f"[bold cyan]>[/] {escape(message)}", emoji=False)

    @contextlib.contextmanager
    def progress(self, description: str, total: float) -> Iterator[Callable[[float], None]]:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn())
        with Progress(*columns, console=stderr, transient=False) as progress:
            task = progress.add_task(description, total=total)
            yield lambda n: progress.advance(task, n)


def _results_table(summary: dict[str, Any]) -> Table:
    table = Table(title=f"{summary['domain']}: base vs tuned on {summary['data']['eval_rows']} held-out rows")
    table.add_column("metric")
    table.add_column("base", justify="right")
    table.add_column("tuned", justify="right")
    table.add_column("tuned - base", justify="right")
    table.add_column("95% interval", justify="right")
    for name, base in summary["base"].items():
        change = summary["tuned_minus_base"][name]
        colour = "green" if change["low"] > 0 else "red" if change["high"] < 0 else "yellow"
        table.add_row(
            name, f"{base:.3f}", f"{summary['tuned'][name]:.3f}",
            f"[{colour}]{change['difference']:+.3f}[/]", f"[{change['low']:+.3f}, {change['high']:+.3f}]",
        )
    if "majority_baseline" in summary:
        majority = summary["majority_baseline"]
        table.add_row(f"always {majority['label']!r}", f"{majority['accuracy']:.3f}", "", "", "")
    general = summary["general_knowledge"]
    table.add_row(
        "general knowledge (outside the domain)", f"{general['base']:.3f}", f"{general['tuned']:.3f}",
        f"{general['tuned'] - general['base']:+.3f}", "",
    )
    table.caption = f"fixed {summary['flips']['fixed']} rows, broke {summary['flips']['broken']}"
    return table


def _run(config_file: Path | None, options: dict[str, Any]) -> None:
    from domaintune.config import build_config, read_config_file
    from domaintune.evaluation.gate import (
        check_unknown_metrics,
        gate_failures,
        parse_thresholds,
    )
    from domaintune.evaluation.heldout import domain_metrics
    from domaintune.plugins import get_domain
    from domaintune.run import run_job
    from domaintune.settings import domain_for_data

    resume = options.pop("resume")
    nproc = options.pop("nproc")
    fail_under = parse_thresholds("--fail-under", options.pop("fail_under"))
    max_regression = parse_thresholds("--max-regression", options.pop("max_regression"))
    file_values = read_config_file(config_file) if config_file else {}
    cli_values = {key: value for key, value in options.items() if value is not None}
    domain_name = cli_values.get("domain", file_values.get("domain"))
    domain_defaults: dict[str, Any] = {}
    if isinstance(domain_name, str):
        given = {**file_values, **cli_values}
        domain = domain_for_data(
            get_domain(domain_name), given.get("data"), given.get("column_map"), given.get("shape", "auto")
        )
        if domain.name != domain_name:
            stderr.print(
                f"[bold cyan]>[/] The data in {escape(str(given['data']))} fits domain "
                f"{domain.name!r} ({escape(domain.description)}): running that one.",
                emoji=False,
            )
            cli_values["domain"] = domain.name
        domain_defaults = dict(domain.defaults)
    config = build_config(domain_defaults, file_values, cli_values)
    # A misspelled metric in a gate must fail now, not after the training it would judge.
    metric_names = [metric.name for metric in domain_metrics(get_domain(config.domain))]
    check_unknown_metrics(fail_under, "--fail-under", metric_names)
    check_unknown_metrics(max_regression, "--max-regression", metric_names)
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        gate_arguments = [
            *(f"--fail-under={spec}" for spec in options_gate(fail_under)),
            *(f"--max-regression={spec}" for spec in options_gate(max_regression)),
        ]
        sys.exit(_launch_processes(config, nproc, resume, gate_arguments))
    outcome = run_job(config, RichReporter(), resume=resume)
    if not outcome.is_main:
        return
    stdout.print(_results_table(outcome.summary))
    train = outcome.summary["train"]
    stdout.print(
        f"Trained {train['steps']} steps in {train['seconds']:.0f} s "
        f"({train['tokens_per_second']:.0f} tokens/s); whole run {outcome.summary['wall_seconds']:.0f} s."
    )
    stdout.print(f"Run folder: {outcome.run_dir}", markup=False, emoji=False)
    failures = gate_failures(outcome.summary, fail_under, max_regression)
    for failure in failures:
        stderr.print(f"[bold red]Gate failed:[/] {escape(failure)}", emoji=False)
    if failures:
        sys.exit(GATE_FAILED_EXIT_CODE)


def options_gate(thresholds: dict[str, float]) -> list[str]:
    return [f"{name}={value!r}" for name, value in thresholds.items()]


def _launch_processes(config: Any, nproc: int, resume: bool, gate_arguments: list[str]) -> int:
    """Run this same job under torchrun with ``nproc`` processes; return its exit code.

    The children read the resolved config from a file, with the model already converted and
    the run folder chosen, so that every process sees the same settings.
    """
    import dataclasses
    import subprocess
    import tempfile
    from datetime import datetime

    import yaml

    from domaintune.model import resolve_model

    resolved = dataclasses.replace(
        config,
        model=resolve_model(config.model),
        output_dir=config.output_dir
        or str(Path("runs") / f"{config.domain}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"),
    )
    threads = max(1, (os.cpu_count() or 1) // nproc)
    with tempfile.TemporaryDirectory() as folder:
        config_file = Path(folder) / "config.yaml"
        config_file.write_text(yaml.safe_dump(resolved.to_dict()), encoding="utf-8")
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", "-m", "domaintune", "run", "--config", str(config_file),
            *(["--resume"] if resume else []), *gate_arguments,
        ]
        stderr.print(f"[bold cyan]>[/] Launching {nproc} processes with {threads} thread(s) each")
        return subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": str(threads)}).returncode


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@run_options
@click.version_option(__version__, prog_name="domaintune")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None, **options: Any) -> None:
    """Fine-tune a language model on a regulated domain and show whether it got better.

    \b
    tune --domain legal          run the whole job on the default model
    tune plugins                 list installed plugins and their domains
    tune filter --domain D IN OUT  apply a domain's safety filters to a data file
    tune plugin new NAME         write a new domain pack (see docs/writing-a-plugin.md)
    """
    if ctx.invoked_subcommand is not None:
        return
    if options["domain"] is None and config_file is None:
        click.echo(ctx.get_help())
        return
    with _friendly_errors():
        _run(config_file, options)


@cli.command()
@run_options
def run(config_file: Path | None, **options: Any) -> None:
    """Run a whole domain job (the same as `tune --domain D ...`)."""
    with _friendly_errors():
        _run(config_file, options)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(as_json: bool) -> None:
    """List installed plugins: distribution, version, domains and hooks."""
    from dataclasses import asdict

    from domaintune.plugins import broken_plugins, plugin_infos

    with _friendly_errors():
        infos = plugin_infos()
    if as_json:
        click.echo(json.dumps(
            {"plugins": [asdict(i) for i in infos], "broken": [asdict(b) for b in broken_plugins]},
            indent=2,
        ))
        return
    table = Table(title="domaintune plugins")
    for column in ("plugin", "distribution", "version", "domains", "hooks"):
        table.add_column(column, overflow="fold")
    for info in infos:
        table.add_row(
            info.name, info.distribution or "(built in)", info.version or __version__,
            ", ".join(info.domains), ", ".join(info.hooks),
        )
    stdout.print(table)
    for broken in broken_plugins:
        stderr.print(
            f"[bold red]Broken plugin[/] {escape(repr(broken.name))} ({escape(broken.distribution)}) "
            f"failed to import: {escape(broken.error)}", highlight=False, emoji=False,
        )


@cli.command(name="eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--fail-under", multiple=True, metavar="METRIC=VALUE",
              help=f"Exit {GATE_FAILED_EXIT_CODE} if the tuned model scores below VALUE.")
@click.option("--max-regression", multiple=True, metavar="METRIC=DELTA",
              help=f"Exit {GATE_FAILED_EXIT_CODE} if the tuned model scores more than DELTA below the base model.")
def eval_command(run_dir: Path, fail_under: tuple[str, ...], max_regression: tuple[str, ...]) -> None:
    """Score a finished run's base and tuned models again on its held-out rows (writes eval.json)."""
    from domaintune.evaluation.gate import gate_failures, parse_thresholds
    from domaintune.evaluation.rerun import evaluate_run

    with _friendly_errors():
        floors = parse_thresholds("--fail-under", fail_under)
        margins = parse_thresholds("--max-regression", max_regression)
        summary = evaluate_run(run_dir, RichReporter())
        stdout.print(_results_table(summary))
        failures = gate_failures(summary, floors, margins)
    for failure in failures:
        stderr.print(f"[bold red]Gate failed:[/] {escape(failure)}", emoji=False)
    if failures:
        sys.exit(GATE_FAILED_EXIT_CODE)


@cli.command(name="filter")
@click.option("--domain", required=True, help="Domain whose safety filters to apply.")
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
def filter_command(domain: str, source: Path, target: Path) -> None:
    """Apply a domain's training-data safety filters to SOURCE and write TARGET (JSONL)."""
    from domaintune.data.filtering import apply_filters
    from domaintune.data.prepare import load_source
    from domaintune.files import write_jsonl_atomic
    from domaintune.plugins import collect, get_domain

    with _friendly_errors():
        the_domain = get_domain(domain)
        dataset = load_source(the_domain, source)
        filtered, report = apply_filters(dataset, collect("make_data_filters", domain=the_domain))
        rows = [
            {key: value for key, value in row.items() if key != "task" or value}
            for row in filtered
        ]
        write_jsonl_atomic(target, rows)
    stderr.print(
        f"{report.rows_in} rows in, {report.rows_changed} changed, {report.rows_dropped} dropped, "
        f"{len(rows)} written to {target}", markup=False, emoji=False, highlight=False,
    )
    for kind, count in sorted(report.counts.items()):
        stderr.print(f"  {kind}: {count}", markup=False, emoji=False, highlight=False)


def _store_column_map(ctx: click.Context, value: str | None) -> None:
    """--map FIELD=COLUMN,... becomes the `column_map` setting."""
    from domaintune.data.columns import parse_column_map

    if value is not None:
        try:
            ctx.params["column_map"] = parse_column_map(value)
        except DomaintuneError as error:
            raise click.BadParameter(str(error)) from None


@cli.group()
def data() -> None:
    """Look at data files before training on them."""


@data.command(name="check")
@click.argument("path", required=False)
@click.option("--domain", help="Domain whose filters, settings and labels apply (see `tune plugins`).")
@click.option("--model", help="Model whose tokenizer counts tokens (default: the embedded default's; no weights are loaded).")
@click.option("--eval-data", help="Held-out data file to check against PATH for shared rows.")
@click.option("--map", "column_map_text", metavar="FIELD=COLUMN,...", help="Which data column holds each field, e.g. prompt=question,completion=answer.")
@click.option("--shape", type=click.Choice(["auto", "prompt_completion", "messages", "instruction", "text"]), help="Row shape (default: detected).")
@click.option("--max-length", type=int, help="Tokens per example (default: the domain's, else 256).")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="YAML or TOML run settings to check with.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def data_check(
    path: str | None, column_map_text: str | None, config_file: Path | None, as_json: bool, **options: Any
) -> None:
    """Check PATH (default: the domain's bundled data) as a run would read it, without loading
    any model weights; exit 0 when it is usable, 1 listing every problem otherwise.

    Prints rows and their shape, labels, token lengths and truncation, duplicates, what the
    safety filters change, and rows shared between train and eval.
    """
    from domaintune.data.check import check_from_options
    from domaintune.data.check_render import render_text
    from domaintune.data.columns import parse_column_map

    with _friendly_errors():
        if column_map_text is not None:
            options["column_map"] = parse_column_map(column_map_text)
        report = check_from_options(path, options, config_file)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(render_text(report))
    sys.exit(0 if report.usable else 1)


@cli.group()
def plugin() -> None:
    """Write a new domain pack, or check that an installed plugin keeps the hooks' contract."""


@plugin.command(name="new")
@click.argument("name")
@click.option("--dir", "folder", type=click.Path(path_type=Path), default=None,
              help="Folder to create (default: ./domaintune-NAME); it must not exist.")
def plugin_new(name: str, folder: Path | None) -> None:
    """Write a ready domain pack for domain NAME: pyproject with the entry point, package
    domaintune_NAME with a sample, prompt format, metric and safety filters, README and tests."""
    from domaintune.scaffold import new_plugin

    with _friendly_errors():
        created = new_plugin(name, folder)
    for path in created.files:
        stdout.print(f"  created {path}", markup=False, emoji=False, highlight=False)
    steps = [
        (f"pip install -e {created.folder}", "add --no-build-isolation when offline"),
        ("tune plugins", f"{created.name} is listed at once"),
        (f"tune plugin check {created.name}", "the hooks' contract"),
        (f"cd {created.folder} && pytest", "its tests, with a run on a tiny model"),
        (f"tune --domain {created.name}", "a real run"),
    ]
    width = max(len(command) for command, _ in steps) + 3
    stdout.print(
        f"Domain pack {created.distribution} is ready. Next (see docs/writing-a-plugin.md):\n"
        + "\n".join(f"  {command:<{width}}# {why}" for command, why in steps),
        markup=False, emoji=False, highlight=False,
    )


@plugin.command(name="check")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the checklist.")
def plugin_check(name: str, as_json: bool) -> None:
    """Check installed plugin NAME against the hooks' contract (no model is loaded): hooks
    match the specs, data loads, the prompt format renders, metrics return floats in [0, 1],
    safety filters are deterministic and idempotent. Exit 0 when it passes, 1 otherwise."""
    import logging

    from domaintune.contract import check_plugin

    logging.disable(logging.WARNING)  # the libraries' warnings would bury the checklist
    with _friendly_errors():
        report = check_plugin(name)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(report.render())
    sys.exit(0 if report.ok else 1)


def main() -> None:
    cli(prog_name=Path(sys.argv[0]).name if sys.argv[0].endswith(("tune", "domaintune")) else "tune")
