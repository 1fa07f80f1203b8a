"""The contract's check that a plugin imports from the core only what the kit offers.

A pack may import ``domaintune`` (the value types, ``hookimpl``, ``for_domains``),
``domaintune.kit`` (readers, problem reporting, task matching, metric and filter helpers) and
``domaintune.testing``; every other core module may change between releases without notice.
Imports inside functions count too. Test modules (``test_*.py``, ``conftest.py``, files under
``tests/``) are not checked.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from pathlib import Path

from domaintune.contract.report import ContractReport

ALLOWED = ("domaintune", "domaintune.kit", "domaintune.testing")


def _source_files(plugin_name: str, plugin: object) -> list[Path]:
    """The files of the plugin's code: its whole top-level package, or the module that
    defines it when that is not in a package."""
    module_name = plugin.__name__ if inspect.ismodule(plugin) else type(plugin).__module__
    module = sys.modules.get(module_name)
    file = Path(getattr(module, "__file__", "") or "")
    if not file.is_file():
        return []
    package = module_name.split(".")[0]
    if package == "domaintune":
        return []  # the core's own default plugins
    top_file = Path(getattr(sys.modules.get(package), "__file__", "") or "")
    return sorted(top_file.parent.rglob("*.py")) if top_file.name == "__init__.py" else [file]


def _is_test_file(path: Path) -> bool:
    return path.name.startswith("test_") or path.name == "conftest.py" or "tests" in path.parts


def _core_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import of a core module, ``from domaintune import x`` counting
    as module ``domaintune.x`` when x is a submodule."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "domaintune"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "domaintune":
                continue
            found.append((node.lineno, node.module))
            if node.module == "domaintune":
                found += [
                    (node.lineno, f"domaintune.{alias.name}") for alias in node.names
                    if importlib.util.find_spec(f"domaintune.{alias.name}") is not None
                ]
    return found


def _allowed(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") and name != "domaintune" for name in ALLOWED)


def check_imports(report: ContractReport, plugin_name: str, plugin: object) -> None:
    files = [path for path in _source_files(plugin_name, plugin) if not _is_test_file(path)]
    if not files:
        return
    problems = []
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue  # it imported, so this is a file the plugin does not load
        problems += [
            f"{path.name}:{line}: imports {module}"
            for line, module in _core_imports(tree) if not _allowed(module)
        ]
    title = "imports from the core only domaintune, domaintune.kit and domaintune.testing"
    if problems:
        report.add(
            "fail", title,
            "\n".join(problems[:20]) + "\nimport these names from domaintune.kit instead (see docs/kit.md); "
            "other core modules change between releases",
        )
    else:
        report.add("pass", f"{title} ({len(files)} file(s))")
