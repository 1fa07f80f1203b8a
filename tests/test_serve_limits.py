"""`tune serve` at its limits: API keys, a non-loopback address, overload (429), SIGTERM while
a request is in flight; and the stream guard and engine cancellation in-process."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import deploy_plugin as support
import pytest

MODEL = "run"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return support.build_run(tmp_path_factory.mktemp("limits") / MODEL)


def ask(text: str, **settings: Any) -> str:
    return json.dumps({"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 8,
                       "temperature": 0, **settings})


def test_api_key_is_required_on_the_api_when_set(run_dir: Path) -> None:
    with support.Server(run_dir, "--api-key", "s3cret") as server:
        url = f"{server.url}/v1/chat/completions"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            response = httpx.post(url, content=ask("hi"), headers=headers, timeout=30)
            assert response.status_code == 401
            assert response.json()["error"]["type"] == "authentication_error"
        assert httpx.get(f"{server.url}/v1/models", timeout=30).status_code == 401
        good = httpx.post(url, content=ask("hi"), headers={"Authorization": "Bearer s3cret"}, timeout=30)
        assert good.status_code == 200
        assert httpx.get(f"{server.url}/health", timeout=30).status_code == 200

        from openai import AuthenticationError, OpenAI

        with pytest.raises(AuthenticationError):
            OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0).models.list()
        models = OpenAI(base_url=f"{server.url}/v1", api_key="s3cret", max_retries=0).models.list()
        assert [m.id for m in models.data] == [MODEL]


def test_no_key_means_no_check_and_no_request_text_in_the_log(run_dir: Path) -> None:
    with support.Server(run_dir) as server:
        response = httpx.post(f"{server.url}/v1/chat/completions", content=ask("my secret diagnosis"), timeout=30)
        assert response.status_code == 200
    assert "my secret diagnosis" not in "".join(server.log)


def test_request_text_is_logged_only_with_log_requests(run_dir: Path) -> None:
    with support.Server(run_dir, "--log-requests") as server:
        httpx.post(f"{server.url}/v1/chat/completions", content=ask("log me please"), timeout=30)
    assert "log me please" in "".join(server.log)


def test_other_addresses_are_refused_without_a_key(run_dir: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        support.tune_command("serve", str(run_dir), "--host", "0.0.0.0"), capture_output=True, text=True,
        timeout=120, env={k: v for k, v in support.environment().items() if k != "DOMAINTUNE_API_KEY"},
    )
    assert result.returncode == 1
    assert "--host 0.0.0.0" in result.stderr and "--api-key" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 60


def test_the_key_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, run_dir: Path) -> None:
    from domaintune.deploy.server import ServeSettings, resolve_settings
    from domaintune.errors import ConfigError

    monkeypatch.delenv("DOMAINTUNE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="needs an API key"):
        resolve_settings(ServeSettings(run_dir, host="192.168.1.5"))
    monkeypatch.setenv("DOMAINTUNE_API_KEY", "from-env")
    assert resolve_settings(ServeSettings(run_dir, host="192.168.1.5")).api_key == "from-env"
    assert resolve_settings(ServeSettings(run_dir, host="::1", api_key=None)).api_key == "from-env"


def test_overload_gets_429_with_retry_after_and_no_request_is_lost(run_dir: Path) -> None:
    with support.Server(run_dir, "--max-batch", "1", "--max-queue", "1") as server:
        url = f"{server.url}/v1/chat/completions"

        def send(n: int) -> httpx.Response:
            return httpx.post(url, content=ask(f"story {n} about the dog", max_tokens=200), timeout=60)

        with ThreadPoolExecutor(12) as pool:
            responses = list(pool.map(send, range(12)))
        statuses = [r.status_code for r in responses]
        assert set(statuses) == {200, 429}
        for response in responses:
            if response.status_code == 429:
                assert response.headers["Retry-After"] == "1"
                assert response.json()["error"]["type"] == "rate_limit_error"
                assert "--max-queue" in response.json()["error"]["message"]
            else:
                assert response.json()["choices"][0]["finish_reason"] in {"length", "stop"}
        assert httpx.post(url, content=ask("after the rush"), timeout=60).status_code == 200


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(run_dir: Path) -> None:
    server = support.Server(run_dir, "--grace-seconds", "20")
    lines: list[str] = []
    first_line = threading.Event()

    def stream() -> None:
        body = ask("a long answer about the cat", max_tokens=200, stream=True)
        with httpx.stream("POST", f"{server.url}/v1/chat/completions", content=body, timeout=60) as response:
            for line in response.iter_lines():
                if line:
                    lines.append(line)
                    first_line.set()

    client = threading.Thread(target=stream)
    client.start()
    try:
        assert first_line.wait(30)
        server.process.send_signal(signal.SIGTERM)
        client.join(timeout=30)
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    assert lines[-1] == "data: [DONE]"
    final = json.loads(lines[-2][len("data: "):])
    assert final["choices"][0]["finish_reason"] in {"length", "stop"}
    with pytest.raises(httpx.ConnectError):  # it no longer listens
        httpx.get(f"{server.url}/health", timeout=5)


@pytest.fixture
def guard_model(registered_plugin: Any) -> Any:
    """A RunModel of the test domain without weights: the guard only uses its filters."""
    from domaintune.config import build_config
    from domaintune.deploy.runmodel import RunModel
    from domaintune.plugins import collect, get_domain

    registered_plugin(support.DeployTestPlugin(), name=support.PLUGIN_NAME)
    domain = get_domain(support.DOMAIN)
    return RunModel(
        run_dir=Path("run"), config=build_config({"domain": support.DOMAIN}), domain=domain,
        model=None, tokenizer=None, formatter=None, output_filters=collect("make_output_filters", domain=domain),
        data_filters=[], base=False, model_path="",
    )


def test_stream_guard_sends_nothing_before_a_sentence_ends(guard_model: Any) -> None:
    from domaintune.deploy.guard import AnswerGuard

    guard = AnswerGuard(guard_model, "a prompt")
    raw = "The fee is due. Pay it here now. Then rest"
    sent = [guard.feed(raw[:n]) for n in range(1, len(raw) + 1)]
    assert "".join(sent[:15]) == ""  # "The fee is due." is not followed by a space yet
    assert "".join(sent[:16]) == "Th* f** is du*."
    verdict = guard.finish(raw)
    assert "".join(sent) + verdict.rest == verdict.text == raw.replace("e", "*")
    assert verdict.findings == {"mask-e:e": raw.count("e")} and not verdict.exact


def test_stream_guard_refuses_a_blocked_answer(guard_model: Any) -> None:
    from domaintune.deploy.guard import AnswerGuard

    guard = AnswerGuard(guard_model, "FORBIDDEN question")
    raw = "Here it is. All of it."
    sent = "".join(guard.feed(raw[:n]) for n in range(1, len(raw) + 1))
    verdict = guard.finish(raw)
    assert sent == "" and verdict.blocked
    assert verdict.text == verdict.rest and verdict.text.startswith("I can't give this answer")
    assert "Here" not in verdict.text and "H*r*" not in verdict.text


def test_a_cancelled_job_leaves_the_batch_at_the_next_token(tiny_model: str) -> None:
    from domaintune.deploy.engine import Engine, Job, Sampling
    from domaintune.model import load_model, load_tokenizer

    tokenizer = load_tokenizer(tiny_model)
    engine = Engine(load_model(tiny_model), tokenizer, max_batch=4).start()
    try:
        updates: queue.Queue[Any] = queue.Queue()
        keeps: queue.Queue[Any] = queue.Queue()
        prompt = tokenizer("The dog", add_special_tokens=False)["input_ids"]
        leaving = Job(prompt, Sampling(max_tokens=100), updates.put)
        staying = Job(prompt, Sampling(max_tokens=20), keeps.put)
        for job in (leaving, staying):
            engine.submit(job)
        updates.get(timeout=30)
        leaving.cancelled.set()
        while not (last := updates.get(timeout=30)).finish_reason:
            pass
        assert last.finish_reason == "cancelled" and last.completion_tokens < 100
        while not (kept := keeps.get(timeout=30)).finish_reason:
            pass
        assert kept.finish_reason in {"length", "stop"}
        assert engine.cancelled == 1
    finally:
        engine.stop()


def test_requests_arriving_mid_batch_join_it_and_answer_as_alone(tiny_model: str) -> None:
    from domaintune.deploy.engine import Engine, Job, Sampling
    from domaintune.model import load_model, load_tokenizer

    tokenizer = load_tokenizer(tiny_model)
    engine = Engine(load_model(tiny_model), tokenizer, max_batch=8).start()

    def answer(text: str) -> str:
        updates: queue.Queue[Any] = queue.Queue()
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        engine.submit(Job(ids, Sampling(max_tokens=30), updates.put))
        while not (update := updates.get(timeout=60)).finish_reason:
            pass
        return update.text

    try:
        texts = [f"The dog {n}" + " and the cat" * n for n in range(8)]
        alone = [answer(text) for text in texts]
        engine.batch_sizes.clear()
        together: list[str | None] = [None] * 8

        def late(n: int) -> None:
            time.sleep(0.005 * n)  # each arrives while the earlier ones decode
            together[n] = answer(texts[n])

        threads = [threading.Thread(target=late, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert together == alone
        assert max(engine.batch_sizes) > 1
    finally:
        engine.stop()
