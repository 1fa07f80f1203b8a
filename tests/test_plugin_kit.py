"""The kit for third-party plugin authors: `tune plugin new`, `tune plugin check`, the pytest
fixtures of domaintune.testing, hooks across plugins (a company-wide filter, a `tryfirst`
override), and a generated pack built as a wheel and installed into a new environment."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import re
import site
import stat
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import tomllib
from click.testing import CliRunner
from domaintune import Domain, FilterOutcome, Metric, SafetyFilter, hookimpl
from domaintune.cli import cli
from domaintune.contract import check_plugin
from domaintune.data.prepare import load_source
from domaintune.errors import ConfigError, PluginError
from domaintune.plugins import (
    LOAD_PLUGINS_ENV,
    call_hook,
    collect,
    get_domain,
    get_domains,
    pm,
)
from domaintune.safety.masking import Identifier, masking_filter
from domaintune.testing import plugin_registered

GENERATED_FILES = {
    "README.md",
    "pyproject.toml",
    "tests/test_plugin.py",
    "domaintune_kitdemo/__init__.py",
    "domaintune_kitdemo/plugin.py",
    "domaintune_kitdemo/metrics.py",
    "domaintune_kitdemo/safety.py",
    "domaintune_kitdemo/data/sample.jsonl",
}


def squash(text: str) -> str:
    """Rich wraps long lines; compare printed text without whitespace."""
    return "".join(text.split())


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# tune plugin new ------------------------------------------------------------------------------


def test_plugin_new_writes_a_ready_distribution(tmp_path: Path) -> None:
    target = tmp_path / "packs" / "domaintune-kitdemo"
    result = CliRunner().invoke(cli, ["plugin", "new", "kitdemo", "--dir", str(target)])
    assert result.exit_code == 0, result.output
    assert squash(f"pip install -e {target}") in squash(result.stdout)
    assert files_under(target) == GENERATED_FILES
    # Written in a temporary folder and renamed: nothing else is left beside it.
    assert [p.name for p in target.parent.iterdir()] == ["domaintune-kitdemo"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~umask

    project = tomllib.loads((target / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["name"] == "domaintune-kitdemo"
    assert project["project"]["entry-points"]["domaintune"] == {"kitdemo": "domaintune_kitdemo.plugin"}
    assert project["project"]["dependencies"] == ["domaintune>=0.1"]
    assert project["tool"]["setuptools"]["package-data"] == {"domaintune_kitdemo": ["data/*.jsonl"]}
    for name in GENERATED_FILES:
        text = (target / name).read_text(encoding="utf-8")
        assert "{{" not in text, f"{name} has an unfilled placeholder"
        if name.endswith(".py"):
            compile(text, name, "exec")

    rows = read_jsonl(target / "domaintune_kitdemo" / "data" / "sample.jsonl")
    assert len(rows) == 40
    assert all(set(row) == {"prompt", "completion"} and row["prompt"] for row in rows)
    assert [row["completion"] for row in rows].count("billing") == 20
    assert {row["completion"] for row in rows} == {"billing", "technical"}


def test_plugin_new_defaults_to_a_folder_named_after_the_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["plugin", "new", "kit_demo"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "domaintune-kit-demo" / "domaintune_kit_demo" / "plugin.py").is_file()
    project = tomllib.loads((tmp_path / "domaintune-kit-demo" / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["domaintune"] == {"kit_demo": "domaintune_kit_demo.plugin"}


@pytest.mark.parametrize("existing", ["with a file", "empty"])
def test_plugin_new_never_overwrites(tmp_path: Path, existing: str) -> None:
    target = tmp_path / "domaintune-kitdemo"
    target.mkdir()
    if existing == "with a file":
        (target / "notes.txt").write_text("mine", encoding="utf-8")
    result = CliRunner().invoke(cli, ["plugin", "new", "kitdemo", "--dir", str(target)])
    assert result.exit_code == 1
    assert squash("already exists; `tune plugin new` never overwrites") in squash(result.stderr)
    assert files_under(target) == ({"notes.txt"} if existing == "with a file" else set())
    assert [p.name for p in tmp_path.iterdir()] == ["domaintune-kitdemo"]


def test_plugin_new_leaves_nothing_behind_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from domaintune import scaffold

    real_render, calls = scaffold.render, []

    def failing_render(text: str, values: dict[str, str], where: str) -> str:
        calls.append(where)
        if len(calls) == 4:
            raise OSError("No space left on device")
        return real_render(text, values, where)

    monkeypatch.setattr(scaffold, "render", failing_render)
    with pytest.raises(OSError, match="No space left"):
        scaffold.new_plugin("kitdemo", tmp_path / "domaintune-kitdemo")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["Tickets", "1tickets", "tickets--x", "tick ets", "tickets-", "_tickets"])
def test_plugin_new_refuses_invalid_names(tmp_path: Path, name: str) -> None:
    from domaintune.scaffold import new_plugin

    with pytest.raises(ConfigError, match="is not valid"):
        new_plugin(name, tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_plugin_new_refuses_a_300_character_name_with_a_clear_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plugin", "new", "a" * 300, "--dir", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert squash("is 300 characters long; use at most 50") in squash(result.stderr)
    assert list(tmp_path.iterdir()) == []


def test_plugin_new_refuses_a_name_the_default_folder_cannot_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["plugin", "new", "a" * 300])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "300characterslong" in squash(result.stderr)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("under", ["the file itself", "a folder below it"])
def test_plugin_new_refuses_a_dir_under_a_file_with_a_clear_message(tmp_path: Path, under: str) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine", encoding="utf-8")
    target = blocker / "pack" if under == "the file itself" else blocker / "a" / "pack"
    result = CliRunner().invoke(cli, ["plugin", "new", "kitdemo", "--dir", str(target)])
    assert result.exit_code == 1
    assert not isinstance(result.exception, OSError)
    assert squash(f"{blocker} is a file") in squash(result.stderr)
    assert blocker.read_text(encoding="utf-8") == "mine"


def test_plugin_new_refuses_a_folder_name_too_long_for_the_file_system(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plugin", "new", "kitdemo", "--dir", str(tmp_path / ("d" * 300))])
    assert result.exit_code == 1
    assert not isinstance(result.exception, OSError)
    assert "morethanthe255" in squash(result.stderr)


def test_plugin_new_refuses_a_domain_an_installed_plugin_offers(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plugin", "new", "legal", "--dir", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert squash("Domain 'legal' is already offered by plugin 'legal'") in squash(result.stderr)
    assert list(tmp_path.iterdir()) == []


# The generated pack, imported in this process ---------------------------------------------------


@pytest.fixture
def kitdemo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A freshly generated `kitdemo` pack, importable from its folder (not installed); returns
    its plugin module. Its modules are forgotten afterwards."""
    from domaintune.scaffold import new_plugin

    created = new_plugin("kitdemo", tmp_path / "domaintune-kitdemo")
    monkeypatch.syspath_prepend(str(created.folder))
    try:
        yield importlib.import_module("domaintune_kitdemo.plugin")
    finally:
        for name in [n for n in sys.modules if n == "domaintune_kitdemo" or n.startswith("domaintune_kitdemo.")]:
            del sys.modules[name]


def test_generated_hooks_work(kitdemo: ModuleType, registered_plugin) -> None:  # noqa: ANN001
    registered_plugin(kitdemo, name="kitdemo")
    domain = get_domain("kitdemo")
    assert domain.task_type == "classification" and domain.labels == ("billing", "technical")

    # load_data: the core reads the bundled JSONL sample.
    dataset = load_source(domain, domain.train_data)
    assert len(dataset) == 40

    # make_formatter: the pack's own format, ending with the answer.
    batch = dataset[:2]
    conversations = call_hook("make_formatter", domain=domain)(batch)
    assert [m["role"] for m in conversations[0]] == ["system", "user", "assistant"]
    assert conversations[0][1]["content"].startswith(f"Ticket: {batch['prompt'][0]}")
    assert [c[-1]["content"] for c in conversations] == batch["completion"]

    # make_metrics: balanced accuracy beside the core's metrics.
    metrics = {m.name: m for m in collect("make_metrics", domain=domain)}
    assert set(metrics) == {"accuracy", "macro_f1", "balanced_accuracy"}
    assert metrics["balanced_accuracy"].compute(["billing"] * 4, ["billing"] * 3 + ["technical"]) == 0.5

    # make_data_filters: internal notes dropped, identifiers masked.
    filters = {f.name: f for f in collect("make_data_filters", domain=domain)}
    assert set(filters) == {"kitdemo-internal-notes", "kitdemo-pii"}
    masked = filters["kitdemo-pii"].apply(["Call (415) 555-0132 about ACC-20481234 or mail a@b.org."])
    assert masked.texts == ["Call [PHONE] about [ACCOUNT_NUMBER] or mail [EMAIL]."]
    assert masked.counts == {"PHONE": 1, "ACCOUNT_NUMBER": 1, "EMAIL": 1}
    assert filters["kitdemo-internal-notes"].apply(["INTERNAL ONLY: x", "y"]).blocked == [True, False]

    # Other domains are left alone.
    other = Domain(name="other", description="", task_type="classification", system_prompt="")
    assert not {f.name for f in collect("make_data_filters", domain=other)} & set(filters)
    assert "balanced_accuracy" not in {m.name for m in collect("make_metrics", domain=other)}
    assert call_hook("make_formatter", domain=other)(batch)[0][1]["content"] == batch["prompt"][0]


def test_generated_pack_passes_the_contract_check(kitdemo: ModuleType, registered_plugin) -> None:  # noqa: ANN001
    registered_plugin(kitdemo, name="kitdemo")
    report = check_plugin("kitdemo")
    assert report.ok, report.render()
    titles = [check.title for check in report.checks]
    assert any(t.startswith("hooks match the specs: make_data_filters, make_formatter, make_metrics, register_domains") for t in titles)
    assert any("train_data loads and is usable (40 rows, 39 after the safety filters" in t for t in titles)
    assert any(t.startswith("data filter 'kitdemo-pii' (kitdemo) is deterministic and idempotent") for t in titles)
    assert any(t.startswith("metric 'balanced_accuracy' (kitdemo) returns a float in [0, 1]") for t in titles)

    result = CliRunner().invoke(cli, ["plugin", "check", "kitdemo"])
    assert result.exit_code == 0, result.output
    assert "PASS  kitdemo: the prompt format renders (the plugin's make_formatter)" in result.stdout
    assert "0 failed" in result.stdout
    listed = json.loads(CliRunner().invoke(cli, ["plugin", "check", "kitdemo", "--json"]).stdout)
    assert listed["ok"] is True and listed["plugin"] == "kitdemo"


# tune plugin check on plugins that break the contract ---------------------------------------------


class Flaky:
    """A filter that differs from call to call."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, texts: list[str]) -> FilterOutcome:
        self.calls += 1
        return FilterOutcome(texts=[f"{t} #{self.calls}" if t else t for t in texts], blocked=[False] * len(texts))


def _append_marker(texts: list[str]) -> FilterOutcome:
    return FilterOutcome(texts=[t + " [checked]" for t in texts], blocked=[False] * len(texts))


def _fails_on_empty(texts: list[str]) -> FilterOutcome:
    if any(not t for t in texts):
        raise ValueError("empty text")
    return FilterOutcome(texts=list(texts), blocked=[False] * len(texts))


class ContractBreaker:
    """Breaks each part of the contract once."""

    def __init__(self, data: Path) -> None:
        self.domain = Domain(
            name="breaker", description="", task_type="classification", system_prompt="Answer.",
            labels=("yes", "no"), train_data=data, defaults={"max_lenght": 64},
        )

    @hookimpl
    def register_domains(self, register):  # noqa: ANN001, ANN201
        register(self.domain)

    @hookimpl
    def make_formatter(self, domain: Domain):  # noqa: ANN201 - no check of domain.name
        return lambda batch: [
            [{"role": "assistant", "content": c}, {"role": "user", "content": p}]
            for p, c in zip(batch["prompt"], batch["completion"])
        ]

    @hookimpl
    def make_metrics(self, domain: Domain):  # noqa: ANN201
        if domain.name != "breaker":
            return None
        return [
            Metric("percent", lambda p, r: 100.0 * sum(a == b for a, b in zip(p, r)) / len(r)),
            Metric("boolean", lambda p, r: p == r),
        ]

    @hookimpl
    def make_data_filters(self, domain: Domain):  # noqa: ANN201
        if domain.name != "breaker":
            return None
        return [SafetyFilter("flaky", Flaky()), SafetyFilter("marker", _append_marker),
                SafetyFilter("no-empty", _fails_on_empty)]


def test_plugin_check_fails_a_plugin_that_breaks_the_contract(
    tmp_path: Path, registered_plugin  # noqa: ANN001
) -> None:
    data = tmp_path / "breaker.jsonl"
    data.write_text(
        '{"prompt": "Is it?", "completion": "yes"}\n{"prompt": "Is it not?", "completion": "maybe"}\n',
        encoding="utf-8",
    )
    registered_plugin(ContractBreaker(data), name="breaker")
    result = CliRunner().invoke(cli, ["plugin", "check", "breaker"])
    assert result.exit_code == 1, result.output
    report = {check.title.split(" (")[0]: check for check in check_plugin("breaker").checks}
    failed = {title: check.detail for title, check in report.items() if check.status == "fail"}
    assert "max_lenght: unknown setting; did you mean 'max_length'?" in failed["domain 'breaker' is well formed"]
    assert "make_formatter returned function for domain 'domaintune-contract-probe'" in failed["hooks return None for other domains"]
    assert "completions ['maybe'] are not among the domain's labels" in failed["breaker: train_data loads and is usable"]
    assert "the last message is the user's" in failed["breaker: the prompt format renders"]
    assert "a metric's value must be a finite float in [0, 1]" in failed["metric 'percent'"]
    assert "(bool); return a float" in failed["metric 'boolean'"]
    assert "not deterministic" in failed["data filter 'flaky'"]
    assert "not idempotent" in failed["data filter 'marker'"]
    assert "ValueError: empty text (on input '')" in failed["data filter 'no-empty'"]
    assert "FAIL" in result.stdout and "does NOT meet the contract" in result.stdout


class MisspelledHook:
    @hookimpl
    def make_metric(self, domain: Domain):  # noqa: ANN201 - should be make_metrics
        return None


class ExtraArgument:
    @hookimpl
    def make_metrics(self, domain: Domain, config):  # noqa: ANN001, ANN201 - no such argument
        return None


@pytest.mark.parametrize(
    ("plugin_class", "name", "named"),
    [(MisspelledHook, "typo", "make_metric'"), (ExtraArgument, "extra-argument", "config")],
    ids=["a misspelled hook", "a hook taking an argument the spec lacks"],
)
def test_registered_plugin_refuses_a_bad_hook_and_leaves_nothing_registered(
    registered_plugin, plugin_class: type, name: str, named: str  # noqa: ANN001
) -> None:
    plugin = plugin_class()
    with pytest.raises(PluginError, match=named):
        registered_plugin(plugin, name=name)
    assert not pm.is_registered(plugin)


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_plugins: None) -> Iterator[Callable[[str, str], None]]:
    """``installed(name, source)``: a distribution `name` whose entry point in group
    domaintune is a module with ``source``, as pip leaves it (a dist-info beside the module)."""
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    monkeypatch.syspath_prepend(str(site_dir))
    modules = []

    def install(name: str, source: str) -> None:
        dist_info = site_dir / f"{name}-0.1.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n", encoding="utf-8")
        (dist_info / "entry_points.txt").write_text(f"[domaintune]\n{name} = {name}_hooks\n", encoding="utf-8")
        (site_dir / f"{name}_hooks.py").write_text(source, encoding="utf-8")
        modules.append(f"{name}_hooks")

    yield install
    for module in modules:
        sys.modules.pop(module, None)


def test_plugin_check_names_an_installed_hook_that_matches_no_spec(installed) -> None:  # noqa: ANN001
    installed("typokit", "from domaintune import hookimpl\n\n@hookimpl\ndef make_metric(domain):\n    return None\n")
    result = CliRunner().invoke(cli, ["plugin", "check", "typokit"])
    assert result.exit_code == 1, result.output
    assert "FAIL  hooks match the specs" in result.stdout
    assert "make_metric: no such hook; did you mean make_metrics?" in result.stdout


def test_plugin_check_names_an_installed_hook_with_an_argument_the_spec_lacks(installed) -> None:  # noqa: ANN001
    installed("argkit", "from domaintune import hookimpl\n\n@hookimpl\ndef make_metrics(domain, config):\n    return None\n")
    result = CliRunner().invoke(cli, ["plugin", "check", "argkit"])
    assert result.exit_code == 1, result.output
    assert "FAIL  the plugin imports" in result.stdout
    assert "argkit" in result.stdout and "config" in result.stdout


def test_plugin_check_of_an_unknown_plugin_lists_the_installed_ones() -> None:
    result = CliRunner().invoke(cli, ["plugin", "check", "nosuchplugin"])
    assert result.exit_code == 1
    printed = squash(result.stderr)
    assert squash("No installed plugin is called 'nosuchplugin'") in printed
    assert "legal" in printed and "finance" in printed


def test_plugin_check_finds_a_plugin_by_its_distribution_name() -> None:
    from domaintune.plugins import find_plugin

    assert find_plugin("domaintune-finance")[0] == "finance"
    assert find_plugin("domaintune_finance")[0] == "finance"


# Hooks across plugins ---------------------------------------------------------------------------

EMPLOYEE_ID = Identifier("EMPLOYEE_ID", re.compile(r"\bACME-\d{6}\b"))


class CompanyPii:
    """Acme's company-wide rule: employee IDs are masked in every domain's data."""

    @hookimpl
    def make_data_filters(self, domain: Domain) -> list[SafetyFilter]:
        return [masking_filter("acme-employee-ids", [EMPLOYEE_ID])]


def test_a_plugin_adds_a_cross_domain_filter_to_every_domain(
    registered_plugin, test_domain: Domain, tmp_path: Path  # noqa: ANN001
) -> None:
    registered_plugin(CompanyPii(), name="acme-pii")
    domains = get_domains()
    assert {"legal", "finance", "healthcare", "testdomain"} <= set(domains)
    for domain in domains.values():
        names = [f.name for f in collect("make_data_filters", domain=domain)]
        assert "acme-employee-ids" in names, domain.name
    # The domain's own filters still run beside it.
    assert {"test-redact", "acme-employee-ids"} <= {f.name for f in collect("make_data_filters", domain=test_domain)}

    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"prompt": "Ask ACME-004211 whether the dog is fed.", "completion": "yes"}) + "\n", encoding="utf-8")
    target = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["filter", "--domain", "testdomain", str(source), str(target)])
    assert result.exit_code == 0, result.output
    assert read_jsonl(target)[0]["prompt"] == "Ask [EMPLOYEE_ID] whether the dog is fed."
    assert "acme-employee-ids:EMPLOYEE_ID: 1" in result.stderr

    report = check_plugin("acme-pii")
    assert report.ok, report.render()
    assert any(c.title == "registers no domain: checked as a cross-domain plugin" for c in report.checks)
    [filter_check] = [c for c in report.checks if "acme-employee-ids" in c.title]
    assert all(name in filter_check.title for name in ("legal", "finance", "healthcare", "testdomain"))


def _acme_format(batch):  # noqa: ANN001, ANN202
    return [
        [{"role": "system", "content": "Acme house style."}, {"role": "user", "content": p},
         {"role": "assistant", "content": c}]
        for p, c in zip(batch["prompt"], batch["completion"])
    ]


def _late_format(batch):  # noqa: ANN001, ANN202
    return [[{"role": "user", "content": p}, {"role": "assistant", "content": c}]
            for p, c in zip(batch["prompt"], batch["completion"])]


class AcmeLegalFormat:
    """Overrides the prompt format of the legal pack's domain, and of no other."""

    @hookimpl(tryfirst=True)
    def make_formatter(self, domain: Domain):  # noqa: ANN201
        return _acme_format if domain.name == "legal" else None


class AcmeLegalFormatWithoutTryfirst:
    @hookimpl
    def make_formatter(self, domain: Domain):  # noqa: ANN201
        return _acme_format if domain.name == "legal" else None


class LateLegalFormat:
    """Another plugin, registered later, with its own format for legal."""

    @hookimpl
    def make_formatter(self, domain: Domain):  # noqa: ANN201
        return _late_format if domain.name == "legal" else None


def test_a_tryfirst_formatter_overrides_one_domains_prompt_format(registered_plugin) -> None:  # noqa: ANN001
    batch = {"prompt": ["Does this overrule a case?"], "completion": ["Yes"]}
    legal, finance = get_domain("legal"), get_domain("finance")
    default_legal = call_hook("make_formatter", domain=legal)(batch)
    assert default_legal[0][0] == {"role": "system", "content": legal.system_prompt}

    # Without tryfirst, the plugin registered last wins.
    with registered_plugin(AcmeLegalFormatWithoutTryfirst()), registered_plugin(LateLegalFormat()):
        assert call_hook("make_formatter", domain=legal) is _late_format
    # With tryfirst, Acme's format wins whatever is registered after it ...
    registered_plugin(AcmeLegalFormat(), name="acme-legal-format")
    registered_plugin(LateLegalFormat(), name="late-legal-format")
    assert call_hook("make_formatter", domain=legal) is _acme_format
    assert call_hook("make_formatter", domain=legal)(batch)[0][0]["content"] == "Acme house style."
    # ... and only for legal: finance keeps the core's default format.
    finance_conversation = call_hook("make_formatter", domain=finance)(batch)[0]
    assert finance_conversation[0] == {"role": "system", "content": finance.system_prompt}


# domaintune.testing ------------------------------------------------------------------------------


def test_the_pytest_plugin_is_installed_and_imports_nothing_heavy() -> None:
    entry_points = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    assert entry_points.get("domaintune") == "domaintune.testing"
    probe = (
        "import sys, domaintune.testing\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'datasets', 'peft'}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


class Marker:
    @hookimpl
    def make_metrics(self, domain: Domain) -> list[Metric]:
        return [Metric("marker", lambda p, r: 1.0)]


def test_plugin_registered_unregisters_at_the_end_of_the_block_even_on_error(test_domain: Domain) -> None:
    plugin = Marker()
    with pytest.raises(RuntimeError), plugin_registered(plugin, name="marker"):
        assert "marker" in [m.name for m in collect("make_metrics", domain=test_domain)]
        raise RuntimeError("the test failed")
    assert not pm.is_registered(plugin)
    assert "marker" not in [m.name for m in collect("make_metrics", domain=test_domain)]


def test_run_domain_runs_the_whole_job_on_the_tiny_model(run_domain, test_domain: Domain, tiny_model: str) -> None:  # noqa: ANN001
    outcome = run_domain("testdomain", max_train_rows=8, eval_rows=4)
    summary = outcome.summary
    # The model is named by its folder's own name: no path of the training machine (#15).
    assert summary["model"] == Path(tiny_model).name
    assert (summary["data"]["train_rows"], summary["data"]["eval_rows"]) == (8, 4)
    assert summary["train"]["steps"] == 2  # 8 rows, batches of 4
    assert set(summary["tuned"]) == {"accuracy", "macro_f1"}
    assert (outcome.run_dir / "metrics.json").is_file()
    assert outcome.run_dir.name == "run-testdomain-1"


# A generated pack as a wheel, installed into a new environment ----------------------------------


def _venv_python(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _run(*args: str | Path, timeout: int = 120, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (LOAD_PLUGINS_ENV, "PYTHONPATH")}
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    if check:
        assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _build_wheel(name: str, folder: Path, dist: Path, edit: str | None = None) -> Path:
    """Generate pack ``name`` in ``folder``, optionally append ``edit`` to its plugin module,
    and build its wheel into ``dist`` with the build tools already installed."""
    from domaintune.scaffold import new_plugin

    created = new_plugin(name, folder / f"domaintune-{name}")
    if edit:
        plugin = created.folder / created.package / "plugin.py"
        plugin.write_text(plugin.read_text(encoding="utf-8") + edit, encoding="utf-8")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", dist, created.folder)
    [wheel] = dist.glob(f"{created.package}-*.whl")
    return wheel


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment that sees this one's packages through a .pth file (so
    nothing heavy is installed again), with a freshly generated pack `wheelkit` installed
    from its wheel; returns its python."""
    root = tmp_path_factory.mktemp("plugin-env")
    wheel = _build_wheel("wheelkit", root, root / "dist")
    assert {"domaintune_wheelkit/data/sample.jsonl", "domaintune_wheelkit/plugin.py"} <= set(
        zipfile.ZipFile(wheel).namelist()
    )
    env = root / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", env)
    python = _venv_python(env)
    new_site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    ours = dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    # addsitedir also runs this environment's .pth files: the editable installs of the core
    # and the domain packs.
    (new_site / "domaintune-parent-env.pth").write_text(
        "".join(f"import site; site.addsitedir({path!r})\n" for path in ours), encoding="utf-8"
    )
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    # Installed in the new environment, not in this one.
    assert (new_site / "domaintune_wheelkit" / "plugin.py").is_file()
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("domaintune-wheelkit")
    return python


def test_a_wheel_of_a_generated_pack_installs_beside_the_core_and_trains(
    plugin_env: Path, tiny_model: str, tmp_path: Path
) -> None:
    listed = json.loads(_run(plugin_env, "-m", "domaintune", "plugins", "--json").stdout)
    plugins = {p["name"]: p for p in listed["plugins"]}
    assert plugins["wheelkit"]["distribution"] == "domaintune-wheelkit"
    assert plugins["wheelkit"]["version"] == "0.1.0"
    assert plugins["wheelkit"]["domains"] == ["wheelkit"]
    assert {"legal", "finance", "healthcare"} <= set(plugins)
    assert listed["broken"] == []

    run_dir = tmp_path / "run"
    result = _run(
        plugin_env, "-m", "domaintune", "--domain", "wheelkit", "--model", tiny_model,
        "--output-dir", run_dir, "--max-train-rows", "16", "--eval-rows", "8", "--epochs", "1",
        "--batch-size", "4", "--gradient-accumulation", "1", "--max-length", "128", "--precision", "fp32",
        timeout=300,
    )
    summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert summary["domain"] == "wheelkit"
    assert summary["train"]["steps"] == 4
    assert summary["data"]["train_filter"]["rows_dropped"] == 1  # the internal note
    assert summary["data"]["safety_filters"] == ["wheelkit-internal-notes", "wheelkit-pii"]
    assert set(summary["tuned"]) == {"balanced_accuracy", "accuracy", "macro_f1"}
    assert "balanced_accuracy" in result.stdout and "Run folder:" in result.stdout


def test_a_plugin_that_fails_to_import_leaves_the_others_working(
    plugin_env: Path, tmp_path: Path
) -> None:
    wheel = _build_wheel(
        "brokenkit", tmp_path, tmp_path / "dist",
        edit="import domaintune_brokenkit_missing_dependency  # not installed\n",
    )
    _run(plugin_env, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)

    listed = json.loads(_run(plugin_env, "-m", "domaintune", "plugins", "--json").stdout)
    [broken] = listed["broken"]
    assert (broken["name"], broken["distribution"]) == ("brokenkit", "domaintune-brokenkit")
    assert broken["error"].startswith("ModuleNotFoundError:")
    assert "domaintune_brokenkit_missing_dependency" in broken["error"]
    assert {"wheelkit", "legal", "finance", "healthcare"} <= {p["name"] for p in listed["plugins"]}
    table = _run(plugin_env, "-m", "domaintune", "plugins")
    assert squash("Broken plugin 'brokenkit' (domaintune-brokenkit) failed to import") in squash(table.stderr)

    run = _run(plugin_env, "-m", "domaintune", "--domain", "brokenkit", check=False)
    assert run.returncode == 1
    assert squash("Plugin 'brokenkit' (domaintune-brokenkit) failed to import: ModuleNotFoundError") in squash(run.stderr)

    check = _run(plugin_env, "-m", "domaintune", "plugin", "check", "brokenkit", check=False)
    assert check.returncode == 1
    assert "FAIL  the plugin imports" in check.stdout
    assert "domaintune_brokenkit_missing_dependency" in check.stdout

    # The other plugins still work, the generated one included.
    good = _run(plugin_env, "-m", "domaintune", "plugin", "check", "wheelkit")
    assert "0 failed" in good.stdout


def test_the_generated_tests_pass_in_the_new_environment(plugin_env: Path, tmp_path: Path) -> None:
    """The tests `tune plugin new` writes pass as the author would run them; the whole run
    on the tiny model is left to `-m slow` here (run_domain is tested above)."""
    from domaintune.scaffold import new_plugin

    tests = new_plugin("wheelkit", tmp_path / "domaintune-wheelkit").folder / "tests"
    result = _run(plugin_env, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not whole_run", tests,
                  cwd=tests.parent, check=False)
    assert result.returncode == 0, result.stdout[-4000:]
    assert re.search(r"\b7 passed, 1 deselected\b", result.stdout), result.stdout[-2000:]


@pytest.mark.slow
def test_the_generated_tests_pass_with_the_whole_tiny_run(plugin_env: Path, tmp_path: Path) -> None:
    from domaintune.scaffold import new_plugin

    tests = new_plugin("wheelkit", tmp_path / "domaintune-wheelkit").folder / "tests"
    result = _run(plugin_env, "-m", "pytest", "-q", "-p", "no:cacheprovider", tests, cwd=tests.parent,
                  check=False, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]
    assert re.search(r"\b8 passed\b", result.stdout)
