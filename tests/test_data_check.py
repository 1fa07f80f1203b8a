"""`tune data check`: figures, problems and exit codes, without loading model weights; and the
--map/--shape settings reaching the loader through a run's configuration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from domaintune import Domain, hookimpl
from domaintune.cli import cli
from domaintune.errors import DataError

QUESTION = "Does this sentence mention an animal?"


@pytest.fixture(autouse=True)
def data_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOMAINTUNE_CACHE", str(tmp_path_factory.getbasetemp() / "domaintune-cache"))


@pytest.fixture(autouse=True)
def no_model_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check may load a tokenizer, never a model."""
    import transformers

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("tune data check loaded model weights")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["data", "check", *args])
    assert "Traceback" not in result.output, result.output
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def check_json(*args: str) -> tuple[int, dict[str, Any]]:
    code, output = check(*args, "--json")
    return code, json.loads(output)


def test_report_on_the_test_domain(tmp_path: Path, test_domain: Domain, tiny_model: str) -> None:
    code, report = check_json("--domain", "testdomain", "--model", tiny_model)
    assert code == 1 and report["problems"] == [
        "Cannot hold out 200 eval rows from 40 rows; give a smaller eval_rows, more data, or a "
        "separate --eval-data file."
    ]
    code, report = check_json("--domain", "testdomain", "--model", tiny_model, "--config", str(config_file(tmp_path, eval_rows=8)))
    assert code == 0 and report["usable"]
    assert (report["task_type"], report["max_length"], report["tokenizer"]) == ("classification", 64, tiny_model)
    (train,) = report["sources"]
    assert (train["rows"], train["format"], train["shape"]) == (41, "JSON Lines", "prompt_completion")
    assert train["labels"] == {"yes": 21, "no": 20}
    assert train["safety"]["rows_dropped"] == 1 and train["safety"]["rows_changed"] == 1
    assert train["safety"]["counts"] == {"test-redact:EMAIL": 1, "test-redact:confidential": 1}
    assert train["safety"]["dropped_rows"] == [41]
    assert train["duplicates"]["exact"] == 0
    tokens = train["tokens"]
    assert set(tokens["percentiles"]) == {"50", "90", "95", "99"} and tokens["max"] >= tokens["percentiles"]["99"]
    assert report["split"] == {"eval_rows": 8, "train_rows": 32, "left_out": 0, "seed": 0, "stratified": True}


def test_text_output_and_truncation_match_the_training_encoding(
    tmp_path: Path, test_domain: Domain, tiny_model: str
) -> None:
    from domaintune.data.encoding import split_prompt_answer, tokenize_texts
    from domaintune.default_plugins.formatting import make_formatter
    from transformers import AutoTokenizer

    rows = [{"prompt": f"{QUESTION} " + "The dog barked. " * n, "completion": "yes"} for n in range(1, 30)]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    prompts, answers = split_prompt_answer(make_formatter(test_domain)({"prompt": [r["prompt"] for r in rows], "completion": ["yes"] * len(rows)}), tokenizer)
    totals = [len(p) + len(a) for p, a in zip(tokenize_texts(tokenizer, prompts), tokenize_texts(tokenizer, answers))]
    expected = sum(total > 100 for total in totals)
    assert 0 < expected < len(rows)

    code, output = check(str(path), "--domain", "testdomain", "--model", tiny_model, "--max-length", "100", "--config", str(config_file(tmp_path, eval_rows=5)))
    assert code == 0, output
    assert f"truncated   {expected} rows" in output
    assert "rows        29 (JSON Lines; prompt/completion, detected: prompt=prompt, completion=completion)" in output
    assert "labels      yes 29 (100.0%)" in output
    assert "eval: 5 rows held out from train (seed 0, stratified by label)" in output
    assert output.rstrip().endswith("usable: yes")


def config_file(folder: Path, **values: Any) -> Path:
    import yaml

    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def test_bad_rows_are_all_listed_and_the_good_ones_described(
    tmp_path: Path, test_domain: Domain, tiny_model: str
) -> None:
    rows = [{"prompt": f"{QUESTION} A cat {i}.", "completion": "yes"} for i in range(6)]
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "\n".join([json.dumps(rows[0]), "{not json", json.dumps({"prompt": "no answer"}), *map(json.dumps, rows[1:])]) + "\n",
        encoding="utf-8",
    )
    code, output = check(str(path), "--domain", "testdomain", "--model", tiny_model)
    assert code == 1
    assert f"{path}:2: invalid JSON at column 2" in output
    assert f"{path}:3: field 'completion' is missing" in output
    assert "rows        6 (JSON Lines" in output  # the good rows are still described
    assert "usable: no" in output
    code, report = check_json(str(path), "--domain", "testdomain", "--model", tiny_model)
    assert code == 1 and not report["usable"]
    assert report["sources"][0]["problem_count"] == 2 and len(report["sources"][0]["problems"]) == 2


def test_duplicates_and_contamination(tmp_path: Path, test_domain: Domain, tiny_model: str) -> None:
    base = [{"prompt": f"{QUESTION} Sentence {i} about a cow.", "completion": "yes"} for i in range(10)]
    train = write_jsonl(tmp_path / "train.jsonl", [
        *base,
        base[0],  # exact
        {**base[1], "prompt": base[1]["prompt"].upper()},  # normalized
        {**base[2], "prompt": "  " + base[2]["prompt"].replace(" ", "\u00a0 ")},  # NBSP and spaces
        {**base[3], "completion": "no"},  # conflicting label
    ])
    held_out = write_jsonl(tmp_path / "eval.jsonl", [base[4], {"prompt": f"{QUESTION} new", "completion": "no"}])
    code, report = check_json(str(train), "--domain", "testdomain", "--model", tiny_model, "--eval-data", str(held_out))
    assert code == 1
    duplicates = report["sources"][0]["duplicates"]
    assert (duplicates["exact"], duplicates["normalized"]) == (1, 2)
    assert (duplicates["conflicting_prompts"], duplicates["conflicting_rows"]) == (1, 2)
    assert report["contamination"] == {"eval_rows": 2, "rows": 1, "examples": [[1, 5]]}
    assert any("1 of 2 eval rows share their prompt with a train row" in p for p in report["problems"])


def test_split_leaves_out_train_copies_of_held_out_rows(tmp_path: Path, test_domain: Domain, tiny_model: str) -> None:
    rows = [{"prompt": f"{QUESTION} Row {i}.", "completion": "yes" if i % 2 else "no"} for i in range(20)]
    path = write_jsonl(tmp_path / "rows.jsonl", rows * 3)  # every row three times
    code, report = check_json(str(path), "--domain", "testdomain", "--model", tiny_model, "--config", str(config_file(tmp_path, eval_rows=4)))
    assert code == 0
    split = report["split"]
    assert split["eval_rows"] == 4 and split["left_out"] >= 8 and split["train_rows"] == 60 - 4 - split["left_out"]


def test_chat_file_without_a_domain(tmp_path: Path, tiny_model: str) -> None:
    rows = [{"messages": [{"role": "user", "content": f"{QUESTION} Cat {i}"}, {"role": "assistant", "content": "yes" if i % 3 else "no"}]} for i in range(12)]
    path = write_jsonl(tmp_path / "chat.jsonl", rows)
    code, report = check_json(str(path), "--model", tiny_model, "--config", str(config_file(tmp_path, eval_rows=3)))
    assert code == 0, report
    assert report["domain"] is None and report["task_type"] == "classification"  # guessed from the labels
    assert report["sources"][0]["shape"] == "messages" and report["sources"][0]["labels"] == {"yes": 8, "no": 4}


def test_map_option(tmp_path: Path, tiny_model: str) -> None:
    path = write_jsonl(tmp_path / "qa.jsonl", [{"q": f"Question {i}?", "a": f"Answer {i}."} for i in range(8)])
    code, output = check(str(path), "--model", tiny_model, "--map", "prompt=q,completion=a", "--config", str(config_file(tmp_path, eval_rows=2)))
    assert code == 0, output
    assert "prompt/completion, as set: prompt=q, completion=a" in output
    code, output = check(str(path), "--model", tiny_model, "--map", "question")
    assert code == 1 and "is not FIELD=COLUMN" in output


def test_unusable_sources_exit_1_without_a_traceback(tmp_path: Path, tiny_model: str) -> None:
    code, output = check(str(tmp_path / "missing.jsonl"), "--model", tiny_model)
    assert code == 1 and "does not exist" in output and "usable: no" in output
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    code, output = check(str(empty), "--model", tiny_model)
    assert code == 1 and f"{empty} is empty" in output
    code, output = check(str(write_jsonl(tmp_path / "ok.jsonl", [{"text": "Some text."}] * 3)), "--model", str(tmp_path / "no-model"))
    assert code == 1 and "Could not load model" in output
    code, output = check()
    assert code == 1 and "Nothing to check" in output


def test_parallel_token_count_gives_the_same_figures(
    tmp_path: Path, test_domain: Domain, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from domaintune.data import check_figures as datacheck

    rows = [{"prompt": f"{QUESTION} " + "A horse ran. " * (i % 7), "completion": "yes"} for i in range(300)]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    args = (str(path), "--domain", "testdomain", "--model", tiny_model, "--max-length", "40")
    _, serial = check_json(*args)
    monkeypatch.setattr(datacheck, "map_workers", lambda rows: 2)
    _, parallel = check_json(*args)
    assert parallel["sources"][0]["tokens"] == serial["sources"][0]["tokens"]
    assert serial["sources"][0]["tokens"]["truncated"] > 0


def test_data_check_on_a_bad_row_reaches_no_plugin_formatter(tmp_path: Path, tiny_model: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(b"prompt,completion\nIs the caf\xe9 open?,yes\n")
    code, output = check(str(path), "--model", tiny_model)
    assert code == 1 and f"{path}:2: byte 11 is not UTF-8" in output


# Settings reach the loader -----------------------------------------------------------------


class RecordingLoader:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    @hookimpl(tryfirst=True)
    def load_data(self, domain: Domain, source: str, column_map: dict[str, str], shape: str) -> None:
        self.calls.append({"source": source, "column_map": column_map, "shape": shape})


@pytest.fixture
def recording_loader(test_domain: Domain) -> Iterator[RecordingLoader]:
    from domaintune.testing import plugin_registered

    with plugin_registered(RecordingLoader(), "recording-loader") as loader:
        yield loader


def test_run_passes_map_and_shape_to_load_data(
    tmp_path: Path, recording_loader: RecordingLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    import domaintune.run
    from domaintune.config import RunConfig
    from domaintune.data.prepare import prepare_data
    from domaintune.plugins import get_domain

    def stop(config: RunConfig, *args: Any, **kwargs: Any) -> None:
        prepare_data(get_domain(config.domain), config)

    monkeypatch.setattr(domaintune.run, "run_job", stop)
    path = write_jsonl(tmp_path / "qa.jsonl", [{"q": "Is a cat an animal?", "a": "yes"}])
    result = CliRunner().invoke(cli, ["--domain", "testdomain", "--data", str(path), "--map", "prompt=q,completion=a", "--shape", "prompt_completion"])
    assert recording_loader.calls == [{"source": str(path), "column_map": {"prompt": "q", "completion": "a"}, "shape": "prompt_completion"}]
    assert "Cannot hold out" in result.output  # the core loader read the one row with the map


def test_config_file_column_map(tmp_path: Path) -> None:
    from domaintune.config import build_config
    from domaintune.errors import ConfigError

    config = build_config({"domain": "legal", "column_map": {"prompt": "question"}, "shape": "messages"})
    assert config.column_map == {"prompt": "question"} and config.shape == "messages"
    with pytest.raises(ConfigError, match="column_map: .* must map names to names"):
        build_config({"domain": "legal", "column_map": {"prompt": 3}})
    with pytest.raises(ConfigError, match="shape: 'table' is not one of"):
        build_config({"domain": "legal", "shape": "table"})


def test_plain_data_error_stays_a_data_error(tmp_path: Path) -> None:
    from domaintune.data.loading import read_data

    with pytest.raises(DataError, match="column_map: 'answer' is not a field"):
        read_data(write_jsonl(tmp_path / "rows.jsonl", [{"prompt": "a", "completion": "b"}]), column_map={"answer": "b"})
