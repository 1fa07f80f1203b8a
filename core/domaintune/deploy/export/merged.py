"""Writing a run's tuned model as one merged safetensors folder that `from_pretrained` loads:
the adapter folded into the base weights, the tokenizer and chat template, a generation config
that stops on the end-of-turn token, and the run's model card.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from domaintune.files import write_text_atomic

if TYPE_CHECKING:
    from domaintune.deploy.runmodel import RunModel


def write_merged(run_model: RunModel, folder: Path, end_of_turn_id: int, card: str) -> None:
    """Write the merged model to ``folder`` (built beside it, then renamed into place, so a
    crash leaves no half folder). ``run_model.model`` already has the adapter merged
    (`load_run_model(..., merged=True)` merges it with peft's ``merge_and_unload``)."""
    from transformers import GenerationConfig

    temporary = folder.parent / f".{folder.name}.partial-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_model.model.save_pretrained(temporary)
        run_model.tokenizer.save_pretrained(temporary)
        # Without this, runtimes stop on the tokenizer's eos, which need not be the token
        # the chat template ends a turn with: the "never stops" failure.
        generation = GenerationConfig.from_model_config(run_model.model.config)
        generation.eos_token_id = end_of_turn_id
        generation.pad_token_id = run_model.tokenizer.pad_token_id
        generation.save_pretrained(temporary)
        write_text_atomic(temporary / "README.md", card)
        _replace_folder(temporary, folder)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _replace_folder(new: Path, folder: Path) -> None:
    """Put ``new`` where ``folder`` is, keeping the files a previous export left beside the
    model (parity.json is rewritten after the check)."""
    if not folder.exists():
        new.rename(folder)
        return
    old = folder.parent / f".{folder.name}.old-{os.getpid()}"
    folder.rename(old)
    try:
        new.rename(folder)
    except OSError:
        old.rename(folder)
        raise
    shutil.rmtree(old, ignore_errors=True)
