"""How the CLI shows a job's progress: rich live displays on a terminal (steps, scoring bars,
training's step, loss, tokens/s and time left), plain lines in a pipe, in CI or with --quiet;
and, with --verbose, the libraries' logs (otherwise only in RUN_DIR/train.log)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.markup import escape

from domaintune.cli.render import stderr
from domaintune.progress import TrainingProgress, TrainingStatus

PLAIN_TRAINING_LINES = 20
"""Lines a plain training display prints over a whole run (and one for the last step)."""


def minutes(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def status_line(status: TrainingStatus) -> str:
    """step 10/124, loss 0.868, 183 tokens/s, 3:20 left (8:00 of the time budget left)"""
    parts = [f"step {status.step}/{status.total_steps}"]
    if status.loss is not None:
        parts.append(f"loss {status.loss:.4f}")
    parts.append(f"{status.tokens_per_second:.0f} tokens/s")
    if status.seconds_left is not None:
        parts.append(f"{minutes(status.seconds_left)} left")
    if status.budget_seconds_left is not None:
        parts.append(f"{minutes(status.budget_seconds_left)} of the time budget left")
    return ", ".join(parts)


class RichReporter:
    """The CLI's Reporter. ``plain`` (--quiet) forces plain lines; so does a console that is
    not a terminal."""

    def __init__(self, plain: bool = False, console: Console | None = None) -> None:
        self.console = console or stderr
        self.live = not plain and self.console.is_terminal

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, emoji=False, highlight=False)

    def step(self, message: str) -> None:
        if self.live:
            self.console.print(f"[bold cyan]>[/] {escape(message)}", emoji=False)
        else:
            self._line(f"> {message}")

    @contextlib.contextmanager
    def progress(self, description: str, total: float) -> Iterator[Callable[[float], None]]:
        if not self.live:
            started = time.monotonic()
            yield lambda n: None
            self._line(f"{description}: done in {time.monotonic() - started:.0f} s")
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        columns = (
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task(description, total=total)
            yield lambda n: progress.advance(task, n)

    @contextlib.contextmanager
    def training(self, total_steps: int) -> Iterator[TrainingProgress]:
        if not self.live:
            every = max(1, total_steps // PLAIN_TRAINING_LINES)

            def show_line(status: TrainingStatus) -> None:
                if status.step % every == 0 or status.step >= status.total_steps:
                    self._line(f"Training: {status_line(status)}")

            yield show_line
            return
        from rich.progress import BarColumn, Progress, TextColumn

        columns = (TextColumn("Training"), BarColumn(), TextColumn("{task.fields[status]}"))
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task("Training", total=total_steps, status=f"step 0/{total_steps}")

            def show(status: TrainingStatus) -> None:
                progress.update(task, completed=status.step, total=status.total_steps, status=status_line(status))

            yield show


def show_library_logs(plain: bool = False) -> None:
    """--verbose: the libraries' logs and warnings on stderr too, above any live display."""
    console = stderr
    handler: logging.Handler
    if plain or not console.is_terminal:
        handler = logging.StreamHandler(console.file)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    else:
        from rich.logging import RichHandler

        handler = RichHandler(console=console, show_path=False)
    logging.getLogger().addHandler(handler)
