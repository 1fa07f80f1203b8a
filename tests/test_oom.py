"""Out of memory for real: a process whose data segment is capped (RLIMIT_DATA) runs out of
memory at micro-batch 8 on long rows, lowers the micro-batch and finishes the same optimizer
steps; with almost no memory left it stops with a clear error at micro-batch 1.

Run as a script, this file is the capped process: it sets up a tiny-model training, caps its
own data segment at what it uses then plus a headroom, and trains. The cap is set after the
imports and the model load, so it is relative to what this machine's libraries use.

glibc's malloc is pinned for the capped process (one arena, a fixed mmap threshold). By default
a thread could reserve a new 64 MB arena at any time, and the mmap threshold moves as large
blocks are freed, so a step's data segment varied by about 60 MB between runs of the same code
(micro-batch 8: 107 to 173 MB above the cap's base) and the test was flaky. Pinned, large
tensors are mapped on allocation and unmapped on free, and the peak is repeatable to 1 MB.
Measured so (rows of 2048 tokens, tiny model, peak VmSize over the base): a step needs 88-90 MB
at micro-batch 8, 45-47 MB at 4, 25 MB at 2 and 13-14 MB at 1.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from training_rows import user_assistant, yes_no_rows

ROWS = 8
LENGTH = 2048
FITS_FOUR_NOT_EIGHT_MB = 68  # about 20 MB from both micro-batch 4's and 8's peaks
ALMOST_NOTHING_MB = 6  # under micro-batch 1's 13 MB
PINNED_MALLOC = {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_THRESHOLD_": "65536"}


def _data_segment_bytes() -> int:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmData in /proc/self/status")


def train_capped(model_path: str, output_dir: Path, headroom_mb: int) -> dict[str, object]:
    """Train 8 long rows at micro-batch 8 with the data segment capped at what the process
    uses now plus ``headroom_mb``; return what happened."""
    from domaintune.config import build_config
    from domaintune.errors import ConfigError
    from domaintune.model import load_model, load_tokenizer
    from domaintune.training.batches import tokenize_dataset
    from domaintune.training.methods import prepare_model
    from domaintune.training.train import train

    rows = yes_no_rows(ROWS, lambda i: LENGTH)

    config = build_config({
        "domain": "any", "model": model_path, "batch_size": 8, "gradient_accumulation": 1,
        "max_length": LENGTH, "precision": "fp32", "logging_steps": 1, "epochs": 1,
        "max_forward_tokens": None,  # parts of 1,024 positions would never run out at these caps
        "adapter_layers": 1.0,  # the peaks above were measured with a backward pass through every layer
    })
    tokenizer = load_tokenizer(model_path)
    tokens = tokenize_dataset(rows, user_assistant, tokenizer, LENGTH, "any")
    model = prepare_model(load_model(model_path), config)
    cap = _data_segment_bytes() + headroom_mb * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (cap, resource.getrlimit(resource.RLIMIT_DATA)[1]))
    try:
        result = train(model, tokenizer, tokens, config, output_dir)
    except ConfigError as error:
        return {"error": str(error), "cause": str(error.__context__)}
    return {
        "shortest_row": min(tokens["length"]),
        "steps": result.steps,
        "loss": [entry["loss"] for entry in result.log_history if "loss" in entry],
        "micro_batch_changes": result.micro_batch_changes,
    }


def run_capped(tmp_path: Path, tiny_model: str, headroom_mb: int) -> dict[str, object]:
    command = [sys.executable, __file__, tiny_model, str(tmp_path / "checkpoints"), str(headroom_mb)]
    environment = {**os.environ, **PINNED_MALLOC}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads VmData from Linux /proc")
def test_out_of_memory_lowers_the_micro_batch_and_keeps_the_global_batch(
    tmp_path: Path, tiny_model: str
) -> None:
    outcome = run_capped(tmp_path, tiny_model, FITS_FOUR_NOT_EIGHT_MB)
    assert outcome["shortest_row"] == LENGTH  # every row as long as max_length
    assert outcome["micro_batch_changes"] == [
        "micro-batch 8 -> 4, gradient accumulation 1 -> 2 after out-of-memory"
    ]
    # 8 rows at 8 rows per optimizer step: one step, as at micro-batch 8.
    assert outcome["steps"] == 1 and len(outcome["loss"]) == 1


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads VmData from Linux /proc")
def test_out_of_memory_at_micro_batch_one_is_a_clear_error(tmp_path: Path, tiny_model: str) -> None:
    outcome = run_capped(tmp_path, tiny_model, ALMOST_NOTHING_MB)
    assert outcome["error"].startswith(
        "Out of memory while training even one row at a time (max_length 2048); lower max_length"
    )
    assert "DefaultCPUAllocator: can't allocate memory" in outcome["cause"]


if __name__ == "__main__":
    model_path, output_dir, headroom = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(train_capped(model_path, output_dir, headroom)))
