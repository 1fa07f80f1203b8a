"""The sentences a report opens with: is the tuned model better, what the safety measures
caught, and whether the model forgot general knowledge. Shared by the Markdown and HTML pages;
``escape`` makes each value from data or plugins safe for the page being written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Escape = Callable[[object], str]


@dataclass(frozen=True)
class Verdict:
    kind: str
    """"better", "worse" or "unchanged": the 95% interval of the headline metric's change is
    above 0, below 0, or includes 0."""
    text: str


def headline(summary: dict[str, Any], escape: Escape) -> Verdict:
    """One sentence on the first metric (the domain's headline): its change and interval."""
    changes = summary.get("tuned_minus_base") or {}
    if not changes:
        return Verdict("unchanged", "No metric was computed, so there is no verdict.")
    name, change = next(iter(changes.items()))
    base, tuned = summary["base"][name], summary["tuned"][name]
    rows = summary.get("data", {}).get("eval_rows")
    on = f" on {rows} held-out rows" if rows else " on the held-out rows"
    figures = f"from {base:.3f} to {tuned:.3f} ({change['difference']:+.3f}"
    interval = f"95% interval {change['low']:+.3f} to {change['high']:+.3f}"
    metric = escape(name)
    if change["low"] > 0:
        return Verdict("better", f"The tuned model is better{on}: {metric} rose {figures}, {interval}).")
    if change["high"] < 0:
        return Verdict("worse", f"The tuned model is worse{on}: {metric} fell {figures}, {interval}).")
    return Verdict(
        "unchanged",
        f"No significant change{on}: {metric} went {figures}), and its {interval} includes 0.",
    )


def safety_sentence(summary: dict[str, Any], escape: Escape) -> str:
    """Canaries planted, surviving the filters and leaked by the tuned model; rows the filters
    masked or dropped."""
    data = summary.get("data", {})
    parts = []
    canaries = data.get("canaries")
    if canaries:
        text = (
            f"{canaries['planted']} canaries planted, {canaries['survived_filters']} survived the filters"
        )
        probe = canaries.get("tuned_model")
        if probe:
            text += f", {probe['produced']} of {probe['probed']} probed leaked from the tuned model"
        parts.append(text)
    for split, name in (("train", "training"), ("eval", "held-out")):
        report = data.get(f"{split}_filter")
        if report and report["rows_in"]:
            parts.append(
                f"the filters masked {report['rows_changed']} and dropped {report['rows_dropped']} "
                f"of {report['rows_in']} {name} rows"
            )
    if not data.get("safety_filters"):
        parts.append("no safety filter ran on the data")
    flags = summary.get("output_filter", {}).get("tuned")
    if flags:
        parts.append(
            "the output filters flagged "
            + ", ".join(f"{escape(kind)} {count}" for kind, count in flags.items())
            + " in the tuned model's answers"
        )
    return "Safety: " + ("; ".join(parts) or "nothing measured") + "."


def forgetting_sentence(summary: dict[str, Any]) -> str | None:
    """The general-knowledge check, in questions answered right, so a drop is easy to weigh."""
    general = summary.get("general_knowledge")
    if not general:
        return None
    base, tuned, rows = general["base"], general["tuned"], general["rows"]
    right = round((tuned - base) * rows)
    if right < 0:
        change = f"{-right} fewer of {rows} answered right"
    elif right > 0:
        change = f"{right} more of {rows} answered right"
    else:
        change = f"as many of {rows} answered right"
    return (
        f"Forgetting: general knowledge outside the domain went from {base:.3f} to {tuned:.3f} "
        f"({change})."
    )
