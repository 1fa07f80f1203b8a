"""Escaping of every value that comes from data, configs or plugins before it enters HTML or
Markdown: labels, prompts, answers, task and metric names, descriptions, config values.

Use ``html_text`` for HTML text and attribute values, ``markdown_text`` for Markdown inline text
and table cells, ``markdown_block`` for multi-line text shown as it is. Numbers formatted by the
report itself need none of them.
"""

from __future__ import annotations

import html
import re

# Characters that start Markdown inline markup or break a table row: code spans, emphasis,
# strikethrough, link and image brackets, raw HTML and autolinks, entities, table pipes, a
# heading's closing hashes, and the backslash itself (CommonMark lets a backslash escape any
# ASCII punctuation). An underscore between two letters or digits (``macro_f1``) can neither
# open nor close emphasis, so it stays and names read as they are.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*~\[\]<>&|#]|(?<![^\W_])_|_(?![^\W_]))")
# Line breaks would end a list item or a table row, or start a block (a heading, a fence).
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")


def one_line(value: object) -> str:
    """The value as one line of text: every kind of line break becomes a space."""
    return _LINE_BREAKS.sub(" ", str(value))


def html_text(value: object) -> str:
    """The value as HTML text, safe in element content and in quoted attribute values."""
    return html.escape(str(value), quote=True)


def markdown_text(value: object) -> str:
    """The value as literal Markdown inline text, on one line: safe in a paragraph, a list item,
    a heading and a table cell, and rendered as the same characters."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line(value))



def markdown_block(value: object) -> str:
    """A multi-line value (a pack's data attribution) as a fenced block: shown line for line,
    never read as Markdown or HTML. The fence is longer than any backtick run inside it."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence}text\n{text}\n{fence}"
