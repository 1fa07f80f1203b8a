"""A test domain for chat and serve, and a tiny finished run of it, for the deploy tests.

The deploy tests start `tune serve` and `tune chat` in subprocesses, where pytest's fixtures do
not reach: run this file as ``python tests/deploy_plugin.py tune ARGS...`` to call the `tune`
command line with the test plugin registered, or ``... build RUN_DIR`` to write a tiny run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from domaintune import Domain, FilterOutcome, SafetyFilter, hookimpl

DOMAIN = "deploytest"
SYSTEM_PROMPT = "You answer briefly."
PLUGIN_NAME = "deploytest-plugin"
FORBIDDEN = "FORBIDDEN"
"""A prompt holding this word gets its answer blocked by the output filter."""
BROKEN = "EXPLODE"
"""A prompt holding this word makes the output filter raise."""


def mask_e(texts: list[str], context: list[str]) -> FilterOutcome:
    """Masks every letter 'e' as '*' (a finding each); blocks the answer to a FORBIDDEN prompt;
    raises on an EXPLODE prompt."""
    if any(BROKEN in prompt for prompt in context):
        raise RuntimeError("the filter broke")
    blocked = [FORBIDDEN in prompt for prompt in context]
    found = sum(text.count("e") for text in texts)
    counts = {"e": found} if found else {}
    if any(blocked):
        counts["forbidden"] = sum(blocked)
    return FilterOutcome(texts=[t.replace("e", "*") for t in texts], blocked=blocked, counts=counts)


def mask_digits(texts: list[str]) -> FilterOutcome:
    """Input filter: digits become '#' (an identifier, say)."""
    found = sum(ch.isdigit() for text in texts for ch in text)
    masked = ["".join("#" if ch.isdigit() else ch for ch in text) for text in texts]
    return FilterOutcome(texts=masked, blocked=[False] * len(texts), counts={"digit": found} if found else {})


class DeployTestPlugin:
    @hookimpl
    def register_domains(self, register):  # noqa: ANN001, ANN201
        register(Domain(
            name=DOMAIN, description="Chat and serve tests", task_type="generation",
            system_prompt=SYSTEM_PROMPT, max_new_tokens=16,
        ))

    @hookimpl
    def make_output_filters(self, domain: Domain) -> list[SafetyFilter] | None:
        return [SafetyFilter("mask-e", mask_e, reads_prompts=True)] if domain.name == DOMAIN else None

    @hookimpl
    def make_data_filters(self, domain: Domain) -> list[SafetyFilter] | None:
        return [SafetyFilter("mask-digits", mask_digits)] if domain.name == DOMAIN else None


def register() -> None:
    """For the subprocess: the test plugin stays registered until it exits."""
    from domaintune import plugins

    plugins.load_plugins()
    plugins.pm.register(DeployTestPlugin(), name=PLUGIN_NAME)


def build_run(run_dir: Path, precision: str = "fp32") -> Path:
    """A finished LoRA run of the test domain on a tiny model, in the layout `run_job` writes
    (config.yaml, adapter/ with its tokenizer, metrics.json); the adapter's weights are random
    and non-zero so the tuned model answers differently from the base. fp32 by default, so that
    the served answers equal `Reference`'s on any CPU."""
    import yaml
    from peft import LoraConfig, get_peft_model

    from domaintune.config import build_config
    from domaintune.model import load_model, load_tokenizer
    from domaintune.testing import build_tiny_model, plugin_registered

    model_dir = build_tiny_model(run_dir.parent / f"{run_dir.name}-base-model")
    with plugin_registered(DeployTestPlugin(), name=PLUGIN_NAME):
        config = build_config({"domain": DOMAIN, "model": model_dir, "output_dir": str(run_dir), "max_length": 128, "precision": precision})
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(load_model(model_dir), lora)
    model.save_pretrained(run_dir / "adapter")
    load_tokenizer(model_dir).save_pretrained(run_dir / "adapter")
    (run_dir / "metrics.json").write_text("{}\n", encoding="utf-8")
    return run_dir


HERE = Path(__file__).resolve()


def tune_command(*args: str) -> list[str]:
    """The command line that runs `tune ARGS` with the test plugin registered."""
    return [sys.executable, str(HERE), "tune", *args]


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **extra}


class Server:
    """`tune serve` in a subprocess on a free loopback port; stopped (and waited for) on exit.
    Its stderr is collected in ``log``."""

    def __init__(self, run_dir: Path, *options: str, startup_seconds: float = 120) -> None:
        self.process = subprocess.Popen(
            tune_command("serve", str(run_dir), "--port", "0", *options),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment(),
        )
        self.log: list[str] = []
        ready = threading.Event()
        self.url = ""

        def read() -> None:
            for line in self.process.stderr:  # type: ignore[union-attr]
                self.log.append(line)
                found = re.search(r"Serving .* at (http://127\.0\.0\.1:\d+)/v1", line)
                if found:
                    self.url = found.group(1)
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + startup_seconds
        while not ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("tune serve did not start:\n" + "".join(self.log))

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


class Reference:
    """The run's tuned model loaded with transformers and peft alone, answering greedily with
    `generate`: what the server's answers must equal, computed without domaintune.deploy."""

    def __init__(self, run_dir: Path) -> None:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        adapter = run_dir / "adapter"
        self.tokenizer = AutoTokenizer.from_pretrained(adapter)
        base = AutoModelForCausalLM.from_pretrained(run_dir.parent / f"{run_dir.name}-base-model")
        self.model = PeftModel.from_pretrained(base, adapter).merge_and_unload().eval()

    def answer(self, text: str, max_new_tokens: int) -> str:
        import torch

        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]
        prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = self.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
        with torch.inference_mode():
            output = self.model.generate(
                **ids, max_new_tokens=max_new_tokens, do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id,
            )
        return self.tokenizer.decode(output[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


if __name__ == "__main__":
    register()
    if sys.argv[1] == "build":
        build_run(Path(sys.argv[2]))
    else:
        from domaintune.cli import main

        sys.argv = ["tune", *sys.argv[2:]]
        main()
