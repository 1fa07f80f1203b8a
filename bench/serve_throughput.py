"""`tune serve` throughput: one client, then concurrent clients, on the default model.

    python bench/serve_throughput.py                      # 16 held-out prompts, 1 then 8 clients
    python bench/serve_throughput.py --run runs/legal-... # a finished run of the default model
    python bench/serve_throughput.py --prompts 4 --max-tokens 16   # smoke test
    python bench/serve_throughput.py --precision fp32     # tune serve --precision (default: the run's)

Without --run it writes a run folder of the default model whose LoRA adapter is freshly
initialised (B = 0: the same answers as the base model), so that no training is needed. The
server runs in a subprocess on 127.0.0.1 with the domain's output filters on, as users get
it; every request is streamed, greedy, with at most --max-tokens new tokens. The prompts are
the domain's held-out rows (its formatter's conversations without the answer).

Prints, for each number of clients, generated tokens/s over the whole phase and the time to
the first content (p50/p95; the guard holds text back to sentence ends, so this is what a
client sees); last line `RESULT concurrency_speedup=<tokens/s with N clients over 1>
ttft_p50_s=<p50 with N clients>`. Run it alone: a second process on 2 cores skews both.
"""

from __future__ import annotations

import argparse
import json
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from domaintune.testing import build_default_model_run


def held_out_messages(run_dir: Path, count: int) -> list[list[dict[str, str]]]:
    """The run's held-out rows as chat messages (system and user turns, no answer)."""
    from domaintune.data.prepare import prepare_data
    from domaintune.deploy.runmodel import run_config
    from domaintune.plugins import call_hook, get_domain

    config = run_config(run_dir)
    domain = get_domain(config.domain)
    _, eval_set, _ = prepare_data(domain, config)
    rows = eval_set.select(range(min(count, len(eval_set)))).to_dict()
    return [conversation[:-1] for conversation in call_hook("make_formatter", domain=domain)(rows)]


class Server:
    def __init__(self, run_dir: Path, max_batch: int, precision: str | None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "domaintune", "serve", str(run_dir), "--port", "0", "--max-batch", str(max_batch),
             *(["--precision", precision] if precision else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for line in self.process.stderr:  # type: ignore[union-attr]
            found = re.search(r"at (http://127\.0\.0\.1:\d+)/v1", line)
            if found:
                self.url = found.group(1)
                break
        else:
            raise SystemExit(f"tune serve did not start (exit {self.process.wait()})")
        threading.Thread(target=lambda: [None for _ in self.process.stderr], daemon=True).start()  # type: ignore[union-attr]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def one_request(url: str, model: str, messages: list[dict[str, str]], max_tokens: int) -> tuple[float, int]:
    """Seconds to the first content and generated tokens of one streamed request."""
    body = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}}
    started, first, tokens = time.monotonic(), None, 0
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[len("data: "):])
            if first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.monotonic() - started
            if "usage" in chunk:
                tokens = chunk["usage"]["completion_tokens"]
    return (first if first is not None else time.monotonic() - started), tokens


def phase(url: str, model: str, prompts: list[list[dict[str, str]]], clients: int, max_tokens: int) -> dict[str, Any]:
    """Every prompt once, ``clients`` at a time."""
    work: queue.Queue[list[dict[str, str]]] = queue.Queue()
    for messages in prompts:
        work.put(messages)
    results: list[tuple[float, int]] = []

    def client() -> None:
        while True:
            try:
                messages = work.get_nowait()
            except queue.Empty:
                return
            results.append(one_request(url, model, messages, max_tokens))

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    ttfts = sorted(t for t, _ in results)
    tokens = sum(n for _, n in results)
    return {
        "clients": clients, "requests": len(results), "tokens": tokens, "seconds": seconds,
        "tokens_per_second": tokens / seconds,
        "ttft_p50_s": statistics.median(ttfts),
        "ttft_p95_s": ttfts[min(len(ttfts) - 1, round(0.95 * (len(ttfts) - 1)))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="A finished run of the default model (default: an untrained one).")
    parser.add_argument("--domain", default="healthcare-summary", help="Domain of the untrained run (a generation domain).")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], help="tune serve --precision (default: the run's).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        run_dir = args.run or Path(scratch) / "untrained-run"
        if args.run is None:
            build_default_model_run(run_dir, args.domain)
        prompts = held_out_messages(run_dir, args.prompts)
        server = Server(run_dir, max_batch=args.clients, precision=args.precision)
        try:
            model = httpx.get(f"{server.url}/v1/models", timeout=30).json()["data"][0]["id"]
            one_request(server.url, model, prompts[0], 4)  # warm-up
            phases = [phase(server.url, model, prompts, n, args.max_tokens) for n in (1, args.clients)]
            batches = httpx.get(f"{server.url}/health", timeout=30).json()["batch_sizes"]
        finally:
            server.stop()
    for result in phases:
        print(
            f"{result['clients']} client(s): {result['requests']} requests, {result['tokens']} tokens in "
            f"{result['seconds']:.1f} s = {result['tokens_per_second']:.1f} tokens/s; time to first "
            f"content p50 {result['ttft_p50_s']:.2f} s, p95 {result['ttft_p95_s']:.2f} s"
        )
    print(f"batch sizes decoded: {batches}")
    speedup = phases[1]["tokens_per_second"] / phases[0]["tokens_per_second"]
    print(f"RESULT concurrency_speedup={speedup:.2f} ttft_p50_s={phases[1]['ttft_p50_s']:.2f}")


if __name__ == "__main__":
    main()
