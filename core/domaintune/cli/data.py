"""`tune data check`, `tune filter` and `tune cache clear`: data files looked at, filtered,
and the data cache removed, without training."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from domaintune.cli.render import friendly_errors, say
from domaintune.cli.run import MAP_OPTION, SHAPES


@click.group()
def data() -> None:
    """Look at data files before training on them."""


@data.command(name="check")
@click.argument("path", required=False)
@click.option("--domain", help="Domain whose filters, settings and labels apply (see `tune plugins`).")
@click.option("--model", help="Model whose tokenizer counts tokens (default: the embedded default's; no weights are loaded).")
@click.option("--eval-data", help="Held-out data file to check against PATH for shared rows.")
@click.option("--map", **MAP_OPTION)
@click.option("--shape", type=SHAPES, help="Row shape (default: detected).")
@click.option("--max-length", type=int, help="Tokens per example (default: the domain's, else 256).")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="YAML or TOML run settings to check with.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def data_check(path: str | None, config_file: Path | None, as_json: bool, **options: Any) -> None:
    """Check PATH (default: the domain's bundled data) as a run would read it, without loading
    any model weights; exit 0 when it is usable, 1 listing every problem otherwise.

    Prints rows and their shape, labels, token lengths and truncation, duplicates, what the
    safety filters change, and rows shared between train and eval.
    """
    from domaintune.data.check import check_from_options
    from domaintune.data.check_render import render_text

    with friendly_errors():
        report = check_from_options(path, options, config_file)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(render_text(report))
    sys.exit(0 if report.usable else 1)


@click.command(name="filter")
@click.option("--domain", required=True, help="Domain whose safety filters to apply.")
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
def filter_command(domain: str, source: Path, target: Path) -> None:
    """Apply a domain's training-data safety filters to SOURCE and write TARGET (JSONL)."""
    from domaintune.data.filtering import apply_filters
    from domaintune.data.prepare import load_source
    from domaintune.files import write_jsonl_atomic
    from domaintune.plugins import collect, get_domain

    with friendly_errors():
        the_domain = get_domain(domain)
        dataset = load_source(the_domain, source)
        filtered, report = apply_filters(dataset, collect("make_data_filters", domain=the_domain))
        rows = [
            {key: value for key, value in row.items() if key != "task" or value}
            for row in filtered
        ]
        write_jsonl_atomic(target, rows)
    say(
        f"{report.rows_in} rows in, {report.rows_changed} changed, {report.rows_dropped} dropped, "
        f"{len(rows)} written to {target}"
    )
    for kind, count in sorted(report.counts.items()):
        say(f"  {kind}: {count}")


@click.group()
def cache() -> None:
    """The data cache: loaded sources kept between commands when asked (see the README)."""


@cache.command(name="clear")
def cache_clear() -> None:
    """Remove the data cache, and the scratch folders of commands that died before removing
    theirs."""
    from domaintune.data.cache import clear_data_cache

    with friendly_errors():
        cleared = clear_data_cache()
    say(f"Removed {cleared.files} file(s), {cleared.bytes / 2**20:.1f} MiB, from the data cache")
