"""The run folder: a new one, or an interrupted run to resume; never a finished run."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from domaintune.config import RunConfig
from domaintune.errors import ConfigError

if TYPE_CHECKING:
    pass


def open_run_dir(config: RunConfig, resume: bool) -> Path:
    """A new run folder, or the folder of an interrupted run started with the same settings
    (its newest complete checkpoint is then resumed). Never overwrites a finished run."""
    if not config.output_dir:
        if resume:
            raise ConfigError("--resume needs --output-dir: the folder of the run to resume.")
        run_dir = Path("runs") / f"{config.domain}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir
    run_dir = Path(config.output_dir)
    if not run_dir.exists() or not any(run_dir.iterdir()):
        if resume:
            raise ConfigError(f"--resume: {run_dir} holds no run to resume; leave out --resume to start one.")
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir
    saved = run_dir / "config.yaml"
    if (run_dir / "metrics.json").exists():
        raise ConfigError(
            f"output_dir: {run_dir} holds a finished run; choose a new folder so that it is "
            "not overwritten."
        )
    if not saved.exists():
        raise ConfigError(
            f"output_dir: {run_dir} already holds files that are not a domaintune run; "
            "choose a new folder."
        )
    previous, current = yaml.safe_load(saved.read_text(encoding="utf-8")), config.to_dict()
    changed = [
        f"{key}: {previous.get(key)!r} -> {current.get(key)!r}"
        for key in sorted(set(previous) | set(current))
        if previous.get(key) != current.get(key)
    ]
    if changed:
        raise ConfigError(
            f"output_dir: {run_dir} holds an interrupted run started with other settings "
            f"({'; '.join(changed)}). Run the same command to resume it, or choose a new folder."
        )
    return run_dir
