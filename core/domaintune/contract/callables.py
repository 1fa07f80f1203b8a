"""The contract's checks of what a plugin's metrics and safety filters return, called on
the domains' sample texts and on probe texts."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from domaintune import plugins
from domaintune.contract.report import ContractReport, error_text
from domaintune.domain import Domain, FilterOutcome, Metric, SafetyFilter

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


def gather(
    report: ContractReport, impls: dict[str, Any], domain: Domain,
    filters: dict[tuple[str, str], tuple[SafetyFilter, list[str]]],
    metrics: dict[str, tuple[Metric, list[str]]],
) -> None:
    """Collect this plugin's own metrics and filters for ``domain``, keyed by name; a hook
    that fails or returns the wrong type fails the report."""
    for hook in ("make_metrics", "make_data_filters", "make_output_filters"):
        if hook not in impls:
            continue
        try:
            result = plugins.call_impl(impls[hook], domain=domain)
        except Exception as exc:
            report.add("fail", f"{domain.name}: {hook} runs and returns the right type", error_text(exc))
            continue
        for item in result or []:
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


def check_metric(report: ContractReport, metric: Metric, domains: list[str], references: Sequence[str]) -> None:
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
            problems.append(f"{case}: {error_text(exc)}")
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


def check_filter(
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
        problem = error_text(exc) + _failing_input(apply, texts)
    if problem:
        report.add("fail", title, problem)
        return
    changed = sum(a != b for a, b in zip(texts, once.texts))
    report.add(
        "pass", f"{title} ({len(texts)} texts: {changed} changed, {sum(map(bool, once.blocked))} blocked)"
    )
