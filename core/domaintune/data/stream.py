"""The raw row stream every reader yields: :class:`Row` values and :class:`Problem` lines,
each with where it came from, inside a :class:`Reader` that says what the source is."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

BATCH_ROWS = 1024


@dataclass(frozen=True)
class Row:
    where: str
    """``path:line`` or ``path row N``; every message about this row starts with it."""
    value: Any


@dataclass(frozen=True)
class Problem:
    where: str
    message: str
    """What is wrong and how to fix it; the caller prefixes ``where``."""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Reader:
    """One source: what it is, what its columns mean, and its rows."""

    source: str
    format: str
    rows: Iterator[Row | Problem]
    columns: list[str] | None = None
    """Known up front for columnar formats; JSON rows are looked at instead."""
    label_names: dict[str, list[str]] = field(default_factory=dict)
    """Integer class labels -> names, where the source records them (datasets ClassLabel)."""
    identity: str = ""
    """What changes when the content changes (size and mtime, or a datasets fingerprint)."""
