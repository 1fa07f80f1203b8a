"""Test helpers for plugin authors, installed as a pytest plugin (entry point ``pytest11``).

Every test run in an environment with domaintune installed gets these fixtures:

- ``tiny_model``: the folder of a tiny randomly initialised Llama with a ChatML tokenizer, built
  from scratch once per session (no download; a run on it takes seconds).
- ``registered_plugin``: ``registered_plugin(plugin)`` registers a plugin object for the rest
  of the test (or for a ``with`` block) and unregisters it afterwards, even when the test fails.
- ``run_domain``: ``run_domain("mydomain", **settings)`` runs the whole job on the domain's
  sample with the tiny model and returns the run's outcome (``run_dir``, ``summary``).

The builders (:func:`build_tiny_model`, :data:`TINY_RUN`, :func:`build_default_model_run`),
:func:`plugin_registered`, the calls a plugin's tests make (``get_domain``, ``call_hook``,
``collect``, ``load_source``, ``prepare_data``, ``domain_metrics``, ``compute_metrics``,
``check_plugin``) and the checks (:func:`heavy_imports`, :func:`module_fixture`) need no
pytest at import: ``from domaintune.testing import build_tiny_model`` works in a plain script.
The fixtures are added only where pytest is installed. pytest imports this package in every run
of every project in the environment, so it imports nothing heavy: torch, transformers and the
run machinery load inside the builders and fixtures.
"""

from __future__ import annotations

import importlib.util

from domaintune.testing.builders import (
    CHATML_TEMPLATE,
    DEFAULT_TOKENIZER_TEXT,
    TINY_RUN,
    build_default_model_run,
    build_tiny_model,
)
from domaintune.testing.calls import (
    call_hook,
    check_plugin,
    collect,
    compute_metrics,
    domain_metrics,
    get_domain,
    load_source,
    prepare_data,
)
from domaintune.testing.checks import heavy_imports, module_fixture
from domaintune.testing.registration import PluginRegistration, plugin_registered

__all__ = [
    "CHATML_TEMPLATE", "DEFAULT_TOKENIZER_TEXT", "TINY_RUN", "PluginRegistration", "build_default_model_run",
    "build_tiny_model",
    "call_hook", "check_plugin", "collect", "compute_metrics", "domain_metrics", "get_domain",
    "heavy_imports", "load_source", "module_fixture", "plugin_registered", "prepare_data",
]

if importlib.util.find_spec("pytest") is not None:
    # pytest finds a plugin's fixtures among its module's names.
    from domaintune.testing.fixtures import registered_plugin, run_domain, tiny_model

    __all__ += ["registered_plugin", "run_domain", "tiny_model"]
