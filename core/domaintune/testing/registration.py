"""Registering a plugin object on domaintune's plugin manager for the length of a test or a
``with`` block, beside the installed plugins; no pytest needed."""

from __future__ import annotations

class PluginRegistration:
    """One plugin registered by :func:`plugin_registered`; ``with`` unregisters it at the end."""

    def __init__(self, plugin: object, name: str | None) -> None:
        import pluggy

        from domaintune import plugins
        from domaintune.errors import PluginError
        from domaintune.manager import unknown_hook_error

        plugins.load_plugins()  # the installed plugins first, so a later load runs under nothing
        self.plugin = plugin
        try:
            self.name = plugins.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:  # a hook takes an argument the spec lacks
            raise PluginError(
                f"{exc}. A hook may take only (a subset of) its spec's arguments; see "
                "domaintune.hookspecs."
            ) from exc
        unknown = plugins.unknown_hooks(plugin)
        if unknown:  # a misspelled hook name fails here, naming the plugin
            self.unregister()
            raise PluginError(unknown_hook_error(self.name or repr(plugin), unknown))

    def unregister(self) -> None:
        from domaintune import plugins

        if plugins.pm.is_registered(self.plugin):
            plugins.pm.unregister(self.plugin)

    def __enter__(self) -> object:
        return self.plugin

    def __exit__(self, *exc_info: object) -> None:
        self.unregister()


def plugin_registered(plugin: object, name: str | None = None) -> PluginRegistration:
    """Register ``plugin`` (a module, class instance or any object with ``@hookimpl``
    functions) on domaintune's plugin manager, beside the installed plugins.

    Use it as a context manager (``with plugin_registered(MyPlugin()): ...``), or call
    ``.unregister()`` yourself; the ``registered_plugin`` fixture does that at teardown.
    """
    return PluginRegistration(plugin, name)
