"""The healthcare readers on small real inputs in the original release formats."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import pytest
from domaintune.kit import DataError
from domaintune.testing import get_domain, heavy_imports, load_source
from domaintune_healthcare import loaders, plugin

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(os.environ.get("DOMAINTUNE_SHARED_DATA", Path(__file__).parents[4] / "shared" / "data"))


def expected(name: str) -> list[dict[str, str]]:
    lines = (FIXTURES / name).read_text(encoding="utf-8").split("\n")
    return [
        {"prompt": row["prompt"], "completion": row["completion"], "task": ""}
        for row in map(json.loads, filter(str.strip, lines))
    ]


def rows_of(dataset) -> list[dict[str, str]]:  # noqa: ANN001
    return [{"prompt": r["prompt"], "completion": r["completion"], "task": r["task"]} for r in dataset]


# PubMedQA ------------------------------------------------------------------------------------


def test_pubmedqa_release_json_gives_the_shared_jsonl_rows() -> None:
    dataset = load_source(get_domain("healthcare"), FIXTURES / "ori_pqal.json")
    assert dataset.column_names == ["prompt", "completion", "task"]
    assert rows_of(dataset) == expected("pubmedqa.expected.jsonl")


def test_pubmedqa_prompt_completion_jsonl_is_read_by_the_core_with_the_same_rows() -> None:
    domain = get_domain("healthcare")
    assert plugin.load_data(domain=domain, source=str(FIXTURES / "pubmedqa.expected.jsonl")) is None
    dataset = load_source(domain, FIXTURES / "pubmedqa.expected.jsonl")
    assert rows_of(dataset) == rows_of(load_source(domain, FIXTURES / "ori_pqal.json"))


def write_items(tmp_path: Path, items: object) -> Path:
    path = tmp_path / "ori_pqal.json"
    path.write_text(json.dumps(items, indent=4), encoding="utf-8")
    return path


def good_item() -> dict:
    return json.loads((FIXTURES / "ori_pqal.json").read_text(encoding="utf-8"))["10808977"]


def test_pubmedqa_errors_name_file_line_pmid_and_field(tmp_path: Path) -> None:
    no_contexts = {k: v for k, v in good_item().items() if k != "CONTEXTS"}
    short_labels = {**good_item(), "LABELS": ["BACKGROUND"]}
    odd_decision = {**good_item(), "final_decision": "probably"}
    path = write_items(tmp_path, {"1": good_item(), "222": no_contexts, "333": short_labels, "444": odd_decision})
    text = path.read_text(encoding="utf-8").split("\n")
    line_of = {pmid: next(i for i, line in enumerate(text, 1) if f'"{pmid}":' in line) for pmid in ("222", "333", "444")}
    with pytest.raises(DataError) as info:
        loaders.read_pubmedqa_json(path)
    message = str(info.value)
    assert "3 problem(s)" in message
    assert f"{path}:{line_of['222']}: PMID 222: field 'CONTEXTS' must be a list of strings" in message
    assert f"{path}:{line_of['333']}: PMID 333: field 'LABELS' has 1 entries for 6 CONTEXTS" in message
    assert f"{path}:{line_of['444']}: PMID 444: field 'final_decision' is 'probably'" in message


def test_pubmedqa_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ori_pqal.json"
    path.write_text('{\n    "1": {\n        "QUESTION": "x",\n    }\n}\n', encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path}:4: invalid JSON"):
        loaders.read_pubmedqa_json(path)


def test_pubmedqa_ground_truth_file_is_recognised(tmp_path: Path) -> None:
    path = write_items(tmp_path, {"12377809": "yes", "26163474": "no"})
    with pytest.raises(DataError, match="test_ground_truth.json"):
        loaders.read_pubmedqa_json(path)


def test_pubmedqa_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_source(get_domain("healthcare"), tmp_path / "ori_pqal.json")


# MeQSum --------------------------------------------------------------------------------------


def meqsum_records() -> list[list[str]]:
    with (FIXTURES / "meqsum.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_meqsum_csv_gives_the_shared_jsonl_rows() -> None:
    dataset = load_source(get_domain("healthcare-summary"), FIXTURES / "meqsum.csv")
    assert rows_of(dataset) == expected("meqsum.expected.jsonl")


def test_meqsum_tsv_xlsx_and_jsonl_give_the_same_rows(tmp_path: Path) -> None:
    import openpyxl

    records = meqsum_records()
    tsv = tmp_path / "meqsum.tsv"
    with tsv.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter="\t").writerows(records)
    xlsx = tmp_path / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
    workbook = openpyxl.Workbook()
    for record in records:
        # Workbook cells written on Windows keep CRLF line breaks.
        workbook.active.append([value.replace("\n", "\r\n") for value in record])
    workbook.save(xlsx)
    jsonl = tmp_path / "meqsum.jsonl"
    header, *body = records
    jsonl.write_text("".join(json.dumps(dict(zip(header, r))) + "\n" for r in body), encoding="utf-8")

    domain = get_domain("healthcare-summary")
    for path in (tsv, xlsx, jsonl):
        assert rows_of(load_source(domain, path)) == expected("meqsum.expected.jsonl"), path


def test_meqsum_errors_name_file_line_and_field(tmp_path: Path) -> None:
    header, first, second, *rest = meqsum_records()
    path = tmp_path / "meqsum.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows([header, first, [second[0], second[1], "  "]])
    # The first record's question spans two lines, so the second record starts on line 4.
    with pytest.raises(DataError, match=rf"{path}:4: field 'Summary' is missing or empty"):
        loaders.read_meqsum_table(path)


def test_meqsum_xlsx_errors_name_the_row(tmp_path: Path) -> None:
    import openpyxl

    path = tmp_path / "meqsum.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["File", "CHQ", "Summary"])
    workbook.active.append(["a.txt", "Is flu contagious?", "Is flu contagious?"])
    workbook.active.append(["b.txt", None, "What causes gout?"])
    workbook.save(path)
    with pytest.raises(DataError, match=rf"{path}: row 3: field 'CHQ' is missing or empty"):
        loaders.read_meqsum_xlsx(path)


def test_meqsum_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "meqsum.csv"
    path.write_text("File,Question,Summary\na.txt,Is flu contagious?,Is flu contagious?\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"header has no column\(s\) \['CHQ'\]"):
        loaders.read_meqsum_table(path)


def test_meqsum_bundled_sample_loads_and_matches_the_prompt_format() -> None:
    domain = get_domain("healthcare-summary")
    assert domain.task_type == "generation"
    assert "MeQSum" in domain.data_attribution and "CC BY 4.0" in domain.data_attribution
    train, held_out = load_source(domain, domain.train_data), load_source(domain, domain.eval_data)
    assert (len(train), len(held_out)) == (500, 100)
    assert not set(train["prompt"]) & set(held_out["prompt"])
    assert all(p.startswith(loaders.MEQSUM_INSTRUCTION + "\n\nConsumer question:\n") for p in train["prompt"])


# Hook contract -------------------------------------------------------------------------------


def test_load_data_leaves_other_domains_and_formats_alone(tmp_path: Path) -> None:
    pubmedqa_json = str(FIXTURES / "ori_pqal.json")
    meqsum_csv = str(FIXTURES / "meqsum.csv")
    assert plugin.load_data(domain=get_domain("legal"), source=pubmedqa_json) is None
    assert plugin.load_data(domain=get_domain("legal"), source=meqsum_csv) is None
    assert plugin.load_data(domain=get_domain("healthcare"), source=meqsum_csv) is None
    assert plugin.load_data(domain=get_domain("healthcare-summary"), source=pubmedqa_json) is None
    # Files in the core's own formats: prompt/completion JSONL, a JSON array, another CSV.
    rows = [{"prompt": "Is flu contagious?", "completion": "yes"}]
    array = tmp_path / "rows.json"
    array.write_text(json.dumps(rows), encoding="utf-8")
    other_csv = tmp_path / "rows.csv"
    other_csv.write_text("question,answer\nIs flu contagious?,Is flu contagious?\n", encoding="utf-8")
    summary_jsonl = str(FIXTURES / "meqsum.expected.jsonl")
    assert plugin.load_data(domain=get_domain("healthcare"), source=str(array)) is None
    assert plugin.load_data(domain=get_domain("healthcare-summary"), source=str(other_csv)) is None
    assert plugin.load_data(domain=get_domain("healthcare-summary"), source=summary_jsonl) is None
    assert load_source(get_domain("healthcare"), array)["prompt"] == ["Is flu contagious?"]


def test_plugin_import_stays_light() -> None:
    heavy = {"torch", "transformers", "datasets", "rouge_score", "openpyxl", "nltk", "sklearn"}
    assert heavy_imports("domaintune_healthcare.plugin", heavy) == []


# The whole shared set, where this checkout has it --------------------------------------------


@pytest.mark.skipif(not (SHARED / "healthcare").is_dir(), reason="shared data not present")
def test_every_shared_row_round_trips_through_the_release_formats(tmp_path: Path) -> None:
    sys.path.insert(0, str(FIXTURES))
    try:
        import make_fixtures
    finally:
        sys.path.remove(str(FIXTURES))
    original_here, original_rows = make_fixtures.HERE, make_fixtures.ROWS
    make_fixtures.HERE, make_fixtures.ROWS = tmp_path, None
    try:
        make_fixtures.pubmedqa(SHARED)
        make_fixtures.meqsum(SHARED)
    finally:
        make_fixtures.HERE, make_fixtures.ROWS = original_here, original_rows
    for source, rows in (("ori_pqal.json", "pubmedqa.expected.jsonl"), ("meqsum.csv", "meqsum.expected.jsonl")):
        reader = loaders.read_pubmedqa_json if source.endswith(".json") else loaders.read_meqsum_table
        dataset = reader(tmp_path / source)
        lines = (tmp_path / rows).read_text(encoding="utf-8").split("\n")
        want = [(r["prompt"], r["completion"]) for r in map(json.loads, filter(str.strip, lines))]
        assert list(zip(dataset["prompt"], dataset["completion"])) == want
        assert len(want) > 100
