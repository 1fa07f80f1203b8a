"""`tune serve RUN_DIR`: an OpenAI-compatible HTTP server for a run's model, guarded by the
domain's filters. The options are parsed here; domaintune.deploy.server decides and runs."""

from __future__ import annotations

from pathlib import Path

import click

from domaintune.cli.render import friendly_errors
from domaintune.config import PRECISIONS


@click.command(name="serve")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; any other than loopback needs an API key.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port (0: a free one).")
@click.option("--api-key", help="Require `Authorization: Bearer KEY` (default: $DOMAINTUNE_API_KEY).")
@click.option("--base", is_flag=True, help="Serve the untuned base model instead.")
@click.option("--filter-input", is_flag=True,
              help="Mask identifiers in users' messages with the domain's data filters before the model sees them.")
@click.option("--log-requests", is_flag=True, help="Log the text of requests (off: it may hold personal data).")
@click.option("--max-batch", type=int, default=8, show_default=True, help="Requests decoded together.")
@click.option("--max-queue", type=int, default=64, show_default=True,
              help="Requests that may wait beyond those; more get 429 with Retry-After.")
@click.option("--grace-seconds", type=float, default=30.0, show_default=True,
              help="On SIGINT/SIGTERM, how long requests in flight may take to finish.")
@click.option("--precision", type=click.Choice(PRECISIONS),
              help="In bf16 (auto: where the CPU or GPU runs it natively) a greedy answer can change with "
                   "the requests it is batched with; fp32 gives each prompt one answer. Default: the run's --precision.")
def serve(run_dir: Path, **options: object) -> None:
    """Serve RUN_DIR's tuned model with the OpenAI chat-completions API (GET /v1/models,
    POST /v1/chat/completions, GET /health); the domain's output filters run on every answer."""
    from domaintune.deploy.server import ServeSettings, serve as run_server

    def ready(url: str) -> None:
        click.echo(f"Serving {run_dir} at {url}/v1 (Ctrl+C stops)", err=True)

    with friendly_errors():
        run_server(ServeSettings(run_dir=run_dir, **options), on_ready=ready)  # type: ignore[arg-type]
