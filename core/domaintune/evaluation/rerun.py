"""Re-scoring a finished run's base and tuned models on its held-out rows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from domaintune.data.prepare import prepare_data
from domaintune.errors import ConfigError
from domaintune.evaluation.heldout import (
    Scoring,
)
from domaintune.files import write_json_atomic
from domaintune.progress import Reporter, SilentReporter, quiet_libraries

if TYPE_CHECKING:
    pass


def evaluate_run(run_dir: Path, reporter: Reporter | None = None) -> dict[str, Any]:
    """Score a finished run's base and tuned models again on its held-out rows, with the
    settings it was trained with; writes ``eval.json`` in the run folder and returns it."""
    from domaintune.config import build_config
    from domaintune.settings import settings_for
    from domaintune.model import load_model, load_tokenizer, model_label, resolve_model
    from domaintune.training.distributed import start_processes
    from domaintune.training.methods import cast_frozen_weights

    reporter = reporter or SilentReporter()
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml); pass the folder a run wrote.")
    settings = settings_for(build_config(yaml.safe_load(saved.read_text(encoding="utf-8"))), for_run=False)
    config, domain, parts = settings.config, settings.domain, settings.parts
    tuned_dir = run_dir / ("adapter" if config.uses_adapter else "model")
    if not tuned_dir.is_dir():
        raise ConfigError(f"{run_dir} holds no trained model ({tuned_dir.name}/): the run did not finish.")
    quiet_libraries()
    reporter.step(f"Loading held-out data for domain {domain.name!r}")
    train_set, eval_set, data_info = prepare_data(domain, config, filters=parts.data_filters)
    data_info.pop("planted_rows", None)
    reporter.step("Loading the models")
    model_path = resolve_model(config.model)
    tokenizer = load_tokenizer(model_path, trust_remote_code=config.trust_remote_code)
    scoring = Scoring.build(
        domain, config, tokenizer, parts, train_set, eval_set, start_processes(), reporter
    )
    model = load_model(
        model_path, quantize_4bit=config.method == "qlora", trust_remote_code=config.trust_remote_code
    )
    model = cast_frozen_weights(model, config)
    base = scoring.predict(model, "base")
    general_base, general_rows = scoring.general_knowledge(model)
    if config.uses_adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, tuned_dir).merge_and_unload()
    else:
        model = load_model(str(tuned_dir), trust_remote_code=config.trust_remote_code)
    tuned = scoring.predict(model, "tuned")
    general_tuned, _ = scoring.general_knowledge(model)
    comparison, _ = scoring.compare(base, tuned, train_set)
    summary = {
        "domain": domain.name,
        "model": model_label(config.model),
        "data": data_info,
        **comparison,
        "general_knowledge": {"base": general_base, "tuned": general_tuned, "rows": general_rows},
    }
    write_json_atomic(run_dir / "eval.json", summary)
    return summary
