"""`tune eval --endpoint`: a real HTTP server on 127.0.0.1 started by the test answers
OpenAI-style chat completions; it can answer 429 first, hang, or drop connections, and counts
what it was asked, so resuming from the response cache is seen to ask no row twice."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from domaintune import Domain
from domaintune.cli import cli
from domaintune.evaluation.endpoint import read_label
from eval_rows import HELD_OUT, QUESTION

ROWS = [
    *HELD_OUT,
    ("Mail anna.berg@example.com about the goats.", "yes"),
    ("The train leaves at nine.", "no"),
]


class ChatServer(ThreadingHTTPServer):
    """Answers /v1/chat/completions: the right label for most rows, with top_logprobs when
    asked; plain text for the bus row; gibberish for the shop row (unparseable)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = "ok"
        self.lock = threading.Lock()
        self.seen: list[dict[str, Any]] = []  # every request body
        self.answered: Counter[str] = Counter()  # user text -> 200 answers sent
        self.failed_once: set[str] = set()
        self.answers_before_drop = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out closed its socket before the late answer (the timeout
        test does it on purpose): not worth a traceback in the test output."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, *args: Any) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        user = body["messages"][-1]["content"]
        server = self.server
        with server.lock:
            server.seen.append(body)
            mode = server.mode
            if mode == "429-first" and user not in server.failed_once:
                server.failed_once.add(user)
                self._send(429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"Retry-After": "0"})
                return
            if mode == "drop" and sum(server.answered.values()) >= server.answers_before_drop:
                self.close_connection = True
                return  # the connection closes with no response at all
        if mode == "hang":
            time.sleep(3)
        sentence = user[len(QUESTION):].strip()
        label = dict(ROWS)[sentence.replace("[EMAIL]", "anna.berg@example.com")]
        if "bus" in sentence:
            text, logprobs = "No, it does not.", None
        elif "shop" in sentence:
            text, logprobs = "I cannot tell.", None
        else:
            other = "no" if label == "yes" else "yes"
            text = label
            logprobs = {"content": [{"token": label, "logprob": -0.1, "bytes": None, "top_logprobs": [
                {"token": label, "logprob": -0.1, "bytes": None}, {"token": other, "logprob": -2.5, "bytes": None},
            ]}]} if body.get("logprobs") else None
        with server.lock:
            server.answered[user] += 1
        self._send(200, {
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": logprobs,
                         "message": {"role": "assistant", "content": text}}],
        })

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server() -> Iterator[ChatServer]:
    chat = ChatServer()
    thread = threading.Thread(target=chat.serve_forever, daemon=True)
    thread.start()
    try:
        yield chat
    finally:
        chat.shutdown()
        chat.server_close()


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "heldout.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"{QUESTION} {s}", "completion": c}) + "\n" for s, c in ROWS))
    return path


def tune_eval(server: ChatServer, data_file: Path, out: Path, *extra: str) -> Any:
    return CliRunner().invoke(cli, [
        "eval", "--domain", "testdomain", "--endpoint", server.url, "--model", "served",
        "--data", str(data_file), "--output-dir", str(out), *extra,
    ])


def test_endpoint_scores_with_logprobs_text_and_unparseable_answers_and_filters_prompts(
    tmp_path: Path, server: ChatServer, data_file: Path, test_domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("H8_TEST_KEY", "sk-secret-never-written")
    result = tune_eval(server, data_file, tmp_path / "out", "--api-key-env", "H8_TEST_KEY")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "heldout" / "metrics.json").read_text())
    assert summary["method"] == {"logprobs": 6, "text": 1, "unparseable": 1}
    assert summary["unparseable_rows"] == [4]
    assert summary["metrics"]["accuracy"] == pytest.approx(7 / 8)  # the unparseable row is wrong
    # The domain's filter masked the address before the prompt left the machine.
    assert not any("anna.berg@example.com" in json.dumps(body) for body in server.seen)
    assert any("[EMAIL]" in json.dumps(body) for body in server.seen)
    assert summary["data"]["prompt_filters"] == "on"
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert "sk-secret-never-written" not in path.read_text()
    assert "sk-secret-never-written" not in result.output

    unfiltered = tune_eval(server, data_file, tmp_path / "raw", "--no-prompt-filters")
    assert unfiltered.exit_code == 0, unfiltered.output
    assert any("anna.berg@example.com" in json.dumps(body) for body in server.seen)
    raw = json.loads((tmp_path / "raw" / "heldout" / "metrics.json").read_text())
    assert raw["data"]["prompt_filters"].startswith("off")


def test_endpoint_retries_429_then_succeeds(
    tmp_path: Path, server: ChatServer, data_file: Path, test_domain: Domain
) -> None:
    server.mode = "429-first"
    result = tune_eval(server, data_file, tmp_path / "out", "--concurrency", "3")
    assert result.exit_code == 0, result.output
    assert len(server.seen) == 2 * len(ROWS)  # each row refused once, then answered
    assert set(server.answered.values()) == {1}


def test_endpoint_that_times_out_fails_naming_the_cache_and_the_fix(
    tmp_path: Path, server: ChatServer, data_file: Path, test_domain: Domain
) -> None:
    server.mode = "hang"
    started = time.monotonic()
    result = tune_eval(server, data_file, tmp_path / "out", "--timeout", "1", "--retries", "1", "--concurrency", "8")
    assert time.monotonic() - started < 20
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "8 of 8 requests failed" in output and "APITimeoutError" in output and "run the same command again" in output
    # A first try and one retry per row, never more. The client gives up on a retry a second
    # after sending it; on a busy machine the server may not have read some of them by then
    # (seen under pytest-xdist), so the retries are counted as "some, at most one per row".
    time.sleep(1)
    tries = Counter(body["messages"][-1]["content"] for body in server.seen)
    assert len(tries) == len(ROWS)  # every row asked
    assert max(tries.values()) == 2 and len(server.seen) <= 2 * len(ROWS)


def test_dropped_connections_then_a_resume_asks_no_row_twice(
    tmp_path: Path, server: ChatServer, data_file: Path, test_domain: Domain
) -> None:
    server.mode, server.answers_before_drop = "drop", 3
    failed = tune_eval(server, data_file, tmp_path / "out", "--retries", "0", "--concurrency", "1")
    assert failed.exit_code == 1
    assert "5 of 8 requests failed" in " ".join(failed.output.split())
    cache = tmp_path / "out" / "heldout" / "responses.jsonl"
    assert len(cache.read_text().splitlines()) == 3
    with cache.open("a") as file:
        file.write('{"key": "torn')  # a run killed mid-write leaves half a line
    server.mode = "ok"
    resumed = tune_eval(server, data_file, tmp_path / "out", "--retries", "0")
    assert resumed.exit_code == 0, resumed.output
    assert set(server.answered.values()) == {1} and len(server.answered) == len(ROWS)
    summary = json.loads((tmp_path / "out" / "heldout" / "metrics.json").read_text())
    assert summary["requests"] == {"asked": 5, "from_cache": 3}


def test_labels_are_read_from_top_logprobs_else_from_the_text() -> None:
    labels = ["hawkish", "dovish", "neutral"]
    assert read_label({"text": "x", "top_logprobs": [["d", -0.2], ["ha", -0.1]]}, labels) == ("hawkish", "logprobs")
    assert read_label({"text": "Neutral.", "top_logprobs": None}, labels) == ("neutral", "text")
    assert read_label({"text": "neutrality", "top_logprobs": [[" ", -0.1]]}, labels) == ("", "unparseable")
