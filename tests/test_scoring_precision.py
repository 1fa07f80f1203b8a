"""`tune eval RUN` scores a bf16 run's tuned model as the run did: frozen weights in bf16 and
the LoRA adapter unmerged in fp32. Merged into bf16 weights, a small update is mostly rounded
away (a PhraseBank run scored 0.700 unmerged and 0.605 merged). The tiny model's logits do
not show it, so this checks one adapted layer against the exact fp32 update."""

from __future__ import annotations

from pathlib import Path

import deploy_plugin as support
import torch
from peft import PeftModel
from peft.tuners.lora import LoraLayer

from domaintune.evaluation.rerun import run_models, run_settings
from domaintune.testing import plugin_registered

UPDATE_SCALE = 0.002
"""The adapter's update relative to the weights: a trained LoRA's is of this order."""


LAYER = "layers.0.self_attn.q_proj"


def layer_of(model: torch.nn.Module) -> torch.nn.Module:
    return next(m for name, m in model.named_modules() if name.endswith(LAYER))


def small_update_run(tmp_path: Path) -> tuple[Path, torch.Tensor]:
    """A bf16 run whose adapter changes its layers' weights by about UPDATE_SCALE, and the
    exact fp32 change of LAYER's weight."""
    torch.manual_seed(0)  # the adapter's random weights
    run_dir = support.build_run(tmp_path / "run", precision="bf16")
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(run_dir.parent / f"{run_dir.name}-base-model"), run_dir / "adapter",
        is_trainable=True,
    )
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LoraLayer):
                weight = module.base_layer.weight
                update = module.get_delta_weight("default")
                module.lora_B["default"].weight.mul_(UPDATE_SCALE * weight.norm() / update.norm())
    model.save_pretrained(run_dir / "adapter")
    return run_dir, layer_of(model).get_delta_weight("default").detach()


def test_a_bf16_run_is_scored_unmerged_keeping_its_update(tmp_path: Path) -> None:
    run_dir, delta_weight = small_update_run(tmp_path)
    with plugin_registered(support.DeployTestPlugin(), name=support.PLUGIN_NAME):
        settings = run_settings(run_dir)
        models = run_models(run_dir, settings)
        _, base = next(models)
        base_layer = layer_of(base)
        x = torch.randn(16, base_layer.in_features, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            base_out = base_layer(x).float()
        base_weight = base_layer.weight.detach().clone()
        _, tuned = next(models)
        layer = layer_of(tuned)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            tuned_out = layer(x).float()

    with torch.no_grad():
        exact_update = x @ delta_weight.T
        merged_weight = (base_weight.float() + delta_weight).to(torch.bfloat16)
        merged_update = (x.to(torch.bfloat16) @ merged_weight.T).float() - base_out

    def kept(update: torch.Tensor) -> float:
        return float(torch.nn.functional.cosine_similarity(update.flatten(), exact_update.flatten(), dim=0))

    # Scored as the run scored it, the layer's change follows the adapter's update (0.84 here:
    # the bf16 output rounds some away); merged into bf16 weights it is mostly rounding (0.58).
    assert kept(tuned_out - base_out) > 0.75
    assert kept(merged_update) < 0.7
    assert base_weight.dtype == torch.bfloat16
    assert layer.lora_A["default"].weight.dtype == torch.float32
