"""Plugin manager: default plugins, entry-point discovery, the domain registry, and errors
that name the plugin responsible.

Entry points are loaded once, lazily, on first use; ``DOMAINTUNE_LOAD_PLUGINS`` (a
comma-separated list of entry-point or distribution names; empty for none) limits which load.
Loading imports no torch: plugin modules keep heavy imports inside their hooks.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pluggy

from domaintune import hookspecs
from domaintune.domain import Domain
from domaintune.errors import (
    DomaintuneError,
    DuplicateDomainError,
    PluginError,
    UnknownDomainError,
)

ENTRY_POINT_GROUP = "domaintune"
LOAD_PLUGINS_ENV = "DOMAINTUNE_LOAD_PLUGINS"
DEFAULT_PLUGINS = (
    "domaintune.default_plugins.data",
    "domaintune.default_plugins.formatting",
    "domaintune.default_plugins.metrics",
)

pm = pluggy.PluginManager(hookspecs.PROJECT)
pm.add_hookspecs(hookspecs)


@dataclass
class BrokenPlugin:
    """An entry point whose import failed; the other plugins still work."""

    name: str
    distribution: str
    error: str


@dataclass
class PluginInfo:
    """What `tune plugins` shows for one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]
    domains: list[str] = field(default_factory=list)


_loaded = False
_distributions: dict[str, importlib.metadata.Distribution] = {}
broken_plugins: list[BrokenPlugin] = []


def load_plugins() -> None:
    """Register the default plugins and the installed entry points, once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module_name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    allowed = _allowed_plugins()
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist_name = entry_point.dist.name if entry_point.dist else "unknown distribution"
        if allowed is not None and not {entry_point.name, dist_name} & allowed:
            continue
        if pm.get_plugin(entry_point.name) is not None:
            continue
        try:
            module = entry_point.load()
        except Exception as exc:  # any import failure must not take the other plugins down
            broken_plugins.append(
                BrokenPlugin(entry_point.name, dist_name, f"{type(exc).__name__}: {exc}")
            )
            continue
        try:
            pm.register(module, name=entry_point.name)
        except pluggy.PluginValidationError as exc:  # a hook taking arguments its spec lacks
            broken_plugins.append(BrokenPlugin(entry_point.name, dist_name, str(exc)))
            continue
        if entry_point.dist:
            _distributions[entry_point.name] = entry_point.dist
    check_hooks()


def check_hooks() -> None:
    """Fail on hook implementations that match no hookspec (a misspelled hook name)."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin)
        raise PluginError(
            f"Plugin {name!r} ({_distribution_label(name)}) "
            f"implements a hook that does not exist: {exc}. Fix the hook name to one of "
            f"{', '.join(sorted(hook_names()))}."
        ) from exc


def hook_names() -> list[str]:
    # pluggy adds an unspecified caller for every unknown (misspelled) name; leave those out.
    return [
        name
        for name in dir(pm.hook)
        if not name.startswith("_") and getattr(pm.hook, name).spec is not None
    ]


def _allowed_plugins() -> set[str] | None:
    value = os.environ.get(LOAD_PLUGINS_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _distribution_label(plugin_name: str | None) -> str:
    dist = _distributions.get(plugin_name or "")
    if dist is not None:
        return f"distribution {dist.name} {dist.version}"
    if plugin_name in DEFAULT_PLUGINS:
        return "built into domaintune"
    return "not from an installed distribution"


def _plugin_of_module(module_name: str) -> str | None:
    """The registered plugin whose code lives in ``module_name``.

    Entry-point plugins own their whole top-level package (helpers in sibling modules
    count); default plugins and test plugins own only their own module.
    """
    for name, plugin in pm.list_name_plugin():
        home = plugin.__name__ if isinstance(plugin, types.ModuleType) else plugin.__module__
        if module_name == home:
            return name
        package = home.split(".")[0]
        if name in _distributions and module_name.split(".")[0] == package:
            return name
    return None


def _plugin_in_traceback(exc: BaseException) -> str | None:
    """The plugin owning the innermost frame of ``exc``'s traceback that belongs to one."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        owner = _plugin_of_module(frame.f_globals.get("__name__", ""))
        if owner is not None:
            return owner
    return None


@contextmanager
def blame(what: str) -> Iterator[None]:
    """Turn an exception escaping plugin code into a PluginError naming the plugin.

    ``what`` says what was running, e.g. "hook make_formatter" or "the formatter for legal".
    Library errors (bad data, bad config) pass through unchanged: they are already specific.
    """
    try:
        yield
    except DomaintuneError:
        raise
    except Exception as exc:
        plugin = _plugin_in_traceback(exc)
        who = (
            f"Plugin {plugin!r} ({_distribution_label(plugin)})"
            if plugin
            else "An unidentified plugin"
        )
        raise PluginError(
            f"{who} raised {type(exc).__name__} in {what}: {exc}. Fix or upgrade the plugin, "
            f"or leave it out with {LOAD_PLUGINS_ENV}=<the plugins to load>."
        ) from exc


def call_hook(name: str, **kwargs: Any) -> Any:
    """Call hook ``name`` on every plugin; errors name the plugin that raised."""
    load_plugins()
    with blame(f"hook {name}"):
        return getattr(pm.hook, name)(**kwargs)


def get_domains() -> dict[str, Domain]:
    """All registered domains by name."""
    return {name: domain for name, (domain, _) in _registered_domains().items()}


def _registered_domains() -> dict[str, tuple[Domain, str | None]]:
    load_plugins()
    registered: dict[str, tuple[Domain, str | None]] = {}

    def register(domain: Domain) -> None:
        owner = _plugin_of_module(sys._getframe(1).f_globals.get("__name__", ""))
        if not isinstance(domain, Domain):
            raise PluginError(
                f"Plugin {owner!r} passed {domain!r} to register() in hook register_domains; "
                "pass a domaintune.Domain instead."
            )
        if domain.name in registered:
            first_owner = registered[domain.name][1]
            raise DuplicateDomainError(
                f"Domain {domain.name!r} is registered by two plugins: {first_owner!r} "
                f"({_distribution_label(first_owner)}) and {owner!r} "
                f"({_distribution_label(owner)}). Uninstall one, or load only one with "
                f"{LOAD_PLUGINS_ENV}."
            )
        registered[domain.name] = (domain, owner)

    call_hook("register_domains", register=register)
    return registered


def get_domain(name: str) -> Domain:
    domains = get_domains()
    if name not in domains:
        broken = "".join(
            f"\nPlugin {b.name!r} ({b.distribution}) failed to import: {b.error}"
            for b in broken_plugins
        )
        available = ", ".join(sorted(domains)) or "none"
        raise UnknownDomainError(
            f"No installed plugin offers domain {name!r} (installed domains: {available}). "
            f"Install its plugin, e.g. `pip install domaintune-{name}`.{broken}"
        )
    return domains[name]


def plugin_infos() -> list[PluginInfo]:
    """Every registered plugin with its distribution, hooks and domains (for `tune plugins`)."""
    owners: dict[str | None, list[str]] = {}
    for name, (_, owner) in _registered_domains().items():
        owners.setdefault(owner, []).append(name)
    infos = []
    for name, plugin in pm.list_name_plugin():
        dist = _distributions.get(name)
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


def collect(name: str, **kwargs: Any) -> list[Any]:
    """Call a list-returning hook and concatenate the non-None results of every plugin."""
    return [item for result in call_hook(name, **kwargs) if result for item in result]


def wrap_callable(what: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a callable a plugin returned so that its errors name the plugin too."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        with blame(what):
            return function(*args, **kwargs)

    return guarded
