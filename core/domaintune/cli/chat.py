"""`tune chat RUN_DIR`: talk to a run's model in the terminal, or answer one prompt for a
script (``--prompt``, or text piped on stdin). Answers stream to stdout as the domain's output
filters release them; findings go to stderr, beneath the answer.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from domaintune.cli.render import friendly_errors
from domaintune.config import PRECISIONS

if TYPE_CHECKING:
    from domaintune.deploy.chat import ChatSession


@click.command(name="chat")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--prompt", help="Answer this one prompt and exit (piped stdin does the same).")
@click.option("--base", is_flag=True, help="Chat with the untuned base model, for comparison.")
@click.option("--temperature", type=click.FloatRange(0, 2), default=0.0, show_default=True,
              help="Sampling temperature; 0 answers greedily, as the run's scoring did.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=256, show_default=True,
              help="Longest answer, in tokens.")
@click.option("--seed", type=int, help="Seed for sampling (with --temperature above 0).")
@click.option("--precision", type=click.Choice(PRECISIONS),
              help="bf16 (auto: where the hardware runs it natively) or fp32. Default: the run's --precision.")
def chat(
    run_dir: Path, prompt: str | None, base: bool, temperature: float, max_tokens: int, seed: int | None,
    precision: str | None,
) -> None:
    """Chat with RUN_DIR's tuned model, with the domain's system prompt and chat template as
    trained; every answer goes through the domain's output filters."""
    from domaintune.deploy.chat import ChatSession
    from domaintune.deploy.engine import start_engine
    from domaintune.deploy.runmodel import load_run_model

    if prompt is None and not sys.stdin.isatty():
        prompt = sys.stdin.read()
    if prompt is not None and not prompt.strip():
        raise click.UsageError("The prompt is empty: pass --prompt TEXT or pipe some text.")
    with friendly_errors():
        run_model, engine = start_engine(lambda: load_run_model(run_dir, base=base, precision=precision), max_batch=1)
        try:
            _converse(ChatSession(run_model, engine, temperature, max_tokens, seed), prompt)
        finally:
            # The worker thread must end before the interpreter does: one still inside a torch
            # op at exit aborts the process ("terminate called without an active exception").
            engine.stop()


def _converse(session: ChatSession, prompt: str | None) -> None:
    if prompt is not None:
        _answer(session, prompt.strip())
        return
    run_model = session.run_model
    click.echo(f"Chatting with {run_model.name} ({run_model.domain.name}); Ctrl+D or /exit ends.", err=True)
    while True:
        try:
            text = input("> ")
        except EOFError:
            break
        if text.strip() == "/exit":
            break
        if text.strip():
            _answer(session, text)


def _answer(session: ChatSession, text: str) -> None:
    answer = session.ask(text, on_text=lambda piece: click.echo(piece, nl=False))
    click.echo()
    if answer.blocked:
        click.echo("(blocked by the domain's output filters; the answer was withheld)", err=True)
    if answer.findings:
        found = ", ".join(f"{kind} x{n}" for kind, n in sorted(answer.findings.items()))
        click.echo(f"findings: {found}", err=True)
