"""Specific exceptions the library raises; only the CLI renders them for people."""

from __future__ import annotations

from typing import Any


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


class ExportError(DomaintuneError):
    """A run's model cannot be exported in the requested format (architecture, tokenizer,
    chat template), or the export could not be written."""


class ParityError(ExportError):
    """An export answers the run's held-out prompts differently from the run's tuned model,
    or does not end its answers with the end-of-turn token; ``parity`` holds parity.json."""

    def __init__(self, message: str, parity: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.parity = parity or {}


class EndpointError(DomaintuneError):
    """An OpenAI-compatible endpoint that `tune eval --endpoint` could not get answers from."""
