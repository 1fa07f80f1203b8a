"""A model folder whose config names custom code (auto_map, unknown model type) is refused
with a clear error unless trust_remote_code is asked for: its Python never runs, and nothing
prompts on stdin (transformers asks "Do you wish to run the custom code? [y/N]" otherwise)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROMPT = "Do you wish to run the custom code"


def custom_code_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A model folder whose custom code would write ``marker`` when imported."""
    folder, marker = tmp_path / "custom-model", tmp_path / "custom-code-ran"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "domaintune-unknown-type",
        "architectures": ["CustomModel"],
        "auto_map": {"AutoConfig": "custom.CustomConfig", "AutoModelForCausalLM": "custom.CustomModel"},
    }), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CustomTokenizer", "auto_map": {"AutoTokenizer": ["custom.CustomTokenizer", None]},
    }), encoding="utf-8")
    (folder / "custom.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text('ran')\n"
        "from transformers import PretrainedConfig, PreTrainedModel\n"
        "class CustomConfig(PretrainedConfig):\n    model_type = 'domaintune-unknown-type'\n"
        "class CustomModel(PreTrainedModel):\n    config_class = CustomConfig\n"
        "class CustomTokenizer:\n    pass\n",
        encoding="utf-8",
    )
    return folder, marker


def load(loader: str, folder: Path, trust: bool) -> subprocess.CompletedProcess[str]:
    """Call ``domaintune.model.<loader>`` in a fresh process that answers "y" to any prompt."""
    code = (
        "import sys\n"
        "from domaintune.errors import ModelError\n"
        f"from domaintune.model import {loader}\n"
        f"try:\n    {loader}({str(folder)!r}, trust_remote_code={trust})\n"
        "except ModelError as error:\n    print('ModelError:', error, file=sys.stderr); sys.exit(1)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], input="y\ny\ny\n", capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("loader", ["load_model", "load_tokenizer"])
def test_custom_model_code_never_runs_unless_asked(tmp_path: Path, loader: str) -> None:
    folder, marker = custom_code_folder(tmp_path)
    refused = load(loader, folder, trust=False)
    assert not marker.exists(), "the model folder's code ran"
    assert refused.returncode == 1
    assert PROMPT not in refused.stdout + refused.stderr
    assert "ModelError:" in refused.stderr and "pass --trust-remote-code" in refused.stderr
    assert "needs its own Python code to load" in refused.stderr

    load(loader, folder, trust=True)  # it may fail after importing the code; it must import it
    assert marker.exists(), "trust_remote_code=True did not reach transformers"
