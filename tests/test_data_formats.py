"""Every format and row shape the core reads, and the catalogue of bad input: each bad file
gets one message naming file, line (or row) and field, with the fix; nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from domaintune import Domain
from domaintune.data.columns import parse_column_map
from domaintune.data.loading import load, load_info, read_data
from domaintune.errors import DataError

PC = {"prompt": "Is the clause an arbitration clause?", "completion": "Yes"}
ROWS = [PC, {"prompt": "Is it a lease?", "completion": "No", "task": "lease"}]


@pytest.fixture(autouse=True)
def data_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test run caches loaded files in a folder of its own; this is the folder in use."""
    from domaintune.data.cache import data_cache_dir

    folder = tmp_path_factory.getbasetemp() / "domaintune-cache"
    monkeypatch.setenv("DOMAINTUNE_CACHE", str(folder))
    return data_cache_dir()


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def error(source: Path | str, **kwargs: Any) -> str:
    with pytest.raises(DataError) as info:
        read_data(source, **kwargs)
    return str(info.value)


def as_rows(dataset: Any) -> list[dict[str, Any]]:
    return dataset.to_list()


# Formats ------------------------------------------------------------------------------------


def test_json_array_pretty_and_minified(tmp_path: Path) -> None:
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(ROWS, indent=2), encoding="utf-8")
    minified = tmp_path / "minified.json"
    minified.write_text(json.dumps(ROWS), encoding="utf-8")
    for path in (pretty, minified):
        dataset = read_data(path)
        assert dataset.column_names == ["prompt", "completion", "task"]
        assert as_rows(dataset) == [{**PC, "task": ""}, ROWS[1]]


def test_json_file_holding_json_lines_and_jsonl_holding_an_array(tmp_path: Path) -> None:
    assert len(read_data(write_jsonl(tmp_path / "lines.json", ROWS))) == 2
    array = tmp_path / "array.jsonl"
    array.write_text(json.dumps(ROWS, indent=1), encoding="utf-8")
    assert load(array).info.format == "json"


def test_json_array_rows_carry_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([PC, PC, {"prompt": "x"}], indent=2), encoding="utf-8")
    message = error(path)
    assert f"{path}:10: field 'completion' is missing" in message  # the third object's line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[{"prompt": "a", "completion": "b"},]', "trailing commas are not JSON"),
        ('[{"prompt": "a", "completion": "b"}', "ends inside the array"),
        ('[{"prompt": "a", "completion": "b"}]\nextra', "text after the end"),
        ('[{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": "d"}]', "rename the file to .jsonl"),
        ('[{"prompt": "a", "completion": }]', "invalid JSON at column"),
    ],
)
def test_broken_json_array(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "rows.json"
    path.write_text(text, encoding="utf-8")
    message = error(path)
    assert f"{path}:" in message and expected in message


def test_one_json_object_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({"data": ROWS}, indent=2), encoding="utf-8")
    message = error(path)
    assert f"{path}:1:" in message and "jq '.data'" in message


def test_csv_and_tsv(tmp_path: Path) -> None:
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text('prompt,completion\n"Is it, in short, a lease?",No\n"Two\nlines",Yes\n', encoding="utf-8")
    assert as_rows(read_data(csv_file)) == [
        {"prompt": "Is it, in short, a lease?", "completion": "No", "task": ""},
        {"prompt": "Two\nlines", "completion": "Yes", "task": ""},
    ]
    tsv_file = tmp_path / "rows.tsv"
    tsv_file.write_text("question\tanswer\nIs it a lease?\tNo\n", encoding="utf-8")
    assert as_rows(read_data(tsv_file)) == [{"prompt": "Is it a lease?", "completion": "No", "task": ""}]
    tabs_named_csv = tmp_path / "tabs.csv"
    tabs_named_csv.write_text("prompt\tcompletion\nIs it a lease?\tNo\n", encoding="utf-8")
    assert len(read_data(tabs_named_csv)) == 1


def test_csv_row_problems_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text('prompt,completion\nIs it a lease?,No\n"multi\nline",\nA,B,C\n', encoding="utf-8")
    message = error(path)
    assert f"{path}:3: field 'completion' is empty" in message  # the record starts on line 3
    assert f"{path}:5: has 3 fields but the header has 2" in message


def test_parquet_with_class_labels(tmp_path: Path) -> None:
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"])})
    path = tmp_path / "rows.parquet"
    datasets.Dataset.from_dict({"text": ["Profits rose.", "Sales fell."], "label": [1, 0]}, features=features).to_parquet(path)
    loaded = load(path)
    assert as_rows(loaded.dataset) == [
        {"prompt": "Profits rose.", "completion": "positive", "task": ""},
        {"prompt": "Sales fell.", "completion": "negative", "task": ""},
    ]
    assert loaded.info.fields == {"prompt": "text", "completion": "label"}


def test_parquet_integer_labels_without_names(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"prompt": ["Profits rose."], "completion": [1]}), path)
    assert f"{path} row 1: field 'completion' is a int (1), expected a string" in error(path)


def test_saved_dataset_folder_and_its_splits(tmp_path: Path) -> None:
    import datasets

    train = datasets.Dataset.from_list([PC])
    test = datasets.Dataset.from_list([{"prompt": "Is it a lease?", "completion": "No"}])
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(tmp_path / "dd")
    train.save_to_disk(tmp_path / "single")
    assert list(read_data(tmp_path / "dd")["completion"]) == ["Yes"]
    assert list(read_data(f"{tmp_path / 'dd'}:test")["completion"]) == ["No"]
    assert list(read_data(tmp_path / "single")["completion"]) == ["Yes"]
    assert "no split 'validation' (splits: train, test)" in error(f"{tmp_path / 'dd'}:validation")


def test_folder_of_data_files_goes_through_load_dataset(tmp_path: Path) -> None:
    """A hub repo as it lies on disk: the same datasets.load_dataset path as a hub name."""
    repo = tmp_path / "org-legal-qa"
    (repo / "data").mkdir(parents=True)
    write_jsonl(repo / "data" / "train.jsonl", [PC])
    write_jsonl(repo / "data" / "test.jsonl", [{"prompt": "Is it a lease?", "completion": "No"}])
    loaded = load(repo)
    assert loaded.info.format == "hub" and loaded.info.source == f"{repo}:train"
    assert list(loaded.dataset["completion"]) == ["Yes"]
    assert list(read_data(f"{repo}:test")["completion"]) == ["No"]
    write_jsonl(repo / "data" / "test.jsonl", [ROWS[1]])  # a column the train split lacks
    message = error(f"{repo}:test")
    assert f"{repo} is a folder but not one saved with datasets" in message


def test_hub_name_calls_load_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    calls = []

    def stand_in(name: str, split: str | None = None) -> Any:
        calls.append((name, split))
        rows = datasets.Dataset.from_list([{"question": "Is it a lease?", "answer": "No"}])
        return rows if split else datasets.DatasetDict({"train": rows})

    monkeypatch.setattr(datasets, "load_dataset", stand_in)
    assert as_rows(read_data("someorg/leases")) == [{"prompt": "Is it a lease?", "completion": "No", "task": ""}]
    assert len(read_data("someorg/leases:validation")) == 1
    assert calls == [("someorg/leases", None), ("someorg/leases", "validation")]


def test_unreachable_hub_name_is_a_clean_error() -> None:
    message = error("someorg/no-such-dataset-here")  # HF_HUB_OFFLINE=1 in conftest
    assert "someorg/no-such-dataset-here is not a file or folder here" in message
    assert "HF_HUB_OFFLINE" in message


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "rows.xlsx"
    path.write_bytes(b"PK\x03\x04rest")
    message = error(path, domain_name="legal")
    assert f"No installed plugin reads {path} for domain 'legal'" in message and "Parquet" in message


# Row shapes ---------------------------------------------------------------------------------


def test_chat_messages_become_prompt_completion_and_keep_the_turns(tmp_path: Path) -> None:
    rows = [
        {"messages": [
            {"role": "system", "content": "You are a lawyer."},
            {"role": "user", "content": "Is it a lease?"},
            {"role": "assistant", "content": "No"},
        ]},
        {"messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello", "weight": 0},
            {"role": "user", "content": "Is it a loan?"},
            {"role": "assistant", "content": "Yes", "weight": 1},
        ]},
        {"messages": [  # OpenAI content parts
            {"role": "user", "content": [{"type": "text", "text": "Is it "}, {"type": "text", "text": "a deed?"}]},
            {"role": "assistant", "content": "Yes"},
        ]},
    ]
    loaded = load(write_jsonl(tmp_path / "chat.jsonl", rows))
    assert loaded.info.shape == "messages"
    dataset = loaded.dataset
    assert dataset.column_names == ["prompt", "completion", "task", "messages"]
    assert list(dataset["prompt"]) == [
        "Is it a lease?", "User: Hi\n\nAssistant: Hello\n\nUser: Is it a loan?", "Is it a deed?"
    ]
    assert list(dataset["completion"]) == ["No", "Yes", "Yes"]
    assert dataset[0]["messages"] == rows[0]["messages"]
    assert dataset[1]["messages"][1] == {"role": "assistant", "content": "Hello"}  # weight checked, not kept


def test_earlier_assistant_turns_with_weight_1_are_noted(tmp_path: Path) -> None:
    rows = [{"messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello", "weight": 1},
        {"role": "user", "content": "Is it a loan?"}, {"role": "assistant", "content": "Yes"},
    ]}]
    notes = load(write_jsonl(tmp_path / "chat.jsonl", rows)).info.notes
    assert len(notes) == 1 and "trains on the last assistant message" in notes[0]


def test_sharegpt_conversations(tmp_path: Path) -> None:
    rows = [{"conversations": [{"from": "human", "value": "Is it a lease?"}, {"from": "gpt", "value": "No"}]}]
    dataset = read_data(write_jsonl(tmp_path / "sharegpt.jsonl", rows))
    assert dataset[0]["messages"] == [{"role": "user", "content": "Is it a lease?"}, {"role": "assistant", "content": "No"}]


def test_messages_as_json_text_in_csv(tmp_path: Path) -> None:
    import csv

    path = tmp_path / "chat.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["messages"])
        writer.writerow([json.dumps([{"role": "user", "content": "Is it a lease?"}, {"role": "assistant", "content": "No"}])])
    assert list(read_data(path)["completion"]) == ["No"]


def test_alpaca_and_dolly_instructions(tmp_path: Path) -> None:
    alpaca = [
        {"instruction": "Classify the clause.", "input": "Disputes go to arbitration.", "output": "arbitration"},
        {"instruction": "Name a contract type.", "input": "", "output": "lease"},
    ]
    dataset = read_data(write_jsonl(tmp_path / "alpaca.jsonl", alpaca))
    assert list(dataset["prompt"]) == ["Classify the clause.\n\nDisputes go to arbitration.", "Name a contract type."]
    assert list(dataset["completion"]) == ["arbitration", "lease"]
    dolly = [{"instruction": "Summarize.", "context": "A long text.", "response": "Short.", "category": "summarization"}]
    assert read_data(write_jsonl(tmp_path / "dolly.jsonl", dolly))[0]["prompt"] == "Summarize.\n\nA long text."


def test_plain_text_rows_are_completion_only(tmp_path: Path) -> None:
    loaded = load(write_jsonl(tmp_path / "corpus.jsonl", [{"text": "The lessee shall pay rent monthly."}]))
    assert loaded.info.shape == "text"
    assert as_rows(loaded.dataset) == [{"prompt": "", "completion": "The lessee shall pay rent monthly.", "task": ""}]


def test_column_map_and_shape_override(tmp_path: Path) -> None:
    rows = [{"q": "Is it a lease?", "a": "No", "text": "ignored"}]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    assert load(path).info.shape == "text"  # detected from the fields it recognises
    loaded = load(path, column_map=parse_column_map("prompt=q,completion=a"))
    assert (loaded.info.shape, loaded.info.fields) == ("prompt_completion", {"prompt": "q", "completion": "a"})
    assert as_rows(loaded.dataset) == [{"prompt": "Is it a lease?", "completion": "No", "task": ""}]
    assert load(path, shape="text").info.fields == {"text": "text"}
    assert "has no field 'question'" in error(path, column_map={"prompt": "question"})
    with pytest.raises(DataError, match="'answer' is not a field domaintune reads"):
        parse_column_map("answer=a")
    with pytest.raises(DataError, match="is not FIELD=COLUMN"):
        parse_column_map("prompt")


def test_shape_cannot_be_told(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [{"a": 1, "b": 2}])
    message = error(path)
    assert "Cannot tell the row shape" in message and "(a, b)" in message and "--map" in message


# Formatter ----------------------------------------------------------------------------------


def test_default_formatter_uses_the_rows_own_turns(tmp_path: Path) -> None:
    from domaintune.default_plugins.formatting import make_formatter

    domain = Domain(name="d", description="", task_type="generation", system_prompt="Be brief.")
    formatter = make_formatter(domain)
    chat = read_data(write_jsonl(tmp_path / "chat.jsonl", [
        {"messages": [{"role": "system", "content": "Own."}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]},
        {"messages": [{"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}]},
    ]))
    assert formatter(chat.to_dict()) == [
        [{"role": "system", "content": "Own."}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}],
    ]
    assert formatter({"prompt": ["Q"], "completion": ["A"]}) == [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]
    ]
    assert formatter({"prompt": [""], "completion": ["Text."]}) == [
        [{"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "Text."}]
    ]


# The bad-input catalogue --------------------------------------------------------------------


def chat(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"messages": list(messages)}


USER = {"role": "user", "content": "Is it a lease?"}
ASSISTANT = {"role": "assistant", "content": "No"}
SYSTEM = {"role": "system", "content": "You are a lawyer."}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (chat(USER, {"role": "bot", "content": "No"}), "field 'messages[1].role' is 'bot', an unknown role; use system, user or assistant"),
        (chat(USER, {"role": "tool", "content": "{}"}), "field 'messages[1].role' is 'tool', an unknown role"),
        (chat(ASSISTANT, USER, ASSISTANT), "field 'messages[0].role' is 'assistant'; after the optional system message a conversation starts with a user message"),
        (chat(USER, USER, ASSISTANT), "field 'messages[1].role' is 'user' right after another 'user' message"),
        (chat(USER, ASSISTANT, SYSTEM, USER, ASSISTANT), "field 'messages[2].role' is 'system' at position 2; a system message may only come first"),
        (chat(SYSTEM, USER), "field 'messages' ends with a 'user' message; the last message must be the assistant's answer"),
        (chat(USER, {"role": "assistant", "content": "No", "weight": 0}), "field 'messages[1].weight' is 0, so the row has nothing to train on"),
        (chat({**USER, "weight": 1}, ASSISTANT), "field 'messages[0].weight' is set on a user message"),
        (chat(USER, {**ASSISTANT, "weight": 2}), "field 'messages[1].weight' is 2; a weight is 0"),
        (chat(USER, {"role": "assistant"}), "field 'messages[1].content' is missing"),
        (chat(USER, {"role": "assistant", "content": " "}), "field 'messages[1].content' is empty"),
        (chat(USER, {"role": "assistant", "content": 3}), "field 'messages[1].content' is a int (3), expected a string"),
        (chat(USER, "No"), "field 'messages[1]' is a string, expected an object"),
        ({"messages": []}, "field 'messages' is empty"),
        ({"messages": "hi"}, "field 'messages' is text that is not a JSON array of messages"),
        ({"messages": None}, "field 'messages' is null"),
    ],
)
def test_bad_chat_rows(tmp_path: Path, row: dict[str, Any], expected: str) -> None:
    good = chat(USER, ASSISTANT)
    path = write_jsonl(tmp_path / "chat.jsonl", [good, row])
    message = error(path)
    assert f"{path}:2: {expected}" in message, message
    assert ":1:" not in message.replace(f"{path}:2", "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "field 'completion' is null, expected a string"),
        (True, "field 'completion' is a bool, expected a string"),
        (["Yes"], "field 'completion' is a list, expected a string"),
        ({"text": "Yes"}, "field 'completion' is a dict, expected a string"),
        (2.5, 'field \'completion\' is a float (2.5), expected a string; write it in quotes (e.g. "42")'),
        ("\ud800", "field 'completion' holds an unpaired surrogate escape (\\ud800) at character 1"),
    ],
)
def test_wrong_types(tmp_path: Path, value: Any, expected: str) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [PC, {**PC, "completion": value}])
    message = error(path)
    assert f"{path}:2: {expected}" in message
    assert 'every row needs non-empty string fields "prompt" and "completion"' in message


def test_non_utf8_in_csv_and_json_array(tmp_path: Path) -> None:
    csv_file = tmp_path / "rows.csv"
    csv_file.write_bytes(b"prompt,completion\nIs it a lease?,No\nIs the caf\xe9 a tenant?,Yes\n")
    assert f"{csv_file}:3: byte 11 is not UTF-8" in error(csv_file)
    json_file = tmp_path / "rows.json"
    json_file.write_bytes(b'[\n{"prompt": "a", "completion": "b"},\n{"prompt": "caf\xe9", "completion": "b"}]')
    message = error(json_file)
    assert f"{json_file}:3: a byte is not UTF-8" in message and "iconv" in message


def test_bom_and_crlf_in_every_text_format(tmp_path: Path) -> None:
    csv_file = tmp_path / "windows.csv"
    csv_file.write_bytes(b"\xef\xbb\xbfprompt,completion\r\nIs it a lease?,No\r\n")
    assert as_rows(read_data(csv_file)) == [{"prompt": "Is it a lease?", "completion": "No", "task": ""}]
    json_file = tmp_path / "windows.json"
    json_file.write_bytes(b"\xef\xbb\xbf" + json.dumps(ROWS, indent=1).replace("\n", "\r\n").encode())
    assert len(read_data(json_file)) == 2


def test_utf16_file(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(json.dumps(PC).encode("utf-16"))
    message = error(path)
    assert f"{path} is named as JSON Lines but looks like UTF-16 text" in message and "iconv -f utf-16" in message


def test_bare_cr_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes((json.dumps(PC) + "\r" + json.dumps(PC) + "\r").encode())
    assert "bare CR" in error(path)


def test_a_single_10_mb_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    huge = {"prompt": "x" * (10 * 2**20), "completion": "Yes"}
    path.write_text(json.dumps(PC) + "\n" + json.dumps(huge) + "\n" + json.dumps(PC) + "\n", encoding="utf-8")
    message = error(path)
    assert f"{path}:2: the line is 10.0 MiB, over the 8 MiB limit for one row" in message
    assert message.startswith(f"1 problem(s) in {path}")  # lines 1 and 3 are fine
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text("prompt,completion\n" + "x" * (10 * 2**20) + ",Yes\n", encoding="utf-8")
    assert f"{csv_file}:2: the line is 10.0 MiB" in error(csv_file)


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".tsv", ".parquet"])
def test_empty_file_of_every_format(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    message = error(path)
    assert str(path) in message and ("empty" in message or "no rows" in message)


def test_header_only_csv(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("prompt,completion\n", encoding="utf-8")
    assert f"{path} has no rows" in error(path)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("rows.jsonl", b"PAR1\x00\x00binary", "is named as JSON Lines but looks like a Parquet file; rename it to .parquet"),
        ("rows.jsonl", b"prompt,completion\nIs it a lease?,No\n", "is named as JSON Lines but looks like comma-separated text (CSV); rename it to .csv"),
        ("rows.csv", b'{"prompt": "a", "completion": "b"}\n', "is named as CSV but looks like JSON (one object per line, or one object); rename it to .jsonl"),
        ("rows.parquet", b'{"prompt": "a", "completion": "b"}\n', "is named as Parquet but looks like JSON"),
        ("rows.parquet", b"PAR1 but then nothing", "is a damaged Parquet file"),
        ("rows.json", b"\x1f\x8b\x08\x00gzip", "looks like a gzip-compressed file; decompress it first"),
        ("rows.csv", b"PK\x03\x04xlsx", "looks like a zip archive (an Excel workbook is one)"),
    ],
)
def test_file_that_is_not_the_claimed_format(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    message = error(path)
    assert message.startswith(str(path)) and expected in message


def test_stray_first_line_in_jsonl_is_reported_by_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text("prompt,completion\n" + json.dumps(PC) + "\n", encoding="utf-8")
    message = error(path)
    assert message.startswith(f"1 problem(s) in {path}") and f"{path}:1: invalid JSON at column 1" in message


def test_nothing_is_left_half_written(tmp_path: Path, data_cache: Path) -> None:
    """A bad row after thousands of good ones: no cache entry and no partial file remain."""
    rows = [{"prompt": f"Question {i}?", "completion": "Yes"} for i in range(5000)]
    path = write_jsonl(tmp_path / "rows.jsonl", [*rows, {"prompt": "last"}])
    before = set(data_cache.iterdir()) if data_cache.is_dir() else set()
    assert f"{path}:5001: field 'completion' is missing" in error(path)
    assert set(data_cache.iterdir()) == before


def test_interrupted_load_leaves_no_partial_file(
    tmp_path: Path, data_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from domaintune.data.rows import RowReader

    path = write_jsonl(tmp_path / "rows.jsonl", [{"prompt": f"Q{i}", "completion": "A"} for i in range(3000)])
    before = set(data_cache.iterdir()) if data_cache.is_dir() else set()
    original = RowReader.__call__
    calls = []

    def crash_after_two_batches(self: Any, value: Any) -> Any:
        calls.append(1)
        if len(calls) == 2500:  # Ctrl-C, after two batches were written
            raise KeyboardInterrupt
        return original(self, value)

    monkeypatch.setattr(RowReader, "__call__", crash_after_two_batches)
    with pytest.raises(KeyboardInterrupt):
        read_data(path)
    assert set(data_cache.iterdir()) == before


def test_cached_file_is_reused_and_described(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    first = read_data(path)
    second = read_data(path)
    assert first.cache_files == second.cache_files
    info = load_info(second)
    assert info is not None and (info.format, info.shape, info.rows) == ("jsonl", "prompt_completion", 2)


def test_lenient_load_keeps_the_good_rows(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [PC, {"prompt": "x"}, ROWS[1]])
    loaded = load(path, strict=False)
    try:
        assert len(loaded.dataset) == 2 and loaded.problem_count == 1
        assert loaded.problems == [f"{path}:2: field 'completion' is missing; every row needs non-empty string fields \"prompt\" and \"completion\""]
    finally:
        loaded.close()
    assert loaded.temporary is None


def test_shape_comes_from_the_first_object_after_many_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"prompt": "cut short\n' * 150 + json.dumps(PC) + "\n" + json.dumps({"prompt": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_data(path)
    assert info.value.count == 151  # type: ignore[attr-defined]
    problems = info.value.problems  # type: ignore[attr-defined]
    assert problems[-1].startswith(f"{path}:152: field 'completion' is missing")
    loaded = load(path, strict=False)
    try:
        assert len(loaded.dataset) == 1 and loaded.info.shape == "prompt_completion"
    finally:
        loaded.close()


def test_lenient_load_of_a_file_without_one_good_row(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [{"prompt": "x"}, {"prompt": "y"}])
    loaded = load(path, strict=False)
    try:
        assert len(loaded.dataset) == 0 and loaded.problem_count == 2
    finally:
        loaded.close()


def test_jsonl_objects_gives_records_and_one_message_per_bad_line(tmp_path: Path) -> None:
    from domaintune.data.pack_readers import jsonl_objects

    path = tmp_path / "release.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n{"a": \n[1, 2]\n{"a": "caf\xe9"}\n{"a": 2}\n')
    records, problems = jsonl_objects(path)
    assert records == [(f"{path}:1", {"a": 1}), (f"{path}:6", {"a": 2})]
    assert len(problems) == 3
    assert problems[0].startswith(f"{path}:3: invalid JSON at column")
    assert problems[1] == f"{path}:4: is a JSON list, expected an object."
    assert problems[2].startswith(f"{path}:5: byte") and "not UTF-8" in problems[2]
