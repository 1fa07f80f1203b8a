"""Training on a CPU attends with eager attention where rows are short, the shared prefix in
its rows' own pass: the same loss and gradients as SDPA on a left-padded batch that continues
its shared prefix's cache (or has none), one decoder pass a batch, and the model's own
attention back for scoring once training ends."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from domaintune import Domain
from domaintune.config import build_config
from domaintune.data.prepare import load_source
from domaintune.model import load_model, load_tokenizer
from domaintune.plugins import call_hook
from domaintune.training.attention import CPU_TRAINING_ATTENTION, EAGER_MAX_LENGTH, training_attention
from domaintune.training.batches import LeftPadToLongest, tokenize_dataset
from domaintune.training.loss import AnswerLossTrainer
from domaintune.training.methods import prepare_model
from domaintune.training.totals import TokenCount
from domaintune.training.train import train
from training_rows import EVERY_LAYER, randomize_lora_b, shared_prefix_rows
from transformers import TrainerCallback, TrainingArguments


@pytest.mark.parametrize("share_prefix", [True, False], ids=["prefix in the rows' pass", "no shared prefix"])
def test_training_attention_gives_sdpas_loss_and_gradients_on_a_padded_batch(
    tiny_model: str, tmp_path: Path, share_prefix: bool
) -> None:
    tokenizer = load_tokenizer(tiny_model)
    torch.manual_seed(0)
    config = build_config({"domain": "legal", "precision": "fp32", **EVERY_LAYER})
    model = prepare_model(load_model(tiny_model), config)
    randomize_lora_b(model, std=0.02)
    model.train()
    batch = LeftPadToLongest(tokenizer.pad_token_id, share_prefix=share_prefix)(shared_prefix_rows(tokenizer))
    assert ("prefix_ids" in batch) == share_prefix and int((batch["attention_mask"] == 0).sum()) > 0
    trainer = AnswerLossTrainer(
        model=model, args=TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none"),
        tokens=TokenCount(),
    )

    def loss_and_gradients() -> tuple[float, dict[str, torch.Tensor]]:
        model.zero_grad()
        loss = trainer.compute_loss(model, dict(batch))
        loss.backward()
        return float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    sdpa_loss, sdpa_gradients = loss_and_gradients()
    with training_attention(model, max_length=256):
        assert model.get_base_model().config._attn_implementation == CPU_TRAINING_ATTENTION
        eager_loss, eager_gradients = loss_and_gradients()
    assert model.get_base_model().config._attn_implementation == "sdpa"
    assert eager_loss == pytest.approx(sdpa_loss, rel=1e-5)
    assert eager_gradients.keys() == sdpa_gradients.keys() and len(sdpa_gradients) > 0
    for name, gradient in sdpa_gradients.items():
        assert torch.allclose(eager_gradients[name], gradient, atol=1e-6, rtol=1e-4), name


class AttentionSeen(TrainerCallback):
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def on_step_begin(self, args, state, control, model=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
        self.seen.add(model.get_base_model().config._attn_implementation)
        return control


def test_training_on_cpu_attends_eagerly_and_hands_the_model_back_on_its_own_attention(
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
    assert model.get_base_model().config._attn_implementation == "sdpa"
    seen = AttentionSeen()
    result = train(model, tokenizer, rows.select(range(8)), config, tmp_path / "checkpoints", callbacks=[seen])
    assert result.steps >= 1
    assert seen.seen == {CPU_TRAINING_ATTENTION}
    assert model.get_base_model().config._attn_implementation == "sdpa"


def test_longer_rows_keep_sdpa_whose_memory_grows_linearly(tiny_model: str) -> None:
    model = prepare_model(load_model(tiny_model), build_config({"domain": "legal", "precision": "fp32"}))
    with training_attention(model, max_length=EAGER_MAX_LENGTH + 1):
        assert model.get_base_model().config._attn_implementation == "sdpa"
    with training_attention(model, max_length=EAGER_MAX_LENGTH):
        assert model.get_base_model().config._attn_implementation == CPU_TRAINING_ATTENTION


def test_the_shared_prefix_runs_in_the_rows_own_pass(tiny_model: str, tmp_path: Path) -> None:
    tokenizer = load_tokenizer(tiny_model)
    model = prepare_model(load_model(tiny_model), build_config({"domain": "legal", "precision": "fp32", **EVERY_LAYER})).train()
    batch = LeftPadToLongest(tokenizer.pad_token_id)(shared_prefix_rows(tokenizer))
    trainer = AnswerLossTrainer(
        model=model, args=TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none"),
        tokens=TokenCount(),
    )
    passes: list[tuple[int, ...]] = []
    model.get_base_model().get_decoder().register_forward_pre_hook(
        lambda module, args, kwargs: passes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    _, apart = trainer.compute_loss(model, dict(batch), return_outputs=True)
    assert len(passes) == 2  # SDPA: the prefix's own pass, then the rows'
    passes.clear()
    with training_attention(model, max_length=256):
        _, packed = trainer.compute_loss(model, dict(batch), return_outputs=True)
    rows, width = batch["input_ids"].shape
    assert passes == [(1, batch["prefix_ids"].numel() + rows * width)]  # one packed pass
    # Evaluation reads the logits: row by row, as the separate pass gives them.
    assert packed.logits.shape == apart.logits.shape and apart.logits.shape[0] == rows
    assert torch.allclose(packed.logits, apart.logits, atol=1e-4)
