"""The search space of a sweep: which run settings each trial draws, over which ranges; the
default one, and a YAML/TOML file that changes it, checked before any trial starts."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.config import RunConfig, build_config, read_config_file
from domaintune.errors import ConfigError

if TYPE_CHECKING:
    import optuna

SEARCHABLE = {
    "learning_rate": float, "lora_r": int, "lora_alpha": int, "lora_dropout": float,
    "decay_fraction": float, "warmup_ratio": float, "epochs": float, "max_rows_per_task": int,
    "max_train_rows": int, "max_length": int, "batch_size": int, "gradient_accumulation": int,
    "method": str, "adapter_layers": float,
}
"""Run settings a sweep may vary, and their type; the others stay as the run sets them."""


@dataclass(frozen=True)
class Param:
    """One setting's range: ``low``..``high`` (``log``: on a log scale), or ``choices``."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        assert self.low is not None and self.high is not None
        if SEARCHABLE[self.name] is int:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)

    def describe(self) -> str:
        if self.choices is not None:
            return f"{self.name}: one of {list(self.choices)}"
        return f"{self.name}: {self.low} to {self.high}" + (" (log scale)" if self.log else "")


def merged_space(default: dict[str, Param], changes: dict[str, Param | None]) -> dict[str, Param]:
    """The default space with a space file's changes (None removes a setting)."""
    space = {**default, **changes}
    return {name: param for name, param in space.items() if param is not None}


def default_space(config: RunConfig, task_sizes: dict[str, int]) -> dict[str, Param]:
    """Learning rate (log), LoRA rank, decay fraction, epochs, max_length around the run's,
    and for multi-task data (``task_sizes``: rows per task) the per-task cap."""
    length = config.max_length
    space = {
        "learning_rate": Param("learning_rate", 1e-5, 1e-3, log=True),
        "lora_r": Param("lora_r", choices=(4, 8, 16, 32)),
        "decay_fraction": Param("decay_fraction", 0.1, 1.0),
        "epochs": Param("epochs", 0.5, 3.0),
        "max_length": Param("max_length", choices=tuple(sorted({max(16, length // 2), length, length * 2}))),
    }
    if len(task_sizes) > 1:
        largest = max(task_sizes.values())
        space["max_rows_per_task"] = Param("max_rows_per_task", min(16, largest), largest, log=True)
    return space


def read_space(path: Path, config: RunConfig) -> dict[str, Param | None]:
    """The changes a space file makes: each key a setting, mapped to {low, high[, log]}, to
    {choices: [...]}, to one fixed value, or to null (None: not searched). Every problem (an
    unknown setting, an empty range, a value the run would refuse) is reported at once."""
    entries = read_config_file(path)
    space: dict[str, Param | None] = {}
    errors = []
    for name, entry in entries.items():
        if name not in SEARCHABLE:
            close = difflib.get_close_matches(name, SEARCHABLE, n=1)
            errors.append(
                f"{name}: not a setting a sweep can vary"
                + (f"; did you mean {close[0]!r}?" if close else f" (one of {', '.join(sorted(SEARCHABLE))})")
            )
            continue
        if entry is None:
            space[name] = None
            continue
        param, problem = _param(name, entry)
        if problem is None:
            problem = _refused_value(param, config)
        if problem:
            errors.append(problem)
        else:
            space[name] = param
    if errors:
        raise ConfigError(
            f"Search space {path}: {len(errors)} problem(s):\n  " + "\n  ".join(errors)
            + "\nEach key maps to {low: A, high: B, log: true|false}, {choices: [...]}, one value, or null."
        )
    return space


def _param(name: str, entry: Any) -> tuple[Param, str | None]:
    if not isinstance(entry, dict):
        return Param(name, choices=(entry,)), None
    unknown = set(entry) - {"low", "high", "log", "choices"}
    if unknown:
        return Param(name), f"{name}: unknown key(s) {sorted(unknown)}; use low, high, log or choices"
    if "choices" in entry:
        choices = entry["choices"]
        if not isinstance(choices, list) or not choices:
            return Param(name), f"{name}: choices must be a non-empty list (got {choices!r})"
        return Param(name, choices=tuple(choices)), None
    low, high = entry.get("low"), entry.get("high")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    if SEARCHABLE[name] is str or not numbers:
        return Param(name), f"{name}: needs numbers low and high, or choices (got {entry!r})"
    if low > high:
        return Param(name), f"{name}: the range {low} to {high} is empty; low must be at most high"
    log = bool(entry.get("log", False))
    if log and low <= 0:
        return Param(name), f"{name}: a log-scale range must start above 0 (got low {low})"
    if SEARCHABLE[name] is int and not (float(low).is_integer() and float(high).is_integer()):
        return Param(name), f"{name}: low and high must be whole numbers (got {low}, {high})"
    return Param(name, low, high, log), None


def _refused_value(param: Param, config: RunConfig) -> str | None:
    """What the run's own checks say of the range's ends (or each choice)."""
    values = param.choices if param.choices is not None else (param.low, param.high)
    for value in values:
        if SEARCHABLE[param.name] is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        try:
            build_config(config.to_dict(), {param.name: value})
        except ConfigError as error:
            detail = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
            return f"{param.name}: {value!r} would be refused by the run ({detail})"
    return None
