"""`tune compare A B [C ...]`: runs or eval folders scored on the same rows, side by side."""

from __future__ import annotations

from pathlib import Path

import click

from domaintune.cli.render import friendly_errors, say, stdout


@click.command(name="compare")
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output", type=click.Path(path_type=Path), default=Path("compare.html"), show_default=True,
              help="The HTML page to write (compare.json is written next to it).")
def compare_command(folders: tuple[Path, ...], output: Path) -> None:
    """Compare runs or eval folders scored on the same rows: each model's metrics, every
    pair's difference with its paired 95% interval, and the rows where they disagree."""
    from rich.markup import escape
    from rich.table import Table

    from domaintune.evaluation.compare import compare_folders
    from domaintune.evaluation.compare_page import render_compare_page
    from domaintune.files import write_json_atomic, write_text_atomic

    with friendly_errors():
        result = compare_folders(list(folders))
        write_text_atomic(output, render_compare_page(result))
        write_json_atomic(output.with_suffix(".json"), result)
    table = Table(title=f"{result['domain']}: {result['rows']} rows")
    table.add_column("model")
    names = list(next(iter(result["metrics"].values())))
    for name in names:
        table.add_column(escape(name), justify="right")
    for model, values in result["metrics"].items():
        table.add_row(escape(model), *(f"{values[n]:.3f}" for n in names))
    stdout.print(table)
    pairs = Table(title="second - first, 95% paired interval")
    for column in ("pair", "metric", "difference", "interval"):
        pairs.add_column(column)
    for p in result["pairs"]:
        pairs.add_row(escape(f"{p['second']} - {p['first']}"), escape(p["metric"]), f"{p['difference']:+.3f}",
                      f"[{p['low']:+.3f}, {p['high']:+.3f}]")
    stdout.print(pairs)
    say(f"{len(result['disagreements'])} rows where they disagree; written to {output} and {output.with_suffix('.json')}")
