"""`distributed: fsdp` (FSDP2 through Trainer and accelerate) runs on CPU over gloo: two
processes give DDP's loss curve; DeepSpeed, which needs CUDA and the deepspeed package, is
refused before any work, naming what is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from domaintune.plugins import LOAD_PLUGINS_ENV


def run(folder: Path, tiny_model: str, distributed: str) -> dict:
    folder.mkdir()
    (folder / "settings.yaml").write_text(
        "epochs: 1\nlogging_steps: 1\nlearning_rate: 0.005\ngradient_accumulation: 1\n"
        f"distributed: {distributed}\n", encoding="utf-8",
    )
    command = [
        sys.executable, "-m", "domaintune", "run", "--domain", "legal", "--model", tiny_model,
        "--output-dir", str(folder / "run"), "--max-train-rows", "48", "--batch-size", "8",
        "--eval-rows", "12", "--precision", "fp32", "--seed", "5", "--nproc", "2",
        "--config", str(folder / "settings.yaml"),
    ]
    env = {**os.environ, LOAD_PLUGINS_ENV: "legal"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((folder / "run" / "metrics.json").read_text(encoding="utf-8"))


def test_fsdp_gives_the_loss_curve_of_ddp(tmp_path: Path, tiny_model: str) -> None:
    ddp, fsdp = run(tmp_path / "ddp", tiny_model, "ddp"), run(tmp_path / "fsdp", tiny_model, "fsdp")
    curve_ddp = {e["step"]: e["loss"] for e in ddp["train"]["loss_history"]}
    curve_fsdp = {e["step"]: e["loss"] for e in fsdp["train"]["loss_history"]}
    assert sorted(curve_ddp) == sorted(curve_fsdp) == list(range(1, 7))
    for step, loss in curve_ddp.items():
        assert curve_fsdp[step] == pytest.approx(loss, rel=2e-3), f"step {step}"
    assert (tmp_path / "fsdp" / "run" / "adapter" / "adapter_config.json").is_file()
    assert fsdp["data"]["eval_rows"] == 12


def test_deepspeed_without_cuda_or_deepspeed_is_refused_before_any_work(tmp_path: Path) -> None:
    from domaintune.config import build_config
    from domaintune.errors import ConfigError

    zero3 = tmp_path / "zero3.json"
    zero3.write_text(json.dumps({"zero_optimization": {"stage": 3}}), encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        build_config({"domain": "legal", "deepspeed": str(zero3)})
    message = str(refused.value)
    assert "needs the deepspeed package, which is not installed; pip install deepspeed" in message
    assert "needs CUDA GPUs" in message

    zero1 = tmp_path / "zero1.json"
    zero1.write_text(json.dumps({"zero_optimization": {"stage": 1}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="zero_optimization.stage is 1; this pass-through is for ZeRO stage 2 or 3"):
        build_config({"domain": "legal", "deepspeed": str(zero1)})
    with pytest.raises(ConfigError, match="no such file"):
        build_config({"domain": "legal", "deepspeed": str(tmp_path / "missing.json")})


def test_deepspeed_refusal_from_the_command_line_loads_nothing(tmp_path: Path) -> None:
    zero2 = tmp_path / "zero2.json"
    zero2.write_text(json.dumps({"zero_optimization": {"stage": 2}}), encoding="utf-8")
    (tmp_path / "settings.yaml").write_text(f"deepspeed: {zero2}\n", encoding="utf-8")
    env = {**os.environ, LOAD_PLUGINS_ENV: "legal"}
    result = subprocess.run(
        [sys.executable, "-m", "domaintune", "run", "--domain", "legal", "--output-dir", str(tmp_path / "run"),
         "--config", str(tmp_path / "settings.yaml")],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "deepspeed" in result.stderr and "pip install deepspeed" in result.stderr
    assert not (tmp_path / "run").exists()
