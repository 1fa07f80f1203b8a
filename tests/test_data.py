"""Reading and validating JSONL data, safety filters over a dataset, and the eval split.

Other formats, row shapes and the bad-input catalogue: test_data_formats.py; random input:
test_data_fuzz.py; `tune data check`: test_data_check.py.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from domaintune import FilterOutcome, SafetyFilter
from domaintune.data.filtering import apply_filters
from domaintune.data.loading import read_data
from domaintune.data.problems import MAX_REPORTED_PROBLEMS
from domaintune.data.split import cap_rows_per_task, split_train_eval
from domaintune.errors import DataError, PluginError

def read_jsonl(path: Path):  # noqa: ANN201
    """A JSONL file (any row shape) as the core's loader reads it."""
    return read_data(path)


GOOD = {"prompt": "Is the clause an arbitration clause? Disputes go to arbitration.", "completion": "Yes"}


def jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def good_line(prompt: str = GOOD["prompt"], completion: str = GOOD["completion"]) -> str:
    return json.dumps({"prompt": prompt, "completion": completion})


def data_error(path: Path) -> str:
    with pytest.raises(DataError) as info:
        read_jsonl(path)
    return str(info.value)


def test_valid_file_loads_with_task_column(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "train.jsonl",
        [
            good_line(),
            "",  # blank lines are allowed
            json.dumps({"prompt": "Is it a lease?", "completion": "No", "task": "lease"}),
            json.dumps({"prompt": "Is it a loan?", "completion": "No", "meta": {"task": "loan"}}),
        ],
    )
    dataset = read_jsonl(path)
    assert dataset.column_names == ["prompt", "completion", "task"]
    assert list(dataset["prompt"]) == [GOOD["prompt"], "Is it a lease?", "Is it a loan?"]
    assert list(dataset["task"]) == ["", "lease", "loan"]


def test_malformed_json_names_file_line_and_column(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "train.jsonl", [good_line(), '{"prompt": "Is it a lease?", "completion": ', good_line()])
    message = data_error(path)
    assert f"{path}:2: invalid JSON at column" in message
    assert ":1:" not in message and ":3:" not in message


def test_missing_field(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "train.jsonl", [good_line(), good_line(), json.dumps({"prompt": "Is it a lease?"})])
    message = data_error(path)
    assert f"{path}:3: field 'completion' is missing" in message


def test_empty_field(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "train.jsonl", [good_line(prompt="   \t"), good_line()])
    assert f"{path}:1: field 'prompt' is empty" in data_error(path)


def test_wrong_type(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "train.jsonl",
        [good_line(), json.dumps({"prompt": "Is it a lease?", "completion": 1}), '["a", "b"]'],
    )
    message = data_error(path)
    assert f"{path}:2: field 'completion' is a int (1), expected a string" in message
    assert f"{path}:3: the row is an array, expected an object" in message


def test_non_utf8_bytes(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    latin1 = '{"prompt": "Is the café a tenant?", "completion": "Yes"}\n'.encode("latin-1")
    path.write_bytes((good_line() + "\n").encode() + latin1)
    message = data_error(path)
    offset = latin1.index(b"\xe9")
    # The offset of the bad byte in its line (0-based, or 1-based like the JSON column).
    assert re.search(rf"{re.escape(str(path))}:2: byte ({offset}|{offset + 1}) is not UTF-8", message)
    assert "iconv" in message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"\n\n")
    assert f"{path} has no rows" in data_error(path)


def test_missing_file(tmp_path: Path) -> None:
    message = data_error(tmp_path / "nope.jsonl")
    assert f"{tmp_path / 'nope.jsonl'}" in message and "does not exist" in message


def test_every_problem_is_reported_up_to_a_limit(tmp_path: Path) -> None:
    lines = [json.dumps({"prompt": f"row {i}"}) for i in range(MAX_REPORTED_PROBLEMS + 5)]
    path = jsonl(tmp_path / "train.jsonl", [good_line(), "not json", *lines])
    message = data_error(path)
    assert message.startswith(f"{MAX_REPORTED_PROBLEMS + 6} problem(s) in {path}")
    assert f"{path}:2: invalid JSON" in message
    assert f"{path}:3: field 'completion' is missing" in message
    assert "... and 6 more." in message


def test_bom_and_crlf_load_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "windows.jsonl"
    rows = [GOOD, {"prompt": "Is it a lease?", "completion": "No"}]
    path.write_bytes(b"\xef\xbb\xbf" + b"".join(json.dumps(r).encode() + b"\r\n" for r in rows))
    dataset = read_jsonl(path)
    assert list(dataset["prompt"]) == [r["prompt"] for r in rows]
    assert list(dataset["completion"]) == [r["completion"] for r in rows]


def test_rewritten_file_is_read_again(tmp_path: Path) -> None:
    """The dataset cache must not serve the old contents of a file that changed."""
    path = jsonl(tmp_path / "train.jsonl", [good_line()])
    assert list(read_jsonl(path)["completion"]) == ["Yes"]
    jsonl(path, [good_line(completion="No"), good_line(completion="Maybe")])
    assert list(read_jsonl(path)["completion"]) == ["No", "Maybe"]


# Safety filters ----------------------------------------------------------------------------


def rows_dataset(rows: list[dict[str, str]]):  # noqa: ANN201
    import datasets

    return datasets.Dataset.from_list([{**row, "task": row.get("task", "")} for row in rows])


def test_apply_filters_counts_changed_and_dropped_rows(redact_filter: SafetyFilter) -> None:
    dataset = rows_dataset(
        [
            {"prompt": "Email bob@example.com about the lease.", "completion": "Yes"},
            {"prompt": "CONFIDENTIAL memo on the merger.", "completion": "No"},
            {"prompt": "Is the clause valid?", "completion": "Ask carol@example.org or dan@example.net"},
            {"prompt": "Is the clause valid?", "completion": "No"},
            {"prompt": "CONFIDENTIAL: write to eve@example.com", "completion": "Yes"},
        ]
    )
    filtered, report = apply_filters(dataset, [redact_filter])
    assert report.as_dict() == {
        "rows_in": 5,
        "rows_changed": 2,  # a dropped row is not also counted as changed
        "rows_dropped": 2,
        "counts": {"test-redact:EMAIL": 4, "test-redact:confidential": 2},
    }
    assert list(filtered["prompt"]) == [
        "Email [EMAIL] about the lease.", "Is the clause valid?", "Is the clause valid?"
    ]
    assert list(filtered["completion"]) == ["Yes", "Ask [EMAIL] or [EMAIL]", "No"]
    assert filtered.column_names == ["prompt", "completion", "task"]


def test_filters_run_in_turn_and_in_batches(redact_filter: SafetyFilter) -> None:
    calls: list[int] = []

    def shout(texts: list[str]) -> FilterOutcome:
        calls.append(len(texts))
        # Runs after the redaction, so it sees the placeholder, never the address.
        assert not any("@" in text for text in texts)
        return FilterOutcome(texts=[t.upper() for t in texts], blocked=[False] * len(texts), counts={"upper": len(texts)})

    rows = [{"prompt": f"Mail user{i}@example.com", "completion": "no"} for i in range(300)]
    filtered, report = apply_filters(rows_dataset(rows), [redact_filter, SafetyFilter("shout", shout)])
    assert filtered[0] == {"prompt": "MAIL [EMAIL]", "completion": "NO", "task": ""}
    assert report.rows_changed == 300 and report.rows_dropped == 0
    assert report.counts == Counter({"test-redact:EMAIL": 300, "shout:upper": 600})
    assert calls == [256, 256, 44, 44]  # prompt and completion of each batch, never per row


def test_no_filters_leaves_the_dataset_alone() -> None:
    dataset = rows_dataset([GOOD])
    filtered, report = apply_filters(dataset, [])
    assert filtered.to_list() == dataset.to_list()
    assert report.as_dict() == {"rows_in": 1, "rows_changed": 0, "rows_dropped": 0, "counts": {}}


def test_filter_returning_wrong_length_is_a_clear_error() -> None:
    def drops_texts(texts: list[str]) -> FilterOutcome:
        return FilterOutcome(texts=texts[:-1], blocked=[False] * (len(texts) - 1))

    with pytest.raises(DataError, match="'lossy' returned 1 texts for 2 inputs"):
        apply_filters(rows_dataset([GOOD, GOOD]), [SafetyFilter("lossy", drops_texts)])


def test_filter_that_raises_is_a_plugin_error() -> None:
    def broken(texts: list[str]) -> FilterOutcome:
        raise KeyError("model weights for the NER filter")

    with pytest.raises(PluginError, match="safety filter 'ner'"):
        apply_filters(rows_dataset([GOOD]), [SafetyFilter("ner", broken)])


# Split -------------------------------------------------------------------------------------


def labelled(counts: dict[str, int]):  # noqa: ANN201
    rows = [
        {"prompt": f"{label} question {i}", "completion": label}
        for label, n in counts.items()
        for i in range(n)
    ]
    return rows_dataset(rows)


def test_split_is_deterministic_and_seed_dependent() -> None:
    dataset = labelled({"Yes": 30, "No": 30})
    train_a, eval_a = split_train_eval(dataset, 10, seed=3, stratify=False)
    train_b, eval_b = split_train_eval(dataset, 10, seed=3, stratify=False)
    _, eval_c = split_train_eval(dataset, 10, seed=4, stratify=False)
    assert list(eval_a["prompt"]) == list(eval_b["prompt"])
    assert list(train_a["prompt"]) == list(train_b["prompt"])
    assert list(eval_a["prompt"]) != list(eval_c["prompt"])
    assert len(eval_a) == 10 and len(train_a) == 50
    assert sorted([*train_a["prompt"], *eval_a["prompt"]]) == sorted(dataset["prompt"])


def test_stratified_split_keeps_label_shares() -> None:
    dataset = labelled({"Yes": 60, "No": 30, "Maybe": 10})
    train, held = split_train_eval(dataset, 20, seed=0, stratify=True)
    assert Counter(held["completion"]) == {"Yes": 12, "No": 6, "Maybe": 2}
    assert Counter(train["completion"]) == {"Yes": 48, "No": 24, "Maybe": 8}
    assert not set(train["prompt"]) & set(held["prompt"])
    again_train, again_held = split_train_eval(dataset, 20, seed=0, stratify=True)
    assert list(again_held["prompt"]) == list(held["prompt"])
    assert list(again_train["prompt"]) == list(train["prompt"])


def test_stratified_split_holds_out_a_rare_label() -> None:
    # Unstratified, 5 of 100 rows would often miss the 5 "Maybe" rows entirely.
    dataset = labelled({"Yes": 95, "Maybe": 5})
    for seed in range(5):
        _, held = split_train_eval(dataset, 20, seed=seed, stratify=True)
        assert Counter(held["completion"]) == {"Yes": 19, "Maybe": 1}


@pytest.mark.parametrize(
    ("counts", "eval_rows"),
    [({"Yes": 10, "No": 10}, 5), ({"A": 10, "B": 10, "C": 10}, 10), ({"Yes": 7, "No": 3}, 5)],
)
def test_stratified_split_holds_out_exactly_eval_rows(counts: dict[str, int], eval_rows: int) -> None:
    dataset = labelled(counts)
    train, held = split_train_eval(dataset, eval_rows, seed=0, stratify=True)
    assert len(held) == eval_rows
    assert len(train) == len(dataset) - eval_rows


def test_split_needs_more_rows_than_it_holds_out() -> None:
    with pytest.raises(DataError, match="Cannot hold out 10 eval rows from 10 rows"):
        split_train_eval(labelled({"Yes": 5, "No": 5}), 10, seed=0, stratify=True)


def test_split_leaves_out_train_rows_whose_prompt_is_held_out() -> None:
    rows = [{"prompt": f"Question {i}?", "completion": "Yes" if i % 2 else "No"} for i in range(30)]
    copies = [{**row, "prompt": row["prompt"].upper() + "  "} for row in rows]  # normalized copies
    dataset = rows_dataset(rows + copies)
    train, held = split_train_eval(dataset, 6, seed=0, stratify=True)
    normalize = lambda text: " ".join(text.casefold().split())  # noqa: E731
    held_prompts = {normalize(p) for p in held["prompt"]}
    assert len(held) == 6
    assert not {normalize(p) for p in train["prompt"]} & held_prompts
    # Every row whose prompt is not held out stays in training.
    assert len(train) == sum(normalize(p) not in held_prompts for p in dataset["prompt"])


# Chat rows through the filters ---------------------------------------------------------------


def test_filters_see_every_message_and_rebuild_prompt_and_completion(
    tmp_path: Path, redact_filter: SafetyFilter
) -> None:
    from domaintune.data.loading import read_data

    rows = [
        {"messages": [
            {"role": "system", "content": "Reply to ann@example.com's team."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Mail bob@example.com?"},
            {"role": "assistant", "content": "Yes, bob@example.com."},
        ]},
        {"messages": [{"role": "user", "content": "CONFIDENTIAL plan"}, {"role": "assistant", "content": "No"}]},
    ]
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    filtered, report = apply_filters(read_data(path), [redact_filter])
    assert report.as_dict() == {
        "rows_in": 2, "rows_changed": 1, "rows_dropped": 1,
        "counts": {"test-redact:EMAIL": 3, "test-redact:confidential": 1},
    }
    assert report.dropped_rows == [1]
    (row,) = filtered.to_list()
    assert row["messages"][0]["content"] == "Reply to [EMAIL]'s team."
    assert row["prompt"] == "User: Hi\n\nAssistant: Hello\n\nUser: Mail [EMAIL]?"
    assert row["completion"] == "Yes, [EMAIL]."


def tasks_dataset(sizes: dict[str, tuple[int, int]]):  # noqa: ANN201
    """Rows of several tasks: task -> (Yes rows, No rows)."""
    rows = [
        {"prompt": f"{task} clause {label} {i}", "completion": label, "task": task}
        for task, (yes, no) in sizes.items()
        for label, n in (("Yes", yes), ("No", no))
        for i in range(n)
    ]
    return rows_dataset(rows)


def test_multi_task_split_holds_out_as_many_rows_of_each_task() -> None:
    # Proportional shares would give the big task 18 of 20 rows and the small ones 1 each.
    dataset = tasks_dataset({"big": (90, 90), "mid": (6, 4), "small": (5, 5)})
    train, held = split_train_eval(dataset, 21, seed=0, stratify=True)
    # 7 each, but a task keeps at least half of its rows for training: the big one takes the rest.
    assert Counter(held["task"]) == {"big": 11, "mid": 5, "small": 5}
    assert Counter(zip(held["task"], held["completion"]))[("small", "Yes")] in (2, 3)
    assert len(train) == len(dataset) - 21


def test_multi_task_split_shares_rows_equally() -> None:
    dataset = tasks_dataset({"a": (50, 50), "b": (10, 30), "c": (20, 20)})
    _, held = split_train_eval(dataset, 12, seed=1, stratify=True)
    assert Counter(held["task"]) == {"a": 4, "b": 4, "c": 4}
    assert Counter(zip(held["task"], held["completion"]))[("b", "No")] == 3  # b's 1:3 balance


def test_cap_rows_per_task_keeps_each_tasks_label_balance() -> None:
    dataset = tasks_dataset({"big": (300, 100), "small": (5, 7)})
    capped = cap_rows_per_task(dataset, 40, seed=0)
    counts = Counter(zip(capped["task"], capped["completion"]))
    assert counts == {("big", "Yes"): 30, ("big", "No"): 10, ("small", "Yes"): 5, ("small", "No"): 7}
    again = cap_rows_per_task(dataset, 40, seed=0)
    assert list(again["prompt"]) == list(capped["prompt"])
    assert list(cap_rows_per_task(dataset, 40, seed=1)["prompt"]) != list(capped["prompt"])
    assert len(cap_rows_per_task(dataset, 400, seed=0)) == len(dataset)
