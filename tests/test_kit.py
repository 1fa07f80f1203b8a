"""The plugin authors' kit: domaintune.kit, @for_domains, the registry cache, the contract's
import check and formatter check, and builders that need no pytest."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from domaintune import Domain, Metric, for_domains, hookimpl, kit
from domaintune.contract import check_plugin
from domaintune.plugins import call_hook, collect, get_domain, plugin_problems, pm

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_kit_name_resolves_and_has_a_line_in_docs_kit_md() -> None:
    page = (DOCS / "kit.md").read_text(encoding="utf-8").split("## Names in `domaintune.kit`")[1]
    documented = set(re.findall(r"^- `(\w+)`", page, flags=re.MULTILINE))
    for name in kit.__all__:
        assert getattr(kit, name) is not None
    assert set(kit.__all__) == documented


def test_the_testing_builders_import_without_pytest(tmp_path: Path) -> None:
    # A plugin author's first setup step installs domaintune, not pytest.
    script = (
        "import sys\n"
        "sys.modules['pytest'] = None  # as if pytest were not installed\n"
        "from domaintune.testing import TINY_RUN, build_tiny_model, plugin_registered, get_domain\n"
        "print(callable(build_tiny_model), 'tiny_model' in dir(sys.modules['domaintune.testing']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]


class Scoped:
    calls = 0

    @hookimpl
    @for_domains("legal", "finance")
    def make_metrics(self, domain: Domain) -> list[Metric]:
        Scoped.calls += 1
        return [Metric("scoped", lambda predictions, references: 1.0)]


def test_for_domains_answers_only_for_its_domains(registered_plugin) -> None:  # noqa: ANN001
    registered_plugin(Scoped(), name="scoped")
    assert "scoped" in {m.name for m in collect("make_metrics", domain=get_domain("legal"))}
    assert "scoped" in {m.name for m in collect("make_metrics", domain=get_domain("finance"))}
    before = Scoped.calls
    assert "scoped" not in {m.name for m in collect("make_metrics", domain=get_domain("healthcare"))}
    assert Scoped.calls == before  # not even run
    [impl] = [i for i in pm.hook.make_metrics.get_hookimpls() if i.plugin_name == "scoped"]
    assert impl.argnames == ("domain",)  # pluggy still sees the hook's own arguments


def test_for_domains_refuses_a_hook_without_a_domain() -> None:
    with pytest.raises(TypeError, match="no 'domain' argument"):
        for_domains("legal")(lambda register: None)


class CountingDomains:
    calls = 0

    @hookimpl
    def register_domains(self, register):  # noqa: ANN001, ANN201
        CountingDomains.calls += 1
        register(Domain(name="counted", description="", task_type="generation", system_prompt="Hi."))


def test_register_domains_runs_once_per_set_of_plugins(registered_plugin) -> None:  # noqa: ANN001
    registered_plugin(CountingDomains(), name="counting")
    for _ in range(3):
        get_domain("counted")
        get_domain("legal")
    assert CountingDomains.calls == 1
    with registered_plugin(Scoped(), name="scoped-again"):
        get_domain("counted")  # a new plugin: the registry is built again
    assert CountingDomains.calls == 2


def _write_package(root: Path, name: str, plugin_source: str) -> None:
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "plugin.py").write_text(plugin_source, encoding="utf-8")


INTERNAL_IMPORT = '''
from domaintune import Domain, hookimpl
from domaintune.data.tasks import matches_tasks

DOMAIN = Domain(name="internals", description="", task_type="generation", system_prompt="Hi.")


@hookimpl
def register_domains(register):
    register(DOMAIN)
'''


def test_plugin_check_fails_a_pack_that_imports_a_core_module_outside_the_kit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registered_plugin  # noqa: ANN001
) -> None:
    import importlib

    _write_package(tmp_path, "internals_pack", INTERNAL_IMPORT)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("internals_pack.plugin")
    try:
        registered_plugin(module, name="internals")
        report = {check.title: check for check in check_plugin("internals").checks}
        [imports] = [c for t, c in report.items() if t.startswith("imports from the core only")]
        assert imports.status == "fail"
        assert "plugin.py:3: imports domaintune.data.tasks" in imports.detail
        assert "domaintune.kit" in imports.detail
    finally:
        for name in ("internals_pack.plugin", "internals_pack"):
            sys.modules.pop(name, None)


@pytest.mark.parametrize("pack", ["legal", "finance", "healthcare"])
def test_the_shipped_packs_import_only_the_kit(pack: str) -> None:
    from domaintune.contract.imports import check_imports
    from domaintune.contract.report import ContractReport
    from domaintune.plugins import find_plugin

    name, plugin = find_plugin(pack)
    report = ContractReport(plugin=name, distribution=None)
    check_imports(report, name, plugin)
    [check] = report.checks
    assert check.status == "pass", check.detail


class SerializingFormatter:
    """A formatter that works on a plain dict of columns but breaks every run: training hands
    it a datasets LazyBatch, which json cannot serialize."""

    def __init__(self, data: Path) -> None:
        self.domain = Domain(
            name="serializer", description="", task_type="classification", system_prompt="Answer.",
            labels=("yes", "no"), train_data=data,
        )

    @hookimpl
    def register_domains(self, register):  # noqa: ANN001, ANN201
        register(self.domain)

    @hookimpl
    @for_domains("serializer")
    def make_formatter(self, domain: Domain):  # noqa: ANN201
        def format_batch(batch):  # noqa: ANN001, ANN202
            columns = json.loads(json.dumps(batch))
            return [
                [{"role": "user", "content": p}, {"role": "assistant", "content": c}]
                for p, c in zip(columns["prompt"], columns["completion"])
            ]

        return format_batch


def test_plugin_check_fails_a_formatter_that_breaks_every_run(tmp_path: Path, registered_plugin) -> None:  # noqa: ANN001
    data = tmp_path / "rows.jsonl"
    data.write_text(
        "".join(json.dumps({"prompt": f"Is {i} even?", "completion": "yes" if i % 2 == 0 else "no"}) + "\n" for i in range(12)),
        encoding="utf-8",
    )
    registered_plugin(SerializingFormatter(data), name="serializer")
    # Called on a plain dict, as the old check did, it works:
    assert len(call_hook("make_formatter", domain=get_domain("serializer"))({"prompt": ["a"], "completion": ["yes"]})) == 1
    report = {check.title.split(" (")[0]: check for check in check_plugin("serializer").checks}
    check = report["serializer: the prompt format renders"]
    assert check.status == "fail"
    assert "LazyBatch is not JSON serializable" in check.detail
    assert plugin_problems() == []
