"""What each hook must return, checked where the result leaves the plugin.

A hook that returns the wrong type (a string for the list of filters, a formatter that is
not callable) is refused at once, and a callable it returned (a metric, a filter) is wrapped
so that a wrong value it gives later (a metric that returns ``"high"``) is refused too. Every
message names the plugin, the hook and the fix, instead of a raw ``AttributeError`` deep in
the core.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from domaintune.domain import FilterOutcome, Metric, SafetyFilter
from domaintune.errors import PluginError

LIST_HOOKS = {"make_metrics": Metric, "make_data_filters": SafetyFilter, "make_output_filters": SafetyFilter}
"""Hooks whose results of all plugins are concatenated, and the type of their items."""


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{text[:120]}..." if len(text) > 120 else text


def check_result(hook: str, who: str, value: Any) -> Any:
    """``value`` (not None) as hook ``hook`` of plugin ``who`` returned it, checked; list hooks'
    metrics and filters come back wrapped so that their results are checked too."""
    if hook == "make_formatter":
        if not callable(value):
            raise PluginError(
                f"{who} returned {_shown(value)} ({type(value).__name__}) from hook make_formatter; "
                "return a callable that takes a batch (column -> values) and returns one "
                "conversation per row, or None for a domain that is not the plugin's."
            )
        return value
    if hook == "load_data":
        return _checked_dataset(who, value)
    if hook in LIST_HOOKS:
        kind = LIST_HOOKS[hook]
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, kind) for item in value):
            raise PluginError(
                f"{who} returned {_shown(value)} ({type(value).__name__}) from hook {hook}; "
                f"return a list of domaintune.{kind.__name__}, or None to add nothing."
            )
        return [_checked_metric(who, item) if isinstance(item, Metric) else _checked_filter(who, hook, item) for item in value]
    return value


def _checked_dataset(who: str, value: Any) -> Any:
    import datasets

    if not isinstance(value, datasets.Dataset):
        raise PluginError(
            f"{who} returned {_shown(value)} ({type(value).__name__}) from hook load_data; return a "
            "datasets.Dataset with prompt and completion columns, or None for a source it does not read."
        )
    missing = sorted({"prompt", "completion"} - set(value.column_names))
    if missing:
        raise PluginError(
            f"{who} returned a dataset without column(s) {missing} from hook load_data "
            f"(columns: {value.column_names}); load_data must return prompt and completion columns."
        )
    return value


def _checked_metric(who: str, metric: Metric) -> Metric:
    if not isinstance(metric.name, str) or not metric.name or not callable(metric.compute):
        raise PluginError(
            f"{who} returned {_shown(metric)} from hook make_metrics; a Metric needs a name (str) "
            "and a compute(predictions, references) callable."
        )
    compute = metric.compute

    @functools.wraps(compute)
    def checked(*args: Any, **kwargs: Any) -> float:
        value = compute(*args, **kwargs)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise PluginError(
                f"Metric {metric.name!r} of {who} (hook make_metrics) returned {_shown(value)} "
                f"({type(value).__name__}); return a float: compute must give one finite number, e.g. 0.75."
            )
        return float(value)

    return dataclasses.replace(metric, compute=checked)


def _checked_filter(who: str, hook: str, safety_filter: SafetyFilter) -> SafetyFilter:
    if not isinstance(safety_filter.name, str) or not safety_filter.name or not callable(safety_filter.apply):
        raise PluginError(
            f"{who} returned {_shown(safety_filter)} from hook {hook}; a SafetyFilter needs a name "
            "(str) and an apply(texts) callable."
        )
    apply = safety_filter.apply
    what = f"Filter {safety_filter.name!r} of {who} (hook {hook})"

    @functools.wraps(apply)
    def checked(texts: list[str], *args: Any, **kwargs: Any) -> FilterOutcome:
        outcome = apply(texts, *args, **kwargs)
        if not isinstance(outcome, FilterOutcome):
            raise PluginError(
                f"{what} returned {_shown(outcome)} ({type(outcome).__name__}) from apply; return a "
                "domaintune.FilterOutcome(texts=..., blocked=..., counts=...)."
            )
        if len(outcome.texts) != len(texts) or len(outcome.blocked) != len(texts):
            raise PluginError(
                f"{what} returned {len(outcome.texts)} texts and {len(outcome.blocked)} blocked flags "
                f"for {len(texts)} inputs; return one of each per input, in order."
            )
        return outcome

    evaluate = safety_filter.evaluate
    return dataclasses.replace(
        safety_filter, apply=checked, evaluate=_checked_evaluate(what, evaluate) if evaluate else None
    )


def _checked_evaluate(what: str, evaluate: Callable[[], Mapping[str, Any]]) -> Callable[[], Mapping[str, Any]]:
    if not callable(evaluate):
        raise PluginError(f"{what} has evaluate={_shown(evaluate)}; give a callable or None.")

    @functools.wraps(evaluate)
    def checked() -> Mapping[str, Any]:
        figures = evaluate()
        if not isinstance(figures, Mapping):
            raise PluginError(
                f"{what} returned {_shown(figures)} ({type(figures).__name__}) from evaluate; return "
                "a mapping of figure names to values, e.g. {'recall': 0.98}."
            )
        return figures

    return checked


def check_conversations(who: str, conversations: Any, rows: int) -> list[list[dict[str, str]]]:
    """A formatter's output for a batch of ``rows`` rows, checked: one non-empty list of
    ``{"role", "content": str}`` messages per row."""
    if not isinstance(conversations, list) or len(conversations) != rows:
        size = len(conversations) if hasattr(conversations, "__len__") else "?"
        raise PluginError(
            f"The formatter of {who} (hook make_formatter) returned {type(conversations).__name__} "
            f"of length {size} for a batch of {rows} rows; return a list with one conversation per row."
        )
    for index, conversation in enumerate(conversations):
        problem = conversation_problem(conversation)
        if problem:
            raise PluginError(
                f"The formatter of {who} (hook make_formatter) returned, for row {index + 1} of a "
                f"batch: {problem}."
            )
    return conversations


def conversation_problem(conversation: Any) -> str | None:
    """What is wrong with one conversation a formatter returned, or None."""
    if not isinstance(conversation, list) or not conversation:
        return f"{_shown(conversation)}, not a non-empty list of messages"
    for message in conversation:
        if not (
            isinstance(message, dict)
            and message.get("role") in ("system", "user", "assistant")
            and isinstance(message.get("content"), str)
        ):
            return (
                f"the message {_shown(message)}, not {{'role': 'system'|'user'|'assistant', "
                "'content': str}"
            )
    if conversation[-1]["role"] != "assistant":
        return f"the last message is the {conversation[-1]['role']}'s; it must be the assistant's answer"
    return None
