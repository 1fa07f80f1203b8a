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
        f"- Train data: {data['train_source']} ({data['train_rows']} rows"
        + (f", at most {data['max_rows_per_task']} per task)" if data.get("max_rows_per_task") else ")"),
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
    general = summary["general_knowledge"]
    lines += [
        "",
        f"General knowledge outside the domain ({general['rows']} two-choice completions; a drop "
        f"means the tuning made the model forget): base {_number(general['base'])}, tuned "
        f"{_number(general['tuned'])} ({general['tuned'] - general['base']:+.3f}).",
    ]
    for column, groups in summary.get("by_group", {}).items():
        names = list(next(iter(groups.values()))["base"])
        lines += [
            "",
            f"### By {column} (headline figures above are means over {len(groups)} {column}s)",
            "",
            f"| {column} | rows | " + " | ".join(f"{n} base | {n} tuned" for n in names)
            + " | majority-class accuracy |",
            "|---|---|" + "---|---|" * len(names) + "---|",
        ]
        for group, entry in groups.items():
            majority = entry.get("majority_baseline")
            lines.append(
                f"| {group} | {entry['rows']} | "
                + " | ".join(f"{_number(entry['base'][n])} | {_number(entry['tuned'][n])}" for n in names)
                + f" | {_number(majority['accuracy']) + ' (' + majority['label'] + ')' if majority else ''} |"
            )
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
        + (
            f", stopped early (best held-out loss {train['best_eval_loss']:.4f})"
            if train.get("stopped_early") else ""
        )
        + ".",
        *(f"- {change}" for change in train.get("micro_batch_changes", [])),
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
    canaries = data.get("canaries")
    if canaries:
        lines.append(
            f"- canaries: {canaries['planted']} fake identifiers planted in training prompts, "
            f"{canaries['survived_filters']} survived the filters"
            + (f" ({', '.join(canaries['survivors'])})" if canaries["survivors"] else "")
        )
        probe = canaries.get("tuned_model")
        if probe:
            lines.append(
                f"- canaries in the tuned model's output: {probe['produced']} of {probe['probed']} "
                "written out when the model continued the training text that preceded them"
                + (f" ({', '.join(probe['produced_values'])})" if probe["produced_values"] else "")
            )
    for name, figures in data.get("filter_figures", {}).items():
        lines.append(f"- filter {name!r} on its labelled test set: " + _figures_text(figures))
    tuned_flags = summary["output_filter"]["tuned"]
    if tuned_flags:
        lines.append(
            "- tuned model outputs: " + ", ".join(f"{k} {v}" for k, v in tuned_flags.items())
        )
    if data.get("attribution"):
        lines += ["", "## Data attribution", "", data["attribution"]]
    return "\n".join(lines) + "\n"


def _figures_text(figures: dict[str, Any]) -> str:
    """``{"recall": 0.99, "recall_by_type": {"SSN": 1.0}}`` -> ``recall 0.990; recall_by_type SSN 1.000``."""

    def value(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        if isinstance(v, dict):
            return ", ".join(f"{k} {value(x)}" for k, x in v.items())
        return "-" if v is None else str(v)

    return "; ".join(f"{key.replace('_', ' ')} {value(v)}" for key, v in figures.items())


def _png_base64(figure: Any) -> str:
    import base64
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def render_charts(summary: dict[str, Any]) -> dict[str, str]:
    """The loss curve and the base-vs-tuned metrics chart, as base64 PNGs."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    import matplotlib.pyplot as plt

    charts = {}
    history = summary["train"]["loss_history"]
    figure, axis = plt.subplots(figsize=(6, 3.2))
    axis.plot([entry["step"] for entry in history], [entry["loss"] for entry in history], marker=".")
    axis.set_xlabel("step")
    axis.set_ylabel("training loss (answer tokens)")
    axis.set_title("Loss curve")
    axis.grid(alpha=0.3)
    charts["loss_curve"] = _png_base64(figure)
    plt.close(figure)

    names = list(summary["base"])
    figure, axis = plt.subplots(figsize=(6, 3.2))
    positions = range(len(names))
    axis.bar([p - 0.2 for p in positions], [summary["base"][n] for n in names], width=0.4, label="base")
    axis.bar([p + 0.2 for p in positions], [summary["tuned"][n] for n in names], width=0.4, label="tuned")
    if "majority_baseline" in summary and "accuracy" in names:
        axis.axhline(summary["majority_baseline"]["accuracy"], color="grey", linestyle="--", label="majority class")
    axis.set_xticks(list(positions), names)
    axis.set_ylim(0, 1)
    axis.set_title("Held-out metrics: base vs tuned")
    axis.legend()
    charts["metrics"] = _png_base64(figure)
    plt.close(figure)
    return charts


def render_html(summary: dict[str, Any], config: dict[str, Any]) -> str:
    """A self-contained report (charts embedded), readable in any browser, offline."""
    import html

    import markdown_it

    charts = render_charts(summary)
    body = markdown_it.MarkdownIt("commonmark").enable("table").render(render_markdown(summary))
    config_rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in config.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>domaintune run: {html.escape(summary['domain'])}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }}
img {{ max-width: 100%; }}
</style></head><body>
<img alt="Base vs tuned metrics" src="data:image/png;base64,{charts['metrics']}">
<img alt="Training loss curve" src="data:image/png;base64,{charts['loss_curve']}">
{body}
<h2>Configuration</h2>
<table>{config_rows}</table>
</body></html>
"""


def render_model_card(summary: dict[str, Any], base_model: str) -> str:
    """README.md for the saved adapter, with Hugging Face model-card front matter."""
    import yaml

    front_matter = {
        "library_name": "peft",
        "base_model": base_model,
        "pipeline_tag": "text-generation",
        "tags": ["domaintune", summary["domain"], "lora"],
        "model-index": [
            {
                "name": f"domaintune-{summary['domain']}",
                "results": [
                    {
                        "task": {"type": "text-generation"},
                        "dataset": {"name": summary["data"]["eval_source"], "type": "custom"},
                        "metrics": [
                            {"type": name, "value": round(value, 4), "name": f"held-out {name}"}
                            for name, value in summary["tuned"].items()
                        ],
                    }
                ],
            }
        ],
    }
    return (
        "---\n" + yaml.safe_dump(front_matter, sort_keys=False) + "---\n\n"
        + f"Adapter fine-tuned by domaintune on the {summary['domain']} domain.\n\n"
        + render_markdown(summary).split("\n", 1)[1]
    )
