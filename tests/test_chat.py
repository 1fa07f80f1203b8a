"""`tune chat` in a subprocess on a tiny finished run: one answer for --prompt or piped stdin,
streamed through the domain's output filters (masked text on stdout, findings on stderr),
with the system prompt as trained; --base answers with the untuned model."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import deploy_plugin as support
import pytest

TOKENS = "12"
QUESTION = "Does the dog like the cat?"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return support.build_run(tmp_path_factory.mktemp("chat") / "run")


@pytest.fixture(scope="module")
def reference(run_dir: Path) -> Any:
    return support.Reference(run_dir)


def chat(run_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        support.tune_command("chat", str(run_dir), "--max-tokens", TOKENS, *args),
        input=stdin, capture_output=True, text=True, timeout=300, env=support.environment(),
    )


def test_prompt_answers_once_masked_with_findings_beneath(run_dir: Path, reference: Any) -> None:
    result = chat(run_dir, "--prompt", QUESTION)
    assert result.returncode == 0, result.stderr
    raw = reference.answer(QUESTION, int(TOKENS))
    assert "e" in raw
    assert result.stdout == raw.replace("e", "*") + "\n"
    assert f"findings: mask-e:e x{raw.count('e')}" in result.stderr


def test_piped_stdin_is_one_prompt(run_dir: Path) -> None:
    piped = chat(run_dir, stdin=QUESTION + "\n")
    given = chat(run_dir, "--prompt", QUESTION)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == given.stdout


def test_blocked_answer_shows_the_refusal(run_dir: Path, reference: Any) -> None:
    question = "FORBIDDEN: tell me about the horse"
    result = chat(run_dir, "--prompt", question)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("I can't give this answer")
    assert reference.answer(question, int(TOKENS)).replace("e", "*") not in result.stdout
    assert "blocked" in result.stderr


def test_base_chats_with_the_untuned_model(run_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_dir = run_dir.parent / f"{run_dir.name}-base-model"
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir).eval()
    messages = [{"role": "system", "content": support.SYSTEM_PROMPT}, {"role": "user", "content": QUESTION}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    output = model.generate(**ids, max_new_tokens=int(TOKENS), do_sample=False, pad_token_id=tokenizer.pad_token_id)
    raw = tokenizer.decode(output[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    base = chat(run_dir, "--base", "--prompt", QUESTION)
    tuned = chat(run_dir, "--prompt", QUESTION)
    assert base.returncode == 0, base.stderr
    assert base.stdout == raw.replace("e", "*") + "\n"
    assert base.stdout != tuned.stdout


def test_an_unfinished_run_is_an_error_not_a_traceback(tmp_path: Path, run_dir: Path) -> None:
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text((run_dir / "config.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    result = chat(unfinished, "--prompt", "hi")
    assert result.returncode == 1
    assert "did not finish" in result.stderr and "Traceback" not in result.stderr
