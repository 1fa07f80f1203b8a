"""The run report in Markdown (report.md), rendered from the summary written to metrics.json.

Every value from data, configs or plugins goes through ``markdown_text``, so none can add
markup, raw HTML or a table cell. Sections the summary lacks (an evaluation of a finished run
has no training) are left out.
"""

from __future__ import annotations

from typing import Any

from domaintune.report.escaping import markdown_block
from domaintune.report.escaping import markdown_text as md
from domaintune.report.examples import shortened, user_text
from domaintune.report.verdict import forgetting_sentence, headline, safety_sentence

EXAMPLE_CHARACTERS = 300


def _number(value: float) -> str:
    return f"{value:.3f}"


def human_size(size: int) -> str:
    """``113246208`` -> ``108.0 MiB``."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def figures_text(figures: dict[str, Any], escape: Any = md) -> str:
    """``{"recall": 0.99, "recall_by_type": {"SSN": 1.0}}`` -> ``recall 0.990; recall by type SSN 1.000``."""

    def value(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        if isinstance(v, dict):
            return ", ".join(f"{escape(k)} {value(x)}" for k, x in v.items())
        return "-" if v is None else escape(v)

    return "; ".join(f"{escape(key.replace('_', ' '))} {value(v)}" for key, v in figures.items())


def _overview(summary: dict[str, Any]) -> list[str]:
    data = summary.get("data", {})
    verdict = headline(summary, md)
    lines = [f"# domaintune run: {md(summary['domain'])}", "", f"**Verdict:** {verdict.text}", ""]
    lines.append(f"- {safety_sentence(summary, md)}")
    forgetting = forgetting_sentence(summary)
    if forgetting:
        lines.append(f"- {forgetting}")
    lines.append("")
    if summary.get("description"):
        lines.append(f"- Domain: {md(summary['description'])}")
    lines.append(f"- Model: {md(summary['model'])}")
    if "task_type" in summary:
        labels = summary.get("labels") or []
        lines.append(
            f"- Task: {md(summary['task_type'])}"
            + (f" over labels {', '.join(md(label) for label in labels)}" if labels else "")
        )
    if "train_rows" in data:
        lines.append(
            f"- Train data: {md(data['train_source'])} ({data['train_rows']} rows"
            + (f", at most {data['max_rows_per_task']} per task)" if data.get("max_rows_per_task") else ")")
        )
    if "eval_rows" in data:
        lines.append(f"- Eval data: {md(data['eval_source'])} ({data['eval_rows']} rows)")
    if summary.get("run_dir_bytes") is not None:
        lines.append(f"- Run folder: {human_size(summary['run_dir_bytes'])}")
    return lines


def _metrics(summary: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Held-out metrics",
        "",
        "| metric | base | tuned | tuned - base | 95% interval |",
        "|---|---|---|---|---|",
    ]
    for name, base in summary["base"].items():
        tuned, change = summary["tuned"][name], summary["tuned_minus_base"][name]
        lines.append(
            f"| {md(name)} | {_number(base)} | {_number(tuned)} | {change['difference']:+.3f} "
            f"| [{change['low']:+.3f}, {change['high']:+.3f}] |"
        )
    if "majority_baseline" in summary:
        majority = summary["majority_baseline"]
        lines += [
            "",
            f"Majority-class baseline (always '{md(majority['label'])}'): accuracy "
            f"{_number(majority['accuracy'])}.",
        ]
    general = summary.get("general_knowledge")
    if general:
        lines += [
            "",
            f"General knowledge outside the domain ({general['rows']} two-choice completions; a "
            f"drop means the tuning made the model forget): base {_number(general['base'])}, "
            f"tuned {_number(general['tuned'])} ({general['tuned'] - general['base']:+.3f}).",
        ]
    for column, groups in summary.get("by_group", {}).items():
        names = list(next(iter(groups.values()))["base"])
        lines += [
            "",
            f"### By {md(column)} (headline figures above are means over {len(groups)} groups)",
            "",
            f"| {md(column)} | rows | "
            + " | ".join(f"{md(n)} base | {md(n)} tuned" for n in names)
            + " | majority-class accuracy |",
            "|---|---|" + "---|---|" * len(names) + "---|",
        ]
        for group, entry in groups.items():
            majority = entry.get("majority_baseline")
            lines.append(
                f"| {md(group)} | {entry['rows']} | "
                + " | ".join(f"{_number(entry['base'][n])} | {_number(entry['tuned'][n])}" for n in names)
                + f" | {_number(majority['accuracy']) + ' (' + md(majority['label']) + ')' if majority else ''} |"
            )
    lines += [
        "",
        "The interval is a paired bootstrap over the held-out rows; when it excludes 0 the "
        "change is unlikely to be noise.",
    ]
    return lines


def _examples(summary: dict[str, Any]) -> list[str]:
    flips = summary.get("flips")
    if flips is None:
        return []
    lines = [
        "",
        "## Examples",
        "",
        f"Rows the tuning fixed: {flips['fixed']}; rows it broke: {flips['broken']} "
        "(all rows are in predictions.jsonl).",
    ]
    examples = [(kind, e) for kind in ("fixed", "broken") for e in summary["flip_examples"][kind]]
    if examples:
        lines += ["", "| | user's text | reference | base | tuned |", "|---|---|---|---|---|"]
        lines += [
            f"| {kind} | {md(shortened(user_text(e), EXAMPLE_CHARACTERS))} | {md(e['reference'])} "
            f"| {md(e['base'])} | {md(e['tuned'])} |"
            for kind, e in examples
        ]
    return lines


def _training(train: dict[str, Any]) -> list[str]:
    return [
        "",
        "## Training",
        "",
        f"{train['steps']} steps, {train['epochs']:.2f} epochs, {train['seconds']:.0f} s, "
        f"{train['tokens']} real tokens ({train['tokens_per_second']:.0f} tokens/s)"
        + (", stopped by the time budget" if train["stopped_by_time_budget"] else "")
        + (
            f", stopped early (best held-out loss {train['best_eval_loss']:.4f})"
            if train.get("stopped_early") else ""
        )
        + ".",
        *(f"- {md(change)}" for change in train.get("micro_batch_changes", [])),
        "",
        "| step | loss |",
        "|---|---|",
        *(f"| {entry['step']} | {entry['loss']:.4f} |" for entry in train["loss_history"]),
    ]


def _safety(summary: dict[str, Any]) -> list[str]:
    data = summary.get("data", {})
    lines = [
        "",
        "## Safety",
        "",
        f"Training-data filters: {', '.join(md(name) for name in data.get('safety_filters', [])) or 'none'}.",
    ]
    for split in ("train", "eval"):
        report = data.get(f"{split}_filter")
        if report and report["rows_in"]:
            lines.append(
                f"- {split}: {report['rows_in']} rows in, {report['rows_changed']} changed, "
                f"{report['rows_dropped']} dropped; findings: "
                + (", ".join(f"{md(k)} {v}" for k, v in report["counts"].items()) or "none")
            )
    canaries = data.get("canaries")
    if canaries:
        survivors = ", ".join(md(value) for value in canaries["survivors"])
        lines.append(
            f"- canaries: {canaries['planted']} fake identifiers planted in training prompts, "
            f"{canaries['survived_filters']} survived the filters"
            + (f" ({survivors})" if survivors else "")
        )
        probe = canaries.get("tuned_model")
        if probe:
            produced = ", ".join(md(value) for value in probe["produced_values"])
            lines.append(
                f"- canaries in the tuned model's output: {probe['produced']} of {probe['probed']} "
                "written out when the model continued the training text that preceded them"
                + (f" ({produced})" if produced else "")
            )
    for name, figures in data.get("filter_figures", {}).items():
        lines.append(f"- filter '{md(name)}' on its labelled test set: " + figures_text(figures))
    tuned_flags = summary.get("output_filter", {}).get("tuned")
    if tuned_flags:
        lines.append("- tuned model outputs: " + ", ".join(f"{md(k)} {v}" for k, v in tuned_flags.items()))
    return lines


def render_markdown(summary: dict[str, Any]) -> str:
    """report.md: the verdict first, then metrics, examples, training and safety."""
    lines = _overview(summary) + _metrics(summary) + _examples(summary)
    if "train" in summary:
        lines += _training(summary["train"])
    lines += _safety(summary)
    attribution = summary.get("data", {}).get("attribution")
    if attribution:
        lines += ["", "## Data attribution", "", markdown_block(attribution)]
    return "\n".join(lines) + "\n"
