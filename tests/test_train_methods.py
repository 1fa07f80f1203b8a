"""Fine-tuning methods and early stopping: DoRA trains and saves a DoRA adapter, QLoRA is
refused before anything loads where it cannot run, and early stopping on held-out rows stops a
diverging run and keeps its best checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from domaintune import Domain
from domaintune.config import build_config
from domaintune.data.prepare import load_source
from domaintune.errors import ConfigError
from domaintune.evaluation.rerun import evaluate_run
from domaintune.plugins import LOAD_PLUGINS_ENV, call_hook
from domaintune.run import run_job

TINY = {
    "max_train_rows": 16, "eval_rows": 8, "epochs": 1, "batch_size": 4, "gradient_accumulation": 1,
    "eval_batch_size": 4, "learning_rate": 1e-2, "logging_steps": 1, "precision": "fp32",
}


def squash(text: str) -> str:
    """Rich wraps long lines, even inside a word; compare printed text without whitespace."""
    return "".join(text.split())


def test_dora_run_trains_and_saves_a_dora_adapter(
    tmp_path: Path, tiny_model: str, test_domain: Domain
) -> None:
    from safetensors.torch import load_file

    run_dir = tmp_path / "run"
    config = build_config(
        dict(test_domain.defaults), TINY,
        {"domain": test_domain.name, "model": tiny_model, "output_dir": str(run_dir), "method": "dora"},
    )
    summary = run_job(config).summary

    losses = [entry["loss"] for entry in summary["train"]["loss_history"]]
    assert len(losses) == 4 and losses[-1] != losses[0]
    adapter_config = json.loads((run_dir / "adapter" / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter_config["use_dora"] is True
    weights = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    assert any("lora_magnitude_vector" in name for name in weights)
    # `tune eval` loads the DoRA adapter onto the base model and scores it the same.
    assert evaluate_run(run_dir)["tuned"] == summary["tuned"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_qlora_without_a_gpu_is_refused_before_any_data_or_model_loads(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "domaintune", "run", "--domain", "legal", "--method", "qlora",
        "--data", str(tmp_path / "missing.jsonl"), "--model", str(tmp_path / "no-model"),
    ]
    env = {**os.environ, LOAD_PLUGINS_ENV: "legal"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert squash(
        "method: 'qlora' needs a CUDA GPU and bitsandbytes, and this machine has no CUDA GPU; "
        "use --method lora (or dora) on CPU"
    ) in squash(result.stderr)
    assert "missing.jsonl" not in result.stderr and "no-model" not in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_config_errors_for_the_new_settings_come_together() -> None:
    with pytest.raises(ConfigError) as info:
        build_config({"domain": "legal", "method": "qlora", "early_stopping_rows": 8, "early_stopping_patience": 0})
    message = str(info.value)
    assert message.startswith("3 invalid setting(s):")
    assert "early_stopping_patience: must be greater than 0 (got 0)" in message
    assert "early_stopping_rows: 8 is used only with early stopping" in message
    assert "method: 'qlora' needs a CUDA GPU and bitsandbytes" in message


def test_four_bit_config_is_the_qlora_recipe() -> None:
    from domaintune.model import four_bit_config

    config = four_bit_config()
    assert config.load_in_4bit and not config.load_in_8bit
    assert config.bnb_4bit_quant_type == "nf4"
    assert config.bnb_4bit_use_double_quant is True
    assert config.bnb_4bit_compute_dtype == torch.bfloat16


@pytest.mark.parametrize(("micro_batch", "smaller"), [(8, 4), (6, 3), (9, 3), (3, 1), (2, 1)])
def test_a_smaller_micro_batch_divides_the_old_one(micro_batch: int, smaller: int) -> None:
    from domaintune.training.memory import smaller_micro_batch

    assert smaller_micro_batch(micro_batch) == smaller


def _train_on_test_domain(
    tiny_model: str, test_domain: Domain, output_dir: Path, **settings: object
) -> tuple[object, object]:
    """Train the tiny model on the test domain's 41 rows; returns the model and TrainResult."""
    import transformers
    from domaintune.model import load_model, load_tokenizer
    from domaintune.training.batches import tokenize_dataset
    from domaintune.training.methods import prepare_model
    from domaintune.training.train import train

    transformers.set_seed(0)  # the adapters are initialised before Trainer seeds
    config = build_config({
        "domain": test_domain.name, "model": tiny_model, "batch_size": 4, "gradient_accumulation": 1,
        "epochs": 2, "learning_rate": 0.3, "logging_steps": 1, "save_steps": 1, "precision": "fp32",
        "max_length": 64, **settings,
    })
    tokenizer = load_tokenizer(tiny_model)
    formatter = call_hook("make_formatter", domain=test_domain)
    rows = tokenize_dataset(load_source(test_domain, test_domain.train_data), formatter, tokenizer, 64, "t")
    model = prepare_model(load_model(tiny_model), config)
    return model, train(model, tokenizer, rows, config, output_dir)


def test_early_stopping_stops_a_diverging_run_and_keeps_its_best_checkpoint(
    tmp_path: Path, tiny_model: str, test_domain: Domain
) -> None:
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    # 41 rows: 9 held out, 32 trained on at 4 a step for 2 epochs: 16 steps at most.
    model, result = _train_on_test_domain(
        tiny_model, test_domain, tmp_path / "stopped", early_stopping_patience=1, early_stopping_rows=9
    )
    evaluations = [entry for entry in result.log_history if "eval_loss" in entry]
    assert result.stopped_early and result.steps < 16
    assert len(evaluations) == result.steps  # one evaluation per save_steps (1)
    best = min(evaluations, key=lambda entry: entry["eval_loss"])
    assert result.best_eval_loss == pytest.approx(best["eval_loss"])
    # The model left in memory is the best checkpoint's, not the last step's.
    saved = load_file(tmp_path / "stopped" / f"checkpoint-{best['step']}" / "adapter_model.safetensors")
    current = get_peft_model_state_dict(model)
    assert saved and all(torch.equal(saved[name], current[name].cpu()) for name in saved)

    _, unstopped = _train_on_test_domain(tiny_model, test_domain, tmp_path / "unstopped", epochs=1)
    assert not unstopped.stopped_early and unstopped.best_eval_loss is None
    assert unstopped.steps == 11  # 41 rows, none held out, at 4 rows a step
    assert not any("eval_loss" in entry for entry in unstopped.log_history)


def test_learning_rate_stays_at_its_peak_until_the_decay_fraction() -> None:
    from domaintune.training.schedule import WallClockBudget, warmup_stable_decay

    def rates(decay_fraction: float, budget: WallClockBudget) -> list[float]:
        parameter = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([parameter], lr=1.0)
        scheduler = warmup_stable_decay(optimizer, 100, 0, budget, decay_fraction)
        seen = []
        for _ in range(100):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return seen

    no_budget = WallClockBudget(None)
    linear, stable = rates(1.0, no_budget), rates(0.3, no_budget)
    assert linear[50] == pytest.approx(0.5) and linear[85] == pytest.approx(0.15)
    assert stable[50] == stable[69] == 1.0
    assert stable[85] == pytest.approx(0.5) and stable[99] == pytest.approx(1 / 30)
    # A time budget 90% used puts the run 90% through, whatever the step.
    spent = WallClockBudget(60.0)
    spent.fraction_used = 0.9
    assert rates(0.3, spent)[10] == pytest.approx(1 / 3)


def test_bf16_frozen_weights_keep_the_rotary_frequencies_in_fp32(tiny_model: str) -> None:
    from domaintune.model import load_model
    from domaintune.training.methods import cast_frozen_weights

    model = load_model(tiny_model)
    before = [id(p) for p in model.parameters()]
    model = cast_frozen_weights(model, build_config({"domain": "legal", "precision": "bf16"}))
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert [id(p) for p in model.parameters()] == before  # the same Parameters: tied weights stay tied
    buffers = {name: b.dtype for name, b in model.named_buffers() if name.endswith("inv_freq")}
    assert buffers and set(buffers.values()) == {torch.float32}


@pytest.mark.parametrize("share", [0.5, 1.0])
def test_adapters_on_the_upper_layers_only_stop_the_backward_pass_there(
    tmp_path: Path, tiny_model: str, test_domain: Domain, share: float
) -> None:
    from domaintune.model import load_model, load_tokenizer
    from domaintune.training.batches import tokenize_dataset
    from domaintune.training.methods import prepare_model
    from domaintune.training.train import train
    from safetensors.torch import load_file

    adapted = {1} if share == 0.5 else {0, 1}  # the tiny model has 2 decoder layers
    config = build_config(
        dict(test_domain.defaults), TINY,
        {"domain": test_domain.name, "model": tiny_model, "output_dir": str(tmp_path / "run"), "adapter_layers": share},
    )
    model = prepare_model(load_model(tiny_model), config)
    reached: set[int] = set()  # the decoder layers whose backward pass ran
    for index, layer in enumerate(model.get_base_model().model.layers):
        layer.register_full_backward_hook(lambda *_, index=index: reached.add(index))
    tokenizer = load_tokenizer(tiny_model)
    formatter = call_hook("make_formatter", domain=test_domain)
    rows = tokenize_dataset(load_source(test_domain, test_domain.train_data), formatter, tokenizer, 64, "t")
    assert train(model, tokenizer, rows, config, tmp_path / "checkpoints").steps > 0
    assert reached == adapted

    # A whole run saves adapters on those layers only, and `tune eval` loads and scores them.
    summary = run_job(config).summary
    weights = load_file(tmp_path / "run" / "adapter" / "adapter_model.safetensors")
    assert {int(name.split(".layers.")[1].split(".")[0]) for name in weights} == adapted
    assert len(weights) == 2 * 7 * len(adapted)  # A and B on q, k, v, o, gate, up, down
    assert evaluate_run(tmp_path / "run")["tuned"] == summary["tuned"]
