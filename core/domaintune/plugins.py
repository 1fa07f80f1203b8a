"""Calls into plugins and the domain registry: every hook result and error names the
plugin responsible, and one broken plugin does not stop the others.

A plugin that implements a hook that does not exist, registers a domain another plugin has,
or calls ``register`` wrongly is listed by :func:`plugin_problems` (``tune plugins`` shows
it, beside the plugins that failed to import); only a command that needs one of its domains
fails, with the error naming plugin, hook and fix. The registry is built once per set of
registered plugins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pluggy

from domaintune.domain import Domain
from domaintune.errors import (
    DomaintuneError,
    DuplicateDomainError,
    PluginError,
    UnknownDomainError,
)
from domaintune.hookresults import check_result
from domaintune.manager import (
    DEFAULT_PLUGINS,
    LOAD_PLUGINS_ENV,
    BrokenPlugin,
    broken_plugins,
    check_hooks,
    distribution_label,
    distribution_of,
    find_plugin,
    hook_names,
    implementations,
    load_plugins,
    plugin_in_traceback,
    plugin_label,
    plugin_names,
    pm,
    unknown_hook_error,
    unknown_hooks,
)

__all__ = [
    "DEFAULT_PLUGINS", "LOAD_PLUGINS_ENV", "BrokenPlugin", "PluginInfo", "RegisteredDomain",
    "Registry", "blame", "broken_plugins", "call_hook", "call_impl", "check_hooks", "collect",
    "distribution_label", "distribution_of", "find_plugin", "get_domain", "get_domains",
    "hook_names", "implementations", "load_plugins", "plugin_infos", "plugin_label",
    "plugin_names", "plugin_problems", "pm", "registered_domains", "registry", "wrap_callable",
]

FIRSTRESULT_HOOKS = ("load_data", "make_formatter")


@dataclass
class PluginInfo:
    """What `tune plugins` shows for one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]
    domains: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RegisteredDomain:
    domain: Domain
    plugin: str
    """The name of the plugin that registered it."""


@dataclass
class Registry:
    """The domains the plugins offer, computed once per set of registered plugins."""

    domains: dict[str, RegisteredDomain] = field(default_factory=dict)
    refused: dict[str, PluginError] = field(default_factory=dict)
    """Domains that cannot be used (a duplicate, or offered by a broken plugin), with why."""
    problems: list[BrokenPlugin] = field(default_factory=list)


_registry: tuple[int, Registry] | None = None


def call_impl(impl: pluggy.HookImpl, **kwargs: Any) -> Any:
    """One plugin's implementation alone, with the arguments it asks for; its errors and
    wrong results name the plugin and hook."""
    hook = _hook_of(impl)
    who = plugin_label(impl.plugin_name)
    with blame(f"hook {hook}", impl.plugin_name):
        result = impl.function(*(kwargs[name] for name in impl.argnames))
    return None if result is None else check_result(hook, who, result)


def _hook_of(impl: pluggy.HookImpl) -> str:
    return impl.opts.get("specname") or impl.function.__name__


def call_hook(name: str, **kwargs: Any) -> Any:
    """Call hook ``name`` on every plugin, one implementation at a time, as pluggy would:
    the first non-None result for a ``firstresult`` hook, else the list of non-None results."""
    results = []
    for impl in implementations(name):
        result = call_impl(impl, **kwargs)
        if result is None:
            continue
        if name in FIRSTRESULT_HOOKS:
            return result
        results.append(result)
    return None if name in FIRSTRESULT_HOOKS else results


def collect(name: str, **kwargs: Any) -> list[Any]:
    """Call a list-returning hook and concatenate the non-None results of every plugin."""
    return [item for result in call_hook(name, **kwargs) for item in result]


def registry() -> Registry:
    """The domain registry, built on first use and kept until a plugin is (un)registered."""
    global _registry
    load_plugins()
    if _registry is None or _registry[0] != pm.generation:
        _registry = (pm.generation, _build_registry())
    return _registry[1]


def _build_registry() -> Registry:
    built = Registry()
    owners: dict[str, list[str]] = {}
    for impl in implementations("register_domains"):
        offered: list[Any] = []
        problem = None
        try:
            call_impl(impl, register=offered.append)
        except DomaintuneError as exc:
            problem = str(exc)
        wrong = [value for value in offered if not isinstance(value, Domain)]
        offered = [value for value in offered if isinstance(value, Domain)]
        if wrong and problem is None:
            problem = (
                f"{plugin_label(impl.plugin_name).capitalize()} passed {wrong[0]!r:.120} to register() "
                "in hook register_domains; pass a domaintune.Domain instead."
            )
        unknown = unknown_hooks(impl.plugin)
        if unknown and problem is None:
            problem = unknown_hook_error(impl.plugin_name, unknown)
        if problem is not None:
            names = [domain.name for domain in offered]
            built.problems.append(BrokenPlugin(
                impl.plugin_name, distribution_label(impl.plugin_name), problem,
                "register_domains" if not unknown or wrong else unknown[0], names,
            ))
            for domain_name in names:
                built.refused[domain_name] = PluginError(problem)
            continue
        for domain in offered:
            owners.setdefault(domain.name, []).append(impl.plugin_name)
            built.domains.setdefault(domain.name, RegisteredDomain(domain, impl.plugin_name))
    for domain_name, plugins_ in owners.items():
        if len(plugins_) > 1:
            _refuse_duplicate(built, domain_name, plugins_)
    # A plugin with a misspelled hook but no register_domains still breaks what it adds to.
    for name, plugin in pm.list_name_plugin():
        unknown = unknown_hooks(plugin) if plugin is not None else []
        if unknown and not any(problem.name == name for problem in built.problems):
            built.problems.append(
                BrokenPlugin(name, distribution_label(name), unknown_hook_error(name, unknown), unknown[0])
            )
    return built


def _refuse_duplicate(built: Registry, domain_name: str, owners: list[str]) -> None:
    first, second = owners[0], owners[1]
    message = (
        f"Domain {domain_name!r} is registered by two plugins: {first!r} "
        f"({distribution_label(first)}) and {second!r} ({distribution_label(second)}). Uninstall "
        f"one, or load only one with {LOAD_PLUGINS_ENV}."
    )
    del built.domains[domain_name]
    built.refused[domain_name] = DuplicateDomainError(message)
    built.problems.append(
        BrokenPlugin(second, distribution_label(second), message, "register_domains", [domain_name])
    )


def get_domains() -> dict[str, Domain]:
    """All usable registered domains by name (a refused one is in :func:`plugin_problems`)."""
    return {name: entry.domain for name, entry in registry().domains.items()}


def registered_domains() -> dict[str, RegisteredDomain]:
    """Every usable domain with the plugin that registered it."""
    return dict(registry().domains)


def plugin_problems() -> list[BrokenPlugin]:
    """Every plugin that cannot be used as it is: import failures, refused hooks, misspelled
    hooks, duplicate domains and bad ``register`` calls."""
    return [*broken_plugins, *registry().problems]


def get_domain(name: str) -> Domain:
    current = registry()
    if name in current.refused:
        raise current.refused[name]
    if name not in current.domains:
        broken = "".join(
            f"\nPlugin {b.name!r} ({b.distribution}) failed to import: {b.error}"
            if not b.hook else f"\n{b.error}"
            for b in plugin_problems()
        )
        available = ", ".join(sorted(current.domains)) or "none"
        raise UnknownDomainError(
            f"No installed plugin offers domain {name!r} (installed domains: {available}). "
            f"Install its plugin, e.g. `pip install domaintune-{name}`.{broken}"
        )
    return current.domains[name].domain


def plugin_infos() -> list[PluginInfo]:
    """Every registered plugin with its distribution, hooks and domains (for `tune plugins`)."""
    owners: dict[str, list[str]] = {}
    for name, entry in registry().domains.items():
        owners.setdefault(entry.plugin, []).append(name)
    infos = []
    for name, plugin in pm.list_name_plugin():
        dist = distribution_of(name)
        infos.append(
            PluginInfo(
                name=name,
                distribution=dist.name if dist else None,
                version=dist.version if dist else None,
                hooks=sorted(caller.name for caller in pm.get_hookcallers(plugin) or []),
                domains=sorted(owners.get(name, [])),
            )
        )
    return infos


@contextmanager
def blame(what: str, plugin: str | None = None) -> Iterator[None]:
    """Turn an exception escaping plugin code into a PluginError naming the plugin: ``plugin``
    when the caller knows it, else the one whose code raised.

    ``what`` says what was running, e.g. "hook make_formatter" or "the formatter for legal".
    Library errors (bad data, bad config) pass through unchanged: they are already specific.
    """
    try:
        yield
    except DomaintuneError:
        raise
    except Exception as exc:
        owner = plugin or plugin_in_traceback(exc)
        who = f"Plugin {owner!r} ({distribution_label(owner)})" if owner else "An unidentified plugin"
        raise PluginError(
            f"{who} raised {type(exc).__name__} in {what}: {exc}. Fix or upgrade the plugin, "
            f"or leave it out with {LOAD_PLUGINS_ENV}=<the plugins to load>."
        ) from exc


def wrap_callable(what: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a callable a plugin returned so that its errors name the plugin too."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        with blame(what):
            return function(*args, **kwargs)

    return guarded
