"""The `tune` command group: bare `tune --domain D` runs the job, and each command module
registers its commands here (`cli.add_command`). Imports of torch and transformers happen
inside the commands that need them, so `tune --help` and `tune plugins` start fast.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import click

from domaintune import __version__
from domaintune.cli.compare import compare_command
from domaintune.cli.data import cache, data, filter_command
from domaintune.cli.data_export import export_data
from domaintune.cli.evaluate import eval_command
from domaintune.cli.plugin import plugin, plugins
from domaintune.cli.render import GATE_FAILED_EXIT_CODE, friendly_errors
from domaintune.cli.run import execute_run, run_command, run_options
from domaintune.cli.chat import chat
from domaintune.cli.serve import serve
from domaintune.cli.export import export_command
from domaintune.cli.sweep import sweep_command

__all__ = ["GATE_FAILED_EXIT_CODE", "cli", "main"]


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
    with friendly_errors():
        execute_run(config_file, options)


cli.add_command(run_command, name="run")
cli.add_command(plugins)
cli.add_command(plugin)
cli.add_command(eval_command)
cli.add_command(compare_command)
cli.add_command(filter_command)
cli.add_command(data)
data.add_command(export_data)
cli.add_command(cache)
cli.add_command(chat)
cli.add_command(serve)
cli.add_command(export_command)
cli.add_command(sweep_command)


def main() -> None:
    # peft reads transformers 5's deprecated `is_gradient_checkpointing` on every model it
    # wraps or loads; the FutureWarning names neither our code nor anything a user can change.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    cli(prog_name=Path(sys.argv[0]).name if sys.argv[0].endswith(("tune", "domaintune")) else "tune")
