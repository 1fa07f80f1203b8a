"""`tune data export FILE --domain D --to openai OUT.jsonl`: a data file as chat-format JSONL
for OpenAI-compatible fine-tuning services, after the domain's safety filters, each example
checked against that format's rules (roles, an assistant message last, non-empty content, a
per-example token limit); what fails a rule is dropped and counted by reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domaintune.data.filtering import apply_filters
from domaintune.data.prepare import load_source
from domaintune.domain import Message
from domaintune.files import write_jsonl_atomic
from domaintune.plugins import blame

ROLES = ("system", "user", "assistant")
DEFAULT_MAX_TOKENS = 65536
"""OpenAI's per-example limit for its fine-tuning of gpt-4o-mini and gpt-4.1 models."""


@dataclass
class ExportReport:
    written: int = 0
    tokens: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    filter_counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"written": self.written, "tokens": self.tokens, "dropped": dict(self.dropped),
                "filter_counts": self.filter_counts}


def conversation_problem(messages: list[Message]) -> str | None:
    """Why ``messages`` breaks the chat fine-tuning format, or None."""
    if not messages:
        return "no messages"
    for message in messages:
        if message.get("role") not in ROLES:
            return f"role {message.get('role')!r} is not one of {', '.join(ROLES)}"
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            return f"empty {message.get('role')} content"
    if messages[-1]["role"] != "assistant":
        return "the last message is not the assistant's"
    if not any(message["role"] == "user" for message in messages):
        return "no user message"
    return None


def export_openai(
    domain_name: str, source: Path, output: Path, model: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS, column_map: dict[str, str] | None = None, shape: str = "auto",
) -> ExportReport:
    """Filter, format, validate and write ``source`` as chat JSONL to ``output`` (whole or
    not at all). Tokens are counted with ``model``'s tokenizer (default: the embedded
    model's), chat template applied: a service's own count differs a little."""
    from domaintune.model import load_tokenizer, resolve_model
    from domaintune.settings import domain_parts
    from domaintune.plugins import get_domain

    domain = get_domain(domain_name)
    parts = domain_parts(domain)
    rows = load_source(domain, source, column_map, shape)
    filtered, report_in = apply_filters(rows, parts.data_filters)
    report = ExportReport(filter_counts=dict(report_in.counts))
    if report_in.rows_dropped:
        report.dropped["blocked by the safety filters"] = report_in.rows_dropped
    with blame(f"the formatter of domain {domain.name!r}"):
        conversations = parts.formatter(filtered.to_dict()) if len(filtered) else []
    tokenizer = load_tokenizer(resolve_model(model))
    valid = []
    for messages in conversations:
        problem = conversation_problem(messages)
        if problem:
            report.dropped[problem] += 1
        else:
            valid.append([{"role": m["role"], "content": m["content"]} for m in messages])
    counts = tokenizer.apply_chat_template(valid, tokenize=True, return_dict=False) if valid else []
    kept = []
    for messages, ids in zip(valid, counts):
        if len(ids) > max_tokens:
            report.dropped[f"over {max_tokens} tokens"] += 1
            continue
        report.tokens += len(ids)
        kept.append({"messages": messages})
    write_jsonl_atomic(output, kept)
    report.written = len(kept)
    return report
