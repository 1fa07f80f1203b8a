"""The LegalBench task-folder reader on small real inputs."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from domaintune.kit import DataError, select_tasks
from domaintune.testing import get_domain, heavy_imports, load_source
from domaintune_legal import loaders, plugin

FIXTURES = Path(__file__).parent / "fixtures"
TASKS = FIXTURES / "tasks"
CUAD = TASKS / "CUAD_Audit Rights"
OVERRULING = TASKS / "overruling"
SHARED = Path(os.environ.get("DOMAINTUNE_SHARED_DATA", Path(__file__).parents[4] / "shared" / "data"))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def expected(task: str | None = None) -> list[dict[str, str]]:
    rows = read_jsonl(FIXTURES / "legalbench.expected.jsonl")
    return [
        {"prompt": r["prompt"], "completion": r["completion"], "task": r["meta"]["task"]}
        for r in rows
        if task is None or r["meta"]["task"] == task
    ]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")
    return path


# Reading the format --------------------------------------------------------------------------


def test_folder_of_tasks_gives_the_shared_jsonl_rows() -> None:
    dataset = load_source(get_domain("legal"), TASKS)
    assert dataset.column_names == ["prompt", "completion", "task"]
    assert dataset.to_list() == expected()


def test_one_task_folder_one_tsv_and_a_glob() -> None:
    domain = get_domain("legal")
    assert load_source(domain, OVERRULING).to_list() == expected("overruling")
    # train.tsv alone: the six few-shot rows, whose doubled quotes are collapsed.
    train = load_source(domain, OVERRULING / "train.tsv").to_list()
    assert train == expected("overruling")[:6]
    assert 'notwithstanding that "tcc did not bill these claims to medicaid."\n' in train[0]["prompt"]
    assert load_source(domain, str(TASKS / "CUAD_*")).to_list() == expected("CUAD_Audit Rights")


def test_answer_choices_come_from_all_of_a_tasks_files(tmp_path: Path) -> None:
    task = tmp_path / "CUAD_Audit Rights"
    write(task / "base_prompt.txt", (CUAD / "base_prompt.txt").read_text(encoding="utf-8"))
    write(task / "train.tsv", "label\ttext\nYes\tYou will permit us to inspect your books.\n")
    write(task / "test.tsv", "label\ttext\nNo\tThis Agreement is governed by New York law.\n")
    prompt = loaders.read_legalbench(str(task / "train.tsv"))[0]["prompt"]
    assert "to ensure compliance with the contract? Answer Yes or No.\n\nClause: You will" in prompt


def test_tasks_are_selected_by_name_patterns_in_any_case() -> None:
    assert loaders.read_legalbench(str(TASKS), tasks="cuad_*")["task"] == ["CUAD_Audit Rights"] * 6
    both = loaders.read_legalbench(str(TASKS), tasks="overrul*, CUAD_Audit Rights")
    assert len(both) == len(expected())
    with pytest.raises(DataError, match="No LegalBench task .* matches 'MAUD_\\*'; the tasks are: CUAD_Audit Rights, overruling"):
        loaders.read_legalbench(str(TASKS), tasks="MAUD_*")


def test_select_tasks_filters_any_loaded_rows_for_a_core_task_setting() -> None:
    dataset = load_source(get_domain("legal"), FIXTURES / "legalbench.expected.jsonl")  # the core's JSONL reader
    assert set(dataset["task"]) == {"CUAD_Audit Rights", "overruling"}
    assert set(select_tasks(dataset, "CUAD_*")["task"]) == {"CUAD_Audit Rights"}
    with pytest.raises(DataError, match="has a task matching 'abercrombie'; its tasks are: 'CUAD_Audit Rights', 'overruling'"):
        select_tasks(dataset, "abercrombie")


def test_base_prompt_is_taken_apart_into_instruction_examples_and_query() -> None:
    template = loaders.parse_base_prompt((CUAD / "base_prompt.txt").read_text(encoding="utf-8"), CUAD)
    assert template.instruction == (
        "Does the clause give a party the right to audit the books, records, or physical locations "
        "of the counterparty to ensure compliance with the contract?"
    )
    assert len(template.examples) == 6 and template.examples[0].endswith("\nLabel: Yes")
    assert template.query == "Clause: {{text}}\nLabel:"
    assert template.columns == ["text"]


def test_few_shot_prompts_keep_the_examples() -> None:
    dataset = loaders.read_legalbench(str(CUAD), few_shot=True)
    prompt = dataset[0]["prompt"]
    head, *examples, query = prompt.split("\n\n")
    assert head.endswith("compliance with the contract? Answer Yes or No.")
    assert len(examples) == 6 and examples[2].endswith("Label: No")
    assert query.startswith("Clause: Company shall provide and maintain") and query.endswith("\nLabel:")


def test_other_label_sets_columns_and_the_later_header(tmp_path: Path) -> None:
    task = tmp_path / "abercrombie"
    write(
        task / "base_prompt.txt",
        "A mark is generic, descriptive, suggestive, arbitrary or fanciful.\n\nWhat type of mark is it?\n\n"
        "Description: The mark \"Ivory\" for a product made of elephant tusks.\nA: generic\n\n"
        "Description: {{text}}\nA:",
    )
    write(
        task / "test.tsv",
        "answer\tindex\ttext\tdocument_name\n"
        "descriptive\t0\tThe mark \"Cold\" for ice cream.\tx.pdf\n"
        "arbitrary\t1\tThe mark \"Apple\" for computers.\tx.pdf\n"
        "fanciful\t2\t\"The mark \"\"Kodak\"\" for cameras.\"\tx.pdf\n",
    )
    dataset = loaders.read_legalbench(str(task))
    assert dataset["completion"] == ["descriptive", "arbitrary", "fanciful"]
    assert dataset["task"] == ["abercrombie"] * 3
    assert dataset[2]["prompt"] == (
        "A mark is generic, descriptive, suggestive, arbitrary or fanciful.\n\nWhat type of mark is it? "
        "Answer with one of: arbitrary, descriptive, fanciful.\n\n"
        'Description: The mark "Kodak" for cameras.\nA:'
    )

    two = tmp_path / "contract_qa"
    write(two / "base_prompt.txt", "Answer the question about the clause.\n\nQuestion: {{question}}\nClause: {{text}}\nAnswer:")
    write(two / "train.tsv", "answer\tquestion\ttext\nYes\tIs it a licence?\tA licence is granted.\nNo\tIs it a lease?\tA licence is granted.\n")
    assert loaders.read_legalbench(str(two))[1]["prompt"] == (
        "Answer the question about the clause. Answer Yes or No.\n\n"
        "Question: Is it a lease?\nClause: A licence is granted.\nAnswer:"
    )


# Errors --------------------------------------------------------------------------------------


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    task = tmp_path / "hearsay"
    write(task / "base_prompt.txt", "Is it hearsay?\n\nPassage: {{text}}\nA:")
    tsv = write(task / "test.tsv", 'answer\ttext\nYes\t"A said\nthat B left."\n\tC testified.\nNo\t  \n')
    with pytest.raises(DataError) as info:
        loaders.read_legalbench(str(task))
    message = str(info.value)
    assert "2 problem(s)" in message
    # The first row spans lines 2-3, so the next rows are on lines 4 and 5.
    assert f"{tsv}:4: field 'answer' is empty" in message
    assert f"{tsv}:5: field 'text' is empty" in message


def test_missing_columns_are_named_with_the_base_prompt(tmp_path: Path) -> None:
    task = tmp_path / "hearsay"
    write(task / "base_prompt.txt", "Is it hearsay?\n\nPassage: {{passage}}\nA:")
    tsv = write(task / "test.tsv", "label\ttext\nYes\tA said that B left.\n")
    with pytest.raises(DataError, match=rf"{tsv}:1: header has no column\(s\) \['passage'\]"):
        loaders.read_legalbench(str(task))


def test_base_prompt_without_placeholder_is_named(tmp_path: Path) -> None:
    task = tmp_path / "hearsay"
    base = write(task / "base_prompt.txt", "Is it hearsay?\n\nPassage: [text]\nA:")
    write(task / "test.tsv", "label\ttext\nYes\tA said that B left.\n")
    with pytest.raises(DataError, match=rf"{base}: the last paragraph has no {{{{column}}}} placeholder"):
        loaders.read_legalbench(str(task))


def test_bad_bytes_and_empty_globs_are_named(tmp_path: Path) -> None:
    task = tmp_path / "hearsay"
    write(task / "base_prompt.txt", "Is it hearsay?\n\nPassage: {{text}}\nA:")
    tsv = task / "test.tsv"
    tsv.write_bytes(b"label\ttext\nYes\tA said.\nNo\tCaf\xe9 owner testified.\n")
    with pytest.raises(DataError, match=rf"{tsv}:3: byte \d+ is not UTF-8"):
        loaders.read_legalbench(str(task))
    with pytest.raises(DataError, match="No LegalBench task folder"):
        loaders.read_legalbench(str(tmp_path / "nothing_*"))


# Hook contract -------------------------------------------------------------------------------


def test_load_data_leaves_other_domains_and_formats_alone(tmp_path: Path) -> None:
    legal = get_domain("legal")
    for name in ("healthcare", "finance"):
        assert plugin.load_data(domain=get_domain(name), source=str(TASKS)) is None
    assert plugin.load_data(domain=legal, source=str(FIXTURES / "legalbench.expected.jsonl")) is None
    assert plugin.load_data(domain=legal, source=str(tmp_path)) is None  # no task folders in it
    # A TSV with no base prompt beside it is plain tabular data, for the core.
    lone = write(tmp_path / "lone" / "test.tsv", "label\ttext\nYes\tA said that B left.\n")
    assert plugin.load_data(domain=legal, source=str(lone)) is None
    assert load_source(legal, lone).to_list() == [{"prompt": "A said that B left.", "completion": "Yes", "task": ""}]


def test_bundled_sample_has_the_prompts_the_folder_reader_builds() -> None:
    legal = get_domain("legal")
    bundled = load_source(legal, legal.eval_data)
    head = loaders.PROMPT_OVERRIDES["overruling"].split("{{text}}")[0]
    assert all(prompt.startswith(head) and prompt.endswith("\nAnswer:") for prompt in bundled["prompt"])
    assert set(bundled["task"]) == {"overruling"}


def test_plugin_import_stays_light() -> None:
    heavy = {"torch", "transformers", "datasets", "sklearn"}
    assert heavy_imports("domaintune_legal.plugin", heavy) == []


# The shared CUAD tasks, where this checkout has them -----------------------------------------


@pytest.mark.skipif(not (SHARED / "legal").is_dir(), reason="shared data not present")
def test_shared_cuad_rows_come_back_from_task_folders(tmp_path: Path) -> None:
    """Writes every shared CUAD row back as task folders (a base prompt per task, TSVs quoted
    as csv does) and reads them: 38 tasks, 14k rows, the same prompts."""
    rows = read_jsonl(SHARED / "legal" / "legalbench_cuad.train.jsonl")
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(row["meta"]["task"], []).append(row)
    for task, task_rows in by_task.items():
        instruction, query = task_rows[0]["prompt"].split("\n\n", 1)
        instruction = instruction.removesuffix(" Answer Yes or No.")
        write(tmp_path / task / "base_prompt.txt", f"{instruction}\n\nClause: {{{{text}}}}\nLabel:")
        for split in ("train", "test"):
            with (tmp_path / task / f"{split}.tsv").open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, delimiter="\t")
                writer.writerow(["answer", "index", "text"])
                for i, row in enumerate(r for r in task_rows if r["meta"]["orig_split"] == split):
                    text = row["prompt"].split("\n\nClause: ", 1)[1].removesuffix("\nLabel:")
                    writer.writerow([row["completion"], i, text])
    dataset = loaders.read_legalbench(str(tmp_path / "CUAD_*"))
    got = sorted(zip(dataset["task"], dataset["prompt"], dataset["completion"]))
    assert got == sorted((r["meta"]["task"], r["prompt"], r["completion"]) for r in rows)
    assert len(set(dataset["task"])) == 38
