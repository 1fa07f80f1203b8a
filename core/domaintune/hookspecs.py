"""The hooks a domaintune plugin can implement.

Every hook that takes a ``domain`` is called for the domain of the current run; an
implementation returns ``None`` when that domain is not its own (``@domaintune.for_domains``
does that), so that a plugin can add behaviour across domains (a company-wide PII filter) or
override one domain's (``tryfirst``). Hooks are called once per run and return objects or
callables; the core applies those to the data in batches, never one hook call per row. Each
implementation is called on its own, and what it returns is checked against the return type
below where it leaves the plugin (a ``PluginError`` names the plugin and the hook).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import pluggy

from domaintune.domain import Domain, Formatter, Metric, SafetyFilter

if TYPE_CHECKING:
    import datasets

PROJECT = "domaintune"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_domains(register: Callable[[Domain], None]) -> None:
    """Offer domains by calling ``register(domain)`` once for each.

    Called once per set of installed plugins, when a domain is first looked up (also by
    ``tune plugins``, so keep heavy imports out of it). A name two plugins register is
    refused: ``tune plugins`` lists it, and a command that asks for that domain fails with a
    :class:`~domaintune.errors.DuplicateDomainError` naming both plugins. Passing anything
    but a ``Domain``, or raising, refuses this plugin's domains the same way; other plugins'
    domains keep working.
    """


@hookspec(firstresult=True)
def load_data(
    domain: Domain, source: str, column_map: Mapping[str, str], shape: str
) -> datasets.Dataset | None:
    """Read the data file, folder or dataset name ``source`` into rows with ``prompt`` and
    ``completion``.

    Called once per source (train, then eval if given) before any model is loaded, also by
    `tune data check`. ``column_map`` (field -> the source's column, e.g. ``{"prompt":
    "question"}``) and ``shape`` (``auto``, ``prompt_completion``, ``messages``,
    ``instruction`` or ``text``) are the user's settings; an implementation may leave them
    out of its signature. Return a ``datasets.Dataset`` (extra columns such as ``task`` and
    ``messages`` are kept), or ``None`` when the source is not in a format this plugin reads.
    ``firstresult``: the first non-``None`` result wins; the core's default reads JSONL, JSON,
    CSV/TSV, Parquet, `datasets` folders and hub names, and validates every row.
    """


@hookspec(firstresult=True)
def make_formatter(domain: Domain) -> Formatter | None:
    """Return the callable that turns a batch of rows into chat conversations.

    Called once per run. The callable receives a batch (column -> list of values) and returns
    one conversation per row; the last message of each is the assistant's answer.
    ``firstresult``: the first non-``None`` result wins; the core's default uses the domain's
    system prompt, the row's ``prompt`` as the user turn and ``completion`` as the answer.
    """


@hookspec
def make_metrics(domain: Domain) -> list[Metric] | None:
    """Return the metrics that judge this domain's answers.

    Called once per evaluation. Results of all plugins are concatenated (a metric name may
    appear only once). The core adds accuracy and macro-F1 for classification domains and
    exact match and token F1 for generation domains.
    """


@hookspec
def make_data_filters(domain: Domain) -> list[SafetyFilter] | None:
    """Return the safety filters applied to training and eval text before training.

    Called once per run. Filters of all plugins run in turn on every prompt and completion;
    a row any filter blocks is dropped, and counts are reported by filter and finding type.
    """


@hookspec
def make_output_filters(domain: Domain) -> list[SafetyFilter] | None:
    """Return the safety filters applied to the tuned model's generated answers.

    Called once per evaluation of a generation domain. Rewritten texts are what the report
    shows; blocked answers are flagged, and counts are reported by filter and finding type.
    """
