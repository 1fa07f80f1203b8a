"""`tune data export FILE --domain D --to openai OUT.jsonl`: chat JSONL for fine-tuning services."""

from __future__ import annotations

from pathlib import Path

import click

from domaintune.cli.render import friendly_errors, say
from domaintune.cli.run import SHAPES


@click.command(name="export")
@click.argument("source", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("output", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--domain", required=True, help="Domain whose safety filters and formatter apply.")
@click.option("--to", "target", type=click.Choice(["openai"]), default="openai", show_default=True,
              help="The format: OpenAI-compatible chat fine-tuning JSONL.")
@click.option("--model", help="Model whose tokenizer counts tokens (default: the embedded default's).")
@click.option("--max-tokens", type=click.IntRange(min=1), default=65536, show_default=True,
              help="Drop examples longer than this (the service's per-example limit).")
@click.option("--shape", type=SHAPES, default="auto", help="Row shape (default: detected).")
def export_data(source: Path, output: Path, domain: str, target: str, model: str | None, max_tokens: int, shape: str) -> None:
    """Write SOURCE as chat-format JSONL to OUTPUT, after the domain's safety filters; each
    example is checked (roles, an assistant message last, non-empty content, --max-tokens)."""
    from domaintune.data.export_openai import export_openai

    with friendly_errors():
        report = export_openai(domain, source, output, model, max_tokens, shape=shape)
    say(f"Rows written: {report.written} to {output}; total tokens: {report.tokens}")
    say(f"Rows dropped: {sum(report.dropped.values())}"
        + "".join(f"\n  {n}: {reason}" for reason, n in sorted(report.dropped.items())))
    if report.filter_counts:
        say("Masked by the safety filters: " + ", ".join(f"{k} {v}" for k, v in sorted(report.filter_counts.items())))
