"""The self-contained HTML page of `tune compare`: one table of metrics, every pair's paired
interval, and the rows where the models disagree. Every value from data goes through html_text."""

from __future__ import annotations

from typing import Any

from domaintune.evaluation.compare import MAX_DISAGREEMENTS_SHOWN
from domaintune.report.escaping import html_text as h

STYLE = """body { font: 16px/1.5 system-ui, sans-serif; max-width: 70rem; margin: 0 auto; padding: 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0; } td, th { border: 1px solid #d9dee5;
padding: 0.2rem 0.5rem; vertical-align: top; overflow-wrap: anywhere; } th { background: #f0f2f5; }
.better { color: #15803d; font-weight: 600; } .worse { color: #b91c1c; font-weight: 600; }
.scroll { overflow-x: auto; }"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def render_compare_page(result: dict[str, Any]) -> str:
    models = list(result["metrics"])
    metric_names = list(next(iter(result["metrics"].values())))
    metrics = _table(
        ["model", *map(h, metric_names)],
        [[h(model), *(f"{result['metrics'][model][m]:.4f}" for m in metric_names)] for model in models],
    )
    pairs = _table(
        ["second − first", "metric", "difference", "95% paired interval"],
        [
            [
                f"{h(p['second'])} − {h(p['first'])}", h(p["metric"]),
                f'<span class="{_tone(p)}">{p["difference"]:+.4f}</span>', f"[{p['low']:+.4f}, {p['high']:+.4f}]",
            ]
            for p in result["pairs"]
        ],
    )
    shown = result["disagreements"][:MAX_DISAGREEMENTS_SHOWN]
    rows = _table(
        ["row", "text", "reference", *map(h, models)],
        [[str(d["row"]), h(d["user_text"]), h(d["reference"]), *(h(d["answers"][m]) for m in models)] for d in shown],
    )
    folders = "".join(f"<li>{h(folder)}</li>" for folder in result["folders"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>domaintune compare: {h(result['domain'])}</title><style>{STYLE}</style></head><body>
<h1>domaintune compare: {h(result['domain'])}</h1>
<p>{result['rows']} rows, the same in every folder:</p><ul>{folders}</ul>
<h2>Metrics</h2>{metrics}
<h2>Pairs</h2><p>An interval that excludes zero is a difference the rows support (paired
bootstrap, 1000 resamples of the same rows for both models).</p>{pairs}
<h2>Rows where they disagree ({len(result['disagreements'])}; first {len(shown)} shown)</h2>{rows}
</body></html>
"""


def _tone(pair: dict[str, Any]) -> str:
    return "better" if pair["low"] > 0 else "worse" if pair["high"] < 0 else ""
