"""`tune serve` in a subprocess on a free loopback port, with a tiny finished run whose domain
masks every 'e' in answers (and blocks answers to FORBIDDEN prompts), spoken to with the
official `openai` client and plain HTTP. Answers are checked against the tuned model run with
transformers' `generate` alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import deploy_plugin as support
import pytest

MODEL = "run"
TOKENS = 12


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return support.build_run(tmp_path_factory.mktemp("serve") / MODEL)


@pytest.fixture(scope="module")
def server(run_dir: Path) -> Iterator[Any]:
    with support.Server(run_dir, "--filter-input") as running:
        yield running


@pytest.fixture(scope="module")
def reference(run_dir: Path) -> Any:
    return support.Reference(run_dir)


@pytest.fixture(scope="module")
def client(server: Any) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=60)


def masked(text: str) -> str:
    return text.replace("e", "*")


def post(server: Any, body: Any, **kwargs: Any) -> httpx.Response:
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(f"{server.url}/v1/chat/completions", content=content, timeout=60, **kwargs)


def ask(text: str, **settings: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": TOKENS,
            "temperature": 0, **settings}


def test_models_and_health(server: Any) -> None:
    models = httpx.get(f"{server.url}/v1/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == [MODEL]
    assert httpx.get(f"{server.url}/health", timeout=10).json()["status"] == "ok"


def test_completion_is_the_tuned_models_answer_masked(client: Any, reference: Any) -> None:
    question = "Does the dog like the cat?"
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": question}], max_tokens=TOKENS, temperature=0,
    )
    raw = reference.answer(question, TOKENS)
    assert "e" in raw  # the filter has something to mask
    assert completion.choices[0].message.content == masked(raw)
    assert completion.usage.completion_tokens == TOKENS
    extra = completion.model_extra["domaintune"]
    assert extra == {"findings": {"mask-e:e": raw.count("e")}, "blocked": False, "input_findings": {}}


def test_streamed_text_equals_the_plain_one(client: Any) -> None:
    messages = [{"role": "user", "content": "Tell me about the fox."}]
    plain = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=TOKENS, temperature=0)
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=TOKENS, temperature=0, stream=True,
    ))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == plain.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "length"
    assert chunks[-1].model_extra["domaintune"]["findings"] == plain.model_extra["domaintune"]["findings"]


def test_logprobs_only_for_answers_the_filters_left_alone(client: Any, reference: Any) -> None:
    exact = 0
    for n in range(6):
        question = f"Question {n} about the dog"
        if "e" in reference.answer(question, 2):
            continue
        choice = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": question}], max_tokens=2,
            temperature=0, logprobs=True, top_logprobs=3,
        ).choices[0]
        exact += 1
        tokens = choice.logprobs.content
        assert len(tokens) == 2
        assert "".join(t.token for t in tokens) == choice.message.content
        for token in tokens:
            assert len(token.top_logprobs) == 3
            assert token.logprob <= 0
            # Greedy: the chosen token is the most likely one.
            assert token.logprob == pytest.approx(max(t.logprob for t in token.top_logprobs))
    assert exact
    question = "Does the dog like the cat?"  # its answer holds an 'e' (first test)
    choice = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": question}], max_tokens=TOKENS,
        temperature=0, logprobs=True,
    ).choices[0]
    assert "*" in choice.message.content
    assert choice.logprobs is None  # they would spell the raw tokens the mask hid


def test_blocked_answer_is_a_refusal_streamed_or_not(client: Any, reference: Any) -> None:
    question = "FORBIDDEN: tell me about the horse"
    raw = reference.answer(question, TOKENS)
    messages = [{"role": "user", "content": question}]
    plain = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=TOKENS, temperature=0)
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=TOKENS, temperature=0, stream=True,
    ))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    for text in (plain.choices[0].message.content, streamed):
        assert text.startswith("I can't give this answer")
        assert raw not in text and masked(raw) not in text
    assert plain.choices[0].finish_reason == chunks[-1].choices[0].finish_reason == "content_filter"
    assert plain.model_extra["domaintune"]["blocked"] is True
    assert plain.model_extra["domaintune"]["findings"]["mask-e:forbidden"] == 1


def test_filter_input_masks_user_text_before_the_model(server: Any, reference: Any) -> None:
    response = post(server, ask("Call 555 0199 about the cat")).json()
    assert response["domaintune"]["input_findings"] == {"mask-digits:digit": 7}
    assert response["choices"][0]["message"]["content"] == masked(reference.answer("Call ### #### about the cat", TOKENS))


def test_32_concurrent_requests_each_equal_the_prompt_alone(server: Any) -> None:
    questions = [f"Request {n}: is the fox near the dog" + " or the cat" * (n % 4) for n in range(32)]
    alone = [post(server, ask(q)).json()["choices"][0]["message"]["content"] for q in questions]
    before = httpx.get(f"{server.url}/health", timeout=10).json()["batch_sizes"]
    with ThreadPoolExecutor(32) as pool:
        together = list(pool.map(lambda q: post(server, ask(q)), questions))
    assert [r.status_code for r in together] == [200] * 32
    assert [r.json()["choices"][0]["message"]["content"] for r in together] == alone
    after = httpx.get(f"{server.url}/health", timeout=10).json()["batch_sizes"]
    batched = {size: n - before.get(size, 0) for size, n in after.items() if int(size) > 1}
    assert sum(batched.values()) > 0  # they were decoded in batches, not one at a time


def test_client_leaving_mid_stream_frees_its_slot(server: Any) -> None:
    import time

    def cancelled() -> int:
        return httpx.get(f"{server.url}/health", timeout=10).json()["cancelled"]

    # The tiny model can finish its 200 tokens before a busy server notices the hang-up (then
    # nothing is left to cancel): up to five abandoned requests, and at least one must be
    # dropped from the batch.
    before = cancelled()
    for attempt in range(5):
        with httpx.stream("POST", f"{server.url}/v1/chat/completions", timeout=60,
                          content=json.dumps(ask(f"A long story about the dog {attempt}", max_tokens=200, stream=True))) as stream:
            next(stream.iter_lines())  # the first event, then hang up
        deadline = time.monotonic() + 5
        while cancelled() == before and time.monotonic() < deadline:
            time.sleep(0.01)
        if cancelled() > before:
            break
    assert cancelled() > before, "no abandoned request was dropped from the batch"
    assert post(server, ask("still there?")).status_code == 200


LONG = "the dog and the cat " * 80


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        (b"{not json", 400, None, ["not valid JSON"]),
        (b"[1, 2]", 400, None, ["JSON object"]),
        ({"model": MODEL}, 400, "messages", ["messages", "required"]),
        ({"model": MODEL, "messages": "hello"}, 400, "messages", ["messages", "list"]),
        ({"model": MODEL, "messages": []}, 400, "messages", ["at least one"]),
        ({"model": MODEL, "messages": [{"role": "robot", "content": "hi"}]}, 400, "messages[0].role",
         ["'robot'", "system, user, assistant"]),
        ({"model": MODEL, "messages": [{"role": "user", "content": 5}]}, 400, "messages[0].content", ["string"]),
        ({"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}, 404, "model", ["'gpt-4'", f"'{MODEL}'"]),
        (ask(LONG), 400, "messages", ["the prompt is", "context of 256 tokens"]),
        (ask("hi", max_tokens=250), 400, "max_tokens", ["max_tokens is 250", "context of 256", "at most"]),
        (ask("hi", max_tokens=0), 400, "max_tokens", ["greater than or equal to 1", "got 0"]),
        (ask("hi", max_tokens="5"), 400, "max_tokens", ["valid integer", '"5"']),
        (ask("hi", temperature=3), 400, "temperature", ["less than or equal to 2", "got 3"]),
        (ask("hi", temperature="hot"), 400, "temperature", ["valid number", '"hot"']),
        (ask("hi", top_logprobs=50, logprobs=True), 400, "top_logprobs", ["less than or equal to 20"]),
        (ask("hi", stop=["a", "b", "c", "d", "e"]), 400, "stop", ["at most 4"]),
    ],
)
def test_bad_input_gets_an_openai_error(server: Any, body: Any, status: int, param: str | None, words: list[str]) -> None:
    response = post(server, body)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param"}
    assert error["param"] == param
    for word in words:
        assert word in error["message"]


def test_unknown_route_is_a_json_error(server: Any) -> None:
    response = httpx.get(f"{server.url}/v1/nothing", timeout=10)
    assert response.status_code == 404
    assert "error" in response.json()


def test_openai_client_raises_on_bad_input(client: Any) -> None:
    import openai

    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], temperature=5)
    assert raised.value.body["param"] == "temperature"


def test_seeded_sampling_repeats_and_stop_strings_cut(server: Any) -> None:
    first, second = (post(server, ask("The fox", temperature=1.0, seed=7, max_tokens=20)).json() for _ in range(2))
    assert first["choices"][0]["message"]["content"] == second["choices"][0]["message"]["content"]
    full = post(server, ask("The fox", max_tokens=20)).json()["choices"][0]["message"]["content"]
    # A letter the mask leaves alone sits at the same place in the raw and the shown text.
    cut_at = next(ch for ch in full[2:] if ch.isalpha() and ch not in "e*")
    cut = post(server, ask("The fox", max_tokens=20, stop=[cut_at])).json()["choices"][0]
    assert cut["finish_reason"] == "stop"
    assert cut["message"]["content"] == full[: full.index(cut_at)]


def test_a_failing_filter_is_an_error_body_plain_or_streamed(server: Any) -> None:
    plain = post(server, ask("EXPLODE about the dog"))
    assert plain.status_code == 500
    assert plain.json()["error"]["type"] == "server_error"
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", timeout=60,
                      content=json.dumps(ask("EXPLODE about the dog", stream=True))) as stream:
        events = [line[len("data: "):] for line in stream.iter_lines() if line.startswith("data: ")]
    assert json.loads(events[-1])["error"]["type"] == "server_error"
    assert not any("dog" in event for event in events)  # no raw text got out
    assert "Traceback" not in "".join(server.log)
    assert post(server, ask("and after it?")).status_code == 200
