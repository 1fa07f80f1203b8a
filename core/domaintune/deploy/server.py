"""Running `tune serve`: check the address and key before any heavy work, load the run, start
the engine and uvicorn; on SIGINT/SIGTERM stop taking connections, let the requests in flight
finish within the grace period, and return normally (exit 0).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from domaintune.config import PRECISIONS
from domaintune.errors import ConfigError

API_KEY_ENV = "DOMAINTUNE_API_KEY"
LOOPBACK_NAMES = {"localhost"}


@dataclass(frozen=True)
class ServeSettings:
    run_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    base: bool = False
    filter_input: bool = False
    log_requests: bool = False
    max_batch: int = 8
    max_queue: int = 64
    grace_seconds: float = 30.0
    precision: str | None = None
    """auto, bf16 or fp32; None: the run's own."""


def resolve_settings(settings: ServeSettings) -> ServeSettings:
    """The key from ``DOMAINTUNE_API_KEY`` when none is given; refuse a non-loopback address
    without a key and bad limits, before the model is loaded."""
    from dataclasses import replace

    key = settings.api_key or os.environ.get(API_KEY_ENV) or None
    problems = []
    if not _is_loopback(settings.host) and not key:
        problems.append(
            f"--host {settings.host}: serving beyond this machine needs an API key; pass --api-key "
            f"KEY or set {API_KEY_ENV}, or bind 127.0.0.1."
        )
    if not 0 <= settings.port <= 65535:
        problems.append(f"--port {settings.port}: must be between 0 and 65535.")
    for name, value in (("--max-batch", settings.max_batch), ("--max-queue", settings.max_queue)):
        if value < 1:
            problems.append(f"{name} {value}: must be at least 1.")
    if settings.precision is not None and settings.precision not in PRECISIONS:
        problems.append(f"--precision {settings.precision}: must be one of {', '.join(PRECISIONS)}.")
    if settings.grace_seconds < 0:
        problems.append(f"--grace-seconds {settings.grace_seconds}: must not be negative.")
    if problems:
        raise ConfigError(" ".join(problems))
    return replace(settings, api_key=key)


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: ServeSettings, on_ready: Callable[[str], None] = lambda url: None) -> None:
    """Serve the run until SIGINT/SIGTERM; ``on_ready`` gets the base URL once it listens."""
    from domaintune.deploy.app import ServeOptions, create_app
    from domaintune.deploy.engine import start_engine
    from domaintune.deploy.runmodel import load_run_model, run_config, tuned_model_dir

    settings = resolve_settings(settings)
    tuned_model_dir(settings.run_dir, run_config(settings.run_dir))  # an unfinished run fails now
    run_model, engine = start_engine(
        lambda: load_run_model(settings.run_dir, base=settings.base, precision=settings.precision),
        settings.max_batch, settings.max_queue,
    )
    options = ServeOptions(settings.api_key, settings.filter_input, settings.log_requests)
    log = logging.getLogger("domaintune.serve")
    if not log.handlers:
        handler = logging.StreamHandler()  # stderr, beside uvicorn's own lines
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        log.addHandler(handler)
    # Request text may hold personal data: it is logged (at INFO) only with --log-requests.
    log.setLevel(logging.INFO if settings.log_requests else logging.WARNING)
    config = uvicorn.Config(
        create_app(run_model, engine, options), host=settings.host, port=settings.port,
        timeout_graceful_shutdown=int(settings.grace_seconds), log_level="warning", access_log=False,
    )
    server = _Server(config, on_ready)
    try:
        server.run()
    finally:
        engine.stop()


class _Server(uvicorn.Server):
    """uvicorn's server, reporting its address once it listens, and ending on SIGINT/SIGTERM by
    returning (uvicorn itself raises the signal again after its graceful shutdown, which would
    end the process with the signal rather than exit 0)."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[str], None]) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self.on_ready(f"http://{host}:{port}")

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
