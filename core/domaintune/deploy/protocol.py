"""The OpenAI chat-completions wire format: the request model (validated strictly, so a wrong
type is an error rather than a guess), the response and stream-chunk bodies, and the one error
shape ``{"error": {"message", "type", "param", "code"}}`` every failure is sent in.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_STOP_STRINGS = 4
MAX_TOP_LOGPROBS = 20
ROLES = ("system", "user", "assistant")


class APIError(Exception):
    """A request the server refuses, sent as OpenAI's error body with ``status``."""

    def __init__(
        self, status: int, message: str, param: str | None = None,
        type: str = "invalid_request_error", code: str | None = None, headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.type = status, message, param, type
        self.code, self.headers = code, headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class TextPart(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class ChatCompletionRequest(BaseModel):
    """The fields of OpenAI's request that this server honours; others are ignored, as
    OpenAI-compatible servers do, so that existing clients work unchanged."""

    model_config = ConfigDict(strict=True, extra="ignore")
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    logprobs: bool | None = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    stream: bool | None = False
    stream_options: dict[str, Any] | None = None
    n: int | None = Field(1, ge=1, le=1)

    def stop_strings(self) -> tuple[str, ...]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > MAX_STOP_STRINGS:
            raise APIError(400, f"stop: at most {MAX_STOP_STRINGS} stop strings, got {len(stops)}.", "stop")
        return tuple(s for s in stops if s)


def parse_chat_request(body: bytes) -> ChatCompletionRequest:
    """The request, or an :class:`APIError` naming the first bad field, what it must be and
    what was sent."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise APIError(400, f"The request body is not valid JSON: {exc}. Send a JSON object.") from exc
    if not isinstance(value, dict):
        raise APIError(400, f"The request body must be a JSON object, got {type(value).__name__}.")
    if "messages" in value and not isinstance(value["messages"], list):
        raise APIError(400, "messages: must be a list of {role, content} objects.", "messages")
    for index, message in enumerate(value.get("messages") or []):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            raise APIError(
                400, f"messages[{index}].role: {role!r} is not a role this model knows; use one of "
                f"{', '.join(ROLES)}.", f"messages[{index}].role",
            )
    try:
        return ChatCompletionRequest.model_validate_json(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        param = _param(error["loc"])
        sent = f" (got {json.dumps(error['input'])[:80]})" if error["type"] != "missing" else ""
        message = "this field is required" if error["type"] == "missing" else error["msg"]
        if param == "messages" and error["type"] == "too_short":
            message = "must hold at least one message"
        raise APIError(400, f"{param}: {message}{sent}.", param) from exc


def _param(loc: tuple[Any, ...]) -> str:
    """('messages', 0, 'content') -> 'messages[0].content'; union branches are left out."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] += f"[{item}]"
        elif item in ("str", "list[TextPart]", "list[str]", "int", "float", "bool") or "[" in str(item):
            continue
        else:
            parts.append(str(item))
    return ".".join(parts)


def logprobs_body(logprobs: list[Any]) -> dict[str, Any]:
    def entry(token: str, logprob: float) -> dict[str, Any]:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}

    return {
        "content": [
            {**entry(item.token, item.logprob), "top_logprobs": [entry(t, v) for t, v in item.top]}
            for item in logprobs
        ]
    }


def _envelope(
    kind: str, request_id: str, model: str, choice: dict[str, Any], logprobs: list[Any] | None, **rest: Any
) -> dict[str, Any]:
    """What OpenAI puts around an answer and around each chunk of a stream: the ids, the
    time, and the one choice with its token log-probabilities."""
    return {
        "id": request_id,
        "object": kind,
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, **choice, "logprobs": logprobs_body(logprobs) if logprobs is not None else None}],
        **rest,
    }


def completion_body(
    request_id: str, model: str, text: str, finish_reason: str, usage: dict[str, int],
    logprobs: list[Any] | None, extra: dict[str, Any],
) -> dict[str, Any]:
    choice = {"message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}
    return _envelope("chat.completion", request_id, model, choice, logprobs, usage=usage, domaintune=extra)


def chunk_body(
    request_id: str, model: str, delta: dict[str, Any], finish_reason: str | None = None,
    logprobs: list[Any] | None = None, **extra: Any,
) -> dict[str, Any]:
    choice = {"delta": delta, "finish_reason": finish_reason}
    return _envelope("chat.completion.chunk", request_id, model, choice, logprobs, **extra)


def sse(body: dict[str, Any] | str) -> str:
    return f"data: {body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)}\n\n"
