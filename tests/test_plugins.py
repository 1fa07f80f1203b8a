"""Plugin discovery, the domain registry, and errors that name the plugin responsible."""

from __future__ import annotations

import importlib.metadata
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from domaintune import Domain, FilterOutcome, Metric, SafetyFilter, hookimpl
from domaintune.cli import cli
from domaintune.errors import DuplicateDomainError, PluginError, UnknownDomainError
from domaintune.evaluation.scoring import compute_metrics
from domaintune.plugins import (
    LOAD_PLUGINS_ENV,
    broken_plugins,
    call_hook,
    check_hooks,
    collect,
    get_domain,
    get_domains,
    load_plugins,
    plugin_infos,
    plugin_problems,
    pm,
)

REAL_PLUGINS = ("legal", "finance", "healthcare")


def squash(text: str) -> str:
    """Rich wraps long lines, even inside a word; compare printed text without whitespace."""
    return "".join(text.split())


@pytest.fixture
def registered() -> Iterator[Callable[[object, str], None]]:
    """``register(plugin, name)`` for the test; every plugin is unregistered afterwards."""
    load_plugins()
    added = []

    def register(plugin: object, name: str) -> None:
        pm.register(plugin, name=name)
        added.append(plugin)

    try:
        yield register
    finally:
        for plugin in added:
            if pm.is_registered(plugin):
                pm.unregister(plugin)


def make_distribution(folder: Path, name: str, module: str, source: str) -> None:
    """An installed distribution ``name`` whose entry point in group domaintune is ``module``,
    as pip would leave it: a dist-info folder next to the module."""
    dist_info = folder / f"{name}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[domaintune]\n{name} = {module}\n", encoding="utf-8"
    )
    (folder / f"{module}.py").write_text(source, encoding="utf-8")


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path where tests install fake distributions."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    before = set(sys.modules)
    yield site
    for name in set(sys.modules) - before:
        module = sys.modules[name]
        if str(getattr(module, "__file__", "") or "").startswith(str(site)):
            del sys.modules[name]


# Discovery ---------------------------------------------------------------------------------


def test_real_plugins_are_discovered_through_entry_points(fresh_plugins: None) -> None:
    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group="domaintune")}
    assert set(REAL_PLUGINS) <= set(entry_points)

    domains = get_domains()
    infos = {info.name: info for info in plugin_infos()}
    for name in REAL_PLUGINS:
        distribution = f"domaintune-{name}"
        assert entry_points[name].dist.name == distribution
        info = infos[name]
        assert info.distribution == distribution
        assert info.version == importlib.metadata.version(distribution)
        # Each pack offers its own domain, and may offer more named after it.
        assert name in info.domains
        assert all(domain == name or domain.startswith(f"{name}-") for domain in info.domains)
        assert "register_domains" in info.hooks
        domain = domains[name]
        assert isinstance(domain, Domain) and domain.name == name
        assert domain.task_type in ("classification", "generation")
        # The bundled sample data must be installed with the package.
        assert domain.train_data is not None and Path(domain.train_data).is_file()
    assert broken_plugins == []


def test_core_defaults_are_registered_as_plugins(fresh_plugins: None) -> None:
    infos = {info.name: info for info in plugin_infos()}
    assert infos["domaintune.default_plugins.data"].hooks == ["load_data"]
    assert infos["domaintune.default_plugins.formatting"].hooks == ["make_formatter"]
    assert infos["domaintune.default_plugins.metrics"].hooks == ["make_metrics"]
    assert all(infos[name].distribution is None for name in infos if name.startswith("domaintune."))


def test_plugins_json_lists_the_real_plugins(fresh_plugins: None) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    by_name = {plugin["name"]: plugin for plugin in listed["plugins"]}
    for name in REAL_PLUGINS:
        assert by_name[name]["distribution"] == f"domaintune-{name}"
        assert by_name[name]["version"] == importlib.metadata.version(f"domaintune-{name}")
        assert name in by_name[name]["domains"]
    assert listed["broken"] == []


def test_plugins_table_shows_each_plugin_with_its_domains(fresh_plugins: None) -> None:
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.stdout.splitlines()]
    by_plugin = {row[0]: row for row in rows if row and row[0]}
    for name in REAL_PLUGINS:
        # Columns: plugin, distribution (may be cut to the width), version, domains, hooks.
        assert by_plugin[name][1].startswith("domaintune-")
        assert by_plugin[name][3].startswith(name)  # its first domain is named after it


@pytest.mark.parametrize(
    ("allowed", "expected"),
    [("domaintune-legal", {"legal"}), ("finance, healthcare", {"finance", "healthcare"}), ("", set())],
)
def test_load_plugins_env_var_limits_which_entry_points_load(
    fresh_plugins: None, monkeypatch: pytest.MonkeyPatch, allowed: str, expected: set[str]
) -> None:
    monkeypatch.setenv(LOAD_PLUGINS_ENV, allowed)
    loaded = {info.name for info in plugin_infos() if info.distribution}
    assert loaded == expected
    assert expected <= set(get_domains())
    # The core's own plugins always load.
    assert pm.get_plugin("domaintune.default_plugins.data") is not None


def test_test_plugin_domain_appears(test_domain: Domain) -> None:
    assert get_domains()["testdomain"] is test_domain
    assert get_domain("testdomain") is test_domain
    info = {i.name: i for i in plugin_infos()}["testdomain-plugin"]
    assert info.domains == ["testdomain"]
    assert info.hooks == ["make_data_filters", "register_domains"]
    assert info.distribution is None


def test_test_plugin_filters_only_its_own_domain(test_domain: Domain) -> None:
    own = [f.name for f in collect("make_data_filters", domain=test_domain)]
    legal = [f.name for f in collect("make_data_filters", domain=get_domain("legal"))]
    assert "test-redact" in own
    assert "test-redact" not in legal


def test_unknown_domain_lists_installed_domains() -> None:
    with pytest.raises(UnknownDomainError) as info:
        get_domain("aviation")
    message = str(info.value)
    assert "'aviation'" in message
    for name in REAL_PLUGINS:
        assert name in message


# Errors that name the plugin ---------------------------------------------------------------


class AcmeLegalPlugin:
    """A third-party plugin that also claims the domain name `legal`."""

    @hookimpl
    def register_domains(self, register):  # noqa: ANN001, ANN201
        register(
            Domain(
                name="legal",
                description="Acme's own legal domain",
                task_type="classification",
                system_prompt="Answer Yes or No.",
                labels=("Yes", "No"),
            )
        )


def test_duplicate_domain_error_names_both_plugins(registered) -> None:  # noqa: ANN001
    registered(AcmeLegalPlugin(), "acme-legal")
    with pytest.raises(DuplicateDomainError) as info:
        get_domain("legal")
    message = str(info.value)
    version = importlib.metadata.version("domaintune-legal")
    assert "'legal'" in message
    assert "'acme-legal'" in message
    assert f"distribution domaintune-legal {version}" in message
    assert LOAD_PLUGINS_ENV in message


def test_a_duplicate_domain_leaves_the_other_domains_and_commands_working(
    registered, tmp_path: Path  # noqa: ANN001
) -> None:
    registered(AcmeLegalPlugin(), "acme-legal")
    assert "legal" not in get_domains() and {"finance", "healthcare"} <= set(get_domains())
    [problem] = plugin_problems()
    assert problem.domains == ["legal"] and "'acme-legal'" in problem.error
    listed = CliRunner().invoke(cli, ["plugins", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [b["domains"] for b in json.loads(listed.stdout)["broken"]] == [["legal"]]
    source = tmp_path / "rows.jsonl"
    source.write_text('{"prompt": "Is a bond a loan?", "completion": "yes"}\n', encoding="utf-8")
    filtered = CliRunner().invoke(cli, ["filter", "--domain", "finance", str(source), str(tmp_path / "out.jsonl")])
    assert filtered.exit_code == 0, filtered.output
    refused = CliRunner().invoke(cli, ["filter", "--domain", "legal", str(source), str(tmp_path / "out2.jsonl")])
    assert refused.exit_code == 1
    assert "'acme-legal'" in squash(refused.stderr) and LOAD_PLUGINS_ENV in refused.stderr


class NotADomainPlugin:
    @hookimpl
    def register_domains(self, register):  # noqa: ANN001, ANN201
        register({"name": "tax"})


def test_registering_something_else_than_a_domain_names_the_plugin(registered) -> None:  # noqa: ANN001
    registered(NotADomainPlugin(), "dict-domains")
    assert {"legal", "finance", "healthcare"} <= set(get_domains())  # the others still work
    [problem] = plugin_problems()
    assert problem.hook == "register_domains"
    assert "'dict-domains'" in problem.error
    assert "domaintune.Domain" in problem.error
    with pytest.raises(UnknownDomainError) as info:
        get_domain("tax")
    assert "'dict-domains'" in str(info.value)
    assert "domaintune.Domain" in str(info.value)


class HalfRegisteringPlugin:
    """Registers one domain, then raises: its domain must fail with that error, not vanish."""

    @hookimpl
    def register_domains(self, register):  # noqa: ANN001, ANN201
        register(Domain(name="tax", description="Tax", task_type="generation", system_prompt="Tax."))
        raise RuntimeError("tax tables are missing")


def test_a_register_domains_that_raises_refuses_only_its_own_domains(registered) -> None:  # noqa: ANN001
    registered(HalfRegisteringPlugin(), "half-tax")
    assert {"legal", "finance", "healthcare"} <= set(get_domains())
    with pytest.raises(PluginError) as info:
        get_domain("tax")
    message = str(info.value)
    assert "'half-tax'" in message and "register_domains" in message and "tax tables are missing" in message


class ExplodingMetricsPlugin:
    @hookimpl
    def make_metrics(self, domain: Domain) -> list[Metric]:
        raise RuntimeError("metric weights file weights.yaml is missing")


def test_hook_that_raises_gives_plugin_error_naming_plugin_and_hook(
    registered, test_domain: Domain  # noqa: ANN001
) -> None:
    registered(ExplodingMetricsPlugin(), "exploding-metrics")
    with pytest.raises(PluginError) as info:
        collect("make_metrics", domain=test_domain)
    message = str(info.value)
    assert "'exploding-metrics'" in message
    assert "hook make_metrics" in message
    assert "RuntimeError" in message
    assert "metric weights file weights.yaml is missing" in message
    assert isinstance(info.value.__cause__, RuntimeError)


class BadMetricPlugin:
    """Its hook works; the metric it returns fails when the core calls it."""

    @hookimpl
    def make_metrics(self, domain: Domain) -> list[Metric]:
        def brier(predictions: list[str], references: list[str]) -> float:
            return sum(float(p) for p in predictions) / len(references)  # labels are not numbers

        return [Metric("brier", brier)]


def test_callable_returned_by_a_hook_is_blamed_on_its_plugin(
    registered, test_domain: Domain  # noqa: ANN001
) -> None:
    registered(BadMetricPlugin(), "brier-metrics")
    metrics = collect("make_metrics", domain=test_domain)
    assert {m.name for m in metrics} == {"accuracy", "macro_f1", "brier"}
    with pytest.raises(PluginError) as info:
        compute_metrics(metrics, ["yes", "no"], ["yes", "yes"])
    message = str(info.value)
    assert "'brier-metrics'" in message
    assert "metric 'brier'" in message
    assert "ValueError" in message


class MisspelledHookPlugin:
    @hookimpl
    def make_metric(self, domain: Domain) -> list[Metric]:  # should be make_metrics
        return []


def test_misspelled_hook_fails_check_hooks_naming_it(registered) -> None:  # noqa: ANN001
    registered(MisspelledHookPlugin(), "typo-metrics")
    with pytest.raises(PluginError) as info:
        check_hooks()
    message = str(info.value)
    assert "make_metric'" in message
    assert "typo-metrics" in message
    # The hook names to choose from: the real ones, not the typo.
    suggested = set(re.findall(r"\w+", message.split("one of", 1)[1]))
    assert "make_metrics" in suggested
    assert "make_metric" not in suggested


def test_misspelled_hook_in_installed_plugin_is_reported_naming_distribution(
    fresh_plugins: None, site_dir: Path
) -> None:
    make_distribution(
        site_dir, "typoplug", "typoplug_hooks",
        "from domaintune import Domain, hookimpl\n\n"
        "@hookimpl\n"
        "def register_domains(register):\n"
        "    register(Domain(name='typo', description='Typo', task_type='generation', system_prompt='Hi.'))\n\n"
        "@hookimpl\n"
        "def make_data_filter(domain):\n"
        "    return None\n",
    )
    load_plugins()  # loading goes on past it
    assert set(REAL_PLUGINS) <= set(get_domains())
    [problem] = plugin_problems()
    message = problem.error
    assert "make_data_filter'" in message
    assert "'typoplug'" in message
    assert "distribution typoplug 0.1" in message
    assert "make_data_filters" in message  # the fix
    assert problem.domains == ["typo"]
    # Only the command that needs its domain fails, naming plugin, hook and fix.
    with pytest.raises(PluginError) as info:
        get_domain("typo")
    assert str(info.value) == message
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    assert squash("Broken plugin 'typoplug'") in squash(result.stderr)
    assert "make_data_filter'" in squash(result.stderr)


# A broken plugin does not take the others down ----------------------------------------------


@pytest.fixture
def broken_distribution(site_dir: Path) -> str:
    make_distribution(
        site_dir, "brokenplug", "brokenplug_hooks",
        "import domaintune_brokenplug_missing_dependency  # not installed\n",
    )
    return "brokenplug"


def test_broken_plugin_is_reported_and_the_others_still_load(
    fresh_plugins: None, broken_distribution: str
) -> None:
    domains = get_domains()
    assert set(REAL_PLUGINS) <= set(domains)
    assert [(b.name, b.distribution) for b in broken_plugins] == [("brokenplug", "brokenplug")]
    assert broken_plugins[0].error.startswith("ModuleNotFoundError:")
    assert "domaintune_brokenplug_missing_dependency" in broken_plugins[0].error

    with pytest.raises(UnknownDomainError) as info:
        get_domain("brokenplug")
    message = str(info.value)
    assert "Plugin 'brokenplug' (brokenplug) failed to import: ModuleNotFoundError" in message
    assert "domaintune_brokenplug_missing_dependency" in message


def test_plugin_whose_hook_takes_unknown_arguments_is_reported_as_broken(
    fresh_plugins: None, site_dir: Path
) -> None:
    make_distribution(
        site_dir, "wrongargs", "wrongargs_hooks",
        "from domaintune import hookimpl\n\n"
        "@hookimpl\ndef make_metrics(domain, tokenizer):\n    return None\n",
    )
    domains = get_domains()  # loading goes on past it
    assert set(REAL_PLUGINS) <= set(domains)
    assert [(b.name, b.distribution) for b in broken_plugins] == [("wrongargs", "wrongargs")]
    assert "tokenizer" in broken_plugins[0].error


def test_tune_plugins_reports_a_broken_plugin(
    fresh_plugins: None, broken_distribution: str
) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [(b["name"], b["distribution"]) for b in listed["broken"]] == [("brokenplug", "brokenplug")]
    assert set(REAL_PLUGINS) <= {p["name"] for p in listed["plugins"]}

    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    assert squash("Broken plugin 'brokenplug' (brokenplug) failed to import") in squash(result.stderr)


# Each hook works as its spec says ------------------------------------------------------------


def test_every_hookspec_is_typed_and_documented() -> None:
    import inspect

    from domaintune import hookspecs

    specs = [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
             if hasattr(getattr(hookspecs, name), "domaintune_spec")]
    assert sorted(specs) == sorted(
        ["register_domains", "load_data", "make_formatter", "make_metrics",
         "make_data_filters", "make_output_filters"]
    )
    for name in specs:
        function = getattr(hookspecs, name)
        assert function.__doc__ and "Called" in function.__doc__, name
        assert inspect.signature(function).return_annotation is not inspect.Signature.empty, name
        assert all(p.annotation is not inspect.Parameter.empty
                   for p in inspect.signature(function).parameters.values()), name
    load_plugins()
    assert sorted(specs) == sorted(
        h for h in dir(pm.hook) if not h.startswith("_") and getattr(pm.hook, h).spec is not None
    )


class CsvPlugin:
    """Reads `prompt,completion` CSV files; leaves every other format to the core."""

    @hookimpl
    def load_data(self, domain: Domain, source: str):  # noqa: ANN201
        if not source.endswith(".csv"):
            return None
        import csv

        import datasets

        with open(source, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return datasets.Dataset.from_list(rows)


def test_load_data_first_non_none_result_wins(
    registered, test_domain: Domain, tmp_path: Path  # noqa: ANN001
) -> None:
    from domaintune.data.prepare import load_source
    from domaintune.errors import DataError

    registered(CsvPlugin(), "csv-reader")
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text('prompt,completion\n"Is a cat an animal?",yes\n', encoding="utf-8")
    jsonl_file = tmp_path / "rows.jsonl"
    jsonl_file.write_text('{"prompt": "Is a bus an animal?", "completion": "no"}\n', encoding="utf-8")

    assert load_source(test_domain, csv_file).to_list() == [{"prompt": "Is a cat an animal?", "completion": "yes"}]
    assert list(load_source(test_domain, jsonl_file)["completion"]) == ["no"]  # the core's reader
    with pytest.raises(DataError, match="No installed plugin reads"):
        load_source(test_domain, tmp_path / "rows.parquet")


class ShortFormatterPlugin:
    """Overrides the formatter of `testdomain` only (no system prompt)."""

    @hookimpl(tryfirst=True)
    def make_formatter(self, domain: Domain):  # noqa: ANN201
        if domain.name != "testdomain":
            return None
        return lambda batch: [
            [{"role": "user", "content": p}, {"role": "assistant", "content": c}]
            for p, c in zip(batch["prompt"], batch["completion"])
        ]


def test_make_formatter_override_applies_to_its_domain_only(registered, test_domain: Domain) -> None:  # noqa: ANN001
    registered(ShortFormatterPlugin(), "short-formatter")
    batch = {"prompt": ["Is a cat an animal?"], "completion": ["yes"]}
    own = call_hook("make_formatter", domain=test_domain)(batch)
    assert own == [[{"role": "user", "content": "Is a cat an animal?"}, {"role": "assistant", "content": "yes"}]]
    legal = call_hook("make_formatter", domain=get_domain("legal"))(batch)
    assert [m["role"] for m in legal[0]] == ["system", "user", "assistant"]
    assert legal[0][0]["content"] == get_domain("legal").system_prompt


class OutputFlagPlugin:
    @hookimpl
    def make_output_filters(self, domain: Domain):  # noqa: ANN201
        from domaintune import FilterOutcome, SafetyFilter

        def flag(texts: list[str]) -> FilterOutcome:
            blocked = ["guarantee" in t for t in texts]
            return FilterOutcome(texts=texts, blocked=blocked, counts={"promise": sum(blocked)})

        return [SafetyFilter("no-promises", flag)]


def test_output_filters_of_all_plugins_are_collected(registered, test_domain: Domain) -> None:  # noqa: ANN001
    from domaintune.evaluation.scoring import apply_output_filters

    registered(OutputFlagPlugin(), "no-promises")
    filters = collect("make_output_filters", domain=test_domain)
    assert [f.name for f in filters] == ["no-promises"]
    texts, counts = apply_output_filters(filters, ["We guarantee a win.", "It depends."], ["Q1", "Q2"])
    assert texts == ["We guarantee a win.", "It depends."]
    assert counts == {"no-promises:promise": 1, "no-promises:flagged": 1}


def test_output_filter_that_reads_prompts_gets_each_answers_prompt() -> None:
    from domaintune.evaluation.scoring import apply_output_filters

    def echo_check(texts: list[str], context: list[str]) -> FilterOutcome:
        # Flag an answer that repeats nothing of its own prompt.
        blocked = [prompt.rstrip("?") not in text for text, prompt in zip(texts, context)]
        return FilterOutcome(texts=texts, blocked=blocked, counts={})

    grounded = SafetyFilter("grounded", echo_check, reads_prompts=True)
    _, counts = apply_output_filters([grounded], ["alpha is right", "no idea"], ["alpha?", "beta?"])
    assert counts == {"grounded:flagged": 1}


# Wrong types from hooks are refused where they leave the plugin ----------------------------


class StringFiltersPlugin:
    @hookimpl
    def make_data_filters(self, domain: Domain):  # noqa: ANN201
        return "pii"  # should be a list of SafetyFilter


class StringFormatterPlugin:
    @hookimpl(tryfirst=True)
    def make_formatter(self, domain: Domain):  # noqa: ANN201
        return "{prompt} -> {completion}"  # should be a callable


class HighMetricPlugin:
    @hookimpl
    def make_metrics(self, domain: Domain) -> list[Metric]:
        return [Metric("confidence", lambda predictions, references: "high")]


class ShortFilterPlugin:
    @hookimpl
    def make_data_filters(self, domain: Domain) -> list[SafetyFilter]:
        return [SafetyFilter("first-only", lambda texts: FilterOutcome(texts=texts[:1], blocked=[False]))]


def test_a_string_for_the_list_of_filters_names_plugin_and_hook(registered, test_domain: Domain) -> None:  # noqa: ANN001
    registered(StringFiltersPlugin(), "string-filters")
    with pytest.raises(PluginError) as info:
        collect("make_data_filters", domain=test_domain)
    message = str(info.value)
    assert "'string-filters'" in message and "make_data_filters" in message
    assert "'pii'" in message and "list of domaintune.SafetyFilter" in message


def test_a_formatter_that_is_a_string_names_plugin_and_hook(registered, test_domain: Domain) -> None:  # noqa: ANN001
    registered(StringFormatterPlugin(), "string-formatter")
    with pytest.raises(PluginError) as info:
        call_hook("make_formatter", domain=test_domain)
    message = str(info.value)
    assert "'string-formatter'" in message and "make_formatter" in message and "callable" in message


def test_a_metric_that_returns_a_word_names_plugin_metric_and_hook(registered, test_domain: Domain) -> None:  # noqa: ANN001
    registered(HighMetricPlugin(), "high-metric")
    metrics = collect("make_metrics", domain=test_domain)
    with pytest.raises(PluginError) as info:
        compute_metrics(metrics, ["yes", "no"], ["yes", "yes"])
    message = str(info.value)
    assert "'confidence'" in message and "'high-metric'" in message and "make_metrics" in message
    assert "'high'" in message and "float" in message


def test_a_filter_that_drops_texts_names_plugin_and_hook(registered, test_domain: Domain) -> None:  # noqa: ANN001
    from domaintune.evaluation.scoring import apply_output_filters

    registered(ShortFilterPlugin(), "short-filter")
    filters = [f for f in collect("make_data_filters", domain=test_domain) if f.name == "first-only"]
    with pytest.raises(PluginError) as info:
        apply_output_filters(filters, ["a", "b"], ["Q1", "Q2"])
    message = str(info.value)
    assert "'first-only'" in message and "'short-filter'" in message and "1 texts" in message and "2 inputs" in message
