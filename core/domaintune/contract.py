"""`tune plugin check NAME`: does an installed plugin keep the hooks' contract?

Each check gives a line of the checklist; any failure makes the report fail (exit 1):

1. the plugin imports, and each of its hooks names a hookspec and takes only the spec's
   arguments (what ``pm.check_pending()`` and pluggy's signature check catch);
2. the domains it registers are well formed (task type, sample files, default settings);
3. hooks that take a ``domain`` return ``None`` for a domain that is not the plugin's;
4. each domain's bundled data loads (``run.load_source``), has a completion on every row and
   only the domain's labels, and the safety filters leave rows to train on;
5. the prompt format renders: a batch gives one conversation per row, each ending with the
   assistant's answer (a label, for classification domains);
6. the plugin's metrics take predictions and references and return one finite float in
   [0, 1], the same for the same input;
7. the plugin's safety filters (data and output) return one text per input, never change
   their input, and are deterministic (same input, same output) and idempotent (applying a
   filter to its own output changes nothing).

A plugin that registers no domain (say, a company-wide PII filter) is checked on every
installed domain it contributes to. No model is loaded; the check takes seconds.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from domaintune.domain import Domain, FilterOutcome, Metric, SafetyFilter
from domaintune.errors import DomaintuneError, PluginError

Status = Literal["pass", "fail", "warn"]

SAMPLE_ROWS = 16
"""Rows of a domain's sample that formatters, metrics and filters are tried on."""
FORMAT_ROWS = 8
PROBE_DOMAIN = Domain(
    name="domaintune-contract-probe",
    description="A domain no plugin owns: hooks must return None for it.",
    task_type="generation",
    system_prompt="You are a probe.",
)
PROBE_TEXTS = (
    "",
    "A plain sentence with nothing to hide.",
    "Write to jane.roe@example.com or call (212) 555-0187 about claim 12-345.",
    "SSN 123-45-6789, card 4111 1111 1111 1111, IBAN DE89370400440532013000, 10.0.0.1.",
    "Ünïcödé text, emoji \N{SLIGHTLY SMILING FACE}, a tab\tand a\nnew line.",
    "Already masked: [EMAIL], [PHONE] and [SSN] must stay as they are.",
    "INTERNAL ONLY: privileged & confidential attorney-client material, do not forward.",
    "word " * 400,
)
"""Texts every safety filter is tried on, besides the domain's own sample."""
DOMAIN_HOOKS = ("load_data", "make_formatter", "make_metrics", "make_data_filters", "make_output_filters")
FIRSTRESULT_HOOKS = ("load_data", "make_formatter")


@dataclass
class Check:
    status: Status
    title: str
    detail: str = ""


@dataclass
class ContractReport:
    plugin: str
    distribution: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(check.status == "fail" for check in self.checks)

    def add(self, status: Status, title: str, detail: str = "") -> None:
        self.checks.append(Check(status, title, detail))

    def count(self, status: Status) -> int:
        return sum(check.status == status for check in self.checks)

    def render(self) -> str:
        marks = {"pass": "PASS", "fail": "FAIL", "warn": "WARN"}
        lines = [f"Contract check of plugin {self.plugin!r} ({self.distribution or 'not from an installed distribution'})"]
        for check in self.checks:
            lines.append(f"  {marks[check.status]}  {check.title}")
            lines.extend(f"          {line}" for line in check.detail.splitlines() if line.strip())
        verdict = "meets the contract" if self.ok else "does NOT meet the contract"
        lines.append(
            f"{self.count('pass')} passed, {self.count('fail')} failed, {self.count('warn')} "
            f"warning(s): plugin {self.plugin!r} {verdict}."
        )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "distribution": self.distribution,
            "ok": self.ok,
            "checks": [asdict(check) for check in self.checks],
        }


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _find_plugin(name: str) -> tuple[str, object] | str:
    """The registered plugin called ``name`` (or from distribution ``name``), or the import
    error of a broken one."""
    from domaintune import plugins

    wanted = name.lower().replace("_", "-")
    if plugins.pm.get_plugin(name) is not None:
        return name, plugins.pm.get_plugin(name)
    for plugin_name, dist in plugins._distributions.items():
        if dist.name.lower().replace("_", "-") == wanted:
            return plugin_name, plugins.pm.get_plugin(plugin_name)
    for broken in plugins.broken_plugins:
        if wanted in (broken.name.lower().replace("_", "-"), broken.distribution.lower().replace("_", "-")):
            return f"{broken.distribution}: {broken.error}"
    names = sorted(n for n, p in plugins.pm.list_name_plugin() if p is not None and n not in plugins.DEFAULT_PLUGINS)
    broken_names = sorted(b.name for b in plugins.broken_plugins)
    raise PluginError(
        f"No installed plugin is called {name!r} (installed: {', '.join(names) or 'none'}"
        + (f"; broken: {', '.join(broken_names)}" if broken_names else "")
        + "). Install it (e.g. `pip install -e .` in its folder) and check `tune plugins`."
    )


def _call(impl: Any, **kwargs: Any) -> Any:
    """Call one plugin's implementation alone, with the arguments it asks for."""
    return impl.function(*(kwargs[name] for name in impl.argnames))


def check_plugin(name: str) -> ContractReport:
    """Run the contract on the installed (or test-registered) plugin ``name``: an entry-point
    name, a distribution name, or the name a plugin was registered under."""
    import datasets
    import pluggy

    from domaintune import plugins

    datasets.disable_progress_bars()  # the checklist is the output
    load_error = None
    try:
        plugins.load_plugins()
    except DomaintuneError as exc:  # e.g. a misspelled hook: reported below, for this plugin
        load_error = exc
    except pluggy.PluginValidationError as exc:
        # A hook taking an argument its spec does not pass: pluggy refuses the plugin, and
        # the plugins after it are not loaded either.
        report = ContractReport(plugin=name, distribution=None)
        report.add(
            "fail", "the installed plugins load",
            f"{exc}\nAn implementation may take only (a subset of) the spec's arguments; see "
            "docs/hooks/ or core/domaintune/hookspecs.py.",
        )
        return report
    found = _find_plugin(name)
    if isinstance(found, str):
        report = ContractReport(plugin=name, distribution=found.split(":", 1)[0])
        report.add("fail", "the plugin imports", found)
        return report
    plugin_name, plugin = found
    dist = plugins._distributions.get(plugin_name)
    report = ContractReport(
        plugin=plugin_name, distribution=f"distribution {dist.name} {dist.version}" if dist else None
    )
    module = plugin.__name__ if inspect.ismodule(plugin) else type(plugin).__module__ + "." + type(plugin).__qualname__
    report.add("pass", f"the plugin imports ({module})")
    impls = _check_hooks(report, plugin, load_error)

    try:
        registered = plugins._registered_domains()
    except DomaintuneError as exc:
        report.add("fail", "register_domains registers domains", str(exc))
        return report
    own = [domain for domain, owner in registered.values() if owner == plugin_name]
    for domain in own:
        _check_domain(report, domain)
    if own:
        _check_foreign_domain(report, impls, own[0])
        checked = own
    else:
        checked = [domain for domain, _ in registered.values()]
        report.add(
            "pass", "registers no domain: checked as a cross-domain plugin",
            f"its hooks are called for every installed domain: {', '.join(d.name for d in checked) or 'none'}",
        )

    filters: dict[tuple[str, str], tuple[SafetyFilter, list[str]]] = {}
    metrics: dict[str, tuple[Metric, list[str]]] = {}
    texts: list[str] = list(PROBE_TEXTS)
    references: list[str] = []
    for domain in checked:
        rows = _check_data(report, domain) if domain in own else _sample(domain)
        if rows:
            texts += [text for row in rows[:SAMPLE_ROWS] for text in (row["prompt"], row["completion"])]
            references += [row["completion"].strip() for row in rows[:SAMPLE_ROWS]]
        if domain in own:
            _check_formatter(report, domain, rows, impls)
            _check_metric_names(report, domain)
        _gather(report, impls, domain, filters, metrics)
    references = references or ["yes", "no", "yes"]
    for metric_name, (metric, domains) in metrics.items():
        _check_metric(report, metric, domains, references)
    for (hook, _), (safety_filter, domains) in filters.items():
        _check_filter(report, hook, safety_filter, domains, texts)
    if not metrics and not filters and not own and "make_formatter" not in impls:
        report.add("warn", "contributes nothing to any installed domain")
    return report


def _check_hooks(report: ContractReport, plugin: object, load_error: Exception | None) -> dict[str, Any]:
    from domaintune import plugins

    # pluggy has checked the arguments of every hook with a spec when it registered the
    # plugin; what is left is a hook whose name matches no spec (what check_pending finds).
    specified = plugins.hook_names()
    impls: dict[str, Any] = {}
    problems = []
    for caller in plugins.pm.get_hookcallers(plugin) or []:
        if caller.spec is None:
            close = difflib.get_close_matches(caller.name, specified, n=1)
            problems.append(
                f"{caller.name}: no such hook" + (f"; did you mean {close[0]}?" if close else "")
                + f" (hooks: {', '.join(sorted(specified))})"
            )
            continue
        impls[caller.name] = next(i for i in caller.get_hookimpls() if i.plugin is plugin)
    if problems:
        report.add("fail", "hooks match the specs", "\n".join(problems))
    elif not impls:
        report.add("fail", "hooks match the specs", "the plugin implements no hook; mark hooks with @domaintune.hookimpl")
    else:
        report.add("pass", f"hooks match the specs: {', '.join(sorted(impls))}")
    if load_error is not None and not problems:
        report.add("warn", "another plugin failed the hook check", str(load_error))
    return impls


def _check_domain(report: ContractReport, domain: Domain) -> None:
    from domaintune.config import build_config

    problems = []
    if domain.task_type not in ("classification", "generation"):
        problems.append(f"task_type {domain.task_type!r} is not 'classification' or 'generation'")
    for which in ("train_data", "eval_data"):
        path = getattr(domain, which)
        if path is not None and not Path(path).exists():
            problems.append(f"{which} {path} does not exist (is it in [tool.setuptools.package-data]?)")
    if domain.task_type == "classification" and len(set(domain.labels)) != len(domain.labels):
        problems.append(f"labels {domain.labels} has duplicates")
    from domaintune.plugins import get_domains

    unknown_variants = [name for name in domain.variants if name not in get_domains()]
    if unknown_variants:
        problems.append(f"variants {unknown_variants} are not registered domains")
    try:
        build_config(dict(domain.defaults), {"domain": domain.name})
    except DomaintuneError as exc:
        problems.append(f"defaults: {exc}")
    if problems:
        report.add("fail", f"domain {domain.name!r} is well formed", "\n".join(problems))
    else:
        report.add("pass", f"domain {domain.name!r} is well formed ({domain.task_type})")


def _check_foreign_domain(report: ContractReport, impls: dict[str, Any], own: Domain) -> None:
    source = str(own.train_data or "probe.jsonl")
    kwargs = {"domain": PROBE_DOMAIN, "source": source, "column_map": {}, "shape": "auto"}
    failed, warned = [], []
    for hook in DOMAIN_HOOKS:
        if hook not in impls:
            continue
        try:
            result = _call(impls[hook], **kwargs)
        except Exception as exc:  # a hook must not fail on another domain
            failed.append(f"{hook} raised {_error(exc)} for a domain that is not the plugin's")
            continue
        if result is not None:
            message = f"{hook} returned {type(result).__name__} for domain {PROBE_DOMAIN.name!r}, not None"
            (failed if hook in FIRSTRESULT_HOOKS else warned).append(message)
    title = "hooks return None for other domains"
    if failed:
        report.add("fail", title, "\n".join(failed + warned) + "\ncheck `domain.name` first in every hook")
    elif warned:
        report.add("warn", f"{title} (some add to every domain: intended?)", "\n".join(warned))
    elif any(hook in impls for hook in DOMAIN_HOOKS):
        report.add("pass", title)


def _sample(domain: Domain) -> list[dict[str, Any]]:
    """A few rows of another plugin's domain to try this plugin's filters on ([] if none)."""
    from domaintune.data.prepare import load_source

    if domain.train_data is None:
        return []
    try:
        dataset = load_source(domain, domain.train_data)
        return dataset.select(range(min(SAMPLE_ROWS, len(dataset)))).to_list()
    except Exception:  # another plugin's data is not this plugin's problem
        return []


def _check_data(report: ContractReport, domain: Domain) -> list[dict[str, Any]]:
    from domaintune.data.filtering import apply_filters
    from domaintune.data.prepare import load_source
    from domaintune.evaluation.heldout import MAX_LABELS
    from domaintune.plugins import collect

    if domain.train_data is None:
        report.add(
            "warn", f"{domain.name}: no bundled sample data",
            "users must pass --data; the format, metric and filter checks use probe rows",
        )
        return []
    rows: list[dict[str, Any]] = []
    for which in ("train_data", "eval_data"):
        source = getattr(domain, which)
        if source is None:
            continue
        title = f"{domain.name}: {which} loads and is usable"
        try:
            dataset = load_source(domain, source)
            loaded = dataset.to_list()
        except Exception as exc:
            report.add("fail", title, _error(exc))
            continue
        problems = []
        if not loaded:
            problems.append(f"{source} has no rows")
        empty = [i + 1 for i, row in enumerate(loaded) if not str(row["completion"]).strip()]
        if empty:
            problems.append(f"rows {empty[:10]} have an empty completion")
        labels = {str(row["completion"]).strip() for row in loaded}
        if domain.task_type == "classification":
            if len(labels) > MAX_LABELS:
                problems.append(f"{len(labels)} distinct completions for a classification domain (at most {MAX_LABELS})")
            elif domain.labels:
                stray = sorted(labels - set(domain.labels))
                if stray:
                    problems.append(f"completions {stray[:10]} are not among the domain's labels {list(domain.labels)}")
        kept = None
        if loaded:
            try:
                filtered, filter_report = apply_filters(dataset, collect("make_data_filters", domain=domain))
                kept = len(filtered)
                if kept == 0:
                    problems.append("the safety filters drop every row")
            except Exception as exc:
                problems.append(f"the safety filters failed: {_error(exc)}")
        if problems:
            report.add("fail", title, "\n".join(problems))
        else:
            shown = f", labels {sorted(labels)}" if domain.task_type == "classification" else ""
            report.add("pass", f"{title} ({len(loaded)} rows, {kept} after the safety filters{shown})")
        if which == "train_data":
            rows = loaded
    return rows


def _check_formatter(report: ContractReport, domain: Domain, rows: list[dict[str, Any]], impls: dict[str, Any]) -> None:
    from domaintune.plugins import call_hook

    whose = "the plugin's" if "make_formatter" in impls else "the core's default"
    title = f"{domain.name}: the prompt format renders ({whose} make_formatter)"
    sample = rows[:FORMAT_ROWS] or [
        {"prompt": "Is this a probe?", "completion": (domain.labels or ("yes",))[0]}
    ]
    columns = {key: [row.get(key) for row in sample] for key in sample[0]}
    try:
        formatter = call_hook("make_formatter", domain=domain)
        conversations = formatter(columns)
    except Exception as exc:
        report.add("fail", title, _error(exc))
        return
    problems = []
    if not isinstance(conversations, list) or len(conversations) != len(sample):
        problems.append(f"returned {type(conversations).__name__} of length {len(conversations) if hasattr(conversations, '__len__') else '?'} for {len(sample)} rows; return one conversation per row")
        conversations = []
    labels = set(domain.labels) | {str(row["completion"]).strip() for row in sample}
    for i, conversation in enumerate(conversations):
        if not isinstance(conversation, list) or not conversation:
            problems.append(f"row {i + 1}: a conversation must be a non-empty list of messages")
            continue
        bad = [m for m in conversation if not (isinstance(m, dict) and m.get("role") in ("system", "user", "assistant") and isinstance(m.get("content"), str))]
        if bad:
            problems.append(f"row {i + 1}: {bad[0]!r} is not a message {{'role': 'system'|'user'|'assistant', 'content': str}}")
        elif conversation[-1]["role"] != "assistant":
            problems.append(f"row {i + 1}: the last message is the {conversation[-1]['role']}'s; it must be the assistant's answer")
        elif domain.task_type == "classification" and conversation[-1]["content"].strip() not in labels:
            problems.append(
                f"row {i + 1}: the answer {conversation[-1]['content']!r} is not a label ({sorted(labels)}); "
                "the last message is what the model is scored on"
            )
    if problems:
        report.add("fail", title, "\n".join(problems[:10]))
    else:
        report.add("pass", f"{title}: {len(sample)} rows, each ending with the assistant's answer")


def _check_metric_names(report: ContractReport, domain: Domain) -> None:
    from domaintune.evaluation.heldout import domain_metrics

    try:
        names = [metric.name for metric in domain_metrics(domain)]
    except Exception as exc:
        report.add("fail", f"{domain.name}: metric names are distinct", _error(exc))
        return
    report.add("pass", f"{domain.name}: the run scores {', '.join(names)}")


def _gather(
    report: ContractReport, impls: dict[str, Any], domain: Domain,
    filters: dict[tuple[str, str], tuple[SafetyFilter, list[str]]],
    metrics: dict[str, tuple[Metric, list[str]]],
) -> None:
    """Collect this plugin's own metrics and filters for ``domain``, keyed by name."""
    wanted: dict[str, type] = {"make_metrics": Metric, "make_data_filters": SafetyFilter, "make_output_filters": SafetyFilter}
    for hook, kind in wanted.items():
        if hook not in impls:
            continue
        try:
            result = _call(impls[hook], domain=domain)
        except Exception as exc:
            report.add("fail", f"{domain.name}: {hook} runs", _error(exc))
            continue
        if result is None:
            continue
        if not isinstance(result, (list, tuple)) or not all(isinstance(item, kind) for item in result):
            report.add(
                "fail", f"{domain.name}: {hook} returns a list of {kind.__name__}",
                f"got {result!r:.200}; return a list of domaintune.{kind.__name__} or None",
            )
            continue
        for item in result:
            if isinstance(item, Metric):
                metrics.setdefault(item.name, (item, []))[1].append(domain.name)
            else:
                filters.setdefault((hook, item.name), (item, []))[1].append(domain.name)


def _number_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"returned {value!r} ({type(value).__name__}); return a float"
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        return f"returned {value!r}; a metric's value must be a finite float in [0, 1]"
    return None


def _check_metric(report: ContractReport, metric: Metric, domains: list[str], references: Sequence[str]) -> None:
    references = list(references)
    shifted = references[1:] + references[:1]
    cases = {
        "perfect answers": references,
        "shifted answers": shifted,
        "empty answers": [""] * len(references),
        "long answers": ["an answer of many words " * 20] * len(references),
    }
    # A bootstrap resample may hold one label only; the metric must still give a number.
    single = [references[0]] * len(references)
    title = f"metric {metric.name!r} ({', '.join(domains)}) returns a float in [0, 1]"
    values: dict[str, float] = {}
    problems = []
    for case, predictions in [*cases.items(), ("one label only", single)]:
        wanted = single if case == "one label only" else references
        try:
            value = metric.compute(list(predictions), list(wanted))
            again = metric.compute(list(predictions), list(wanted))
        except Exception as exc:
            problems.append(f"{case}: {_error(exc)}")
            continue
        problem = _number_problem(value)
        if problem:
            problems.append(f"{case}: {problem}")
        elif again != value:
            problems.append(f"{case}: {value!r}, then {again!r} for the same input; it must be deterministic")
        else:
            values[case] = float(value)
    if problems:
        report.add("fail", title, "\n".join(problems))
        return
    report.add("pass", f"{title}: perfect {values['perfect answers']:.3f}, empty {values['empty answers']:.3f}")
    better, worse = values["perfect answers"], values["empty answers"]
    if (better < worse) if metric.higher_is_better else (better > worse):
        report.add(
            "warn", f"metric {metric.name!r} scores empty answers better than perfect ones",
            "is higher_is_better set right?",
        )


def _outcome_problem(outcome: Any, texts: list[str]) -> str | None:
    if not isinstance(outcome, FilterOutcome):
        return f"apply returned {type(outcome).__name__}; return a domaintune.FilterOutcome"
    if len(outcome.texts) != len(texts) or len(outcome.blocked) != len(texts):
        return f"{len(outcome.texts)} texts and {len(outcome.blocked)} blocked flags for {len(texts)} inputs; return one of each per input"
    if not all(isinstance(text, str) for text in outcome.texts):
        return "a returned text is not a str"
    if not isinstance(outcome.counts, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in outcome.counts.items()
    ):
        return f"counts {outcome.counts!r} must map finding types to counts (str -> int >= 0)"
    return None


def _differences(first: FilterOutcome, second: FilterOutcome, texts: list[str]) -> str | None:
    for i, (a, b, x, y) in enumerate(zip(first.texts, second.texts, first.blocked, second.blocked)):
        if a != b or bool(x) != bool(y):
            return f"{texts[i][:80]!r} -> {a[:80]!r} (blocked {bool(x)}), then {b[:80]!r} (blocked {bool(y)})"
    return None


def _failing_input(apply: Callable[[list[str]], Any], texts: list[str]) -> str:
    """Which single input makes ``apply`` raise, to put in the report ("" if none alone does)."""
    for text in dict.fromkeys(texts):
        try:
            apply([text])
        except Exception:
            return f" (on input {text[:80]!r})"
    return ""


def _check_filter(
    report: ContractReport, hook: str, safety_filter: SafetyFilter, domains: list[str], texts: list[str]
) -> None:
    which = "data" if hook == "make_data_filters" else "output"
    title = f"{which} filter {safety_filter.name!r} ({', '.join(domains)}) is deterministic and idempotent"
    apply: Callable[[list[str]], Any] = safety_filter.apply
    inputs = list(texts)
    try:
        once = apply(inputs)
        problem = _outcome_problem(once, texts)
        if problem is None and inputs != texts:
            problem = "apply changed the list it was given; return new texts instead"
        if problem is None:
            again = apply(list(texts))
            problem = _outcome_problem(again, texts)
            if problem is None and (difference := _differences(once, again, texts)):
                problem = f"not deterministic: the same input gave two outputs: {difference}"
        if problem is None:
            twice = apply(list(once.texts))
            problem = _outcome_problem(twice, texts)
            if problem is None and (difference := _differences(once, twice, texts)):
                problem = f"not idempotent: applying it to its own output changed it: {difference}"
    except Exception as exc:
        problem = _error(exc) + _failing_input(apply, texts)
    if problem:
        report.add("fail", title, problem)
        return
    changed = sum(a != b for a, b in zip(texts, once.texts))
    report.add(
        "pass", f"{title} ({len(texts)} texts: {changed} changed, {sum(map(bool, once.blocked))} blocked)"
    )
