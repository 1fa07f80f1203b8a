"""The run's report: report.md, a self-contained report.html and the saved model's card, all
rendered from the summary written to metrics.json.

``html_text`` and ``markdown_text`` (domaintune.report.escaping) are the escaping helpers for
any other page that shows values from data, configs or plugins.
"""

from domaintune.report.escaping import html_text, markdown_text
from domaintune.report.html import render_html
from domaintune.report.markdown import render_markdown
from domaintune.report.model_card import render_model_card

__all__ = ["html_text", "markdown_text", "render_html", "render_markdown", "render_model_card"]
