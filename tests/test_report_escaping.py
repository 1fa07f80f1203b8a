"""The escaping helpers every page uses for values from data, and the user's text of an example."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import markdown_it
from domaintune.report.escaping import html_text, markdown_block, markdown_text
from domaintune.report.examples import shortened, user_text

ATTACKS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "[click](javascript:alert(1))",
    "![x](javascript:alert(1))",
    "<javascript:alert(1)>",
    "&lt;b&gt;entity&lt;/b&gt;",
    "**bold** _em_ ~~gone~~ `code` ``two``",
    "a | b \\| c",
    "one\ntwo\r\n# heading\u2028three",
    "\\",
    "_x_ __init__ snake_case",
]


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text += data


def rendered(markdown: str) -> Elements:
    """The HTML a permissive Markdown renderer (raw HTML on, tables on) makes of the text."""
    parser = Elements()
    parser.feed(markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown))
    return parser


def test_markdown_text_renders_as_the_same_characters_and_no_markup() -> None:
    for attack in ATTACKS:
        page = rendered(f"Label: {markdown_text(attack)}")
        assert page.tags == ["p"], attack
        assert page.text.strip() == "Label: " + re.sub(r"[\r\n\u2028]+", " ", attack), attack


def test_markdown_text_keeps_table_cells_apart() -> None:
    cells = [markdown_text(attack) for attack in ATTACKS]
    table = "| " + " | ".join(f"h{i}" for i in range(len(cells))) + " |\n"
    table += "|" + "---|" * len(cells) + "\n| " + " | ".join(cells) + " |\n"
    page = rendered(table)
    assert page.tags.count("td") == len(ATTACKS)
    assert set(page.tags) == {"table", "thead", "tbody", "tr", "th", "td"}


def test_names_with_inner_underscores_stay_readable() -> None:
    assert markdown_text("macro_f1") == "macro_f1"
    assert markdown_text("_x_") == r"\_x\_"


def test_markdown_block_shows_lines_as_they_are() -> None:
    text = "# Source\n```\n<img src=x onerror=alert(1)>\n````\n- item"
    page = rendered(markdown_block(text))
    assert page.tags == ["pre", "code"]
    assert page.text.rstrip("\n") == text


def test_html_text_escapes_tags_and_quotes() -> None:
    for attack in ATTACKS:
        parser = Elements()
        parser.feed(f'<p title="{html_text(attack)}">{html_text(attack)}</p>')
        assert parser.tags == ["p"]
        assert parser.text == attack


def test_user_text_cuts_the_last_user_turn_out_of_common_chat_templates() -> None:
    question = "Is this clause an overruling? The court overrules Smith."
    prompts = [
        f"<|im_start|>system\nYou answer.<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n",
        f"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        f"<|start_header_id|>user<|end_header_id|>\n\n{question}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
        f"<bos><start_of_turn>user\n{question}<end_of_turn>\n<start_of_turn>model\n",
        f"<s>[INST] {question} [/INST]",
    ]
    for prompt in prompts:
        assert user_text({"prompt": prompt}) == question, prompt
    assert user_text({"prompt": "<|weird|>" + question + "<|end|>"}) == question


def test_user_text_prefers_the_field_the_run_kept() -> None:
    row = {"prompt": "<|im_start|>user\nrendered<|im_end|>", "user_text": "the user's own words"}
    assert user_text(row) == "the user's own words"


def test_shortened_keeps_the_start_and_the_end() -> None:
    text = "start " + "x" * 1000 + " the question?"
    short = shortened(text, 100)
    assert len(short) <= 100 and short.startswith("start ") and short.endswith("the question?")
    assert shortened("short", 100) == "short"
