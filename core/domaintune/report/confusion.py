"""Confusion matrices of a classification run, base and tuned side by side, counted from the
prediction rows and drawn as HTML tables shaded by each reference label's share."""

from __future__ import annotations

from collections import Counter
from typing import Any

from domaintune.report.escaping import html_text as h

MAX_LABELS = 12
"""Beyond this many labels a matrix no longer fits a page; the per-label figures do."""


def _labels(summary: dict[str, Any], predictions: list[dict[str, Any]]) -> list[str]:
    """The run's labels, then any other answer the rows hold, in order of first appearance."""
    labels = [str(label).strip() for label in summary.get("labels") or []]
    for row in predictions:
        for key in ("reference", "base", "tuned"):
            answer = str(row[key]).strip()
            if answer not in labels:
                labels.append(answer)
    return labels


def _matrix(which: str, labels: list[str], predictions: list[dict[str, Any]]) -> str:
    counts = Counter((str(r["reference"]).strip(), str(r[which]).strip()) for r in predictions)
    header = "".join(f"<th>{h(label)}</th>" for label in labels)
    rows = []
    for reference in labels:
        total = sum(counts[reference, answer] for answer in labels)
        cells = []
        for answer in labels:
            count = counts[reference, answer]
            share = count / total if total else 0.0
            colour = "#fff" if share > 0.6 else "#1f2933"
            cells.append(
                f'<td class="num{" diagonal" if answer == reference else ""}" '
                f'style="background: rgba(37, 99, 235, {share:.2f}); color: {colour}">{count}</td>'
            )
        rows.append(f"<tr><th>{h(reference)}</th>{''.join(cells)}</tr>")
    return (
        f'<div class="scroll"><table class="matrix"><caption>{which} model</caption>'
        f'<tr><th>reference \\ answer</th>{header}</tr>{"".join(rows)}</table></div>'
    )


def confusion_section(summary: dict[str, Any], predictions: list[dict[str, Any]] | None) -> str:
    """The section, or "" for a generation run, no rows, or too many labels to draw."""
    if summary.get("task_type") != "classification" or not predictions:
        return ""
    labels = _labels(summary, predictions)
    if len(labels) > MAX_LABELS:
        return ""
    return (
        '<section id="confusion"><h2>Confusion matrices</h2>'
        "<p>Rows are the reference labels, columns the model's answers; the outlined diagonal "
        "is right, and a cell's shade is its share of the row.</p>"
        f'<div class="matrices">{_matrix("base", labels, predictions)}{_matrix("tuned", labels, predictions)}</div>'
        "</section>"
    )
