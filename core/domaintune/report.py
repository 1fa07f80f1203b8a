"""The run report in Markdown, rendered from the summary written to metrics.json."""

from __future__ import annotations

from typing import Any


def _number(value: float) -> str:
    return f"{value:.3f}"


def render_markdown(summary: dict[str, Any]) -> str:
    data, train = summary["data"], summary["train"]
    lines = [
        f"# domaintune run: {summary['domain']}",
        "",
        f"- Model: {summary['model']}",
        f"- Task: {summary['task_type']}"
        + (f" over labels {', '.join(summary['labels'])}" if summary["labels"] else ""),
        f"- Train data: {data['train_source']} ({data['train_rows']} rows)",
        f"- Eval data: {data['eval_source']} ({data['eval_rows']} rows)",
        "",
        "## Held-out metrics",
        "",
        "| metric | base | tuned | tuned - base | 95% interval |",
        "|---|---|---|---|---|",
    ]
    for name, base in summary["base"].items():
        tuned, change = summary["tuned"][name], summary["tuned_minus_base"][name]
        lines.append(
            f"| {name} | {_number(base)} | {_number(tuned)} | {change['difference']:+.3f} "
            f"| [{change['low']:+.3f}, {change['high']:+.3f}] |"
        )
    if "majority_baseline" in summary:
        majority = summary["majority_baseline"]
        lines += [
            "",
            f"Majority-class baseline (always {majority['label']!r}): accuracy "
            f"{_number(majority['accuracy'])}.",
        ]
    flips = summary["flips"]
    lines += [
        "",
        "The interval is a paired bootstrap over the held-out rows; when it excludes 0 the "
        "change is unlikely to be noise.",
        "",
        f"Rows the tuning fixed: {flips['fixed']}; rows it broke: {flips['broken']} "
        "(all rows are in predictions.jsonl).",
    ]
    for kind in ("fixed", "broken"):
        for example in summary["flip_examples"][kind]:
            prompt = " ".join(example["prompt"].split())[-200:]
            lines.append(
                f"- {kind}: ...{prompt} | reference {example['reference']!r}, base "
                f"{example['base']!r}, tuned {example['tuned']!r}"
            )
    lines += [
        "",
        "## Training",
        "",
        f"{train['steps']} steps, {train['epochs']:.2f} epochs, {train['seconds']:.0f} s, "
        f"{train['tokens']} real tokens ({train['tokens_per_second']:.0f} tokens/s)"
        + (", stopped by the time budget" if train["stopped_by_time_budget"] else "")
        + ".",
        "",
        "| step | loss |",
        "|---|---|",
        *(f"| {entry['step']} | {entry['loss']:.4f} |" for entry in train["loss_history"]),
        "",
        "## Safety",
        "",
        f"Training-data filters: {', '.join(data['safety_filters']) or 'none'}.",
    ]
    for split in ("train", "eval"):
        report = data[f"{split}_filter"]
        if report["rows_in"]:
            lines.append(
                f"- {split}: {report['rows_in']} rows in, {report['rows_changed']} changed, "
                f"{report['rows_dropped']} dropped; findings: "
                + (", ".join(f"{k} {v}" for k, v in report["counts"].items()) or "none")
            )
    tuned_flags = summary["output_filter"]["tuned"]
    if tuned_flags:
        lines.append(
            "- tuned model outputs: " + ", ".join(f"{k} {v}" for k, v in tuned_flags.items())
        )
    if data.get("attribution"):
        lines += ["", "## Data attribution", "", data["attribution"]]
    return "\n".join(lines) + "\n"
