"""Scoring runs LoRA adapters folded (`domaintune.lora_inference`): the same logits as peft's
forward, in fp32 and under bf16 autocast, peft's forward back afterwards, and DoRA left to
peft."""

from __future__ import annotations

import pytest
import torch
from domaintune.config import build_config
from domaintune.lora_inference import folded_adapters
from domaintune.model import load_model
from domaintune.training.methods import prepare_model
from peft.tuners.lora import Linear as LoraLinear
from training_rows import EVERY_LAYER, randomize_lora_b


def tuned_model(tiny_model: str, method: str = "lora") -> torch.nn.Module:
    torch.manual_seed(0)
    config = build_config({"domain": "legal", "method": method, "precision": "fp32", **EVERY_LAYER})
    model = prepare_model(load_model(tiny_model), config)
    randomize_lora_b(model, std=0.05)
    return model.eval()


def logits(model: torch.nn.Module, bf16: bool) -> torch.Tensor:
    input_ids = torch.randint(5, 100, (3, 12), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        return model(input_ids=input_ids).logits.float()


@pytest.mark.parametrize("bf16", [False, True])
def test_folded_adapters_give_pefts_logits(tiny_model: str, bf16: bool) -> None:
    model = tuned_model(tiny_model)
    layers = [m for m in model.modules() if isinstance(m, LoraLinear)]
    peft_logits = logits(model, bf16)
    with model.disable_adapter():
        base_logits = logits(model, bf16)
    with folded_adapters(model):
        assert all("forward" in layer.__dict__ for layer in layers)
        folded_logits = logits(model, bf16)
    assert all("forward" not in layer.__dict__ for layer in layers)  # peft's forward is back
    update = (peft_logits - base_logits).abs().max()
    assert update > 1e-2  # the adapters change the logits, so the comparison below can fail
    tolerance = 1e-4 if not bf16 else float(update) / 4
    assert torch.allclose(folded_logits, peft_logits, atol=tolerance, rtol=0)


def test_dora_layers_keep_pefts_forward(tiny_model: str) -> None:
    model = tuned_model(tiny_model, method="dora")
    layers = [m for m in model.modules() if isinstance(m, LoraLinear)]
    assert layers
    with folded_adapters(model):
        assert all("forward" not in layer.__dict__ for layer in layers)
