"""A sweep, top to bottom: the settings and data checked, the Optuna study kept in SQLite in
the sweep folder (the same command resumes it; trials of a killed process are marked failed),
trials run one at a time within the sweep's time budget, and the outputs written."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from domaintune.data.prepare import prepare_data
from domaintune.data.split import split_train_eval
from domaintune.errors import ConfigError
from domaintune.progress import LIBRARY_LOG, Reporter, SilentReporter, library_logs_into, quiet_libraries
from domaintune.settings import RunSettings, resolve_settings
from domaintune.sweep.objective import TrialData, prompt_digest, run_trial
from domaintune.sweep.outputs import write_outputs
from domaintune.sweep.space import Param, default_space, merged_space, read_space
from domaintune.files import write_text_atomic

STUDY_FILE = "study.db"
STUDY_NAME = "sweep"
MIN_TRIAL_SECONDS = 20.0
"""Below this a trial cannot load a model, train a few steps and validate them (the tiny test
model takes about 5 s; the default model about 15 s of loading alone)."""
FIRST_TRIAL_OVERHEAD = 0.3
"""Share of a trial's time assumed to go to loading and validation before one is measured."""
VALIDATION_SHARE = 0.1
VALIDATION_MIN_ROWS, VALIDATION_MAX_ROWS = 8, 48
"""At most 48: a pass over 100 rows of the legal sample took 42 s of a 4-minute trial's 228."""
VALIDATION_TOKENS, CHARS_PER_TOKEN = 8_000, 4
"""About the tokens of a pass over 48 legal rows (27 s on the default model, 2 vCPUs); longer
rows get fewer: 48 PubMedQA abstracts took 65 s a pass, and a 5-minute trial made 3 steps."""
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class SweepOutcome:
    folder: Path
    study: optuna.Study
    stopped_by_budget: bool
    best_file: Path | None


def sweep_folder(domain: str, output_dir: str | None) -> Path:
    """sweeps/<domain> unless given: the same command finds the same study again."""
    return Path(output_dir) if output_dir else Path("sweeps") / domain


def check_budget(trials: int, budget_minutes: float) -> None:
    if trials < 1:
        raise ConfigError(f"--trials: {trials}; a sweep needs at least 1 trial.")
    if budget_minutes * 60 < MIN_TRIAL_SECONDS:
        raise ConfigError(
            f"--budget-minutes: {budget_minutes} minutes ({budget_minutes * 60:.0f} s) is too short for "
            f"a single trial, which needs at least {MIN_TRIAL_SECONDS:.0f} s; raise --budget-minutes."
        )


def prepare_sweep(
    options: Mapping[str, Any], config_file: Path | None, trials: int, budget_minutes: float,
    space_file: Path | None,
) -> tuple[RunSettings, dict[str, Param | None]]:
    """Every setting, the budget and the space file checked, before any data is read."""
    check_budget(trials, budget_minutes)
    settings = resolve_settings(options, config_file, for_run=False)
    return settings, read_space(space_file, settings.config) if space_file else {}


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """One sweep process per folder. Holding the lock also proves that any trial still marked
    running was left by a process that is gone."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "sweep.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"{folder}: another `tune sweep` is running on this folder; wait for it or pass "
                "another --output-dir."
            ) from None
        yield


def open_study(folder: Path, seed: int, space: dict[str, Param]) -> optuna.Study:
    """The folder's study (created on the first run) with its killed trials marked failed."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{(folder / STUDY_FILE).resolve()}")
    study = optuna.create_study(
        study_name=STUDY_NAME, storage=storage, load_if_exists=True, direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    described = sorted(param.describe() for param in space.values())
    kept = study.user_attrs.get("space")
    if kept is None:
        study.set_user_attr("space", described)
    elif kept != described:
        raise ConfigError(
            f"{folder / STUDY_FILE} holds a sweep over another space ({'; '.join(kept)}); "
            "pass another --output-dir, or the same --space as before."
        )
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(trial._trial_id, "failed", "killed: its process ended mid-trial")
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    return study


def seconds_spent(study: optuna.Study) -> float:
    """Time the study's trials took; a killed trial counts its whole allotment (it may have
    used all of it before it died)."""
    spent = 0.0
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("failed", "").startswith("killed"):
            spent += float(trial.user_attrs.get("allotted_seconds", 0.0))
        elif trial.datetime_start and trial.datetime_complete:
            spent += (trial.datetime_complete - trial.datetime_start).total_seconds()
    return spent


def run_sweep(
    settings: RunSettings, space_changes: dict[str, Param | None], trials: int,
    budget_minutes: float, folder: Path, reporter: Reporter | None = None,
) -> SweepOutcome:
    """Run the trials left of ``trials`` within what is left of ``budget_minutes``."""
    from domaintune.model import load_tokenizer, resolve_model

    quiet_libraries()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    reporter = reporter or SilentReporter()
    started = time.monotonic()
    with locked(folder), library_logs_into(folder / LIBRARY_LOG):
        config = settings.config
        train_rows, validation_rows, held_out = _split_rows(settings, reporter)
        space = merged_space(default_space(config, _task_sizes(train_rows)), space_changes)
        study = open_study(folder, config.seed, space)
        deadline = started + budget_minutes * 60 - seconds_spent(study)
        write_text_atomic(folder / "held_out_rows.json", json.dumps([prompt_digest(p) for p in held_out["prompt"]]))
        model_path = str(resolve_model(config.model))
        data = TrialData(
            settings.domain, settings.parts, config, train_rows, validation_rows, model_path,
            load_tokenizer(model_path, trust_remote_code=config.trust_remote_code),
        )
        stopped_by_budget = False
        overhead: float | None = None
        while (done := len(study.get_trials(deepcopy=False, states=FINISHED))) < trials:
            left = deadline - time.monotonic()
            if left < MIN_TRIAL_SECONDS:
                stopped_by_budget = True
                break
            share = max(MIN_TRIAL_SECONDS, left / (trials - done))
            budget_s = share - overhead if overhead is not None else share * (1 - FIRST_TRIAL_OVERHEAD)
            trial = study.ask()
            trial.set_user_attr("allotted_seconds", round(share, 1))
            reporter.step(f"Trial {trial.number} ({done + 1} of {trials}): {budget_s:.0f} s of training")
            trial_dir = folder / "trials" / f"trial-{trial.number}"
            try:
                value = run_trial(trial, data, space, max(1.0, budget_s), trial_dir)
            except optuna.TrialPruned as pruned:
                trial.set_user_attr("note", str(pruned))
                study.tell(trial, state=TrialState.PRUNED)
            except BaseException as error:
                trial.set_user_attr("failed", f"{type(error).__name__}: {error}"[:500])
                study.tell(trial, state=TrialState.FAIL)
                raise
            else:
                study.tell(trial, value)
            # The largest so far: a trial pruned or stopped early shows no overrun past its budget.
            measured = float(study.trials[trial.number].user_attrs.get("overhead_seconds", 0.0))
            overhead = max(overhead or 0.0, measured)
        best_file = write_outputs(study, folder, settings.config, space)
    return SweepOutcome(folder=folder, study=study, stopped_by_budget=stopped_by_budget, best_file=best_file)


def validation_size(trained_on: int, mean_characters: float, max_length: int) -> int:
    """Validation rows for ``trained_on`` training rows of ``mean_characters`` each: a share,
    within VALIDATION_MIN_ROWS..VALIDATION_MAX_ROWS and about VALIDATION_TOKENS a pass."""
    row_tokens = max(1.0, min(max_length, mean_characters / CHARS_PER_TOKEN))
    return max(VALIDATION_MIN_ROWS, min(
        VALIDATION_MAX_ROWS, round(trained_on * VALIDATION_SHARE), int(VALIDATION_TOKENS / row_tokens)
    ))


def _split_rows(settings: RunSettings, reporter: Reporter) -> tuple[Any, Any, Any]:
    """The training rows split into what trials train on and their validation rows; the
    final held-out rows, returned apart, are in neither."""
    config, domain = settings.config, settings.domain
    reporter.step(f"Loading and checking data for domain {domain.name!r}")
    # The caps are searched per trial, so the rows come uncapped (the held-out split is
    # made before any cap, so it is the one a run with these settings holds out).
    uncapped = dataclasses.replace(config, max_rows_per_task=None, max_train_rows=None)
    rows, held_out, _ = prepare_data(
        domain, uncapped, filters=settings.parts.data_filters, train_rows=settings.train_rows
    )
    # A share of the rows a run would train on (the user's max_train_rows bounds it).
    trained_on = min(len(rows), config.max_train_rows or len(rows))
    characters = sum(len(p) + len(c) for p, c in zip(rows["prompt"], rows["completion"])) / max(len(rows), 1)
    validation = validation_size(trained_on, characters, config.max_length)
    train_rows, validation_rows = split_train_eval(
        rows, validation, config.seed, domain.task_type == "classification"
    )
    return train_rows, validation_rows, held_out


def _task_sizes(rows: Any) -> dict[str, int]:
    if "task" not in rows.column_names:
        return {}
    sizes: dict[str, int] = {}
    for task in rows["task"]:
        sizes[str(task)] = sizes.get(str(task), 0) + 1
    return sizes
