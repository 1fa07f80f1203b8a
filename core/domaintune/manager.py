"""The plugin manager: the core's default plugins, entry-point discovery, and public queries
about what is registered (which plugin, from which distribution, with which hooks).

Entry points are loaded once, lazily, on first use; ``DOMAINTUNE_LOAD_PLUGINS`` (a
comma-separated list of entry-point or distribution names; empty for none) limits which load.
Loading imports no torch: plugin modules keep heavy imports inside their hooks. A plugin that
fails to import is kept in :data:`broken_plugins`; the others still load.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import os
import types
from dataclasses import dataclass, field
from typing import Any

import pluggy

from domaintune import hookspecs
from domaintune.errors import PluginError

ENTRY_POINT_GROUP = "domaintune"
LOAD_PLUGINS_ENV = "DOMAINTUNE_LOAD_PLUGINS"
DEFAULT_PLUGINS = (
    "domaintune.default_plugins.data",
    "domaintune.default_plugins.formatting",
    "domaintune.default_plugins.metrics",
)


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, counting changes: ``generation`` grows each time a plugin is
    registered or unregistered, so that what is computed from the plugins (the domain
    registry) is computed once per set of plugins."""

    generation = 0

    def register(self, plugin: object, name: str | None = None) -> str | None:
        registered = super().register(plugin, name)
        self.generation += 1
        return registered

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        removed = super().unregister(plugin, name)
        self.generation += 1
        return removed


pm = PluginManager(hookspecs.PROJECT)
pm.add_hookspecs(hookspecs)


@dataclass
class BrokenPlugin:
    """A plugin that cannot be used as it is; the other plugins still work.

    ``hook`` is the hook at fault ("" for an import failure); ``domains`` are the domains it
    offers, which fail with ``error`` when a command asks for them."""

    name: str
    distribution: str
    error: str
    hook: str = ""
    domains: list[str] = field(default_factory=list)


_loaded = False
_distributions: dict[str, importlib.metadata.Distribution] = {}
broken_plugins: list[BrokenPlugin] = []
"""Entry points that failed to import or that pluggy refused (a hook taking arguments its
spec lacks); they are not registered."""


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


def hook_names() -> list[str]:
    # pluggy adds an unspecified caller for every unknown (misspelled) name; leave those out.
    return [
        name
        for name in dir(pm.hook)
        if not name.startswith("_") and getattr(pm.hook, name).spec is not None
    ]


def unknown_hooks(plugin: object) -> list[str]:
    """The names of ``plugin``'s hook implementations that match no hookspec."""
    return sorted(caller.name for caller in pm.get_hookcallers(plugin) or [] if caller.spec is None)


def _allowed_plugins() -> set[str] | None:
    value = os.environ.get(LOAD_PLUGINS_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def distribution_of(plugin_name: str) -> importlib.metadata.Distribution | None:
    """The installed distribution an entry-point plugin came from (None for others)."""
    return _distributions.get(plugin_name)


def distribution_label(plugin_name: str | None) -> str:
    """Where a plugin comes from, for messages: "distribution NAME VERSION", or why none."""
    dist = _distributions.get(plugin_name or "")
    if dist is not None:
        return f"distribution {dist.name} {dist.version}"
    if plugin_name in DEFAULT_PLUGINS:
        return "built into domaintune"
    return "not from an installed distribution"


def plugin_label(plugin_name: str) -> str:
    return f"plugin {plugin_name!r} ({distribution_label(plugin_name)})"


def find_plugin(name: str) -> tuple[str, object] | BrokenPlugin | None:
    """The registered plugin called ``name``, or from distribution ``name`` (``-`` and ``_``
    alike), as (plugin name, plugin); a :class:`BrokenPlugin` if it failed to load; None."""
    load_plugins()
    if pm.get_plugin(name) is not None:
        return name, pm.get_plugin(name)
    wanted = _normal(name)
    for plugin_name, dist in _distributions.items():
        if _normal(dist.name) == wanted and pm.get_plugin(plugin_name) is not None:
            return plugin_name, pm.get_plugin(plugin_name)
    for broken in broken_plugins:
        if wanted in (_normal(broken.name), _normal(broken.distribution)):
            return broken
    return None


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def plugin_names(include_defaults: bool = False) -> list[str]:
    """The names of the registered plugins (without the core's defaults unless asked)."""
    load_plugins()
    return sorted(
        name for name, plugin in pm.list_name_plugin()
        if plugin is not None and (include_defaults or name not in DEFAULT_PLUGINS)
    )


def implementations(hook: str, plugin: object | None = None) -> list[pluggy.HookImpl]:
    """Hook ``hook``'s implementations in the order pluggy calls them (tryfirst first), or
    only ``plugin``'s."""
    load_plugins()
    impls = list(reversed(getattr(pm.hook, hook).get_hookimpls()))
    return [impl for impl in impls if plugin is None or impl.plugin is plugin]


def unknown_hook_error(name: str, unknown: list[str]) -> str:
    specified = hook_names()
    hints = []
    for hook in unknown:
        close = difflib.get_close_matches(hook, specified, n=1)
        hints.append(f"'{hook}'" + (f" (did you mean {close[0]}?)" if close else ""))
    return (
        f"Plugin {name!r} ({distribution_label(name)}) implements a hook that does not exist: "
        f"{', '.join(hints)}. Fix the hook name to one of {', '.join(sorted(specified))}."
    )


def check_hooks() -> None:
    """Fail on a registered plugin whose hook implementation matches no hookspec."""
    load_plugins()
    for name, plugin in pm.list_name_plugin():
        unknown = unknown_hooks(plugin) if plugin is not None else []
        if unknown:
            raise PluginError(unknown_hook_error(name, unknown))


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


def plugin_in_traceback(exc: BaseException) -> str | None:
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
