"""The plugin documentation keeps up with the code: every hook has a page with its exact
signature and a working example, and a test; every command and link in the docs exists."""

from __future__ import annotations

import ast
import inspect
import re
import shlex
import types
from pathlib import Path

import pytest
from domaintune import hookspecs

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
TESTS = ROOT / "tests"
HOOKS = sorted(
    name for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(function, "domaintune_spec")
)
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def code_blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text(encoding="utf-8")) if lang == language]


def headings(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return [line.lstrip("#").strip() for line in text.splitlines() if re.match(r"#+ ", line)]


def spec_line(name: str) -> str:
    """The spec's signature as the docs show it: ``def name(arg: Type, ...) -> Type:``."""
    signature = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"def {name}({params}) -> {signature.return_annotation}:"


def test_hooks_are_the_known_six() -> None:
    # A new hook needs a page, an example and a test: this list is the reminder.
    assert HOOKS == sorted(
        ["register_domains", "load_data", "make_formatter", "make_metrics", "make_data_filters", "make_output_filters"]
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_page_with_its_exact_signature(hook: str) -> None:
    page = DOCS / "hooks" / f"{hook}.md"
    assert page.is_file(), f"hook {hook} has no page {page.relative_to(ROOT)}"
    arguments = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"{hook}({arguments})" in headings(page), (
        f"{page.relative_to(ROOT)} has no heading '## {hook}({arguments})'"
    )
    assert spec_line(hook) in code_blocks(page, "python")[0], (
        f"{page.relative_to(ROOT)}'s first code block must be the spec's signature: {spec_line(hook)}"
    )
    firstresult = getattr(hookspecs, hook).domaintune_spec["firstresult"]
    assert f"**Results:** {'firstresult' if firstresult else 'collected'}." in page.read_text(encoding="utf-8")
    for section in ("When it is called", "Example"):
        assert section in headings(page), f"{page.relative_to(ROOT)} has no '### {section}' section"
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    assert f"[`{hook}({arguments})`](hooks/{hook}.md)" in index


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_example_runs_and_matches_the_spec(hook: str) -> None:
    """The examples are executed: they import what they use, and each defines the hook with
    a @hookimpl mark and only arguments the spec passes."""
    page = DOCS / "hooks" / f"{hook}.md"
    examples = code_blocks(page, "python")[1:]
    assert examples, f"{page.relative_to(ROOT)} has no example"
    spec_arguments = set(inspect.signature(getattr(hookspecs, hook)).parameters)
    for example in examples:
        module = types.ModuleType(f"docs_example_{hook}")
        module.__file__ = str(DOCS / "example_plugin" / "plugin.py")
        exec(compile(example, f"{page}:example", "exec"), module.__dict__)
        function = getattr(module, hook, None)
        assert function is not None, f"an example in {page.relative_to(ROOT)} does not define {hook}"
        assert hasattr(function, "domaintune_impl"), f"{hook} in {page.relative_to(ROOT)} lacks @hookimpl"
        assert set(inspect.signature(function).parameters) <= spec_arguments


def test_every_hook_has_a_test() -> None:
    """Some test function under tests/ names each hook in its name or body."""
    tested: set[str] = set()
    for path in TESTS.glob("test_*.py"):
        if path.name == Path(__file__).name:
            continue
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                text = ast.get_source_segment(source, node) or ""
                tested.update(hook for hook in HOOKS if hook in text)
    assert not set(HOOKS) - tested, f"hooks without a test: {sorted(set(HOOKS) - tested)}"


def test_every_python_block_in_the_docs_compiles() -> None:
    for page in DOCS.rglob("*.md"):
        for i, block in enumerate(code_blocks(page, "python")):
            source = block if not block.rstrip().endswith(":") else block + "    ...\n"
            compile(source, f"{page}:block{i}", "exec")


def test_the_walkthrough_and_testing_pages_cover_the_kit() -> None:
    from domaintune import testing

    walkthrough = (DOCS / "writing-a-plugin.md").read_text(encoding="utf-8")
    for step in ("tune plugin new", "pip install -e", "tune plugins", "tune plugin check", "pytest", "tune --domain"):
        assert step in walkthrough, step
    fixtures = [
        name for name, value in vars(testing).items()
        # pytest >= 8.4 wraps a fixture in an object with this attribute; earlier ones mark it.
        if hasattr(value, "_fixture_function_marker") or hasattr(value, "_pytestfixturefunction")
    ]
    assert sorted(fixtures) == ["registered_plugin", "run_domain", "tiny_model"]
    documented = headings(DOCS / "testing-your-plugin.md")
    assert not set(fixtures) - set(documented), f"fixtures without a heading: {set(fixtures) - set(documented)}"


def test_every_tune_command_in_the_docs_exists() -> None:
    from domaintune.cli import cli

    commands = []
    for page in [*DOCS.rglob("*.md"), ROOT / "core" / "domaintune" / "templates" / "plugin" / "README.md.tmpl"]:
        for block in code_blocks(page, "bash") + code_blocks(page, "") :
            for line in block.splitlines():
                words = shlex.split(line.split("#", 1)[0]) if line.strip().startswith("tune ") else []
                if words:
                    commands.append((page.name, words[1:]))
    assert commands
    for page, args in commands:
        group = cli
        for word in args:
            if word.startswith("-") or not hasattr(group, "commands"):
                break
            assert word in group.commands, f"{page}: `tune {' '.join(args)}`: no command {word!r}"
            group = group.commands[word]


def test_relative_links_in_the_docs_resolve() -> None:
    for page in DOCS.rglob("*.md"):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to missing {target}"
