"""The run configuration: a typed dataclass built from the domain's defaults, a YAML or TOML
file, and command-line options, in that order of precedence (last wins).

Every invalid value is reported in one ConfigError, so a user fixes them all in one go.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from domaintune.errors import ConfigError

Precision = Literal["auto", "bf16", "fp32"]
"""auto: bf16 where the hardware runs it natively (`domaintune.precision.use_bf16`), else fp32."""
PRECISIONS: tuple[str, ...] = typing.get_args(Precision)
"""The choices, for the CLI's options and the serve settings' check."""


@dataclass(frozen=True)
class RunConfig:
    domain: str
    data: str | None = None
    """Training data file; default: the domain's bundled sample."""
    eval_data: str | None = None
    """Held-out data file; default: the domain's bundled eval split, else a split of `data`."""
    column_map: dict[str, str] | None = None
    """Which column of the data holds each field, e.g. {prompt: question, completion: answer}
    (fields: prompt, completion, messages, instruction, input, output, text, task)."""
    shape: Literal["auto", "prompt_completion", "messages", "instruction", "text"] = "auto"
    """Row shape of the data; auto detects it from the fields."""
    task: str | None = None
    """Keep only rows whose task matches these comma-separated patterns (e.g. "CUAD_*")."""
    model: str | None = None
    """Local folder or hub name for `from_pretrained`; default: the embedded SmolLM2-135M."""
    output_dir: str | None = None
    """Run folder; default: runs/<domain>-<date>-<time>."""
    method: Literal["lora", "dora", "qlora", "full"] = "lora"
    """lora: low-rank adapters on the linear layers (of the upper adapter_layers); dora: LoRA
    with a learned magnitude per output (peft's use_dora); qlora: LoRA on the model loaded in
    4 bits (CUDA GPU and bitsandbytes only); full: every weight."""
    lora_r: int = 16
    lora_alpha: int = 32
    adapter_layers: float = 0.5
    """The share of the decoder's layers, counted from the top, that get adapters (LoRA, DoRA,
    QLoRA); the layers below get none, so the backward pass stops at the lowest adapted one.
    1.0: every layer. On 2 vCPUs, 120 s of bench/train_throughput.py (c) on each of four
    datasets: the upper half ran 1.3x-1.7x the tokens/s of every layer, and ended at a lower
    held-out loss on all four (legal overruling 0.207 against 0.212, PhraseBank 0.218 against
    0.245, MeQSum 1.272 against 1.303, TAT-QA 1.937 against 1.990); the upper quarter won on
    overruling (0.123) but lost on the other three (bench/README.md)."""
    lora_dropout: float = 0.0
    """0 (peft's default): dropout on the adapters' inputs keeps a copy of every linear
    layer's input for the backward pass; measured on SmolLM2-135M, 4 rows of 161 tokens, bf16:
    peak RSS 1.7 GB at 0 against 2.15 GB at 0.05."""
    learning_rate: float = 2e-4
    epochs: float = 1.0
    time_budget_minutes: float | None = None
    """Stop training after this many minutes; the learning rate decays to zero by then."""
    batch_size: int = 8
    """Rows per forward pass, over all processes together (see max_forward_tokens)."""
    gradient_accumulation: int = 1
    """Forward passes per optimizer step."""
    max_forward_tokens: int | None = 1024
    """On one process, a batch of more positions than this (padding included) runs as parts of
    fewer rows, a forward and backward pass each, for the same gradients: the long batches
    take the memory of their parts, and the common, shorter ones run whole. On 2 bf16-native
    vCPUs (bench/train_throughput.py, legal rows, 120 s): 8 rows a pass made 432 tokens/s against 297 for 4 x 2 (the prefix a
    batch shares runs once for more rows), but peaked at 3,651 MiB against 2,662 and the
    common recipe's 3,458; with parts of at most 1,024 positions, 378 tokens/s at 2,699 MiB.
    None: no limit."""
    distributed: Literal["ddp", "fsdp"] = "ddp"
    """How several processes share training (Trainer's engines): ddp copies the model to each;
    fsdp shards weights, gradients and optimizer state (FSDP2 through accelerate)."""
    deepspeed: str | None = None
    """A DeepSpeed JSON config (ZeRO stage 2 or 3) handed to Trainer; needs CUDA GPUs and the
    deepspeed package (domaintune.training.engines checks both before any work)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about a third more compute."""
    max_length: int = 256
    """Tokens per example; longer prompts lose their middle, keeping instruction and question."""
    max_train_rows: int | None = None
    max_rows_per_task: int | None = None
    """In a multi-task set, train on at most this many rows of each task (each task's label
    balance kept), so that a few large tasks do not take most of the steps: T5's
    examples-proportional mixing with a limit, for a score macro-averaged over tasks."""
    eval_rows: int = 200
    """Rows held out for scoring when no eval split exists (shared equally by the tasks of a
    multi-task set, whose headline is the mean over tasks); also the cap on a given eval set."""
    eval_batch_size: int = 8
    """Rows per scoring pass. With the shared prefix cached, 8 scored fastest on 2 cores
    (bench/eval_throughput.py: 34.7 rows/s at 8, 30.7 at 16, 26.1 at 32, 26.6 at 4)."""
    warmup_ratio: float = 0.05
    decay_fraction: float = 1.0
    """The last share of the run (of its steps, or of its time budget) over which the learning
    rate falls linearly to zero; before it, after warmup, it stays at its peak. 1.0 decays from
    the end of warmup on; 0.3 is a warmup-stable-decay schedule."""
    seed: int = 0
    canaries: int = 0
    """Plant this many unique fake identifiers (SSN, phone, e-mail) in training prompts before
    the safety filters; the report says how many survived them (it must be 0)."""
    few_shot: int = 0
    """Also score the base model prompted with this many training examples (stratified by
    label, as many as fit within the model's context): a baseline column, "is fine-tuning
    needed?"."""
    precision: Precision = "auto"
    """Training and scoring precision. auto: bf16 where the hardware runs it natively (a bf16
    GPU, a CPU with AVX512-BF16 or AMX), fp32 elsewhere."""
    logging_steps: int = 10
    save_steps: int = 50
    """Steps between checkpoints (the two newest are kept); an interrupted run resumes from
    the newest complete one when the same command is run on the same output_dir."""
    early_stopping_patience: int | None = None
    """Stop when the loss on rows held out from training has not improved for this many
    evaluations (one every save_steps steps); the best checkpoint is the model kept."""
    early_stopping_rows: int | None = None
    """Training rows held out for early stopping (not trained on); default 5% of them, at
    least 16 and at most 200."""
    trust_remote_code: bool = False
    """Let the model folder's own Python code run (config.json's auto_map); off, a model that
    needs it is refused with a clear error, and nothing prompts."""
    keep_checkpoints: bool = False
    """Keep the checkpoints of a finished run (by default they are removed once every
    artifact is written; a killed run keeps them to resume)."""
    report_to: Literal["none", "tensorboard", "mlflow"] = "none"
    """Experiment tracker for the training curves and the results, into the run folder only
    (RUN_DIR/tensorboard, or RUN_DIR/mlflow.db); see domaintune.training.tracking."""

    @property
    def uses_adapter(self) -> bool:
        """Whether training adds adapters (saved as adapter/) rather than changing every weight."""
        return self.method != "full"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_POSITIVE = {
    "lora_r", "lora_alpha", "learning_rate", "epochs", "time_budget_minutes", "batch_size",
    "gradient_accumulation", "max_forward_tokens", "max_length", "max_train_rows", "max_rows_per_task", "eval_rows", "eval_batch_size",
    "logging_steps", "save_steps", "early_stopping_patience", "early_stopping_rows",
}
_FRACTIONS = {"lora_dropout", "warmup_ratio"}
_NON_NEGATIVE = {"canaries", "few_shot"}
MIN_MAX_LENGTH = 16
"""Fewer tokens than this cannot hold a chat-formatted example: the template's role markers
and end-of-turn tokens alone take about a dozen (at max_length 1 training failed with a reshape
error; at 4 every answer filled the whole example)."""


def adapted_layers_phrase(method: str, adapter_layers: float) -> str:
    """"on the upper 50% of the decoder's layers" where a run's adapters sit on some of them
    only, else "": the run's output and the model card say it the same way."""
    if method == "full" or adapter_layers >= 1:
        return ""
    return f"on the upper {adapter_layers:.0%} of the decoder's layers"


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml) or TOML (.toml) mapping of config keys."""
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist; pass an existing file to --config.")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            values: Any = tomllib.loads(text)
        elif path.suffix.lower() in {".yaml", ".yml"}:
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"Config file {path} must end in .yaml, .yml or .toml.")
    except ConfigError:
        raise
    except Exception as exc:  # the parsers' own errors carry line and column
        raise ConfigError(f"Config file {path} could not be parsed: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of keys to values.")
    return values


def _check_value(name: str, value: Any, annotation: Any) -> tuple[Any, str | None]:
    """Coerce ``value`` to the field's type, or say what is wrong with it."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    if value is None:
        return None, None if type(None) in options else f"{name}: must be set (got null)"
    for option in options:
        if typing.get_origin(option) is Literal:
            if value in typing.get_args(option):
                return value, None
            allowed = ", ".join(map(str, typing.get_args(option)))
            return value, f"{name}: {value!r} is not one of {allowed}"
        if option is bool and isinstance(value, bool):
            return value, None
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                return value, f"{name}: must be a finite number (got {value})"
            return float(value), None
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value, None
        if option is str and isinstance(value, (str, Path)):
            return str(value), None
        if typing.get_origin(option) is dict and isinstance(value, dict):
            if all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                return dict(value), None
            return value, f"{name}: {value!r} must map names to names (strings)"
    expected = " or ".join(getattr(o, "__name__", str(o)) for o in options if o is not type(None))
    return value, f"{name}: {value!r} is a {type(value).__name__}, expected {expected}"


def _qlora_unavailable() -> list[str]:
    """Why QLoRA cannot run here: it needs bitsandbytes' 4-bit kernels on a CUDA GPU. Checked
    with the rest of the config, before any data or model is loaded."""
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        return [
            "method: 'qlora' needs a CUDA GPU and bitsandbytes, and this machine has no CUDA "
            "GPU; use --method lora (or dora) on CPU"
        ]
    if importlib.util.find_spec("bitsandbytes") is None:
        return ["method: 'qlora' needs bitsandbytes, which is not installed; pip install bitsandbytes"]
    return []


def build_config(*layers: Mapping[str, Any]) -> RunConfig:
    """Merge layers of config values (later wins) into a validated RunConfig."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    hints = typing.get_type_hints(RunConfig)
    errors: list[str] = []
    values: dict[str, Any] = {}
    for name, value in merged.items():
        if name not in hints:
            close = difflib.get_close_matches(name, hints, n=1)
            errors.append(
                f"{name}: unknown setting" + (f"; did you mean {close[0]!r}?" if close else "")
            )
            continue
        value, error = _check_value(name, value, hints[name])
        if error is None and value is not None:
            if name in _POSITIVE and value <= 0:
                error = f"{name}: must be greater than 0 (got {value})"
            elif name in _NON_NEGATIVE and value < 0:
                error = f"{name}: must be 0 or more (got {value})"
            elif name in _FRACTIONS and not 0 <= value < 1:
                error = f"{name}: must be at least 0 and below 1 (got {value})"
            elif name in {"decay_fraction", "adapter_layers"} and not 0 < value <= 1:
                error = f"{name}: must be above 0 and at most 1 (got {value})"
            elif name == "max_length" and value < MIN_MAX_LENGTH:
                error = (
                    f"{name}: {value} tokens cannot hold a chat-formatted example; use at least "
                    f"{MIN_MAX_LENGTH} (the domain's default suits its data)"
                )
        if error:
            errors.append(error)
        else:
            values[name] = value
    if "domain" not in merged:
        errors.append("domain: must be set; pass --domain NAME (see `tune plugins`)")
    if values.get("early_stopping_rows") is not None and values.get("early_stopping_patience") is None:
        errors.append(
            f"early_stopping_rows: {values['early_stopping_rows']} is used only with early "
            "stopping; set early_stopping_patience too (--early-stopping-patience N)"
        )
    if values.get("method") == "qlora":
        errors.extend(_qlora_unavailable())
    from domaintune.training.engines import engine_problems

    errors.extend(engine_problems(values))
    from domaintune.training.tracking import tracker_problems

    errors.extend(tracker_problems(values))
    if errors:
        raise ConfigError(
            f"{len(errors)} invalid setting(s):\n  " + "\n  ".join(errors)
            + "\nFix them in the config file or on the command line (`tune --help`)."
        )
    return RunConfig(**values)
