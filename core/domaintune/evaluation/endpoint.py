"""`tune eval --endpoint URL --model NAME`: a model behind an OpenAI-compatible API (`tune
serve`, llama.cpp's server, vLLM, a hosted fine-tune) scored on held-out files.

Requests go through the official `openai` client, which already retries 429, 5xx and dropped
connections with exponential backoff (honouring Retry-After); we bound the concurrency and
keep every answer in a response cache (responses.jsonl in the eval folder), so an interrupted
evaluation resumes without asking for any row twice. The domain's data filters run on every
prompt before it leaves the machine (on unless ``filter_prompts`` is off). The API key is read
from an environment variable and never written anywhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domaintune.errors import ConfigError, EndpointError
from domaintune.evaluation.external import EvalRequest, default_output_dir
from domaintune.evaluation.heldout import class_labels
from domaintune.evaluation.heldout_files import check_files, eval_names, load_heldout_file, write_eval_folder
from domaintune.evaluation.scoring import apply_output_filters
from domaintune.evaluation.single import prediction_rows, single_model_page, single_model_summary
from domaintune.plugins import blame
from domaintune.progress import Reporter, SilentReporter

CACHE_FILE = "responses.jsonl"
TOP_LOGPROBS = 20
LABEL_TOKENS = 8
"""Answer tokens asked for in a classification domain: enough for a label, no essay."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    model: str
    api_key_env: str | None = None
    concurrency: int = 4
    timeout: float = 60.0
    retries: int = 4

    def api_key(self) -> str:
        if self.api_key_env is None:
            return "none"  # the client insists on a key; a local server ignores it
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(
                f"--api-key-env {self.api_key_env}: that environment variable is not set or empty; "
                f"export {self.api_key_env}=<your key> first (the key is never written anywhere)."
            )
        return key


class ResponseCache:
    """Answers by request, one JSON line each, appended and synced as they arrive; a torn
    last line (a killed process) is ignored on reading, so what is read is whole."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.answers: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.answers[entry["key"]] = entry["answer"]

    @staticmethod
    def key(body: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def add(self, key: str, answer: dict[str, Any]) -> None:
        with self._lock:
            self.answers[key] = answer
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                if file.tell() and not self._ends_with_newline():
                    file.write("\n")  # a torn line left by a killed run stays apart
                file.write(json.dumps({"key": key, "answer": answer}, ensure_ascii=False) + "\n")
                file.flush()
                os.fsync(file.fileno())

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as file:
            file.seek(-1, os.SEEK_END)
            return file.read(1) == b"\n"


def _answer_of(response: Any) -> dict[str, Any]:
    choice = response.choices[0]
    content = choice.logprobs.content if choice.logprobs and choice.logprobs.content else None
    top = [[entry.token, entry.logprob] for entry in content[0].top_logprobs] if content else None
    return {"text": choice.message.content or "", "top_logprobs": top or None}


async def _ask_all(endpoint: Endpoint, bodies: list[dict[str, Any]], cache: ResponseCache, advance: Any) -> None:
    try:
        from openai import APIError, AsyncOpenAI
    except ImportError as error:
        raise ConfigError(
            "--endpoint needs the openai client: pip install 'domaintune[eval]' (or openai>=1.40)."
        ) from error
    client = AsyncOpenAI(
        base_url=endpoint.url, api_key=endpoint.api_key(), timeout=endpoint.timeout, max_retries=endpoint.retries
    )
    gate = asyncio.Semaphore(endpoint.concurrency)

    async def ask(body: dict[str, Any]) -> None:
        key = cache.key(body)
        if key in cache.answers:
            return
        async with gate:
            response = await client.chat.completions.create(**body)
        cache.add(key, _answer_of(response))
        advance(1)

    try:
        results = await asyncio.gather(*(ask(body) for body in bodies), return_exceptions=True)
    finally:
        await client.close()
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:
        first = failures[0]
        kind = type(first).__name__ if not isinstance(first, APIError) else f"{type(first).__name__} ({first.message})"
        raise EndpointError(
            f"--endpoint {endpoint.url}: {len(failures)} of {len(bodies)} requests failed after "
            f"{endpoint.retries} retries with --timeout {endpoint.timeout:g}s (first: {kind}). "
            f"The {len(cache.answers)} answers received are kept in {cache.path}; run the same "
            "command again to resume, asking only for the rows still missing."
        )


def read_label(answer: dict[str, Any], labels: list[str]) -> tuple[str, str]:
    """(label, how it was read): from the first token's top_logprobs where a label starts
    with one of them ("logprobs"), else from the text ("text"), else ("", "unparseable")."""
    best: dict[str, float] = {}
    for token, logprob in answer.get("top_logprobs") or []:
        piece = token.strip().lower()
        if not piece:
            continue
        for label in labels:
            if label.lower().startswith(piece) and logprob > best.get(label, float("-inf")):
                best[label] = logprob
    if best:
        return max(best, key=best.__getitem__), "logprobs"
    text = answer["text"].strip().lower()
    for label in sorted(labels, key=len, reverse=True):
        if re.match(rf"[\W_]*{re.escape(label.lower())}(?![\w])", text):
            return label, "text"
    return "", "unparseable"


def evaluate_endpoint(
    request: EvalRequest, endpoint: Endpoint, reporter: Reporter | None = None
) -> dict[str, dict[str, Any]]:
    """Score the endpoint's model on each file; writes OUTPUT_DIR/<file stem>/ (with its
    response cache). Returns {name: metrics}."""
    from domaintune.settings import resolve_settings

    reporter = reporter or SilentReporter()
    settings = resolve_settings({**(request.options or {}), "domain": request.domain}, for_run=False)
    check_files(request.files)
    endpoint.api_key()  # a missing key fails before any row is read
    config, domain, parts = settings.config, settings.domain, settings.parts
    output_dir = request.output_dir or default_output_dir(domain.name)
    filters = parts.data_filters if request.filter_prompts else []
    results = {}
    for name, path in zip(eval_names(request.files), request.files):
        rows, info = load_heldout_file(domain, config, Path(path), filters)
        info["prompt_filters"] = "on" if request.filter_prompts else "off (--no-prompt-filters)"
        with blame(f"the formatter of domain {domain.name!r}"):
            conversations = parts.formatter(rows.to_dict())
        references = [conversation[-1]["content"].strip() for conversation in conversations]
        labels = class_labels(domain, rows) if domain.task_type == "classification" else []
        bodies = [_body(endpoint.model, conversation[:-1], bool(labels), domain.max_new_tokens)
                  for conversation in conversations]
        cache = ResponseCache(output_dir / name / CACHE_FILE)
        cached = sum(cache.key(body) in cache.answers for body in bodies)
        with reporter.progress(f"Asking {endpoint.url} ({cached} of {len(bodies)} cached)",
                               total=len(bodies) - cached) as advance:
            asyncio.run(_ask_all(endpoint, bodies, cache, advance))
        answers = [cache.answers[cache.key(body)] for body in bodies]
        users = [_last_user(conversation) for conversation in conversations]
        if labels:
            read = [read_label(answer, labels) for answer in answers]
            predictions, methods = [label for label, _ in read], [method for _, method in read]
            output_counts: dict[str, int] = {}
        else:
            predictions, output_counts = apply_output_filters(
                parts.output_filters, [answer["text"].strip() for answer in answers], users
            )
            methods = ["text"] * len(answers)
        columns = {column: rows[column] for column in {m.group_by for m in parts.metrics if m.group_by}
                   if column in rows.column_names}
        summary = {
            "domain": domain.name,
            "task_type": domain.task_type,
            "model": endpoint.model,
            "source": f"endpoint {endpoint.url}",
            "labels": labels,
            "data": info,
            "method": {kind: methods.count(kind) for kind in ("logprobs", "text", "unparseable") if kind in methods},
            "unparseable_rows": [i + 1 for i, method in enumerate(methods) if method == "unparseable"],
            "requests": {"asked": len(bodies) - cached, "from_cache": cached},
            "output_filter": output_counts,
            **single_model_summary(parts.metrics, predictions, references, columns),
        }
        rows_out = prediction_rows(
            users, [json.dumps(c[:-1], ensure_ascii=False) for c in conversations], references, predictions,
            {"method": methods, "answer_text": [answer["text"] for answer in answers]},
        )
        write_eval_folder(output_dir / name, summary, rows_out, single_model_page(summary, rows_out))
        summary["output_dir"] = str(output_dir / name)
        results[name] = summary
    return results


def _body(model: str, messages: list[dict[str, str]], classification: bool, max_new_tokens: int) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": messages, "temperature": 0}
    if classification:
        return body | {"max_tokens": LABEL_TOKENS, "logprobs": True, "top_logprobs": TOP_LOGPROBS}
    return body | {"max_tokens": max_new_tokens}


def _last_user(messages: list[dict[str, str]]) -> str:
    return next((m["content"].strip() for m in reversed(messages) if m.get("role") == "user"), "")
