"""Training runs the prefix a batch's rows share once: the batch it collates holds every row
whole, and the loss and gradients equal those of the plain left-padded batch."""

from __future__ import annotations

import pytest
import torch
from domaintune.config import build_config
from domaintune.data.encoding import IGNORE_INDEX
from domaintune.prefix import MIN_SHARED_PREFIX
from domaintune.training.batches import LeftPadToLongest
from domaintune.training.loss import AnswerLossTrainer
from domaintune.training.methods import prepare_model
from domaintune.training.totals import TokenCount
from training_rows import EVERY_LAYER, randomize_lora_b, shared_prefix_rows
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments


def test_a_batch_holds_its_shared_prefix_once_and_every_row_whole(tiny_model: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = shared_prefix_rows(tokenizer)
    batch = LeftPadToLongest(tokenizer.pad_token_id)(rows)
    prefix = batch["prefix_ids"].tolist()
    assert len(prefix) >= MIN_SHARED_PREFIX
    first_label = min(row["labels"].index(next(t for t in row["labels"] if t != IGNORE_INDEX)) for row in rows)
    assert len(prefix) < first_label  # the logit before each row's first label is the row's own
    mask = batch["attention_mask"]
    assert mask.shape[1] == len(prefix) + batch["input_ids"].shape[1]
    assert int(mask.sum()) == sum(len(row["input_ids"]) for row in rows)  # every real token counts
    for i, row in enumerate(rows):
        own = mask[i, len(prefix):].bool()
        assert prefix + batch["input_ids"][i][own].tolist() == row["input_ids"]
        assert [IGNORE_INDEX] * len(prefix) + batch["labels"][i][own].tolist() == row["labels"]
        assert batch["position_ids"][i][own].tolist() == list(range(len(prefix), len(row["input_ids"])))
    assert "prefix_ids" not in LeftPadToLongest(tokenizer.pad_token_id)(rows[:1])  # one row: nothing to share
    assert "prefix_ids" not in LeftPadToLongest(tokenizer.pad_token_id, share_prefix=False)(rows)


@pytest.mark.parametrize("method", ["lora", "full"])
def test_the_shared_prefix_gives_the_plain_batchs_loss_and_gradients(
    tiny_model: str, tmp_path, method: str  # noqa: ANN001
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    torch.manual_seed(0)
    config = build_config({}, {"domain": "legal", "method": method, "precision": "fp32", "lora_dropout": 0.0, **EVERY_LAYER})
    model = prepare_model(AutoModelForCausalLM.from_pretrained(tiny_model), config)
    if method == "lora":  # B = 0 at the start would leave A without gradient
        randomize_lora_b(model, std=0.02)
    model.train()
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    trainer = AnswerLossTrainer(model=model, args=args, tokens=TokenCount())
    rows = shared_prefix_rows(tokenizer)
    results = []
    for share_prefix in (True, False):
        batch = LeftPadToLongest(tokenizer.pad_token_id, share_prefix=share_prefix)(rows)
        assert ("prefix_ids" in batch) == share_prefix
        model.zero_grad()
        loss = trainer.compute_loss(model, batch)
        loss.backward()
        gradients = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((float(loss.detach()), gradients))
    (shared_loss, shared_gradients), (plain_loss, plain_gradients) = results
    assert shared_loss == pytest.approx(plain_loss, rel=1e-5)
    assert shared_gradients.keys() == plain_gradients.keys() and len(plain_gradients) > 0
    for name, gradient in plain_gradients.items():
        assert torch.allclose(shared_gradients[name], gradient, atol=1e-6, rtol=1e-4), name


def saved_bytes_and_gradients(trainer, model, batch) -> tuple[int, float, dict[str, torch.Tensor]]:  # noqa: ANN001
    """Bytes of activations the forward keeps for the backward pass (each storage once; the
    weights it keeps are not counted), the loss, the gradients."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.untyped_storage().data_ptr() not in weights:
            storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    model.zero_grad()
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = trainer.compute_loss(model, dict(batch))
    loss.backward()
    gradients = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return sum(storages.values()), float(loss.detach()), gradients


def test_bf16_lora_inputs_left_uncast_give_the_same_gradients_and_keep_less_for_the_backward(
    tiny_model: str, tmp_path  # noqa: ANN001
) -> None:
    from domaintune.precision import parameters_to_bf16
    from domaintune.training.methods import adapter_inputs_uncast

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    torch.manual_seed(0)
    config = build_config({}, {"domain": "legal", "method": "lora", "precision": "bf16", **EVERY_LAYER})
    model = prepare_model(parameters_to_bf16(AutoModelForCausalLM.from_pretrained(tiny_model)), config)
    randomize_lora_b(model, std=0.02)
    model.train()
    trainer = AnswerLossTrainer(
        model=model, args=TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none"),
        tokens=TokenCount(),
    )
    batch = LeftPadToLongest(tokenizer.pad_token_id)(shared_prefix_rows(tokenizer))
    cast_bytes, cast_loss, cast_gradients = saved_bytes_and_gradients(trainer, model, batch)
    with adapter_inputs_uncast(model, config):
        uncast_bytes, uncast_loss, uncast_gradients = saved_bytes_and_gradients(trainer, model, batch)
    assert uncast_loss == cast_loss
    assert uncast_gradients.keys() == cast_gradients.keys() and len(cast_gradients) > 0
    for name, gradient in cast_gradients.items():
        assert torch.equal(uncast_gradients[name], gradient), name
    # The cast's copies of the adapted layers' inputs, kept for the backward pass: 12% of the
    # tiny model's activations, 20% (626 MiB) of the default model's at 8 rows of 256 tokens.
    assert uncast_bytes < 0.9 * cast_bytes, (uncast_bytes, cast_bytes)


def test_a_long_batch_runs_as_parts_of_whole_rows_with_the_batchs_gradients(tiny_model: str, tmp_path) -> None:  # noqa: ANN001
    from domaintune.training.batches import split_by_positions

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = shared_prefix_rows(tokenizer) + shared_prefix_rows(tokenizer)[:1]  # 4 rows of different lengths
    batch = LeftPadToLongest(tokenizer.pad_token_id)(rows)
    prefix = batch["prefix_ids"].numel()
    whole = prefix + batch["input_ids"].numel()
    parts = split_by_positions(batch, max_positions=whole // 2)
    assert len(parts) >= 2
    assert all(prefix + part["input_ids"].numel() <= whole // 2 for part in parts)
    # Every row once, whole: its own tokens after the shared prefix.
    def own_rows(b: dict[str, torch.Tensor]) -> list[list[int]]:
        mask = b["attention_mask"][:, prefix:].bool()
        return [b["input_ids"][i][mask[i]].tolist() for i in range(len(mask))]
    assert sorted(r for part in parts for r in own_rows(part)) == sorted(own_rows(batch))
    assert split_by_positions(batch, max_positions=whole) == [batch]

    torch.manual_seed(0)
    config = build_config({}, {"domain": "legal", "method": "full", "precision": "fp32"})
    model = prepare_model(AutoModelForCausalLM.from_pretrained(tiny_model), config).train()
    trainer = AnswerLossTrainer(
        model=model, args=TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none"),
        tokens=TokenCount(),
    )
    answer_tokens = int((batch["labels"] != IGNORE_INDEX).sum())
    results = []
    for pieces in ([batch], parts):
        model.zero_grad()
        loss = sum(trainer.compute_loss(model, dict(p), num_items_in_batch=answer_tokens) for p in pieces)
        loss.backward()
        results.append((float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (whole_loss, whole_gradients), (parts_loss, parts_gradients) = results
    assert parts_loss == pytest.approx(whole_loss, rel=1e-5)
    for name, gradient in whole_gradients.items():
        assert torch.allclose(parts_gradients[name], gradient, atol=1e-6, rtol=1e-4), name


def test_training_in_parts_follows_the_loss_curve_of_whole_batches(tiny_model: str, tmp_path) -> None:  # noqa: ANN001
    import transformers
    from domaintune.model import load_model
    from domaintune.training.batches import tokenize_dataset
    from domaintune.training.train import train
    from training_rows import user_assistant, yes_no_rows

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = tokenize_dataset(yes_no_rows(16, lambda i: 4 + 3 * (i % 5)), user_assistant, tokenizer, 64, "any")
    curves = []
    for max_forward_tokens in (None, 64):
        config = build_config({
            "domain": "any", "batch_size": 8, "gradient_accumulation": 1, "max_length": 64, "precision": "fp32",
            "logging_steps": 1, "epochs": 2, "learning_rate": 1e-2, "max_forward_tokens": max_forward_tokens,
        })
        transformers.set_seed(0)
        model = prepare_model(load_model(tiny_model), config)
        result = train(model, tokenizer, rows, config, tmp_path / str(max_forward_tokens))
        curves.append([entry["loss"] for entry in result.log_history if "loss" in entry])
        if max_forward_tokens:
            assert result.tokens == sum(rows["length"]) * 2  # every row's tokens, once an epoch
    assert len(curves[0]) == 4
    assert curves[1] == pytest.approx(curves[0], rel=1e-4)
