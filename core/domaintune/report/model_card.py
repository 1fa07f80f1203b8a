"""The saved model's card (README.md in adapter/ or model/): Hugging Face front matter that says
what was trained (an adapter or the full model) and on which base model, then the run report."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from domaintune.config import adapted_layers_phrase
from domaintune.report.escaping import markdown_text as md
from domaintune.report.markdown import render_markdown

TRAINED = {
    "lora": "LoRA adapter",
    "dora": "DoRA adapter",
    "qlora": "QLoRA adapter (LoRA trained on the 4-bit quantized base model)",
    "full": "Full model (every weight fine-tuned)",
}


_LOCAL_PATH = re.compile(r"(?<![\w.:/])(?:~|/)[^\s()]*")


def without_local_paths(text: str) -> str:
    """``held out from /home/ann/data/eval.jsonl`` -> ``held out from eval.jsonl``: a card is
    shared, and must not carry the training machine's folders; hub names stay as given."""
    return _LOCAL_PATH.sub(lambda match: PurePosixPath(match.group()).name or match.group(), str(text))


def base_model_name(model: str) -> str:
    """The summary's model as the card's ``base_model``: ``default (/root/.cache/x/SmolLM2)``
    -> ``SmolLM2``, ``/data/models/mine`` -> ``mine``, ``org/name`` unchanged."""
    text = str(model)
    if text.startswith("default (") and text.endswith(")"):
        text = text[len("default ("):-1]
    return without_local_paths(text)


def render_model_card(summary: dict[str, Any], config: dict[str, Any]) -> str:
    """README.md for the saved adapter or model; ``config`` is the run's config (its method)."""
    import yaml

    method = config.get("method", "lora")
    where = adapted_layers_phrase(method, config.get("adapter_layers", 1.0))
    data = summary["data"]
    shared = {
        **summary,
        "model": base_model_name(summary["model"]),
        "data": {
            **data,
            **{key: without_local_paths(data[key]) for key in ("train_source", "eval_source") if key in data},
        },
    }
    front_matter = {
        "library_name": "transformers" if method == "full" else "peft",
        "base_model": shared["model"],
        "pipeline_tag": "text-generation",
        "tags": ["domaintune", summary["domain"], method if method != "full" else "full-fine-tune"],
        "model-index": [
            {
                "name": f"domaintune-{summary['domain']}",
                "results": [
                    {
                        "task": {"type": "text-generation"},
                        "dataset": {"name": shared["data"]["eval_source"], "type": "custom"},
                        "metrics": [
                            {"type": name, "value": round(value, 4), "name": f"held-out {name}"}
                            for name, value in summary["tuned"].items()
                        ],
                    }
                ],
            }
        ],
    }
    return (
        "---\n" + yaml.safe_dump(front_matter, sort_keys=False) + "---\n\n"
        + f"{TRAINED[method]}{' ' + where if where else ''} fine-tuned by domaintune on the {md(summary['domain'])} domain, "
        + f"from the base model {md(shared['model'])}.\n\n"
        + render_markdown(shared).split("\n", 1)[1]
    )
