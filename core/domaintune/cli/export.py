"""`tune export RUN_DIR --to merged|gguf|ollama`: write a run's tuned model in a format other
tools load, then show the parity check's figures; a failed check exits with its own code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from domaintune.cli.console import RichReporter
from domaintune.cli.render import friendly_errors, stderr, stdout
from domaintune.deploy.export import FORMATS
from domaintune.deploy.export.gguf import QUANTS

PARITY_FAILED_EXIT_CODE = 4
"""Exit code of `tune export` when the export fails its parity check (parity.json says why)."""


def _parity_table(parity: dict[str, Any]) -> Table:
    from domaintune.deploy.export import parity_summary

    table = Table(title=f"Parity of the {parity['kind']} export with the tuned model")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("required", justify="right")
    required = parity.get("required", {})
    keys = {
        "agreement": ("agreement", ">="),
        "label flips outside near ties": ("label_flips_outside_ties", "="),
        "ends with end-of-turn": ("ends_with_end_of_turn", ">="),
    }
    for figure, value in parity_summary(parity):
        key, relation = keys.get(figure, ("", ""))
        needed = required.get(key)
        table.add_row(escape(figure), escape(value), "" if needed is None else f"{relation} {needed:g}")
    return table


@click.command(name="export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--to", "to", required=True, type=click.Choice(FORMATS),
              help="merged: a safetensors folder for from_pretrained; gguf: one GGUF file; ollama: GGUF + Modelfile.")
@click.option("--out", type=click.Path(path_type=Path),
              help="Folder to write (default: RUN_DIR/export/merged, RUN_DIR/export/gguf-f16, ...).")
@click.option("--quant", type=click.Choice(QUANTS),
              help="GGUF weights (gguf and ollama; default f16). f16 must match the tuned model; q8_0's agreement is reported.")
def export_command(run_dir: Path, to: str, out: Path | None, quant: str | None) -> None:
    """Export RUN_DIR's tuned model and check it: the export is reloaded and answers the run's
    held-out prompts greedily beside the tuned model (figures in parity.json)."""
    from domaintune.deploy.export import export_run
    from domaintune.errors import ParityError

    with friendly_errors():
        try:
            outcome = export_run(run_dir, to, out, quant, RichReporter())
        except ParityError as error:  # before friendly_errors: it has its own exit code
            stdout.print(_parity_table(error.parity))
            stderr.print(f"[bold red]Parity check failed:[/] {escape(str(error))}", emoji=False)
            sys.exit(PARITY_FAILED_EXIT_CODE)
    stdout.print(_parity_table(outcome.parity.as_dict()))
    for path in outcome.files:
        click.echo(str(path))
