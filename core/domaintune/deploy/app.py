"""The HTTP routes of `tune serve` (FastAPI): /v1/models, /v1/chat/completions (plain and
server-sent events), /health; API-key checks and the one error shape. The model work is the
engine's, the filtering the guard's; this module only turns requests into jobs and updates
into responses.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from domaintune.deploy.engine import Engine, EngineBusy, Job, Sampling, Update
from domaintune.deploy.guard import AnswerGuard
from domaintune.deploy.protocol import (
    APIError,
    ChatCompletionRequest,
    chunk_body,
    completion_body,
    parse_chat_request,
    sse,
)
from domaintune.deploy.runmodel import RunModel

log = logging.getLogger("domaintune.serve")

DEFAULT_MAX_TOKENS = 256
RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class ServeOptions:
    api_key: str | None = None
    filter_input: bool = False
    log_requests: bool = False


@dataclass
class Prepared:
    """A validated request turned into what the engine needs."""

    prompt: str
    prompt_ids: list[int]
    sampling: Sampling
    input_findings: dict[str, int]


def create_app(run_model: RunModel, engine: Engine, options: ServeOptions) -> FastAPI:
    app = FastAPI(title="domaintune", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        error = APIError(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}.", type=kind)
        return JSONResponse(error.body(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("request failed: %s: %s", type(exc).__name__, exc)
        error = APIError(500, f"The server failed on this request ({type(exc).__name__}).", type="server_error")
        return JSONResponse(error.body(), status_code=500)

    @app.middleware("http")
    async def check_key(request: Request, call_next: Any) -> Any:
        if options.api_key and request.url.path.startswith("/v1/"):
            header = request.headers.get("authorization", "")
            given = header[len("Bearer "):] if header.startswith("Bearer ") else ""
            # Constant time: the comparison does not reveal how much of a guess was right.
            if not hmac.compare_digest(given.encode(), options.api_key.encode()):
                error = APIError(
                    401, "Missing or wrong API key: send the header `Authorization: Bearer KEY`.",
                    type="authentication_error", code="invalid_api_key",
                )
                return JSONResponse(error.body(), status_code=401)
        return await call_next(request)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok", "model": run_model.name, "waiting": engine.waiting,
            "cancelled": engine.cancelled, "batch_sizes": dict(engine.batch_sizes),
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": run_model.name, "object": "model", "owned_by": "domaintune"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        try:
            return await _chat_completion(request, run_model, engine, options)
        except APIError:
            raise
        except Exception as exc:  # the operator gets the cause in one line, the client the shape
            log.error("request failed: %s: %s", type(exc).__name__, exc)
            raise APIError(500, f"The server failed on this request ({type(exc).__name__}).", type="server_error") from exc

    return app


async def _chat_completion(request: Request, run_model: RunModel, engine: Engine, options: ServeOptions) -> Any:
    body = parse_chat_request(await request.body())
    if body.model != run_model.name:
        raise APIError(
            404, f"model: {body.model!r} is not served here; this server serves {run_model.name!r} "
            "(GET /v1/models).", "model", code="model_not_found",
        )
    prepared = await run_in_threadpool(_prepare, run_model, body, options)
    request_id = f"chatcmpl-{uuid.uuid4().hex}"
    updates: asyncio.Queue[Update] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    job = Job(prepared.prompt_ids, prepared.sampling, lambda update: loop.call_soon_threadsafe(updates.put_nowait, update))
    try:
        engine.submit(job)
    except EngineBusy as exc:
        raise APIError(
            429, str(exc), type="rate_limit_error", code="server_busy",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from exc
    guard = AnswerGuard(run_model, prepared.prompt)
    if body.stream:
        return StreamingResponse(
            _stream(request_id, run_model, body, prepared, job, updates, guard),
            media_type="text/event-stream",
        )
    try:
        return await _complete(request_id, run_model, body, prepared, updates, guard)
    finally:
        job.cancelled.set()  # a no-op once it finished; frees the slot if the client left


def _prepare(run_model: RunModel, body: ChatCompletionRequest, options: ServeOptions) -> Prepared:
    """Render and check the prompt (runs in a thread: input filters and the tokenizer)."""
    messages = [{"role": m.role, "content": m.text()} for m in body.messages]
    input_findings: dict[str, int] = {}
    if options.filter_input:
        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        masked, input_findings = run_model.filter_inputs([messages[i]["content"] for i in users])
        for i, text in zip(users, masked):
            messages[i]["content"] = text
    if options.log_requests:
        log.info("request messages: %s", messages)
    prompt = run_model.render_prompt(messages)
    prompt_ids = run_model.encode(prompt)
    context = run_model.context_length
    requested = body.max_completion_tokens or body.max_tokens
    if len(prompt_ids) >= context:
        raise APIError(
            400, f"messages: the prompt is {len(prompt_ids)} tokens, longer than the model's context of "
            f"{context} tokens; shorten the messages.", "messages", code="context_length_exceeded",
        )
    if requested is not None and len(prompt_ids) + requested > context:
        raise APIError(
            400, f"max_tokens: the prompt is {len(prompt_ids)} tokens and max_tokens is {requested}, more "
            f"than the model's context of {context} tokens together; ask for at most "
            f"{context - len(prompt_ids)} tokens.", "max_tokens", code="context_length_exceeded",
        )
    top_logprobs = (body.top_logprobs or 0) if body.logprobs else None
    sampling = Sampling(
        max_tokens=requested or min(DEFAULT_MAX_TOKENS, context - len(prompt_ids)),
        temperature=1.0 if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        seed=body.seed,
        stop=body.stop_strings(),
        top_logprobs=top_logprobs,
    )
    return Prepared(prompt, prompt_ids, sampling, input_findings)


def _usage(prepared: Prepared, update: Update) -> dict[str, int]:
    prompt_tokens = len(prepared.prompt_ids)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": update.completion_tokens,
        "total_tokens": prompt_tokens + update.completion_tokens,
    }


def _extra(verdict: Any, prepared: Prepared) -> dict[str, Any]:
    """The response's ``domaintune`` field: what the filters found and did."""
    return {"findings": verdict.findings, "blocked": verdict.blocked, "input_findings": prepared.input_findings}


def _failed(update: Update) -> APIError:
    return APIError(500, f"Generation failed: {update.error}", type="server_error")


async def _next_update(updates: asyncio.Queue[Update], logprobs: list[Any]) -> Update:
    """The job's newest update: its text is the whole answer so far, so updates that queued
    up meanwhile are skipped. The log-probabilities of all their tokens go to ``logprobs``."""
    update = await updates.get()
    logprobs.extend(update.logprobs)
    while not update.finish_reason and not updates.empty():
        update = updates.get_nowait()
        logprobs.extend(update.logprobs)
    return update


async def _complete(
    request_id: str, run_model: RunModel, body: ChatCompletionRequest, prepared: Prepared,
    updates: asyncio.Queue[Update], guard: AnswerGuard,
) -> dict[str, Any]:
    logprobs: list[Any] = []
    update = await _next_update(updates, logprobs)
    while not update.finish_reason:
        update = await _next_update(updates, logprobs)
    if update.error:
        raise _failed(update)
    verdict = await run_in_threadpool(guard.finish, update.text)
    return completion_body(
        request_id, run_model.name, verdict.text,
        "content_filter" if verdict.blocked else update.finish_reason,
        _usage(prepared, update),
        logprobs if body.logprobs and verdict.exact else None,
        _extra(verdict, prepared),
    )


async def _stream(
    request_id: str, run_model: RunModel, body: ChatCompletionRequest, prepared: Prepared, job: Job,
    updates: asyncio.Queue[Update], guard: AnswerGuard,
) -> AsyncIterator[str]:
    """Server-sent events; leaving early (the client went away) cancels the job, which frees
    its row in the batch at the next token."""
    name = run_model.name
    try:
        yield sse(chunk_body(request_id, name, {"role": "assistant", "content": ""}))
        logprobs: list[Any] = []
        while not (update := await _next_update(updates, logprobs)).finish_reason:
            delta = await run_in_threadpool(guard.feed, update.text) if guard.would_filter(update.text) else guard.feed(update.text)
            if delta:
                yield sse(chunk_body(request_id, name, {"content": delta}))
        if update.error:
            yield sse(_failed(update).body())
            return
        verdict = await run_in_threadpool(guard.finish, update.text)
        if verdict.rest:
            yield sse(chunk_body(request_id, name, {"content": verdict.rest}))
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        yield sse(chunk_body(
            request_id, name, {}, "content_filter" if verdict.blocked else update.finish_reason,
            logprobs if body.logprobs and verdict.exact else None,
            domaintune=_extra(verdict, prepared),
            **({"usage": _usage(prepared, update)} if include_usage else {}),
        ))
        yield sse("[DONE]")
    except Exception as exc:  # headers are sent: the error goes as an event, not a traceback
        log.error("stream failed: %s: %s", type(exc).__name__, exc)
        yield sse(APIError(500, f"The server failed on this request ({type(exc).__name__}).", type="server_error").body())
    finally:
        job.cancelled.set()
