"""LoRA training runs q/k/v and gate/up as one matmul each: the same loss and gradients as
peft's layer-by-layer forward, no second copy of the frozen weights, peft's forward and
weights of their own back after, and layers it cannot group left to peft."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from domaintune import Domain
from domaintune.config import build_config
from domaintune.data.prepare import load_source
from domaintune.model import load_model, load_tokenizer
from domaintune.plugins import call_hook
from domaintune.training.batches import LeftPadToLongest, tokenize_dataset
from domaintune.training.loss import AnswerLossTrainer
from domaintune.training.methods import prepare_model
from domaintune.training.projections import grouped_projections
from domaintune.training.totals import TokenCount
from domaintune.training.train import train
from training_rows import randomize_lora_b, shared_prefix_rows
from transformers import TrainerCallback, TrainingArguments

GROUPED = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")


def adapted(model: torch.nn.Module, names: tuple[str, ...] = GROUPED) -> list[torch.nn.Module]:
    return [module for name, module in model.named_modules() if name.rsplit(".", 1)[-1] in names]


def grouped_now(model: torch.nn.Module) -> list[bool]:
    return ["forward" in vars(layer) for layer in adapted(model)]


@pytest.fixture
def lora_batch(tiny_model: str, tmp_path: Path) -> tuple[torch.nn.Module, AnswerLossTrainer, dict]:
    tokenizer = load_tokenizer(tiny_model)
    torch.manual_seed(0)
    model = prepare_model(load_model(tiny_model), build_config({"domain": "legal", "precision": "fp32"}))
    randomize_lora_b(model, std=0.02)
    model.train()
    batch = LeftPadToLongest(tokenizer.pad_token_id)(shared_prefix_rows(tokenizer))
    assert "prefix_ids" in batch  # the prefix's own pass runs grouped too
    trainer = AnswerLossTrainer(
        model=model, args=TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none"),
        tokens=TokenCount(),
    )
    return model, trainer, batch


def loss_and_gradients(model, trainer, batch, bf16: bool = False) -> tuple[float, dict[str, torch.Tensor]]:  # noqa: ANN001
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = trainer.compute_loss(model, dict(batch))
    loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_grouped_projections_give_pefts_loss_and_gradients(lora_batch) -> None:  # noqa: ANN001
    model, trainer, batch = lora_batch
    peft_loss, peft_gradients = loss_and_gradients(model, trainer, batch)
    weights = {name: p.detach().clone() for name, p in model.named_parameters()}
    with grouped_projections(model):
        assert all(grouped_now(model))
        grouped_loss, grouped_gradients = loss_and_gradients(model, trainer, batch)
    assert not any(grouped_now(model))
    assert grouped_loss == pytest.approx(peft_loss, rel=1e-5)
    assert grouped_gradients.keys() == peft_gradients.keys()
    assert any("q_proj.lora_A" in name for name in peft_gradients)
    for name, gradient in peft_gradients.items():
        assert gradient.abs().max() > 0, name  # the adapters matter, so the comparison can fail
        assert torch.allclose(grouped_gradients[name], gradient, atol=1e-6, rtol=1e-4), name
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, weights[name]), name


def test_grouped_projections_under_bf16_autocast_stay_within_its_rounding(lora_batch) -> None:  # noqa: ANN001
    model, trainer, batch = lora_batch
    peft_loss, _ = loss_and_gradients(model, trainer, batch, bf16=True)
    with grouped_projections(model):
        grouped_loss, _ = loss_and_gradients(model, trainer, batch, bf16=True)
    assert grouped_loss == pytest.approx(peft_loss, rel=2e-2)


def storage_bytes(model: torch.nn.Module) -> int:
    storages = {p.untyped_storage().data_ptr(): p.untyped_storage().nbytes() for p in model.parameters()}
    return sum(storages.values())


def test_grouping_keeps_one_copy_of_the_frozen_weights_and_gives_each_its_own_back(lora_batch) -> None:  # noqa: ANN001
    model = lora_batch[0]
    before = storage_bytes(model)
    with grouped_projections(model):
        q_proj, k_proj = adapted(model, ("q_proj", "k_proj"))[:2]
        # Members are views of one stacked weight: no second copy.
        assert q_proj.base_layer.weight.untyped_storage().data_ptr() == k_proj.base_layer.weight.untyped_storage().data_ptr()
        assert storage_bytes(model) <= before
    for layer in adapted(model):
        weight = layer.base_layer.weight
        assert weight.untyped_storage().nbytes() == weight.numel() * weight.element_size()
    assert storage_bytes(model) == before


def test_layers_it_cannot_group_keep_pefts_forward(tiny_model: str) -> None:
    dora = prepare_model(load_model(tiny_model), build_config({"domain": "legal", "precision": "fp32", "method": "dora"}))
    with grouped_projections(dora):
        assert not any(grouped_now(dora))
    dropout = prepare_model(
        load_model(tiny_model), build_config({"domain": "legal", "precision": "fp32", "lora_dropout": 0.1})
    )
    with grouped_projections(dropout):
        assert not any(grouped_now(dropout))


class GroupingSeen(TrainerCallback):
    def __init__(self) -> None:
        self.seen: set[bool] = set()

    def on_step_begin(self, args, state, control, model=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
        self.seen.update(grouped_now(model))
        return control


def test_training_runs_grouped_and_hands_the_model_back_on_pefts_forward(
    tiny_model: str, test_domain: Domain, tmp_path: Path
) -> None:
    config = build_config({
        "domain": test_domain.name, "model": tiny_model, "batch_size": 4, "epochs": 1,
        "max_train_rows": 8, "precision": "fp32", "max_length": 64,
    })
    tokenizer = load_tokenizer(tiny_model)
    formatter = call_hook("make_formatter", domain=test_domain)
    rows = tokenize_dataset(load_source(test_domain, test_domain.train_data), formatter, tokenizer, 64, "t")
    model = prepare_model(load_model(tiny_model), config)
    seen = GroupingSeen()
    result = train(model, tokenizer, rows.select(range(8)), config, tmp_path / "checkpoints", callbacks=[seen])
    assert result.steps >= 1
    assert seen.seen == {True}
    assert not any(grouped_now(model))
