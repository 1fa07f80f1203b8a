"""The run report as one self-contained HTML page (report.html): verdict first, then charts,
examples, training, safety and configuration. No external resources; readable at phone width.

The page is written directly, not converted from Markdown, and every value from data, configs
or plugins goes through ``html_text``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domaintune.report import charts
from domaintune.report.confusion import confusion_section
from domaintune.report.escaping import html_text as h
from domaintune.report.examples import shortened, user_text
from domaintune.report.verdict import forgetting_sentence, headline, safety_sentence
from domaintune.report.wording import run_facts, safety_items, training_facts

STYLE = """
:root { color-scheme: light; --accent: #2563eb; --muted: #5b6472; --line: #d9dee5; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2933;
       margin: 0; background: #f6f7f9; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
          padding: 0.8rem 1rem; margin: 0 0 1rem; }
h1 { font-size: 1.5rem; margin: 0.5rem 0; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 0.2rem 0 0.6rem; }
h3 { font-size: 1rem; margin: 0.8rem 0 0.4rem; }
p, li { overflow-wrap: anywhere; }
.meta { color: var(--muted); margin: 0 0 1rem; }
.verdict { border-left: 6px solid #6b7280; }
.verdict.better { border-left-color: #16a34a; }
.verdict.worse { border-left-color: #dc2626; }
.verdict .headline { font-size: 1.15rem; font-weight: 600; margin: 0.2rem 0 0.5rem; }
.verdict ul { margin: 0; padding-left: 1.2rem; }
img { display: block; max-width: 100%; height: auto; margin: 0.5rem 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.92rem; }
td, th { border: 1px solid var(--line); padding: 0.25rem 0.55rem; text-align: left;
         vertical-align: top; }
th { background: #f0f2f5; }
td.num, .numbers td:not(:first-child) { text-align: right; white-space: nowrap;
  font-variant-numeric: tabular-nums; }
.matrices { display: flex; flex-wrap: wrap; gap: 1.5rem; }
.matrix td.diagonal { outline: 2px solid #16a34a; outline-offset: -2px; }
.example { border-top: 1px solid var(--line); padding: 0.6rem 0; }
.example .text { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f7f9;
                 border-radius: 4px; padding: 0.4rem 0.6rem; margin: 0.3rem 0; }
.tag { display: inline-block; font-size: 0.8rem; font-weight: 600; border-radius: 4px;
       padding: 0 0.4rem; color: #fff; background: #16a34a; }
.tag.broken { background: #dc2626; }
.answers { margin: 0; color: var(--muted); }
.answers b { color: #1f2933; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.85rem; }
@media (max-width: 40rem) { main { padding: 0.5rem; } section { padding: 0.6rem; } }
"""


def _table(header: Iterable[str], rows: Iterable[Iterable[str]], numbers: bool = False) -> str:
    """A table whose cells are already escaped HTML; it scrolls sideways on narrow screens.
    With ``numbers``, every column but the first holds figures: right-aligned, never wrapped."""
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    table = '<table class="numbers">' if numbers else "<table>"
    return f'<div class="scroll">{table}<tr>{head}</tr>{body}</table></div>'


def _image(alt: str, png: str) -> str:
    return f'<img alt="{h(alt)}" src="data:image/png;base64,{png}">'


def _verdict(summary: dict[str, Any]) -> str:
    verdict = headline(summary, h)
    items = [safety_sentence(summary, h)]
    forgetting = forgetting_sentence(summary)
    if forgetting:
        items.append(forgetting)
    return (
        f'<section id="verdict" class="verdict {verdict.kind}"><p class="headline">{verdict.text}</p>'
        "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul></section>"
    )


def _metrics(summary: dict[str, Any]) -> str:
    rows = [
        [h(name), f"{base:.3f}", f"{summary['tuned'][name]:.3f}",
         f"{change['difference']:+.3f}", f"[{change['low']:+.3f}, {change['high']:+.3f}]"]
        for name, base in summary["base"].items()
        for change in [summary["tuned_minus_base"][name]]
    ]
    notes = []
    if "majority_baseline" in summary:
        majority = summary["majority_baseline"]
        notes.append(
            f"Majority-class baseline (always &lsquo;{h(majority['label'])}&rsquo;): accuracy "
            f"{majority['accuracy']:.3f}."
        )
    notes.append(
        "The interval is a paired bootstrap over the held-out rows; when it excludes 0 the "
        "change is unlikely to be noise."
    )
    return (
        '<section id="metrics"><h2>Held-out metrics</h2>'
        + _image("Held-out metrics, base and tuned, and the change with its 95% interval",
                 charts.metrics_chart(summary))
        + _table(["metric", "base", "tuned", "tuned - base", "95% interval"], rows, numbers=True)
        + "".join(f"<p>{note}</p>" for note in notes)
        + "</section>"
    )


def _groups(summary: dict[str, Any]) -> str:
    parts = []
    for column, groups in summary.get("by_group", {}).items():
        if not groups:
            continue
        names = list(next(iter(groups.values()))["base"])
        header = [h(column), "rows", *(f"{h(n)} {which}" for n in names for which in ("base", "tuned")),
                  "majority class"]
        rows = [
            [h(group), str(entry["rows"]),
             *(f"{entry[which][n]:.3f}" for n in names for which in ("base", "tuned")),
             (f"{entry['majority_baseline']['accuracy']:.3f} ({h(entry['majority_baseline']['label'])})"
              if "majority_baseline" in entry else "")]
            for group, entry in groups.items()
        ]
        parts.append(
            f"<h3>By {h(column)} ({len(groups)} groups; the headline figures are their means)</h3>"
            + _image(f"Base and tuned by {column}", charts.groups_chart(column, groups))
            + _table(header, rows, numbers=True)
        )
    return f'<section id="groups"><h2>Per task</h2>{"".join(parts)}</section>' if parts else ""


SHORT_ANSWER = 40
"""Answers up to this long (labels) sit on one line; longer ones (generation) get a block each."""


def _answers(example: dict[str, Any]) -> str:
    answers = [(which, str(example[which])) for which in ("reference", "base", "tuned")]
    if all(len(answer) <= SHORT_ANSWER for _, answer in answers):
        return '<p class="answers">' + " · ".join(f"{which} <b>{h(answer)}</b>" for which, answer in answers) + "</p>"
    return "".join(
        f'<p class="answers">{which}</p><div class="text">{h(shortened(answer))}</div>' for which, answer in answers
    )


def _examples(summary: dict[str, Any]) -> str:
    flips = summary.get("flips")
    if flips is None:
        return ""
    cards = [
        f'<div class="example"><span class="tag {kind}">{kind}</span>'
        f'<div class="text">{h(shortened(user_text(example)))}</div>{_answers(example)}</div>'
        for kind in ("fixed", "broken")
        for example in summary["flip_examples"][kind]
    ]
    return (
        '<section id="examples"><h2>Examples</h2>'
        f"<p>The tuning fixed {flips['fixed']} rows and broke {flips['broken']} "
        "(every row is in predictions.jsonl).</p>" + "".join(cards) + "</section>"
    )


def _training(summary: dict[str, Any]) -> str:
    train = summary.get("train")
    if not train:
        return ""
    changes = "".join(f"<li>{h(change)}</li>" for change in train.get("micro_batch_changes", []))
    chart = _image("Loss curve", charts.loss_chart(train)) if train["loss_history"] else ""
    return (
        f'<section id="training"><h2>Training</h2>{chart}<p>{training_facts(train)}</p>'
        + (f"<ul>{changes}</ul>" if changes else "") + "</section>"
    )


def _safety(summary: dict[str, Any]) -> str:
    filters = ", ".join(h(name) for name in summary.get("data", {}).get("safety_filters", [])) or "none"
    items = "".join(f"<li>{item}</li>" for item in safety_items(summary, h))
    return (
        f'<section id="safety"><h2>Safety</h2><p>Training-data filters: {filters}.</p>'
        + (f"<ul>{items}</ul>" if items else "") + "</section>"
    )


def _data(summary: dict[str, Any]) -> str:
    attribution = summary.get("data", {}).get("attribution")
    return (
        '<section id="data"><h2>Model and data</h2><ul>'
        + "".join(f"<li>{fact}</li>" for fact in run_facts(summary, h)) + "</ul>"
        + (f"<h3>Data attribution</h3><pre>{h(attribution)}</pre>" if attribution else "")
        + "</section>"
    )


def render_html(
    summary: dict[str, Any], config: dict[str, Any], predictions: list[dict[str, Any]] | None = None
) -> str:
    """report.html; ``predictions`` (the rows of predictions.jsonl) add the confusion matrices
    of a classification run."""
    title = f"domaintune run: {h(summary['domain'])}"
    subtitle = h(summary["model"]) + (f" · {h(summary['task_type'])}" if "task_type" in summary else "")
    config_rows = [[h(key), h(value)] for key, value in config.items()]
    sections = [
        _verdict(summary),
        _metrics(summary),
        confusion_section(summary, predictions),
        _groups(summary),
        _training(summary),
        _examples(summary),
        _safety(summary),
        _data(summary),
        f'<section id="config"><h2>Configuration</h2>{_table(["setting", "value"], config_rows)}</section>',
    ]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{STYLE}</style></head><body><main>
<h1>{title}</h1>
<p class="meta">{subtitle}</p>
{"".join(section for section in sections if section)}
</main></body></html>
"""
