"""domaintune.testing's checks: a value built once per test module, and heavy imports seen."""

from __future__ import annotations

import pytest

from domaintune.testing import heavy_imports, module_fixture

_builds: list[int] = []


def _build() -> int:
    _builds.append(1)
    return len(_builds)


built = module_fixture(_build)


def test_module_fixture_is_named_after_its_variable_and_built_once(built: int) -> None:
    assert built == 1


def test_module_fixture_value_is_shared_by_the_module(built: int) -> None:
    assert built == 1
    assert len(_builds) == 1


def test_heavy_imports_names_what_the_import_loaded() -> None:
    assert heavy_imports("json", {"json", "torch"}) == ["json"]
    assert heavy_imports("domaintune.kit", {"torch", "transformers"}) == []


def test_heavy_imports_fails_when_the_import_fails() -> None:
    with pytest.raises(AssertionError, match="no_such_module_domaintune"):
        heavy_imports("no_such_module_domaintune", {"torch"})
