"""`tune run` (and bare `tune --domain D`): the run's options, the run, and the torchrun
relaunch for --nproc. Settings are resolved by domaintune.settings; this parses and renders."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from domaintune.cli.console import RichReporter, show_library_logs
from domaintune.cli.render import (
    GATE_FAILED_EXIT_CODE,
    exit_on_gate_failures,
    friendly_errors,
    results_table,
    say,
    stdout,
)
from domaintune.config import PRECISIONS


def store_column_map(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """--map FIELD=COLUMN,... becomes the `column_map` setting (data.columns parses it; a bad
    value ends the command as any library error does)."""
    from domaintune.data.columns import parse_column_map

    if value is not None:
        with friendly_errors():
            ctx.params["column_map"] = parse_column_map(value)


MAP_OPTION: dict[str, Any] = {
    "callback": store_column_map, "expose_value": False, "metavar": "FIELD=COLUMN,...",
    "help": "Which data column holds each field, e.g. prompt=question,completion=answer.",
}
SHAPES = click.Choice(["auto", "prompt_completion", "messages", "instruction", "text"])

# CLI option name -> RunConfig key, for the options that override the config.
RUN_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--domain", {"help": "Domain to tune for (see `tune plugins`)."}),
    ("--data", {"help": "Training data file (default: the domain's bundled sample)."}),
    ("--eval-data", {"help": "Held-out data file (default: bundled split, or a split of --data)."}),
    ("--map", MAP_OPTION),
    ("--shape", {"type": SHAPES, "help": "Row shape of the data (default: detected from its fields)."}),
    ("--task", {"help": "Only rows whose task matches these comma-separated patterns, e.g. 'CUAD_*'."}),
    ("--model", {"help": "Local model folder or hub name (default: embedded SmolLM2-135M-Instruct)."}),
    ("--output-dir", {"help": "Run folder to create (default: runs/<domain>-<time>-<pid>)."}),
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
    ("--adapter-layers", {"type": float, "help": "Share of the decoder layers, from the top, that get adapters (1.0: all)."}),
    ("--canaries", {"type": int, "help": "Plant this many fake identifiers in training prompts; report how many survive the safety filters."}),
    ("--seed", {"type": int, "help": "Random seed for splits, shuffling and initialisation."}),
    ("--precision", {"type": click.Choice(PRECISIONS), "help": "Training precision."}),
    ("--trust-remote-code", {"is_flag": True, "help": "Run the model folder's own Python code (config.json's auto_map) if it needs any; only for a model you trust."}),
    ("--keep-checkpoints", {"is_flag": True, "help": "Keep the training checkpoints of a finished run (removed by default)."}),
    ("--report-to", {"type": click.Choice(["none", "tensorboard", "mlflow"]),
                     "help": "Log training curves and results to a local tracker in the run folder (RUN_DIR/tensorboard or RUN_DIR/mlflow.db); needs the tracking extra."}),
]

# How the run shows itself; not settings of the run.
CONSOLE_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--quiet", {"is_flag": True, "help": "Plain lines only, no live displays (as in a pipe or CI)."}),
    ("--verbose", {"is_flag": True, "help": "Show the libraries' logs and warnings too (always in RUN_DIR/train.log)."}),
]


# Several machines: torchrun's static rendezvous at node 0 (see domaintune.training.launch).
NODE_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--nnodes", {"type": click.IntRange(min=1), "default": 1, "show_default": True,
                  "help": "Machines in the job, each running --nproc processes (torchrun multi-node)."}),
    ("--node-rank", {"type": click.IntRange(min=0), "default": 0, "show_default": True,
                     "help": "This machine's place, 0 to nnodes-1; node 0 writes the run folder."}),
    ("--master-addr", {"default": None, "metavar": "HOST",
                       "help": "Node 0's address, the same on every node (with --nnodes)."}),
    ("--master-port", {"type": int, "default": None, "metavar": "PORT",
                       "help": "A free port on node 0, the same on every node (with --nnodes)."}),
]


def gate_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--max-regression", multiple=True, metavar="METRIC=DELTA",
        help=f"Exit {GATE_FAILED_EXIT_CODE} if the tuned model scores more than DELTA below the base model.",
    )(function)
    return click.option(
        "--fail-under", multiple=True, metavar="METRIC=VALUE",
        help=f"Exit {GATE_FAILED_EXIT_CODE} if the tuned model scores below VALUE.",
    )(function)


class ProcessCount(click.ParamType):
    """--nproc: a count of processes, or auto."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if value == "auto":
            return value
        try:
            count = int(value)
        except (TypeError, ValueError):
            count = 0
        if count < 1:
            self.fail(f"{value!r}: give a number of processes (1 or more) or auto.", param, ctx)
        return count


def run_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for name, kwargs in reversed(RUN_OPTIONS):
        function = click.option(name, default=None, **kwargs)(function)
    function = click.option(
        "--nproc", type=ProcessCount(), default="auto", show_default=True,
        help="Processes to train and score with (torchrun; DDP), or auto: one per GPU; on CPU "
        "one per 8 cores while memory holds them (the run says what it chose and why). On CPU "
        "each gets an equal share of the cores.",
    )(function)
    for name, kwargs in reversed(NODE_OPTIONS):
        function = click.option(name, **kwargs)(function)
    for name, kwargs in reversed(CONSOLE_OPTIONS):
        function = click.option(name, **kwargs)(function)
    function = click.option(
        "--resume", is_flag=True,
        help="Continue the interrupted run in --output-dir from its newest checkpoint "
        "(running the same command again does this too; --resume insists).",
    )(function)
    function = gate_options(function)
    return click.option(
        "--config", "config_file", type=click.Path(path_type=Path), default=None,
        help="YAML or TOML file of settings; options given here override it.",
    )(function)


def execute_run(config_file: Path | None, options: dict[str, Any]) -> None:
    """Resolve the settings, check the gates against the domain's metrics, run (or relaunch
    under torchrun), and show the results."""
    from domaintune import run
    from domaintune.evaluation.gate import check_gates, gate_failures, parse_thresholds
    from domaintune.settings import resolve_settings

    from domaintune.training.launch import Nodes

    resume, nproc = options.pop("resume"), options.pop("nproc")
    quiet, verbose = options.pop("quiet"), options.pop("verbose")
    reporter = RichReporter(plain=quiet)
    if nproc == "auto" and "WORLD_SIZE" not in os.environ:
        from domaintune.training.launch import machine_processes

        choice = machine_processes()
        nproc = choice.count
        reporter.step(f"Processes: {nproc} ({choice.reason})")
    elif nproc == "auto":
        nproc = 1  # started by torchrun: this is one of its processes
    if verbose:
        show_library_logs(plain=quiet)
    nodes = Nodes(
        options.pop("nnodes"), options.pop("node_rank"), options.pop("master_addr"), options.pop("master_port")
    )
    nodes.check()
    fail_under = parse_thresholds("--fail-under", options.pop("fail_under"))
    max_regression = parse_thresholds("--max-regression", options.pop("max_regression"))
    settings = resolve_settings(options, config_file)
    if settings.asked_for is not None:
        reporter.step(
            f"The data in {settings.config.data} fits domain {settings.domain.name!r} "
            f"({settings.domain.description}): running that one."
        )
    # A misspelled metric in a gate must fail now, not after the training it would judge.
    check_gates(fail_under, max_regression, [metric.name for metric in settings.parts.metrics])
    if (nproc > 1 or nodes.several) and "WORLD_SIZE" not in os.environ:
        gate_arguments = [
            *(f"--fail-under={name}={value!r}" for name, value in fail_under.items()),
            *(f"--max-regression={name}={value!r}" for name, value in max_regression.items()),
            *(["--quiet"] if quiet else []), *(["--verbose"] if verbose else []),
        ]
        sys.exit(launch_processes(settings.config, nproc, resume, gate_arguments, nodes))
    outcome = run.run_job(settings.config, reporter, resume=resume, settings=settings)
    if not outcome.is_main:
        return
    summary = outcome.summary
    stdout.print(results_table(summary))
    for warning in summary.get("warnings", []):
        say(f"Warning: {warning}")
    train = summary["train"]
    stdout.print(
        f"Trained {train['steps']} steps in {train['seconds']:.0f} s "
        f"({train['tokens_per_second']:.0f} tokens/s); whole run {summary['wall_seconds']:.0f} s."
    )
    stdout.print(f"Run folder: {outcome.run_dir}", markup=False, emoji=False)
    exit_on_gate_failures(gate_failures(summary, fail_under, max_regression))


def launch_processes(
    config: Any, nproc: int, resume: bool, gate_arguments: list[str], nodes: Any = None
) -> int:
    """Run this same job under torchrun with ``nproc`` processes (on this node of ``nodes``,
    a `domaintune.training.launch.Nodes`); return its exit code.

    The children read the resolved config (run folder chosen) from a file, so that every
    process sees the same settings; the first converts the default model, the others wait."""
    import subprocess
    import tempfile

    import yaml

    from domaintune.machine import usable_cores
    from domaintune.training.launch import Nodes, torchrun_arguments

    threads = max(1, usable_cores() // nproc)
    with tempfile.TemporaryDirectory() as folder:
        config_file = Path(folder) / "config.yaml"
        config_file.write_text(yaml.safe_dump(config.to_dict()), encoding="utf-8")
        command = [
            sys.executable, "-m", "torch.distributed.run", *torchrun_arguments(nproc, nodes or Nodes()),
            "-m", "domaintune", "run", "--config", str(config_file),
            *(["--resume"] if resume else []), *gate_arguments,
        ]
        where = f" as node {nodes.rank} of {nodes.count}" if nodes and nodes.several else ""
        RichReporter().step(f"Launching {nproc} processes{where} with {threads} thread(s) each")
        return subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": str(threads)}).returncode


@click.command()
@run_options
def run_command(config_file: Path | None, **options: Any) -> None:
    """Run a whole domain job (the same as `tune --domain D ...`)."""
    with friendly_errors():
        execute_run(config_file, options)
