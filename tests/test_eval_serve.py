"""`tune eval --endpoint` against `tune serve` (a subprocess on a free loopback port serving a
tiny model): every row asked once, and each answer the one the server gives that prompt alone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import deploy_plugin as support

QUESTIONS = ["Say hello.", "Name a colour.", "Count to 3.", "What is a cat?", "Spell dog.", "Pick a day."]


def test_tune_eval_endpoint_against_tune_serve(tmp_path: Path) -> None:
    from openai import OpenAI

    run_dir = support.build_run(tmp_path / "run")
    data = tmp_path / "heldout.jsonl"
    data.write_text("".join(json.dumps({"prompt": q, "completion": "hello"}) + "\n" for q in QUESTIONS))
    with support.Server(run_dir) as server:
        out = tmp_path / "out"
        done = subprocess.run(
            support.tune_command(
                "eval", "--domain", support.DOMAIN, "--endpoint", f"{server.url}/v1", "--model", "run",
                "--data", str(data), "--output-dir", str(out), "--concurrency", "4",
            ),
            capture_output=True, text=True, env=support.environment(), timeout=300,
        )
        assert done.returncode == 0, done.stderr
        summary = json.loads((out / "heldout" / "metrics.json").read_text())
        rows = [json.loads(line) for line in (out / "heldout" / "predictions.jsonl").read_text().splitlines()]
        client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=60)
        for question, row in zip(QUESTIONS, rows):
            # The prompt as sent, digits masked by the domain's data filter ("Count to #.").
            messages = json.loads(row["prompt"])
            assert messages[-1]["content"] == "".join("#" if c.isdigit() else c for c in question)
            alone = client.chat.completions.create(
                model="run", messages=messages, temperature=0, max_tokens=16
            ).choices[0].message.content
            assert row["answer_text"] == alone
    assert summary["requests"] == {"asked": len(QUESTIONS), "from_cache": 0}
    assert summary["data"]["prompt_filters"] == "on"
    assert set(summary["metrics"]) and all(0 <= v <= 1 for v in summary["metrics"].values())
