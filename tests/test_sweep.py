"""`tune sweep` on the tiny model: a 3-trial sweep completes with its outputs, no trial sees a
held-out row, best.yaml round-trips through the config reader, and bad input is refused
before any trial starts."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from domaintune import Domain
from domaintune.cli import cli
from domaintune.errors import ConfigError
from domaintune.settings import resolve_settings
from domaintune.sweep.objective import prompt_digest
from domaintune.sweep.study import STUDY_FILE, prepare_sweep, run_sweep

SETTINGS = {"eval_rows": 8, "batch_size": 4, "gradient_accumulation": 1, "precision": "fp32", "seed": 1}


def options(domain: Domain, tiny_model: str, **more: Any) -> dict[str, Any]:
    return {"domain": domain.name, "model": tiny_model, **SETTINGS, **more}


def small_space(tmp_path: Path) -> Path:
    """Short trials: the tiny model learns nothing in them, but each is a real run."""
    path = tmp_path / "space.yaml"
    path.write_text(
        "learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}\nlora_r: {choices: [2, 4]}\n"
        "epochs: {low: 0.5, high: 1}\nmax_length: 64\n",
        encoding="utf-8",
    )
    return path


def test_three_trial_sweep_completes_without_held_out_rows(
    tmp_path: Path, test_domain: Domain, tiny_model: str
) -> None:
    folder = tmp_path / "sweep"
    settings, space = prepare_sweep(options(test_domain, tiny_model), None, 3, 2.0, small_space(tmp_path))
    started = time.monotonic()
    outcome = run_sweep(settings, space, 3, 2.0, folder)
    # Within its 2 minutes; the slack is the last training step and validation of a trial.
    assert time.monotonic() - started < 2 * 60 + 30

    states = [trial.state.name for trial in outcome.study.trials]
    assert len(states) == 3 and set(states) <= {"COMPLETE", "PRUNED"}, states
    assert (folder / STUDY_FILE).is_file()
    with open(folder / "trials.csv", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert [row["trial"] for row in table] == ["0", "1", "2"]
    assert {"learning_rate", "lora_r", "epochs", "decay_fraction", "max_length"} <= set(table[0])
    assert "| trial | state | validation_loss |" in (folder / "trials.md").read_text(encoding="utf-8")
    assert (folder / "optimization_history.png").read_bytes()[:4] == b"\x89PNG"
    assert (folder / "library.log").is_file()  # the libraries' logs, not the console
    if states.count("COMPLETE") >= 2:
        assert (folder / "param_importances.png").read_bytes()[:4] == b"\x89PNG"

    # The rows a run with these settings holds out, read by the run's own path.
    from domaintune.data.prepare import prepare_data

    _, held_out, _ = prepare_data(settings.domain, settings.config, filters=settings.parts.data_filters)
    held = {prompt_digest(prompt) for prompt in held_out["prompt"]}
    assert len(held) == 8
    assert held == set(json.loads((folder / "held_out_rows.json").read_text(encoding="utf-8")))
    for trial in range(3):
        seen = json.loads((folder / "trials" / f"trial-{trial}" / "rows.json").read_text(encoding="utf-8"))
        assert seen["train"] and seen["validation"]
        assert not held & set(seen["train"]) and not held & set(seen["validation"])
        assert not set(seen["train"]) & set(seen["validation"])

    # best.yaml is a config file `tune --config` takes as it is.
    assert outcome.best_file == folder / "best.yaml"
    best = outcome.study.best_trial
    config = resolve_settings({}, outcome.best_file, for_run=False).config
    assert config.domain == test_domain.name and config.model == tiny_model
    for name, value in best.params.items():
        assert getattr(config, name) == value, name
    assert config.time_budget_minutes is None and config.output_dir is None


def test_best_yaml_runs_with_tune_config(tmp_path: Path, test_domain: Domain, tiny_model: str) -> None:
    folder = tmp_path / "sweep"
    settings, space = prepare_sweep(options(test_domain, tiny_model), None, 1, 1.0, small_space(tmp_path))
    outcome = run_sweep(settings, space, 1, 1.0, folder)
    assert outcome.best_file is not None
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(cli, ["--config", str(outcome.best_file), "--output-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    ran = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert ran["domain"] == test_domain.name
    import yaml

    written = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    for name, value in outcome.study.best_trial.params.items():
        assert written[name] == value, name


@pytest.mark.parametrize(
    ("space_text", "message"),
    [
        ("learning_rat: {low: 1.0e-4, high: 1.0e-3}\n", "did you mean 'learning_rate'"),
        ("learning_rate: {low: 1.0e-3, high: 1.0e-4}\n", "is empty"),
        ("lora_r: {choices: []}\n", "non-empty list"),
        ("decay_fraction: {low: 0.5, high: 1.5}\n", "would be refused by the run"),
        ("seed: {low: 1, high: 3}\n", "not a setting a sweep can vary"),
    ],
)
def test_bad_space_file_is_refused_before_any_trial(
    tmp_path: Path, test_domain: Domain, tiny_model: str, space_text: str, message: str
) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(space_text, encoding="utf-8")
    folder = tmp_path / "sweep"
    result = CliRunner().invoke(cli, [
        "sweep", "--domain", test_domain.name, "--model", tiny_model, "--trials", "2",
        "--budget-minutes", "1", "--space", str(space), "--output-dir", str(folder),
    ])
    assert result.exit_code != 0
    assert message in result.output and str(space) in result.output
    assert not folder.exists()


def test_budget_too_small_for_one_trial_is_refused(tmp_path: Path, test_domain: Domain, tiny_model: str) -> None:
    folder = tmp_path / "sweep"
    result = CliRunner().invoke(cli, [
        "sweep", "--domain", test_domain.name, "--model", tiny_model, "--trials", "3",
        "--budget-minutes", "0.1", "--output-dir", str(folder),
    ])
    assert result.exit_code != 0
    assert "--budget-minutes: 0.1" in result.output and "too short for a single trial" in result.output
    assert not folder.exists()
    with pytest.raises(ConfigError, match="at least 1 trial"):
        prepare_sweep(options(test_domain, tiny_model), None, 0, 5.0, None)


def test_final_compares_best_and_default_settings_on_the_held_out_rows(
    tmp_path: Path, test_domain: Domain, tiny_model: str
) -> None:
    from domaintune.sweep.final import run_final

    folder = tmp_path / "sweep"
    settings, space = prepare_sweep(options(test_domain, tiny_model), None, 1, 1.0, small_space(tmp_path))
    run_sweep(settings, space, 1, 1.0, folder)
    comparison = run_final(settings, folder)

    assert comparison["rows"] == 8
    defaults = json.loads((folder / "final" / "defaults" / "metrics.json").read_text(encoding="utf-8"))
    best = json.loads((folder / "final" / "best" / "metrics.json").read_text(encoding="utf-8"))
    for name, figures in comparison["metrics"].items():
        # Each side's figure is the one its own run scored on the held-out rows.
        assert figures["defaults"] == pytest.approx(defaults["tuned"][name])
        assert figures["best"] == pytest.approx(best["tuned"][name])
        change = figures["best_minus_defaults"]
        assert change["difference"] == pytest.approx(figures["best"] - figures["defaults"])
        assert change["low"] <= change["difference"] <= change["high"]
    assert comparison["metrics"] and "95% interval" in (folder / "final" / "comparison.md").read_text(encoding="utf-8")
    written = yaml_config(folder / "final" / "best" / "config.yaml")
    for name, value in comparison["best_settings"].items():
        assert written[name] == value, name


def yaml_config(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_sweep_help_imports_neither_optuna_nor_torch() -> None:
    probe = (
        "import sys; from click.testing import CliRunner; from domaintune.cli import cli; "
        "result = CliRunner().invoke(cli, ['sweep', '--help']); assert result.exit_code == 0, result.output; "
        "assert '--budget-minutes' in result.output; "
        "print(sorted(m for m in ('optuna', 'torch', 'transformers') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


class Ticks:
    """A clock the test sets."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_trainer_callback_validates_at_each_third_of_the_budget_and_stops_a_pruned_trial() -> None:
    import optuna
    from domaintune.sweep.objective import ValidateAndReport
    from transformers import TrainerControl, TrainerState

    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    good = study.ask()
    good.report(0.5, 1)
    study.tell(good, 0.5)

    def validations(trial: optuna.Trial, losses: list[float]) -> tuple[list[int], ValidateAndReport]:
        """Steps a trial of 1,000 planned steps validates at, one step a second, budget 100 s."""
        clock, state = Ticks(), TrainerState(max_steps=1000)
        callback, asked = ValidateAndReport(trial, budget_s=100, now=clock), []
        callback.on_train_begin(None, state, TrainerControl())
        for step in range(1, 101):
            clock.now, state.global_step, control = float(step), step, TrainerControl()
            control.should_training_stop = step == 100  # as the budget's callback says
            callback.on_step_end(None, state, control)
            if control.should_evaluate:
                assert control.should_save  # early stopping keeps a checkpoint of each
                asked.append(step)
                callback.on_evaluate(None, state, control, metrics={"eval_loss": losses[len(asked) - 1]})
                if control.should_training_stop:
                    break
        return asked, callback

    # The budget ends the trial at step 100, long before a third of its planned steps.
    asked, callback = validations(study.ask(), [0.4, 0.3, 0.2])
    assert asked == [34, 67, 100] and callback.pruned_at is None
    assert study.trials[1].intermediate_values == {1: 0.4, 2: 0.3, 3: 0.2}
    asked, callback = validations(study.ask(), [3.0])
    assert asked == [34] and callback.pruned_at == 34  # worse than the median at its third
    assert study.trials[2].intermediate_values == {1: 3.0}


def test_a_trial_its_budget_ends_long_before_its_planned_steps_is_scored(
    tmp_path: Path, test_domain: Domain, tiny_model: str
) -> None:
    """Trials were planned to validate at a quarter of their steps; a budget that ended them
    sooner left them unscored ("pruned" with no validation loss), and a sweep without a best."""
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: 1.0e-3\nlora_r: 2\nepochs: 400\nmax_length: 64\n", encoding="utf-8")
    folder = tmp_path / "sweep"
    settings, changes = prepare_sweep(options(test_domain, tiny_model), None, 1, 0.5, space)
    outcome = run_sweep(settings, changes, 1, 0.5, folder)
    trial = outcome.study.trials[0]
    assert trial.state.name == "COMPLETE", trial.user_attrs
    assert trial.user_attrs["stopped_by_time_budget"]
    assert len(trial.intermediate_values) >= 2 and trial.value == min(trial.intermediate_values.values())
    assert outcome.best_file == folder / "best.yaml"


def test_validation_rows_are_a_share_of_the_training_rows_within_a_token_budget() -> None:
    from domaintune.sweep.study import validation_size

    assert validation_size(200, 400, 256) == 20  # 10%
    assert validation_size(40, 400, 256) == 8  # at least 8
    assert validation_size(1000, 600, 256) == 48  # legal rows: at most 48
    assert validation_size(450, 1600, 384) == 20  # PubMedQA abstracts: 8,000 tokens / 400 a row
    assert validation_size(450, 4000, 384) == 20  # a row counts no more than max_length
    assert validation_size(450, 40_000, 4096) == 8


def test_default_space_searches_the_per_task_cap_only_on_multi_task_data() -> None:
    from domaintune.config import RunConfig
    from domaintune.sweep.space import default_space

    config = RunConfig(domain="legal", max_length=256)
    single = default_space(config, {})
    assert set(single) == {"learning_rate", "lora_r", "decay_fraction", "epochs", "max_length"}
    assert single["learning_rate"].log and single["max_length"].choices == (128, 256, 512)
    multi = default_space(config, {"CUAD_a": 300, "CUAD_b": 40})
    cap = multi["max_rows_per_task"]
    assert (cap.low, cap.high, cap.log) == (16, 300, True)


def test_toml_space_file_changes_and_removes_settings(tmp_path: Path) -> None:
    from domaintune.config import RunConfig
    from domaintune.sweep.space import Param, default_space, merged_space, read_space

    path = tmp_path / "space.toml"
    path.write_text(
        'lora_r = { choices = [8, 16] }\nwarmup_ratio = { low = 0.0, high = 0.2 }\n'
        'decay_fraction = 0.3\n',
        encoding="utf-8",
    )
    config = RunConfig(domain="legal")
    changes = read_space(path, config)
    space = merged_space(default_space(config, {}), changes)
    assert space["lora_r"] == Param("lora_r", choices=(8, 16))
    assert space["warmup_ratio"] == Param("warmup_ratio", 0.0, 0.2)
    assert space["decay_fraction"].choices == (0.3,)
    yaml_path = tmp_path / "space.yaml"
    yaml_path.write_text("max_length: null\n", encoding="utf-8")
    assert "max_length" not in merged_space(default_space(config, {}), read_space(yaml_path, config))
