"""`tune plugin check NAME`: does an installed plugin keep the hooks' contract?

Each check gives a line of the checklist; any failure makes the report fail (exit 1):

1. the plugin imports, each of its hooks names a hookspec and takes only the spec's
   arguments, and its modules import from the core only what the kit offers (``domaintune``,
   ``domaintune.kit``, ``domaintune.testing``);
2. the domains it registers are well formed (task type, sample files, default settings);
3. hooks that take a ``domain`` return ``None`` for a domain that is not the plugin's;
4. each domain's bundled data loads, has a completion on every row and only the domain's
   labels, and the safety filters leave rows to train on;
5. the prompt format renders every sample row, train and held-out, called as a run calls it:
   one conversation per row of str messages, each ending with the assistant's answer (a
   label, for classification domains), each rendering through a chat template;
6. every hook returns the type its spec says, and the plugin's metrics take predictions and
   references and return one finite float in [0, 1], the same for the same input;
7. the plugin's safety filters (data and output) return one text per input, never change
   their input, and are deterministic (same input, same output) and idempotent (applying a
   filter to its own output changes nothing).

A plugin that registers no domain (say, a company-wide PII filter) is checked on every
installed domain it contributes to. No model is loaded; the check takes seconds.
"""

from __future__ import annotations

import inspect

from domaintune import plugins
from domaintune.contract.callables import PROBE_TEXTS, check_filter, check_metric, gather
from domaintune.contract.domains import (
    SAMPLE_ROWS,
    check_data,
    check_domain,
    check_foreign_domain,
    check_formatter,
    check_hooks,
    check_metric_names,
    sample,
)
from domaintune.contract.imports import check_imports
from domaintune.contract.report import Check, ContractReport
from domaintune.domain import Metric, SafetyFilter
from domaintune.errors import PluginError

__all__ = ["Check", "ContractReport", "check_plugin"]


def check_plugin(name: str) -> ContractReport:
    """Run the contract on the installed (or test-registered) plugin ``name``: an entry-point
    name, a distribution name, or the name a plugin was registered under."""
    import datasets

    datasets.disable_progress_bars()  # the checklist is the output
    found = plugins.find_plugin(name)
    if found is None:
        broken = sorted(b.name for b in plugins.broken_plugins)
        raise PluginError(
            f"No installed plugin is called {name!r} (installed: {', '.join(plugins.plugin_names()) or 'none'}"
            + (f"; broken: {', '.join(broken)}" if broken else "")
            + "). Install it (e.g. `pip install -e .` in its folder) and check `tune plugins`."
        )
    if isinstance(found, plugins.BrokenPlugin):
        report = ContractReport(plugin=name, distribution=found.distribution)
        report.add(
            "fail", "the plugin imports",
            f"{found.distribution}: {found.error}\nAn implementation may take only (a subset of) "
            "the spec's arguments; see docs/hooks/ or core/domaintune/hookspecs.py.",
        )
        return report
    plugin_name, plugin = found
    dist = plugins.distribution_of(plugin_name)
    report = ContractReport(
        plugin=plugin_name, distribution=f"distribution {dist.name} {dist.version}" if dist else None
    )
    module = plugin.__name__ if inspect.ismodule(plugin) else type(plugin).__module__ + "." + type(plugin).__qualname__
    report.add("pass", f"the plugin imports ({module})")
    impls = check_hooks(report, plugin)
    check_imports(report, plugin_name, plugin)

    refused = [p for p in plugins.plugin_problems() if p.name == plugin_name and p.hook == "register_domains"]
    for problem in refused:
        report.add("fail", "register_domains registers domains", problem.error)
    registered = plugins.registered_domains()
    own = [entry.domain for entry in registered.values() if entry.plugin == plugin_name]
    for domain in own:
        check_domain(report, domain)
    if own:
        check_foreign_domain(report, impls, own[0])
        checked = own
    elif refused:
        return report
    else:
        checked = [entry.domain for entry in registered.values()]
        report.add(
            "pass", "registers no domain: checked as a cross-domain plugin",
            f"its hooks are called for every installed domain: {', '.join(d.name for d in checked) or 'none'}",
        )

    filters: dict[tuple[str, str], tuple[SafetyFilter, list[str]]] = {}
    metrics: dict[str, tuple[Metric, list[str]]] = {}
    texts: list[str] = list(PROBE_TEXTS)
    references: list[str] = []
    for domain in checked:
        if domain in own:
            loaded = check_data(report, domain)
            rows = loaded.get("train_data", [])
            check_formatter(report, domain, rows, loaded.get("eval_data", []), impls)
            check_metric_names(report, domain)
        else:
            rows = sample(domain)
        texts += [text for row in rows[:SAMPLE_ROWS] for text in (row["prompt"], row["completion"])]
        references += [row["completion"].strip() for row in rows[:SAMPLE_ROWS]]
        gather(report, impls, domain, filters, metrics)
    references = references or ["yes", "no", "yes"]
    for metric, domains in metrics.values():
        check_metric(report, metric, domains, references)
    for (hook, _), (safety_filter, domains) in filters.items():
        check_filter(report, hook, safety_filter, domains, texts)
    if not metrics and not filters and not own and "make_formatter" not in impls:
        report.add("warn", "contributes nothing to any installed domain")
    return report
