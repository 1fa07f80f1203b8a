"""Builders for plugin authors' tests that need no pytest: a tiny model built from scratch,
the settings of a run of a few seconds on it, and a finished run of the default model.

``pip install domaintune`` is enough to call :func:`build_tiny_model` from a script; torch,
transformers and tokenizers are imported inside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""SmolLM2's chat format, without its default system prompt."""

DEFAULT_TOKENIZER_TEXT = (
    "You are a helpful assistant. Answer with exactly one word.",
    "system user assistant yes no Yes No true false billing technical",
    "The quick brown fox jumps over the lazy dog.",
    "Please read the question and the text, then give the answer.",
    "The customer asked about the invoice, the payment and the account.",
    "The contract, the patient, the report and the table show the numbers.",
)
"""What the tiny tokenizer learns its merges from; any other text still encodes, byte by byte."""

TINY_RUN: dict[str, Any] = {
    "max_train_rows": 16,
    "eval_rows": 8,
    "epochs": 1.0,
    "batch_size": 4,
    "gradient_accumulation": 1,
    "eval_batch_size": 4,
    "learning_rate": 1e-2,
    "logging_steps": 1,
    "precision": "fp32",
    "max_length": 128,
    "time_budget_minutes": None,
}
"""Settings ``run_domain`` uses unless told otherwise: a run of a few seconds."""


def build_tiny_model(folder: Path | str, texts: Sequence[str] = DEFAULT_TOKENIZER_TEXT) -> str:
    """Save a tiny randomly initialised Llama and a ChatML byte-level BPE tokenizer trained on
    ``texts`` (pad == eos == ``<|im_end|>``, as in SmolLM2) to ``folder``; return the folder,
    for ``RunConfig(model=...)`` or ``tune --model``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(
        list(texts),
        trainer=trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<|im_start|>", "<|im_end|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|im_end|>"
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.save_pretrained(folder)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return str(folder)


def build_default_model_run(run_dir: Path, domain_name: str) -> Path:
    """A finished run folder of the real default model for ``domain_name`` whose LoRA adapter
    is freshly initialised (B = 0, so it answers as the base model): what ``tune chat``,
    ``tune serve`` and their benchmarks need, without minutes of training."""
    import yaml
    from peft import LoraConfig, get_peft_model

    from domaintune.config import build_config
    from domaintune.model import load_model, load_tokenizer, resolve_model

    config = build_config({"domain": domain_name, "output_dir": str(run_dir)})
    model_path = resolve_model(config.model)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    lora = LoraConfig(r=config.lora_r, target_modules=["q_proj", "v_proj"])
    get_peft_model(load_model(model_path), lora).save_pretrained(run_dir / "adapter")
    load_tokenizer(model_path).save_pretrained(run_dir / "adapter")
    (run_dir / "metrics.json").write_text("{}\n", encoding="utf-8")
    return run_dir
