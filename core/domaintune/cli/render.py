"""How the CLI shows things: the consoles, library errors as one red line, the results table
and gate failures (progress: cli.console). Nothing here decides anything."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from domaintune.errors import DomaintuneError

stdout = Console()
stderr = Console(stderr=True)

GATE_FAILED_EXIT_CODE = 3
"""Exit code of a run or `tune eval` whose tuned model misses --fail-under or --max-regression."""


def fail(error: DomaintuneError) -> None:
    # soft_wrap: no line breaks of our own, so a file path in the message stays whole to copy.
    stderr.print(f"[bold red]Error:[/] {escape(str(error))}", highlight=False, emoji=False, soft_wrap=True)
    sys.exit(1)


@contextlib.contextmanager
def friendly_errors() -> Iterator[None]:
    """The library's errors end the command with their message and exit code 1, no traceback."""
    try:
        yield
    except DomaintuneError as error:
        fail(error)


def say(message: str) -> None:
    """One plain line on stderr (file names may hold brackets: no rich markup)."""
    stderr.print(message, markup=False, emoji=False, highlight=False, soft_wrap=True)


def results_table(summary: dict[str, Any]) -> Table:
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
            escape(name), f"{base:.3f}", f"{summary['tuned'][name]:.3f}",
            f"[{colour}]{change['difference']:+.3f}[/]", f"[{change['low']:+.3f}, {change['high']:+.3f}]",
        )
    if "majority_baseline" in summary:
        majority = summary["majority_baseline"]
        table.add_row(escape(f"always {majority['label']!r}"), f"{majority['accuracy']:.3f}", "", "", "")
    if "few_shot" in summary:
        shots = summary["few_shot"]
        for name, value in shots["metrics"].items():
            change = shots["tuned_minus_few_shot"][name]
            table.add_row(
                escape(f"{name}: base model, {shots['examples']}-shot (tuned - it)"), f"{value:.3f}", "",
                f"{change['difference']:+.3f}", f"[{change['low']:+.3f}, {change['high']:+.3f}]",
            )
    general = summary["general_knowledge"]
    table.add_row(
        "general knowledge (outside the domain)", f"{general['base']:.3f}", f"{general['tuned']:.3f}",
        f"{general['tuned'] - general['base']:+.3f}", "",
    )
    table.caption = f"fixed {summary['flips']['fixed']} rows, broke {summary['flips']['broken']}"
    return table


def exit_on_gate_failures(failures: list[str]) -> None:
    for failure in failures:
        stderr.print(f"[bold red]Gate failed:[/] {escape(failure)}", emoji=False)
    if failures:
        sys.exit(GATE_FAILED_EXIT_CODE)
