"""The pytest fixtures of :mod:`domaintune.testing` (``tiny_model``, ``registered_plugin``,
``run_domain``); pytest loads them through the ``domaintune.testing`` plugin."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from domaintune.testing.builders import TINY_RUN, build_tiny_model
from domaintune.testing.registration import PluginRegistration, plugin_registered

if TYPE_CHECKING:
    from domaintune.run import RunOutcome


@pytest.fixture
def registered_plugin() -> Iterator[Callable[..., PluginRegistration]]:
    """``registered_plugin(plugin, name=None)`` registers ``plugin`` until the end of the test
    (or of a ``with registered_plugin(plugin):`` block); it is unregistered in ``finally``."""
    registrations: list[PluginRegistration] = []

    def register(plugin: object, name: str | None = None) -> PluginRegistration:
        registration = plugin_registered(plugin, name)
        registrations.append(registration)
        return registration

    try:
        yield register
    finally:
        for registration in reversed(registrations):
            registration.unregister()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The folder of a tiny Llama and ChatML tokenizer built from scratch (see
    :func:`build_tiny_model`); pass it as ``model`` to a run."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def run_domain(tiny_model: str, tmp_path: Path) -> Callable[..., RunOutcome]:
    """``run_domain(domain_name, **settings)``: the whole job (data, filters, split, base
    score, LoRA fine-tune, tuned score, run folder) on the domain's sample with the tiny model.

    Settings are layered as `tune` layers them: the domain's defaults, then :data:`TINY_RUN`,
    then ``settings`` (any :class:`~domaintune.config.RunConfig` field, e.g. ``data=...``).
    Each call writes a new run folder under the test's ``tmp_path``.
    """
    counter = itertools.count(1)

    def run(domain_name: str, **settings: Any) -> RunOutcome:
        from domaintune.config import build_config
        from domaintune.plugins import get_domain
        from domaintune.run import run_job

        defaults = dict(get_domain(domain_name).defaults)
        fixed = {
            "domain": domain_name,
            "model": tiny_model,
            "output_dir": str(tmp_path / f"run-{domain_name}-{next(counter)}"),
        }
        return run_job(build_config(defaults, TINY_RUN, fixed, settings))

    return run
