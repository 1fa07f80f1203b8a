"""The run folder: checked before any work, held by one job at a time (a lock file naming its
pid), and opened as a new run, an interrupted run to resume, or a finished run whose reports
are missing; never a finished run.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from domaintune.config import RunConfig
from domaintune.errors import ConfigError

LOCK_FILE = ".lock"
"""Held for the life of a run; holds the pid and host of the job that holds it."""

REPORT_FILES = ("predictions.jsonl", "report.md", "report.html")
"""Written after metrics.json; a run missing any of them (or its model card) is not finished."""

MODEL_CARD = "README.md"


def model_folder(run_dir: Path, config: RunConfig) -> Path:
    return run_dir / ("adapter" if config.uses_adapter else "model")


def missing_artifacts(run_dir: Path, config: RunConfig) -> list[str]:
    """The files a finished run has and this one lacks (empty: the run is finished)."""
    wanted = ["metrics.json", *REPORT_FILES, f"{model_folder(run_dir, config).name}/{MODEL_CARD}"]
    return [name for name in wanted if not (run_dir / name).is_file()]


def check_output_dir(path: str | Path) -> None:
    """Refuse, before any work, a run folder that could not be written: a file, a folder under
    a file, or a folder (or its nearest existing parent) this user cannot write to."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"output_dir: {folder} is a file, not a folder; choose another --output-dir.")
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing != folder and not existing.is_dir():
        raise ConfigError(
            f"output_dir: {folder} lies under {existing}, which is a file; choose another --output-dir."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"output_dir: {existing} is not writable by this user, so {folder} cannot be "
            "written; choose another --output-dir."
        )


@dataclass
class RunFolder:
    """A run folder this job holds the lock of."""

    path: Path
    state: Literal["new", "resume", "reports"]
    """new: start a run; resume: continue an interrupted one; reports: training and scoring
    finished (metrics.json is written), write the reports that are missing."""
    notices: list[str] = field(default_factory=list)
    """What the CLI should tell the user (a stale lock taken over, stray files removed)."""


@contextlib.contextmanager
def open_run_dir(config: RunConfig, resume: bool) -> Iterator[RunFolder]:
    """Hold ``config.output_dir`` for the life of the block: a new run folder, or the folder of
    an interrupted run started with the same settings (its newest complete checkpoint is then
    resumed), or a finished run that lacks some of its reports. Another job's folder is
    refused, naming its pid; a lock left by a job that is gone is taken over."""
    if not config.output_dir:
        raise ConfigError("output_dir: not set; resolve the run's settings first (domaintune.settings).")
    run_dir = Path(config.output_dir)
    check_output_dir(run_dir)
    created = not run_dir.exists()
    if created and resume:
        raise ConfigError(f"--resume: {run_dir} holds no run to resume; leave out --resume to start one.")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"output_dir: {run_dir} cannot be created ({exc}); choose another --output-dir.") from exc
    notices: list[str] = []
    try:
        notices += _take_lock(run_dir / LOCK_FILE)
    except BaseException:
        if created:
            _remove_if_empty(run_dir)
        raise
    try:
        state = _state(run_dir, config, resume)
        notices += _remove_stray_temporaries(run_dir, config)
        yield RunFolder(run_dir, state, notices)
    finally:
        _release_lock(run_dir / LOCK_FILE)
        if created:
            _remove_if_empty(run_dir)


def _state(run_dir: Path, config: RunConfig, resume: bool) -> Literal["new", "resume", "reports"]:
    contents = [p for p in run_dir.iterdir() if p.name != LOCK_FILE]
    if not contents:
        if resume:
            raise ConfigError(f"--resume: {run_dir} holds no run to resume; leave out --resume to start one.")
        return "new"
    saved = run_dir / "config.yaml"
    finished = (run_dir / "metrics.json").exists()
    if finished and (not saved.exists() or not missing_artifacts(run_dir, config)):
        raise ConfigError(
            f"output_dir: {run_dir} holds a finished run; choose a new folder so that it is "
            "not overwritten."
        )
    if not saved.exists():
        raise ConfigError(
            f"output_dir: {run_dir} already holds files that are not a domaintune run; "
            "choose a new folder."
        )
    previous, current = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}, config.to_dict()
    changed = [
        f"{key}: {previous.get(key)!r} -> {current.get(key)!r}"
        for key in sorted(set(previous) | set(current))
        if previous.get(key) != current.get(key)
    ]
    if changed:
        what = "a run" if finished else "an interrupted run"
        raise ConfigError(
            f"output_dir: {run_dir} holds {what} started with other settings "
            f"({'; '.join(changed)}). Run the same command to resume it, or choose a new folder."
        )
    return "reports" if finished else "resume"


def _remove_stray_temporaries(run_dir: Path, config: RunConfig) -> list[str]:
    """Half-written files of a killed job (domaintune.files writes `.NAME.*.tmp`, then renames)."""
    removed = []
    for folder in (run_dir, model_folder(run_dir, config)):
        for stray in folder.glob(".*.tmp") if folder.is_dir() else ():
            stray.unlink(missing_ok=True)
            removed.append(stray.name)
    return [f"Removed {len(removed)} half-written file(s) a killed run left: {', '.join(removed)}"] if removed else []


def _lock_text() -> str:
    return f"{os.getpid()} {socket.gethostname()}\n"


def _take_lock(lock: Path) -> list[str]:
    """Create the lock file atomically; take over one whose job is gone (same host, no such
    process). Returns what to tell the user."""
    notices: list[str] = []
    for _ in range(3):  # a second job racing for the same stale lock retries and is refused
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            if holder is None:
                continue  # released meanwhile
            pid, host = holder
            if host != socket.gethostname() or _alive(pid):
                raise ConfigError(
                    f"output_dir: {lock.parent} is in use by another job (pid {pid} on {host}); "
                    "wait for it to finish, or choose another --output-dir. If that job is gone, "
                    f"delete {lock}."
                ) from None
            lock.unlink(missing_ok=True)
            notices.append(f"Took over the lock of job {pid}, which is gone (killed or crashed)")
            continue
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(_lock_text())
        return notices
    raise ConfigError(f"output_dir: could not lock {lock.parent}; another job is starting in it.")


def _holder(lock: Path) -> tuple[int, str] | None:
    try:
        text = lock.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return None
    try:
        return int(text[0]), text[1] if len(text) > 1 else socket.gethostname()
    except (IndexError, ValueError):
        return 0, socket.gethostname()  # unreadable: a job killed while writing it


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _release_lock(lock: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if lock.read_text(encoding="utf-8") == _lock_text():
            lock.unlink()


def _remove_if_empty(run_dir: Path) -> None:
    with contextlib.suppress(OSError):
        run_dir.rmdir()
