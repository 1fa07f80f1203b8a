"""Chat and serve load a run in its own precision, on the engine's thread: bf16 keeps the
LoRA adapter unmerged (merged into bf16 weights, an update is mostly rounded away), fp32
merges it; `start_engine` loads and decodes on one thread and passes on a loading error."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import deploy_plugin as support
import pytest
import torch
from peft.tuners.lora import LoraLayer

from domaintune.deploy.engine import Job, Sampling, start_engine
from domaintune.deploy.runmodel import load_run_model
from domaintune.errors import ConfigError
from domaintune.testing import plugin_registered


def deploy_domain() -> Any:
    """The test domain, registered while a run of it loads (`build_run` registers its own)."""
    return plugin_registered(support.DeployTestPlugin(), name=support.PLUGIN_NAME)


def logits(model, text_ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=torch.tensor([text_ids])).logits[0].float()


def test_a_bf16_run_is_loaded_in_bf16_with_its_adapter_unmerged(tmp_path: Path) -> None:
    run_dir = support.build_run(tmp_path / "run", precision="bf16")
    with deploy_domain():
        served = load_run_model(run_dir)
        exported = load_run_model(run_dir, merged=True)
        base = load_run_model(run_dir, base=True)

    lora_layers = [m for m in served.model.modules() if isinstance(m, LoraLayer)]
    assert lora_layers, "the adapter was merged into the bf16 weights"
    assert {p.dtype for p in served.model.parameters()} == {torch.bfloat16}
    # Buffers keep theirs: a bf16 rotary inv_freq would turn positions by 0.3 rad at 200.
    assert {b.dtype for name, b in served.model.named_buffers() if "inv_freq" in name} == {torch.float32}
    assert not [m for m in exported.model.modules() if isinstance(m, LoraLayer)]
    assert {p.dtype for p in exported.model.parameters()} == {torch.float32}

    ids = served.encode(served.render_prompt([{"role": "user", "content": "the cat sat on the mat"}]))
    tuned, exact, untuned = logits(served.model, ids), logits(exported.model, ids), logits(base.model, ids)
    # bf16 is the tuned model: much nearer the fp32 tuned logits than the base model is.
    assert (tuned - exact).abs().max() < 0.25 * (untuned - exact).abs().max()


@pytest.mark.parametrize(("run_precision", "asked"), [("fp32", None), ("bf16", "fp32")])
def test_fp32_the_runs_or_asked_for_loads_merged_in_fp32(tmp_path: Path, run_precision: str, asked: str | None) -> None:
    run_dir = support.build_run(tmp_path / "run", precision=run_precision)
    with deploy_domain():
        served = load_run_model(run_dir, precision=asked)
    assert not [m for m in served.model.modules() if isinstance(m, LoraLayer)]
    assert {p.dtype for p in served.model.parameters()} == {torch.float32}


def test_start_engine_loads_and_decodes_on_its_own_thread(tmp_path: Path) -> None:
    run_dir = support.build_run(tmp_path / "run")
    loaded_on: list[str] = []

    def load():
        loaded_on.append(threading.current_thread().name)
        return load_run_model(run_dir)

    with deploy_domain():
        run_model, engine = start_engine(load, max_batch=2)
    try:
        done = threading.Event()
        decoded_on: list[str] = []

        def sink(update) -> None:
            decoded_on.append(threading.current_thread().name)
            if update.finish_reason:
                done.set()

        engine.submit(Job(run_model.encode("the cat"), Sampling(max_tokens=3), sink))
        assert done.wait(60)
    finally:
        engine.stop()
    assert loaded_on == ["domaintune-engine"]
    assert set(decoded_on) == {"domaintune-engine"}


def test_start_engine_raises_what_loading_raises(tmp_path: Path) -> None:
    run_dir = support.build_run(tmp_path / "run")
    (run_dir / "adapter").rename(run_dir / "adapter-moved")
    with deploy_domain(), pytest.raises(ConfigError, match="holds no trained model"):
        start_engine(lambda: load_run_model(run_dir))


def test_serve_refuses_an_unknown_precision_before_loading(tmp_path: Path) -> None:
    from domaintune.deploy.server import ServeSettings, resolve_settings

    with pytest.raises(ConfigError, match="--precision bf17: must be one of auto, bf16, fp32"):
        resolve_settings(ServeSettings(tmp_path, precision="bf17"))
