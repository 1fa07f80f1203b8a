"""The contract's checks of a plugin's hooks, domains, bundled data and prompt format."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from domaintune import plugins
from domaintune.contract.report import ContractReport, error_text
from domaintune.domain import Domain
from domaintune.errors import DomaintuneError
from domaintune.hookresults import check_conversations, conversation_problem

SAMPLE_ROWS = 16
"""Rows of a domain's sample that metrics and filters are tried on."""
PROBE_DOMAIN = Domain(
    name="domaintune-contract-probe",
    description="A domain no plugin owns: hooks must return None for it.",
    task_type="generation",
    system_prompt="You are a probe.",
)
DOMAIN_HOOKS = ("load_data", "make_formatter", "make_metrics", "make_data_filters", "make_output_filters")


def check_hooks(report: ContractReport, plugin: object) -> dict[str, Any]:
    """The plugin's hook implementations by hook name; a hook that matches no spec fails."""
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
    return impls


def check_domain(report: ContractReport, domain: Domain) -> None:
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
    unknown_variants = [name for name in domain.variants if name not in plugins.get_domains()]
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


def check_foreign_domain(report: ContractReport, impls: dict[str, Any], own: Domain) -> None:
    source = str(own.train_data or "probe.jsonl")
    kwargs = {"domain": PROBE_DOMAIN, "source": source, "column_map": {}, "shape": "auto"}
    failed, warned = [], []
    for hook in DOMAIN_HOOKS:
        if hook not in impls:
            continue
        try:
            result = plugins.call_impl(impls[hook], **kwargs)
        except Exception as exc:  # a hook must not fail on another domain
            failed.append(f"{hook} raised {error_text(exc)} for a domain that is not the plugin's")
            continue
        if result is not None:
            message = f"{hook} returned {type(result).__name__} for domain {PROBE_DOMAIN.name!r}, not None"
            (failed if hook in plugins.FIRSTRESULT_HOOKS else warned).append(message)
    title = "hooks return None for other domains"
    if failed:
        report.add("fail", title, "\n".join(failed + warned) + "\ncheck `domain.name` first in every hook")
    elif warned:
        report.add("warn", f"{title} (some add to every domain: intended?)", "\n".join(warned))
    elif any(hook in impls for hook in DOMAIN_HOOKS):
        report.add("pass", title)


def sample(domain: Domain) -> list[dict[str, Any]]:
    """A few rows of another plugin's domain to try this plugin's filters on ([] if none)."""
    from domaintune.data.prepare import load_source

    if domain.train_data is None:
        return []
    try:
        dataset = load_source(domain, domain.train_data)
        return dataset.select(range(min(SAMPLE_ROWS, len(dataset)))).to_list()
    except Exception:  # another plugin's data is not this plugin's problem
        return []


def check_data(report: ContractReport, domain: Domain) -> dict[str, list[dict[str, Any]]]:
    """Each bundled source loads and is usable; returns the rows by source ("train_data",
    "eval_data")."""
    from domaintune.data.filtering import apply_filters
    from domaintune.data.prepare import load_source
    from domaintune.evaluation.heldout import MAX_LABELS

    if domain.train_data is None:
        report.add(
            "warn", f"{domain.name}: no bundled sample data",
            "users must pass --data; the format, metric and filter checks use probe rows",
        )
        return {}
    rows: dict[str, list[dict[str, Any]]] = {}
    for which in ("train_data", "eval_data"):
        source = getattr(domain, which)
        if source is None:
            continue
        title = f"{domain.name}: {which} loads and is usable"
        try:
            dataset = load_source(domain, source)
            loaded = dataset.to_list()
        except Exception as exc:
            report.add("fail", title, error_text(exc))
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
                filtered, filter_report = apply_filters(dataset, plugins.collect("make_data_filters", domain=domain))
                kept = len(filtered)
                if kept == 0:
                    problems.append("the safety filters drop every row")
            except Exception as exc:
                problems.append(f"the safety filters failed: {error_text(exc)}")
        if problems:
            report.add("fail", title, "\n".join(problems))
        else:
            shown = f", labels {sorted(labels)}" if domain.task_type == "classification" else ""
            report.add("pass", f"{title} ({len(loaded)} rows, {kept} after the safety filters{shown})")
        rows[which] = loaded
    return rows


def check_formatter(
    report: ContractReport, domain: Domain, rows: list[dict[str, Any]], eval_rows: list[dict[str, Any]],
    impls: dict[str, Any],
) -> None:
    """Render every sample row as a run does: training rows through ``datasets.map(batched=
    True)`` (the formatter gets a ``LazyBatch``), held-out rows as one plain dict of columns;
    every conversation must be messages of str ending with the assistant's answer (a label, for
    a classification domain), and must render through a chat template."""
    import datasets

    whose = "the plugin's" if "make_formatter" in impls else "the core's default"
    title = f"{domain.name}: the prompt format renders ({whose} make_formatter)"
    sample = rows or [{"prompt": "Is this a probe?", "completion": (domain.labels or ("yes",))[0]}]
    try:
        formatter = plugins.call_hook("make_formatter", domain=domain)
        conversations: list[Any] = []

        def render(batch: Any) -> dict[str, list[int]]:
            rows_in_batch = len(batch["completion"])
            conversations.extend(check_conversations(f"{whose} formatter", formatter(batch), rows_in_batch))
            return {"rendered": [1] * rows_in_batch}

        datasets.Dataset.from_list(sample).map(render, batched=True, remove_columns=list(sample[0]))
        held_out = eval_rows or sample
        columns = {key: [row.get(key) for row in held_out] for key in held_out[0]}
        conversations += check_conversations(f"{whose} formatter", formatter(columns), len(held_out))
    except Exception as exc:
        report.add("fail", title, error_text(exc))
        return
    problems = []
    if len(conversations) != len(sample) + len(eval_rows or sample):
        problems.append(
            f"returned {len(conversations)} conversations for {len(sample) + len(eval_rows or sample)} "
            "rows; return one conversation per row"
        )
    labels = set(domain.labels) | {str(row["completion"]).strip() for row in [*sample, *eval_rows]}
    for i, conversation in enumerate(conversations):
        problem = conversation_problem(conversation)
        if problem is None and domain.task_type == "classification" and conversation[-1]["content"].strip() not in labels:
            problem = (
                f"the answer {conversation[-1]['content']!r} is not a label ({sorted(labels)}); "
                "the last message is what the model is scored on"
            )
        if problem is None:
            problem = _template_problem(conversation)
        if problem:
            problems.append(f"row {i + 1}: {problem}")
    if problems:
        report.add("fail", title, "\n".join(problems[:10]))
    else:
        report.add("pass", f"{title}: {len(conversations)} rows, each ending with the assistant's answer")


def _template_problem(conversation: list[dict[str, str]]) -> str | None:
    """Whether the conversation renders through the ChatML template the default model uses."""
    import jinja2

    from domaintune.testing.builders import CHATML_TEMPLATE

    try:
        jinja2.Environment().from_string(CHATML_TEMPLATE).render(messages=conversation, add_generation_prompt=False)
    except Exception as exc:
        return f"the conversation does not render through a chat template: {error_text(exc)}"
    return None


def check_metric_names(report: ContractReport, domain: Domain) -> None:
    from domaintune.evaluation.heldout import domain_metrics

    try:
        names = [metric.name for metric in domain_metrics(domain)]
    except Exception as exc:
        report.add("fail", f"{domain.name}: metric names are distinct", error_text(exc))
        return
    report.add("pass", f"{domain.name}: the run scores {', '.join(names)}")

