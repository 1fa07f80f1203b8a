"""Run configuration: typed values, every error at once, files, and the CLI's precedence."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from domaintune import Domain
from domaintune.cli import cli
from domaintune.config import RunConfig, build_config, read_config_file
from domaintune.errors import ConfigError


def squash(text: str) -> str:
    """Rich wraps long lines, even inside a word; compare printed text without whitespace."""
    return "".join(text.split())


def test_defaults_and_coercion() -> None:
    config = build_config({"domain": "legal", "epochs": 2, "data": Path("train.jsonl")})
    assert config == RunConfig(domain="legal", epochs=2.0, data="train.jsonl")
    assert isinstance(config.epochs, float)
    assert isinstance(config.data, str)


def test_all_invalid_settings_are_reported_in_one_error() -> None:
    with pytest.raises(ConfigError) as info:
        build_config(
            {
                "domain": "legal",
                "epoch": 3,  # misspelled
                "batch_size": "eight",  # wrong type
                "learning_rate": -0.001,  # not positive
                "method": "ia3",  # not one of the Literal's values
                "lora_dropout": 1.5,  # not a fraction
                "eval_rows": True,  # a bool is not an int
            }
        )
    message = str(info.value)
    assert message.startswith("6 invalid setting(s):")
    assert "epoch: unknown setting; did you mean 'epochs'?" in message
    assert "batch_size: 'eight' is a str, expected int" in message
    assert "learning_rate: must be greater than 0 (got -0.001)" in message
    assert "method: 'ia3' is not one of lora, dora, qlora, full" in message
    assert "lora_dropout: must be at least 0 and below 1 (got 1.5)" in message
    assert "eval_rows: True is a bool, expected int" in message


def test_unknown_key_without_a_close_match_has_no_suggestion() -> None:
    with pytest.raises(ConfigError) as info:
        build_config({"domain": "legal", "wandb_project": "x"})
    assert "wandb_project: unknown setting" in str(info.value)
    assert "did you mean" not in str(info.value)


def test_missing_domain_and_null_values_are_errors() -> None:
    with pytest.raises(ConfigError) as info:
        build_config({"batch_size": None, "time_budget_minutes": None})
    message = str(info.value)
    assert message.startswith("2 invalid setting(s):")
    assert "batch_size: must be set (got null)" in message
    assert "domain: must be set" in message
    # Optional settings accept null.
    assert build_config({"domain": "legal", "time_budget_minutes": None}).time_budget_minutes is None


def test_later_layers_win() -> None:
    config = build_config(
        {"max_length": 512, "epochs": 3.0},  # domain defaults
        {"domain": "legal", "epochs": 2.0, "seed": 7},  # file
        {"epochs": 1.0},  # command line
    )
    assert (config.max_length, config.epochs, config.seed) == (512, 1.0, 7)


def test_yaml_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "# a legal run\ndomain: legal\nepochs: 2\nlearning_rate: 1.0e-4\nmethod: full\n"
        "max_train_rows: 500\ntime_budget_minutes: null\n",
        encoding="utf-8",
    )
    values = read_config_file(path)
    assert values == {
        "domain": "legal", "epochs": 2, "learning_rate": 1e-4, "method": "full",
        "max_train_rows": 500, "time_budget_minutes": None,
    }
    config = build_config(values)
    assert (config.epochs, config.learning_rate, config.method) == (2.0, 1e-4, "full")


def test_toml_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(
        'domain = "finance"\nepochs = 0.5\nbatch_size = 4\nprecision = "fp32"\n', encoding="utf-8"
    )
    config = build_config(read_config_file(path))
    assert config == RunConfig(domain="finance", epochs=0.5, batch_size=4, precision="fp32")


def test_empty_yaml_file_is_an_empty_mapping(tmp_path: Path) -> None:
    path = tmp_path / "empty.yml"
    path.write_text("# nothing set yet\n", encoding="utf-8")
    assert read_config_file(path) == {}


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.toml", 'domain = "legal"\nepochs = \n', "could not be parsed"),
        ("bad.yaml", "domain: legal\n  epochs: [1, 2\n", "could not be parsed"),
        ("list.yaml", "- domain\n- legal\n", "must hold a mapping"),
        ("run.json", '{"domain": "legal"}', "must end in .yaml, .yml or .toml"),
    ],
)
def test_bad_config_files_name_the_file(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_config_file(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_config_file(tmp_path / "nope.yaml")


def test_cli_options_override_the_file_and_the_file_overrides_domain_defaults(
    tmp_path: Path, test_domain: Domain
) -> None:
    """Stops at validation (nothing is trained): the errors show which layer's value won."""
    assert test_domain.defaults == {"max_length": 64}
    path = tmp_path / "run.yaml"
    path.write_text(
        "domain: testdomain\nepochs: 2\nlora_r: 0\nmax_length: -5\nbatch_size: 4\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["--config", str(path), "--epochs", "-1", "--batch-size", "0"]
    )
    assert result.exit_code == 1
    message = squash(result.stderr)
    assert squash("4 invalid setting(s)") in message
    assert squash("epochs: must be greater than 0 (got -1.0)") in message  # CLI over file
    assert squash("batch_size: must be greater than 0 (got 0)") in message  # CLI over file
    assert squash("lora_r: must be greater than 0 (got 0)") in message  # file, no CLI option given
    assert squash("max_length: must be greater than 0 (got -5)") in message  # file over domain default
    assert not (tmp_path / "runs").exists()


def test_cli_reports_an_unknown_domain_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--domain", "aviation", "--output-dir", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert squash("No installed plugin offers domain 'aviation'") in squash(result.stderr)
    assert "Traceback" not in result.output


def test_non_finite_numbers_and_too_short_examples_are_refused_with_the_rest() -> None:
    """nan and inf passed validation and failed after data preparation; max_length 1 failed
    in training with a reshape error (#15)."""
    with pytest.raises(ConfigError) as info:
        build_config(
            {"domain": "legal", "learning_rate": float("nan"), "epochs": float("inf"), "max_length": 1, "seed": -1.5}
        )
    message = str(info.value)
    assert message.startswith("4 invalid setting(s):")
    assert "learning_rate: must be a finite number (got nan)" in message
    assert "epochs: must be a finite number (got inf)" in message
    assert "max_length: 1 tokens cannot hold a chat-formatted example; use at least 16" in message
    assert build_config({"domain": "legal", "max_length": 16}).max_length == 16


def test_cli_refuses_nan_before_any_work(tmp_path: Path, test_domain: Domain) -> None:
    result = CliRunner().invoke(
        cli, ["--domain", "testdomain", "--learning-rate", "nan", "--output-dir", str(tmp_path / "r")]
    )
    assert result.exit_code == 1
    assert squash("learning_rate: must be a finite number (got nan)") in squash(result.stderr)
    assert not (tmp_path / "r").exists()
