"""`tune chat` and `tune serve` on the real default model with a real pack's filters (slow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import deploy_plugin as support
import pytest
from domaintune.testing import build_default_model_run

DOMAIN = "healthcare-summary"
QUESTION = "SUBJECT: headache. MESSAGE: I have had a headache for three days. What can I do?"


@pytest.mark.slow
def test_chat_and_serve_on_the_default_model(tmp_path: Path) -> None:
    from openai import OpenAI

    run_dir = build_default_model_run(tmp_path / "run", DOMAIN)
    chat = subprocess.run(
        [sys.executable, "-m", "domaintune", "chat", str(run_dir), "--prompt", QUESTION, "--max-tokens", "24"],
        capture_output=True, text=True, timeout=900, env=support.environment(),
    )
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip()

    with support.Server(run_dir, startup_seconds=600) as server:
        client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=600)
        messages = [{"role": "user", "content": QUESTION}]
        plain = client.chat.completions.create(model="run", messages=messages, max_tokens=24, temperature=0)
        streamed = "".join(
            chunk.choices[0].delta.content or ""
            for chunk in client.chat.completions.create(
                model="run", messages=messages, max_tokens=24, temperature=0, stream=True,
            )
            if chunk.choices
        )
    text = plain.choices[0].message.content
    assert text.strip() and streamed == text
    # The same greedy answer as chat's (both are the domain's filtered text).
    assert chat.stdout.strip() == text.strip()
    assert set(plain.model_extra["domaintune"]) == {"findings", "blocked", "input_findings"}
