"""What a plugin's tests call, as a run calls it: the domain registry, the hooks, the data
loading, the metric list and the contract check.

Tests import these from ``domaintune.testing`` rather than from the core modules behind them,
which may be reorganised between releases. Each imports its core module on first call, so
that importing the pytest plugin stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets

    from domaintune.contract import ContractReport
    from domaintune.domain import Domain, Metric


def get_domain(name: str) -> Domain:
    """The registered domain ``name`` (errors name the plugin at fault)."""
    from domaintune.plugins import get_domain as registered

    return registered(name)


def call_hook(name: str, **kwargs: Any) -> Any:
    """Hook ``name`` as the core calls it: the first non-None result of a ``firstresult`` hook,
    else every plugin's non-None result; results of the wrong type are refused."""
    from domaintune.plugins import call_hook as call

    return call(name, **kwargs)


def collect(name: str, **kwargs: Any) -> list[Any]:
    """A list hook's results of every plugin, concatenated (metrics, data or output filters)."""
    from domaintune.plugins import collect as gather

    return gather(name, **kwargs)


def load_source(
    domain: Domain, source: str | Path, column_map: dict[str, str] | None = None, shape: str = "auto"
) -> datasets.Dataset:
    """``source`` read for ``domain`` as a run reads it, through the plugins' ``load_data``."""
    from domaintune.data.prepare import load_source as load

    return load(domain, source, column_map, shape)


def domain_metrics(domain: Domain) -> list[Metric]:
    """The metrics a run scores ``domain`` with: every plugin's, names distinct."""
    from domaintune.evaluation.heldout import domain_metrics as metrics

    return metrics(domain)


def check_plugin(name: str) -> ContractReport:
    """`tune plugin check NAME` as a report (``.ok``, ``.checks``, ``.render()``)."""
    from domaintune.contract import check_plugin as check

    return check(name)


def compute_metrics(
    metrics: list[Metric], predictions: list[str], references: list[str],
    columns: dict[str, list[str]] | None = None,
) -> dict[str, float]:
    """Each metric's headline value as a run reports it (per group and macro when a metric
    has ``group_by`` and ``columns`` holds that column)."""
    from domaintune.evaluation.scoring import compute_metrics as compute

    return compute(metrics, predictions, references, columns)


def prepare_data(domain: Domain, **settings: Any) -> tuple[datasets.Dataset, datasets.Dataset, dict[str, Any]]:
    """A run's data for ``domain``: loaded, filtered, split and capped as ``tune`` would with
    these settings (any run setting, e.g. ``data=...``, ``eval_rows=2``) over the domain's
    defaults; returns train rows, held-out rows and what happened (for the report)."""
    from domaintune.config import build_config
    from domaintune.data.prepare import prepare_data as prepare

    return prepare(domain, build_config(dict(domain.defaults), {"domain": domain.name}, settings))
