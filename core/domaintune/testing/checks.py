"""Checks and fixture builders that every pack's tests would otherwise write again: a value
built once per test module, and which heavy libraries a fresh import pulls in.

Nothing here imports pytest at module level, so that importing ``domaintune.testing`` stays
light; :func:`module_fixture` imports it when called, at a test module's import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable, Iterable
from typing import Any


def module_fixture(factory: Callable[[], Any]) -> Any:
    """A module-scoped pytest fixture whose value is ``factory()``, built once per test module
    (a filter whose spaCy pipeline takes a second, a figures report). pytest names it after
    the variable it is assigned to: ``pii = module_fixture(safety.pii_filter)``."""
    import pytest

    def value() -> Any:
        return factory()

    value.__doc__ = f"``{getattr(factory, '__qualname__', factory)}()``, once per test module."
    return pytest.fixture(scope="module")(value)


def heavy_imports(module: str, heavy: Iterable[str], timeout: float = 60) -> list[str]:
    """The names among ``heavy`` (top-level packages such as ``torch``) that importing
    ``module`` in a fresh interpreter loads, sorted: ``[]`` when the import stays light.

    Raises ``AssertionError`` with the interpreter's stderr when the import itself fails."""
    probe = (
        f"import sys, {module}\n"
        f"heavy = set({sorted(set(heavy))!r})\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"importing {module} failed:\n{result.stderr}"
    return ast.literal_eval(result.stdout.strip())
