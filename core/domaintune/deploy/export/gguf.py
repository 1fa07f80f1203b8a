"""Writing a llama-architecture model and its tokenizer as one GGUF file (f16 or q8_0).

PyPI has no Hugging Face to GGUF converter (llama.cpp's `convert_hf_to_gguf.py` is not
packaged), so this is that conversion for the llama architecture, written with the `gguf`
package's writer, tensor-name map and quantizers. The metadata keys, the tokenizer block and
the q/k permutation follow llama.cpp's converter; transformers' GGUF loader
(`modeling_gguf_pytorch_utils.LlamaTensorProcessor`) undoes exactly that permutation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.errors import ExportError

if TYPE_CHECKING:
    import numpy as np
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

QUANTS = ("f16", "q8_0")
SUPPORTED_ARCHITECTURES = ("llama",)


def check_exportable(model: PreTrainedModel, quant: str) -> None:
    """Refuse, before any weights are written, what this writer cannot convert faithfully."""
    config = model.config
    if quant not in QUANTS:
        raise ExportError(f"Unknown GGUF quantization {quant!r}; choose one of {', '.join(QUANTS)}.")
    if config.model_type not in SUPPORTED_ARCHITECTURES:
        raise ExportError(
            f"The model's architecture is {config.model_type!r}; the GGUF export writes "
            f"{', '.join(SUPPORTED_ARCHITECTURES)} only. Export with --to merged instead."
        )
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        raise ExportError(
            f"The model uses rope scaling {rope.get('rope_type')!r}, which this GGUF writer does "
            "not carry; export with --to merged instead."
        )
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        raise ExportError("The model has attention or MLP biases, which the llama GGUF layout lacks; export with --to merged.")


def llama_permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row order: each head's rotary halves interleaved (its converter's
    `permute`); transformers' `_reverse_permute_weights` is the inverse."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _merges(tokenizer: PreTrainedTokenizerBase) -> list[str]:
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    if model.get("type") != "BPE":
        raise ExportError(
            f"The tokenizer is a {model.get('type')} model; the GGUF export writes byte-level BPE "
            "(gpt2) tokenizers only. Export with --to merged instead."
        )
    return [merge if isinstance(merge, str) else " ".join(merge) for merge in model["merges"]]


def _tokenizer_fields(
    tokenizer: PreTrainedTokenizerBase, vocab_rows: int, end_of_turn_id: int
) -> tuple[list[str], list[int], list[str]]:
    """Tokens in id order, their llama.cpp types, and the merges; rows of the embedding past
    the tokenizer's vocabulary get unused placeholder tokens, as llama.cpp's converter does."""
    from gguf import TokenType

    vocab = tokenizer.get_vocab()
    if len(vocab) > vocab_rows:
        raise ExportError(
            f"The tokenizer has {len(vocab)} tokens but the model's embedding only {vocab_rows} rows."
        )
    by_id = {index: token for token, index in vocab.items()}
    added = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for index in range(vocab_rows):
        if index not in by_id:
            tokens.append(f"[PAD{index}]")
            types.append(TokenType.UNUSED)
        elif index in added:
            tokens.append(by_id[index])
            types.append(TokenType.CONTROL if added[index].special else TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[index])
            types.append(TokenType.NORMAL)
    if types[end_of_turn_id] != TokenType.CONTROL:
        raise ExportError(
            f"The end-of-turn token {tokens[end_of_turn_id]!r} is not a special token of the "
            "tokenizer, so a GGUF reader would split it; mark it special in tokenizer_config.json."
        )
    return tokens, [int(t) for t in types], _merges(tokenizer)


def _tensor_data(weights: np.ndarray, quant: str) -> tuple[np.ndarray, Any]:
    """(data, raw_dtype): 1-D tensors (norms) stay f32 as in llama.cpp's files; matrices go
    to f16, or to Q8_0 when their rows split into its 32-value blocks."""
    import numpy as np
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    if weights.ndim == 1:
        return weights.astype(np.float32), None
    if quant == "q8_0" and weights.shape[-1] % 32 == 0:
        return quantize(weights.astype(np.float32), GGMLQuantizationType.Q8_0), GGMLQuantizationType.Q8_0
    return weights.astype(np.float16), None


def write_gguf(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    path: Path,
    quant: str,
    end_of_turn_id: int,
    name: str,
) -> None:
    """Write ``model`` and ``tokenizer`` (its chat template included) to ``path`` in one GGUF
    file; the end-of-turn token is the file's eos and eot, so readers stop where the chat
    template ends a turn. A crash leaves no half-written file at ``path``."""
    import gguf

    check_exportable(model, quant)
    config = model.config
    n_head, n_kv_head = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_head
    state = model.state_dict()
    vocab_rows = state["model.embed_tokens.weight"].shape[0]
    tokens, types, merges = _tokenizer_fields(tokenizer, vocab_rows, end_of_turn_id)
    rope_theta = (getattr(config, "rope_parameters", None) or {}).get("rope_theta") or getattr(config, "rope_theta")

    temporary = path.parent / f".{path.name}.partial-{os.getpid()}"
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(temporary, "llama")
    try:
        writer.add_name(name)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if quant == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        writer.add_context_length(config.max_position_embeddings)
        writer.add_embedding_length(config.hidden_size)
        writer.add_block_count(config.num_hidden_layers)
        writer.add_feed_forward_length(config.intermediate_size)
        writer.add_head_count(n_head)
        writer.add_head_count_kv(n_kv_head)
        writer.add_rope_dimension_count(head_dim)
        writer.add_rope_freq_base(float(rope_theta))
        writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
        writer.add_vocab_size(vocab_rows)

        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("gpt-2")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges(merges)
        if tokenizer.bos_token_id is not None:
            writer.add_bos_token_id(tokenizer.bos_token_id)
        writer.add_eos_token_id(end_of_turn_id)
        writer.add_eot_token_id(end_of_turn_id)
        writer.add_pad_token_id(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_of_turn_id)
        if tokenizer.unk_token_id is not None:
            writer.add_unk_token_id(tokenizer.unk_token_id)
        writer.add_add_bos_token(bool(getattr(tokenizer, "add_bos_token", False)))
        writer.add_chat_template(tokenizer.chat_template)

        names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
        tied = bool(getattr(config, "tie_word_embeddings", False))
        for hf_name, tensor in state.items():
            if hf_name == "lm_head.weight" and tied:
                continue  # a file without output.weight is read as tied embeddings
            gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
            if gguf_name is None:
                raise ExportError(f"No GGUF name for tensor {hf_name!r} of the llama architecture.")
            weights = tensor.detach().float().cpu().numpy()
            if hf_name.endswith("self_attn.q_proj.weight"):
                weights = llama_permute(weights, n_head)
            elif hf_name.endswith("self_attn.k_proj.weight"):
                weights = llama_permute(weights, n_kv_head)
            data, raw_dtype = _tensor_data(weights, quant)
            writer.add_tensor(gguf_name, data, raw_dtype=raw_dtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(temporary, path)
    finally:
        writer.close()
        temporary.unlink(missing_ok=True)
