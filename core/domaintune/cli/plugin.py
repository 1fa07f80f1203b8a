"""`tune plugins`, `tune plugin new` and `tune plugin check`: what is installed, a new domain
pack, and the hooks' contract checked on an installed one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from domaintune import __version__
from domaintune.cli.render import friendly_errors, stderr, stdout


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(as_json: bool) -> None:
    """List installed plugins: distribution, version, domains and hooks."""
    from dataclasses import asdict

    from domaintune.plugins import plugin_infos, plugin_problems

    with friendly_errors():
        infos = plugin_infos()
        broken_plugins = plugin_problems()
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
            *(escape(text) for text in (
                info.name, info.distribution or "(built in)", info.version or __version__,
                ", ".join(info.domains), ", ".join(info.hooks),
            ))
        )
    stdout.print(table)
    for broken in broken_plugins:
        what = f"in hook {broken.hook}: " if broken.hook else "failed to import: "
        stderr.print(
            f"[bold red]Broken plugin[/] {escape(repr(broken.name))} ({escape(broken.distribution)}) "
            f"{what}{escape(broken.error)}", highlight=False, emoji=False,
        )


@click.group()
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

    with friendly_errors():
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
    with friendly_errors():
        report = check_plugin(name)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(report.render())
    sys.exit(0 if report.ok else 1)
