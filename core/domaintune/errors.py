"""Specific exceptions the library raises; only the CLI renders them for people."""

from __future__ import annotations


class DomaintuneError(Exception):
    """Base class: the message says what is wrong and how to fix it."""


class PluginError(DomaintuneError):
    """A plugin failed to import, raised inside a hook, or broke a hook's contract."""


class DuplicateDomainError(PluginError):
    """Two plugins registered the same domain name."""


class UnknownDomainError(DomaintuneError):
    """No installed plugin offers the requested domain."""


class ConfigError(DomaintuneError):
    """The run configuration has one or more invalid values (all are listed at once)."""


class DataError(DomaintuneError):
    """A data file is missing, unreadable or has invalid rows (file, line and field named)."""


class ModelError(DomaintuneError):
    """The model could not be found, converted or loaded."""


class CheckpointError(DomaintuneError):
    """A training checkpoint cannot be resumed from (unsafe or unreadable files)."""
