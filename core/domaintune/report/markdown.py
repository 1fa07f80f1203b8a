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
from domaintune.report.wording import run_facts, safety_items, training_facts

EXAMPLE_CHARACTERS = 300


def _number(value: float) -> str:
    return f"{value:.3f}"


def _overview(summary: dict[str, Any]) -> list[str]:
    verdict = headline(summary, md)
    lines = [f"# domaintune run: {md(summary['domain'])}", "", f"**Verdict:** {verdict.text}", ""]
    lines.append(f"- {safety_sentence(summary, md)}")
    forgetting = forgetting_sentence(summary)
    if forgetting:
        lines.append(f"- {forgetting}")
    lines += ["", *(f"- {fact}" for fact in run_facts(summary, md))]
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
            f"| {kind} | {md(shortened(user_text(e), EXAMPLE_CHARACTERS))} | "
            + " | ".join(md(shortened(str(e[which]), EXAMPLE_CHARACTERS)) for which in ("reference", "base", "tuned"))
            + " |"
            for kind, e in examples
        ]
    return lines


def _training(train: dict[str, Any]) -> list[str]:
    return [
        "",
        "## Training",
        "",
        training_facts(train),
        *(f"- {md(change)}" for change in train.get("micro_batch_changes", [])),
        *(
            ["", "Held-out loss: " + ", ".join(f"step {e['step']} {e['loss']:.4f}" for e in held_out) + "."]
            if (held_out := train.get("eval_loss_history")) else []
        ),
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
    lines += [f"- {item}" for item in safety_items(summary, md)]
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
