"""One model's figures on one held-out file (`tune eval --model` and `--endpoint`): the
domain's metrics, per-task figures, the rows, and a self-contained report page."""

from __future__ import annotations

from typing import Any

from domaintune.domain import Metric
from domaintune.errors import PluginError
from domaintune.evaluation.scoring import Columns, compute_metrics, metrics_by_group
from domaintune.plugins import blame
from domaintune.report.escaping import html_text as h

MAX_ROWS_SHOWN = 50


def single_model_summary(
    metrics: list[Metric], predictions: list[str], references: list[str], columns: Columns
) -> dict[str, Any]:
    """{"metrics", "by_group"} and, for a metric that raised, its message under "metric_errors"."""
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    for metric in metrics:
        try:
            with blame(f"metric {metric.name!r} (hook make_metrics)"):
                values |= compute_metrics([metric], predictions, references, columns)
        except PluginError as error:
            errors[metric.name] = str(error)
    summary: dict[str, Any] = {
        "metrics": values,
        "by_group": metrics_by_group([m for m in metrics if m.name in values], predictions, references, columns),
    }
    if errors:
        summary["metric_errors"] = errors
    return summary


def prediction_rows(
    user_texts: list[str], prompts: list[str], references: list[str], predictions: list[str],
    extra: dict[str, list[Any]] | None = None,
) -> list[dict[str, Any]]:
    """predictions.jsonl rows: `tune compare` matches rows on user_text and reference."""
    extra = extra or {}
    return [
        {"user_text": u, "prompt": p, "reference": r, "model": a, **{k: v[i] for k, v in extra.items()}}
        for i, (u, p, r, a) in enumerate(zip(user_texts, prompts, references, predictions))
    ]


def single_model_page(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """report.html for one model: every value from data goes through html_text."""
    metric_rows = "".join(
        f"<tr><td>{h(name)}</td><td>{value:.4f}</td></tr>" for name, value in summary["metrics"].items()
    )
    facts = "".join(
        f"<li>{h(key)}: {h(value)}</li>"
        for key, value in summary.get("method", {}).items()
    )
    wrong = [row for row in rows if row["model"].strip() != row["reference"].strip()][:MAX_ROWS_SHOWN]
    examples = "".join(
        f"<tr><td>{h(row['user_text'])}</td><td>{h(row['reference'])}</td><td>{h(row['model'])}</td></tr>"
        for row in wrong
    )
    data = summary["data"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>domaintune eval: {h(summary['domain'])}</title>
<style>body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 0 auto; padding: 1rem; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #d9dee5; padding: 0.2rem 0.5rem;
vertical-align: top; overflow-wrap: anywhere; }}</style></head><body>
<h1>domaintune eval: {h(summary['domain'])}</h1>
<p>{h(summary['model'])} on {h(data['eval_source'])} ({data['eval_rows']} rows);
safety filters on the prompts: {h(", ".join(data['safety_filters']) or "none")}.</p>
<h2>Metrics</h2><table><tr><th>metric</th><th>value</th></tr>{metric_rows}</table>
{f"<h2>How answers were read</h2><ul>{facts}</ul>" if facts else ""}
<h2>Wrong answers (first {MAX_ROWS_SHOWN})</h2>
<table><tr><th>row</th><th>reference</th><th>answer</th></tr>{examples}</table>
</body></html>
"""
